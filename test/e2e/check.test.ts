// fap check (the doctor) against a real 2-host sshd fleet: a table of checks per host, exit 1 when
// any fails, read-only, and a host that cannot be trusted does not stop the others being checked.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();

interface JsonCheck {
  name: string;
  ok: boolean;
  status: string;
  detail: string;
}
interface JsonHost {
  host: string;
  checks: JsonCheck[];
}

describe('fap check on a 2-host fleet', { skip }, () => {
  let fleet: Fleet;

  before(async () => {
    fleet = await startFleet(2);
  });
  after(async () => {
    await fleet?.stop();
  });

  const appRoot = (i: number, app: string) => fleet.hostPath(i, join(fleet.deployDir, app));

  /** A prepared host: the deploy root with configs/app.conf in shared/. */
  function prepare(app: string, hosts = [0, 1]) {
    for (const i of hosts) {
      mkdirSync(join(appRoot(i, app), 'shared/configs'), { recursive: true });
      writeFileSync(join(appRoot(i, app), 'shared/configs/app.conf'), 'port=8000\n');
    }
  }

  const deployFile = (app: string, top: Record<string, unknown> = {}) =>
    writeDeployFile(fleet, { repo: '/nowhere.git', top: { app_name: app, linked_files: ['configs/app.conf'], requires: { git: '>=2.0' }, ...top } });

  /** The table's row for a host and check: [status, detail]. */
  function row(stdout: string, host: string, check: string): [string, string] | undefined {
    for (const line of stdout.split('\n')) {
      const m = /^(\S+)\s+(.+?)\s{2,}(ok|FAIL|warn)\s{2,}(.*)$/.exec(line);
      if (m && m[1] === host && m[2] === check) return [m[3], m[4]];
    }
    return undefined;
  }

  test('all green on a prepared fleet; read-only, no lock; --json gives every row', async () => {
    const app = 'green';
    prepare(app);
    const file = deployFile(app);
    const before = [0, 1].map((i) => readdirSync(appRoot(i, app), { recursive: true }).map(String).sort());
    const r = await fap(['-f', file, 'check', 'production', 'web']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const h of fleet.hosts) {
      for (const check of ['connection', 'deploy path', 'current release', 'linked file configs/app.conf', 'core tools', 'tool git', 'tool tar', 'free disk']) {
        const got = row(r.stdout, h.name, check);
        assert.ok(got, `${h.name} ${check} row\n${r.stdout}`);
        assert.equal(got[0], 'ok', `${h.name} ${check}: ${got[1]}`);
      }
      assert.match(row(r.stdout, h.name, 'connection')![1], /host key verified/);
      assert.match(row(r.stdout, h.name, 'tool git')![1], /^\d+\.\d+\.\d+ at \S*git \(needs >=2\.0\)$/);
    }
    assert.match(r.stdout, /✔ all 16 checks passed on 2 host\(s\)\n$/);
    [0, 1].forEach((i) => {
      assert.deepEqual(readdirSync(appRoot(i, app), { recursive: true }).map(String).sort(), before[i], 'nothing written on the host');
      assert.ok(!existsSync(join(appRoot(i, app), '.fap')), 'no lock, no state');
    });

    const j = await fap(['-f', file, '--json', 'check', 'production']);
    assert.equal(j.code, 0, j.stderr);
    const events = jsonEvents(j.stdout);
    const result = events.at(-1)!;
    assert.equal(result.event, 'result');
    assert.equal(result.ok, true);
    assert.equal(result.command, 'check');
    const hosts = result.hosts as JsonHost[];
    assert.deepEqual(hosts.map((h) => h.host).sort(), fleet.hosts.map((h) => h.name).sort());
    for (const h of hosts) {
      assert.equal(h.checks.length, 8);
      assert.ok(h.checks.every((c) => c.ok && c.status === 'ok' && typeof c.detail === 'string'), JSON.stringify(h.checks));
    }

    // --dry-run prints the script and contacts nothing
    const dry = await fap(['-f', file, '--dry-run', 'check', 'production']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, /check script:[\s\S]*command -v -- git/);
    assert.equal(dry.stdout, '');
  });

  test('a linked file missing on one host: exit 1, that row FAIL naming host and file', async () => {
    const app = 'missing-link';
    prepare(app, [0]);
    mkdirSync(join(appRoot(1, app), 'shared'), { recursive: true });
    const r = await fap(['-f', deployFile(app), 'check', 'production']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(row(r.stdout, fleet.hosts[0].name, 'linked file configs/app.conf')?.[0], 'ok');
    const bad = row(r.stdout, fleet.hosts[1].name, 'linked file configs/app.conf');
    assert.equal(bad?.[0], 'FAIL', r.stdout);
    assert.match(bad![1], new RegExp(`missing: ${join(fleet.deployDir, app, 'shared/configs/app.conf').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(r.stdout, new RegExp(`✖ 1 of 16 checks failed on 1 of 2 host\\(s\\): ${fleet.hosts[1].name.replace(/\./g, '\\.')} linked file configs/app\\.conf\\n$`));
  });

  test('a version out of range and a tool that does not exist: FAIL with the found version / not found', async () => {
    const app = 'tools';
    prepare(app);
    const r = await fap(['-f', deployFile(app, { requires: { git: '>=99', 'no-such-tool': '*' } }), 'check', 'production']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    for (const h of fleet.hosts) {
      const git = row(r.stdout, h.name, 'tool git');
      assert.equal(git?.[0], 'FAIL', r.stdout);
      assert.match(git![1], /^\d+\.\d+\.\d+ at \S*git does not satisfy >=99 \(git plugin, requires\)$/);
      const none = row(r.stdout, h.name, 'tool no-such-tool');
      assert.equal(none?.[0], 'FAIL');
      assert.match(none![1], /^not found on PATH/);
      assert.equal(row(r.stdout, h.name, 'tool tar')?.[0], 'ok');
    }
  });

  test('the Python plugins\' programs are probed: a missing virtualenv-tools and venv creator FAIL by name, bash found', async () => {
    // fapistrano-0.9.5 virtualenvtools.py:9 virtualenv-tools; virtualenv.py:29 %(virtualenv_executive)s; virtualenvwrapper.py:30 mkvirtualenv (bash)
    const app = 'python-tools';
    prepare(app);
    const file = deployFile(app, {
      plugins: ['virtualenv', 'virtualenvwrapper', 'virtualenvtools'],
      virtualenv_executive: '/usr/bin/env fap-no-such-virtualenv',
      virtualenvtools_executable: 'fap-no-such-virtualenv-tools',
      virtualenvwrapper_project: '/tmp/fap-venvs/shop',
      requires: {},
    });
    const r = await fap(['-f', file, 'check', 'production']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    for (const h of fleet.hosts) {
      assert.equal(row(r.stdout, h.name, 'tool fap-no-such-virtualenv')?.[0], 'FAIL', r.stdout);
      assert.match(row(r.stdout, h.name, 'tool fap-no-such-virtualenv')![1], /^not found on PATH.*virtualenv plugin/);
      assert.equal(row(r.stdout, h.name, 'tool fap-no-such-virtualenv-tools')?.[0], 'FAIL', r.stdout);
      assert.match(row(r.stdout, h.name, 'tool fap-no-such-virtualenv-tools')![1], /virtualenvtools plugin/);
      assert.equal(row(r.stdout, h.name, 'tool bash')?.[0], 'ok', r.stdout);
    }
  });

  test('an unknown host key: that host fails with the fingerprint, the other is still checked', async () => {
    const app = 'hostkey';
    prepare(app);
    const kh = join(mkdtempSync(join(tmpdir(), 'fap-kh-')), 'known_hosts');
    writeFileSync(kh, readFileSync(fleet.knownHosts, 'utf8').split('\n').filter((l) => !l.includes(`:${fleet.hosts[0].port} `)).join('\n'));
    const file = deployFile(app, { ssh: { identity_file: fleet.identityFile, known_hosts_file: kh, host_key_checking: 'strict' } });
    const r = await fap(['-f', file, 'check', 'production']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const conn = row(r.stdout, fleet.hosts[0].name, 'connection');
    assert.equal(conn?.[0], 'FAIL', r.stdout);
    assert.match(conn![1], /unknown host key ssh-ed25519 SHA256:\S+ \(not in /);
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith(fleet.hosts[0].name + ' ')).length, 1, 'one row for the host that cannot be reached');
    assert.equal(row(r.stdout, fleet.hosts[1].name, 'connection')?.[0], 'ok');
    assert.equal(row(r.stdout, fleet.hosts[1].name, 'linked file configs/app.conf')?.[0], 'ok');
    assert.equal(row(r.stdout, fleet.hosts[1].name, 'free disk')?.[0], 'ok');
  });

  test('a bad semver range in deploy.yml: exit 2 with file:line:col, nothing contacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fap-cfg-'));
    const file = join(dir, 'deploy.yml');
    writeFileSync(file, ['app_name: shop', 'requires:', '  git: ">=2.20"', '  python3: "not a range"', 'stage_role_configs:', '  production:', '    web:', `      hosts: [${fleet.hosts[0].name}]`].join('\n') + '\n');
    const r = await fap(['-f', file, 'check', 'production']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `fap: ${file}:4:3: requires.python3: "not a range" is not a semver range (e.g. ">=2.20", "^3.8", "*")\n`);
  });
});
