// fap deploy / rollback / releases against a real sshd fleet (3 hosts, each with its own filesystem).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();

describe('deploy on a 3-host fleet', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;

  before(async () => {
    fleet = await startFleet(3);
    repo = makeRepo({ 'app.py': 'print("v1")\n', 'configs/.keep': '' });
  });
  after(async () => {
    await fleet?.stop();
  });

  /** app root on host i, as seen from the test */
  const appRoot = (i: number, app: string) => fleet.hostPath(i, join(fleet.deployDir, app));

  function seedShared(app: string, files: Record<string, string>, hosts = [0, 1, 2]) {
    for (const i of hosts) {
      for (const [f, body] of Object.entries(files)) {
        const p = join(appRoot(i, app), 'shared', f);
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, body);
      }
    }
  }

  test('lays out CONTRACT.md on every host', async () => {
    const app = 'layout';
    seedShared(app, { 'configs/app.conf': 'port=8000\n' });
    const sha = repo.commit({ 'app.py': 'print("layout")\n' });
    const file = writeDeployFile(fleet, {
      repo: repo.dir,
      top: { app_name: app, linked_files: ['configs/app.conf'], linked_dirs: ['log'], environment: { GREETING: "it's $(not) run", WORKERS: '${FAP_TEST_WORKERS:-4}' } },
    });
    const r = await fap(['-f', file, 'deploy', 'production', 'web']);
    assert.equal(r.code, 0, r.stderr);
    const names = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const root = appRoot(i, app);
      const target = readlinkSync(join(root, 'current'));
      assert.match(target, /^releases\/\d{14}$/);
      names.add(target);
      const rel = join(root, target);
      assert.equal(readFileSync(join(rel, 'REVISION'), 'utf8').trim(), sha);
      assert.equal(readFileSync(join(rel, 'app.py'), 'utf8'), 'print("layout")\n');
      assert.equal(statSync(join(rel, '.env')).mode & 0o777, 0o600);
      assert.equal(readFileSync(join(rel, '.env'), 'utf8'), `GREETING='it'\\''s $(not) run'\nWORKERS=4\n`);
      // links are absolute paths as the host sees them (the test reads through the host's backing dir)
      const remoteRoot = join(fleet.deployDir, app);
      assert.equal(readlinkSync(join(rel, 'configs/app.conf')), join(remoteRoot, 'shared/configs/app.conf'));
      assert.equal(readFileSync(join(root, 'shared/configs/app.conf'), 'utf8'), 'port=8000\n');
      assert.equal(readlinkSync(join(rel, 'log')), join(remoteRoot, 'shared/log'));
      assert.ok(statSync(join(root, 'shared/log')).isDirectory());
      assert.ok(existsSync(join(root, 'repo/HEAD')), 'git mirror in <path>/repo');
      const log = readFileSync(join(root, 'revisions.log'), 'utf8').trim().split('\n');
      assert.equal(log.length, 1);
      assert.match(log[0], new RegExp(`deploy release=${target.slice(9)} revision=${sha} by=`));
      assert.ok(existsSync(join(root, '.fap')));
      assert.ok(!existsSync(join(root, '.fap/lock')), 'lock released');
      assert.equal(readFileSync(join(root, '.fap/releases', target.slice(9) + '.status'), 'utf8').trim(), 'ok');
    }
    assert.equal(names.size, 1, 'the same release name on every host');
  });

  test('deploy, deploy, rollback', async () => {
    const app = 'rollback';
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app } });
    const sha1 = repo.commit({ 'app.py': 'print("one")\n' });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const first = readlinkSync(join(appRoot(0, app), 'current'));
    const sha2 = repo.commit({ 'app.py': 'print("two")\n' });
    const r2 = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r2.code, 0, r2.stderr);
    const second = readlinkSync(join(appRoot(0, app), 'current'));
    assert.notEqual(first, second);
    assert.equal(readFileSync(join(appRoot(1, app), 'current/REVISION'), 'utf8').trim(), sha2);

    const rb = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(rb.code, 0, rb.stderr);
    for (let i = 0; i < 3; i++) {
      const root = appRoot(i, app);
      assert.equal(readlinkSync(join(root, 'current')), first);
      assert.equal(readFileSync(join(root, 'current/REVISION'), 'utf8').trim(), sha1);
      assert.ok(existsSync(join(root, second)), 'the release rolled back from is kept');
      assert.equal(readFileSync(join(root, '.fap/releases', second.slice(9) + '.status'), 'utf8').trim(), 'rolled-back');
      assert.match(readFileSync(join(root, 'revisions.log'), 'utf8'), new RegExp(`rollback release=${first.slice(9)} revision=${sha1} .*from=${second.slice(9)}`));
    }
    const list = await fap(['-f', file, 'releases', 'production', 'web']);
    assert.equal(list.code, 0);
    const rows = list.stdout.split('\n').filter((l) => l.includes(first.slice(9)));
    assert.equal(rows.length, 3);
    for (const row of rows) assert.match(row, /ok\s+\*/);
    assert.match(list.stdout, new RegExp(`${second.slice(9)}\\s+${sha2.slice(0, 12)}\\s+rolled-back`));

    // nothing earlier than the first release: a second rollback is refused and changes nothing
    const again = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no earlier good release/);
    assert.equal(readlinkSync(join(appRoot(2, app), 'current')), first);
  });

  test('keep_releases prunes old releases but never current and leaves other directories alone', async () => {
    const app = 'prune';
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app, keep_releases: 2 } });
    for (let i = 0; i < 4; i++) {
      const r = await fap(['-f', file, 'deploy', 'production']);
      assert.equal(r.code, 0, r.stderr);
      if (i === 0) for (let h = 0; h < 3; h++) mkdirSync(join(appRoot(h, app), 'releases', 'notes'));
    }
    for (let h = 0; h < 3; h++) {
      const root = appRoot(h, app);
      const rels = readdirSync(join(root, 'releases')).sort();
      assert.deepEqual(rels.filter((n) => /^\d{14}$/.test(n)).length, 2, rels.join(','));
      assert.ok(rels.includes('notes'), 'a directory that is not a release is left alone');
      const current = readlinkSync(join(root, 'current')).slice(9);
      assert.ok(rels.includes(current));
      const state = readdirSync(join(root, '.fap/releases'));
      assert.equal(state.length, 6, 'records of pruned releases are removed too: ' + state.join(','));
    }
  });

  test('a linked file missing on one host fails the deploy before anything is switched', async () => {
    const app = 'missing';
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app, linked_files: ['configs/app.conf'] } });
    seedShared(app, { 'configs/app.conf': 'x\n' });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const before = [0, 1, 2].map((i) => readlinkSync(join(appRoot(i, app), 'current')));
    const releasesBefore = [0, 1, 2].map((i) => readdirSync(join(appRoot(i, app), 'releases')).sort());

    // host 1 loses its config; the next deploy must not move current anywhere
    const rm = join(appRoot(1, app), 'shared/configs/app.conf');
    writeFileSync(rm, '');
    (await import('node:fs')).unlinkSync(rm);
    repo.commit({ 'app.py': 'print("never live")\n' });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${fleet.hosts[1].name.replace(/\./g, '\\.')}.*check linked files`));
    assert.match(r.stderr, /configs\/app\.conf/);
    for (let i = 0; i < 3; i++) {
      const root = appRoot(i, app);
      assert.equal(readlinkSync(join(root, 'current')), before[i]);
      assert.deepEqual(readdirSync(join(root, 'releases')).sort(), releasesBefore[i], 'the unpublished release is removed everywhere');
      assert.ok(!existsSync(join(root, '.fap/lock')), 'lock released after failure');
    }
  });

  test('a held lock stops the run with exit 3 and names the holder', async () => {
    const app = 'locked';
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app } });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const lock = join(appRoot(2, app), '.fap/lock');
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner'), JSON.stringify({ user: 'alice', origin: 'laptop', pid: 4242, command: 'fap deploy production', started_at: '2026-01-01T00:00:00Z', token: 'x' }) + '\n');
    const current = readlinkSync(join(appRoot(0, app), 'current'));
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /locked by alice@laptop \(pid 4242/);
    assert.match(r.stderr, /fap unlock production web/);
    for (let i = 0; i < 3; i++) assert.equal(readlinkSync(join(appRoot(i, app), 'current')), current);
    assert.ok(!existsSync(join(appRoot(0, app), '.fap/lock')), 'locks this run took on other hosts are given back');
    assert.ok(existsSync(lock), 'the other run’s lock is not touched');
  });

  test('an unknown host key is refused (strict) with its fingerprint; nothing changes', async () => {
    const app = 'hostkey';
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app } });
    const kh = join(fleet.dir, 'known_hosts_partial');
    writeFileSync(kh, readFileSync(fleet.knownHosts, 'utf8').split('\n').filter((l) => !l.includes(`:${fleet.hosts[0].port} `)).join('\n'));
    const r = await fap(['-f', file, '--set', `ssh.known_hosts_file=${kh}`, 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown host key ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}/);
    for (let i = 0; i < 3; i++) assert.ok(!existsSync(join(appRoot(i, app), 'current')));
  });

  test('--json is a stream of events ending with result; deploy and rollback use one channel per host', async () => {
    const app = 'json';
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app } });
    const r = await fap(['-f', file, '--json', 'deploy', 'production', 'web']);
    assert.equal(r.code, 0, r.stderr);
    const events = jsonEvents(r.stdout);
    for (const e of events) {
      assert.equal(typeof e.ts, 'string');
      assert.equal(typeof e.event, 'string');
    }
    const last = events[events.length - 1];
    assert.equal(last.event, 'result');
    assert.equal(last.ok, true);
    assert.match(String(last.release), /^\d{14}$/);
    const channels = last.channels as Record<string, number>;
    assert.equal(Object.keys(channels).length, 3);
    // the round-trip budget, structurally: one session per host carries every phase
    for (const n of Object.values(channels)) assert.equal(n, 1, `channels per host: ${n}`);
    const rb = await fap(['-f', file, '--json', 'rollback', 'production', 'web']);
    assert.equal(rb.code, 1, 'nothing earlier to roll back to');
    const second = await fap(['-f', file, '--json', 'deploy', 'production', 'web']);
    assert.equal(second.code, 0, second.stderr);
    const rollback = await fap(['-f', file, '--json', 'rollback', 'production', 'web']);
    assert.equal(rollback.code, 0, rollback.stderr);
    for (const n of Object.values(jsonEvents(rollback.stdout).pop()!.channels as Record<string, number>)) assert.equal(n, 1, `rollback channels per host: ${n}`);
    const order = events.filter((e) => e.host === fleet.hosts[0].name && String(e.event).startsWith('deploy.')).map((e) => e.event);
    assert.deepEqual(order, ['deploy.starting', 'deploy.started', 'deploy.updating', 'deploy.updated', 'deploy.publishing', 'deploy.published', 'deploy.finishing', 'deploy.finished']);
  });

  test('hosts named by ssh config aliases: HostName, Port, User and IdentityFile come from ssh.config_file', async () => {
    const app = 'sshconfig';
    const cfg = join(fleet.dir, 'ssh_config');
    writeFileSync(
      cfg,
      fleet.hosts.map((h, i) => `Host web${i}\n  HostName 127.0.0.1\n  Port ${h.port}\n  User ${fleet.user}\n  IdentityFile ${fleet.identityFile}\n`).join('') +
        // OpenSSH's first-match-wins: this later block must not override the host's User
        'Host *\n  User nobody-from-wildcard\n',
    );
    // no identity_file in deploy.yml; its `user` is only a fallback, which the ssh config's User beats
    const ssh = { config_file: cfg, known_hosts_file: fleet.knownHosts, host_key_checking: 'strict' };
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app, user: 'not-this-user', ssh }, role: { hosts: ['web0', 'web1', 'web2'] } });
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (let i = 0; i < 3; i++) assert.match(readlinkSync(join(appRoot(i, app), 'current')), /^releases\/\d{14}$/);
    const connected = jsonEvents(r.stdout).filter((e) => e.event === 'host.connected').map((e) => e.host);
    assert.deepEqual(new Set(connected), new Set(['web0', 'web1', 'web2']));
    // the host string's user@ is the command line: it beats the ssh config
    const other = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app, ssh }, role: { hosts: ['nosuchuser@web0'] } });
    const bad = await fap(['-f', other, 'deploy', 'production']);
    assert.equal(bad.code, 1);
    // said once, with the address the alias led to
    assert.match(bad.stderr, /^\[nosuchuser@web0\] FAILED at connect: authentication failed for user "nosuchuser" \(tried: [^\n]*\) at 127\.0\.0\.1:\d+$/m);
    assert.equal(bad.stderr.split('authentication failed').length, 2, bad.stderr);
  });

  test('-q prints only the outcome; failures still show host, step, command and stderr', async () => {
    const app = 'quiet';
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app } });
    const ok = await fap(['-f', file, '-q', 'deploy', 'production']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stderr.trim().split('\n').length, 1, ok.stderr);
    assert.match(ok.stderr, /^✔ deployed main@[0-9a-f]{7} as \d{14} to 3 hosts in \d[\d.]* m?s$/m);
    const bad = await fap(['-f', file, '-q', '--set', 'branch=no-such-branch', 'deploy', 'production']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /FAILED at git: export release: branch "no-such-branch" not found/);
    assert.match(bad.stderr, /\$ fap_sha="\$\(git -C /, 'the failing command is shown');
    assert.doesNotMatch(bad.stderr, /\u001b\[/, 'no colour codes when not on a terminal');
  });
});
