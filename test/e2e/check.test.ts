// fap check (the doctor) against a real 2-host sshd fleet: a table of checks per host, exit 1 when
// any fails, read-only, and a host that cannot be trusted does not stop the others being checked.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

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
  let repo: Repo;
  /** artifacts: /ok.tgz answers 200, /nohead refuses HEAD (405) and serves a GET, the rest 404 */
  let server: Server;
  let base: string;

  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo();
    server = createServer((req, res) => {
      if (req.url === '/nohead' && req.method === 'HEAD') res.writeHead(405);
      else res.writeHead(req.url === '/ok.tgz' || req.url === '/nohead' ? 200 : 404);
      res.end(req.method === 'HEAD' ? undefined : 'x');
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
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
    writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app, linked_files: ['configs/app.conf'], requires: { git: '>=2.0' }, ...top } });

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
      for (const check of ['connection', 'deploy path', 'current release', 'linked file configs/app.conf', 'core tools', 'tool git', 'tool tar', 'git repository', 'free disk']) {
        const got = row(r.stdout, h.name, check);
        assert.ok(got, `${h.name} ${check} row\n${r.stdout}`);
        assert.equal(got[0], 'ok', `${h.name} ${check}: ${got[1]}`);
      }
      assert.match(row(r.stdout, h.name, 'connection')![1], /host key verified/);
      assert.match(row(r.stdout, h.name, 'tool git')![1], /^\d+\.\d+\.\d+ at \S*git \(needs >=2\.0\)$/);
      assert.match(row(r.stdout, h.name, 'git repository')![1], new RegExp(`^reachable: ${repo.dir}; main at [0-9a-f]{7}$`));
    }
    assert.match(r.stdout, /✔ all 18 checks passed on 2 hosts\n$/);
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
      assert.equal(h.checks.length, 9);
      assert.ok(h.checks.every((c) => c.ok && c.status === 'ok' && typeof c.detail === 'string'), JSON.stringify(h.checks));
    }

    // read-only: --dry-run checks for real, row for row (found by the attack pass: it checked
    // nothing and exited 0); -v shows the script as ever
    const dry = await fap(['-f', file, '-v', '--dry-run', 'check', 'production']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, /check script:[\s\S]*command -v -- git/);
    const rows = (out: string) => out.split('\n').filter((l) => !/free disk/.test(l));
    assert.deepEqual(rows(dry.stdout), rows(r.stdout));
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
    assert.match(r.stdout, new RegExp(`✖ 1 of 18 checks failed on 1 of 2 hosts: ${fleet.hosts[1].name.replace(/\./g, '\\.')} linked file configs/app\\.conf\\n$`));
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

  test('a repository the hosts cannot reach, and a branch it does not have: FAIL with git\'s cause, no secret printed', async () => {
    const app = 'repo';
    prepare(app);
    const gone = await fap(['-f', deployFile(app, { repo: '/nowhere/shop.git' }), 'check', 'production']);
    assert.equal(gone.code, 1, gone.stdout + gone.stderr);
    for (const h of fleet.hosts) {
      const got = row(gone.stdout, h.name, 'git repository');
      assert.equal(got?.[0], 'FAIL', gone.stdout);
      // git's cause, its first fatal: line, not the last ("and the repository exists.")
      assert.match(got![1], /^fatal: '\/nowhere\/shop\.git' does not appear to be a git repository$/);
    }
    const typo = await fap(['-f', deployFile(app, { branch: 'mian' }), 'check', 'production']);
    assert.equal(typo.code, 1, typo.stdout + typo.stderr);
    for (const h of fleet.hosts) assert.deepEqual(row(typo.stdout, h.name, 'git repository'), ['FAIL', `error: branch "mian" not found in ${repo.dir} (its branches: main)`]);
    // a server that does not answer: the credentials in the URL are never printed
    const secret = await fap(['-f', deployFile(app, { repo: 'https://ci:s3cr3t-t0ken@127.0.0.1:1/shop.git' }), 'check', 'production', '--hosts', fleet.hosts[0].name]);
    assert.equal(secret.code, 1, secret.stdout + secret.stderr);
    assert.equal(row(secret.stdout, fleet.hosts[0].name, 'git repository')?.[0], 'FAIL', secret.stdout);
    assert.ok(!(secret.stdout + secret.stderr).includes('s3cr3t-t0ken'), secret.stdout);
  });

  test('the artifact URL: a 404 fails naming the status, a HEAD refused is asked with a ranged GET, user:password never shown', async () => {
    const app = 'artifact';
    prepare(app);
    const file = (url: string) => deployFile(app, { release_plugins: ['curl'], curl_url: url });
    const missing = await fap(['-f', file(`${base.replace('//', '//ci:pa55w0rd@')}/missing.tgz`), 'check', 'production']);
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    for (const h of fleet.hosts) assert.deepEqual(row(missing.stdout, h.name, 'artifact URL'), ['FAIL', `error: HTTP 404 from ${base}/missing.tgz`]);
    assert.ok(!(missing.stdout + missing.stderr).includes('pa55w0rd'));
    const ok = await fap(['-f', file(`${base}/ok.tgz`), 'check', 'production']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    for (const h of fleet.hosts) assert.deepEqual(row(ok.stdout, h.name, 'artifact URL'), ['ok', `HTTP 200: ${base}/ok.tgz`]);
    const nohead = await fap(['-f', file(`${base}/nohead`), 'check', 'production']);
    assert.equal(nohead.code, 0, nohead.stdout + nohead.stderr);
    assert.deepEqual(row(nohead.stdout, fleet.hosts[0].name, 'artifact URL'), ['ok', `HTTP 200 (HEAD answered 405; a ranged GET): ${base}/nohead`]);
  });

  test('every required ${VAR:?} unset is named with where it is written; set, the row passes', async () => {
    const app = 'envvars';
    prepare(app);
    const file = deployFile(app, { environment: { SECRET_KEY: '${FAP_CHECK_T_SECRET:?set FAP_CHECK_T_SECRET}', DB_URL: '${FAP_CHECK_T_DB:?set FAP_CHECK_T_DB}', PLAIN: 'x' } });
    const unset = await fap(['-f', file, 'check', 'production'], { env: { FAP_CHECK_T_SECRET: '', FAP_CHECK_T_DB: '' } });
    assert.equal(unset.code, 1, unset.stdout + unset.stderr);
    const got = row(unset.stdout, fleet.hosts[0].name, 'environment');
    assert.equal(got?.[0], 'FAIL', unset.stdout);
    assert.match(got![1], /^unset: \S+deploy\.yml:\d+:\d+: environment\.SECRET_KEY: set FAP_CHECK_T_SECRET; \S+deploy\.yml:\d+:\d+: environment\.DB_URL: set FAP_CHECK_T_DB$/);
    const set = await fap(['-f', file, 'check', 'production'], { env: { FAP_CHECK_T_SECRET: 'x', FAP_CHECK_T_DB: 'y' } });
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.deepEqual(row(set.stdout, fleet.hosts[0].name, 'environment'), ['ok', 'every ${VAR} it reads is set']);
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
