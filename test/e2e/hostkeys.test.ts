// Host keys and connection robustness against real sshd: strict, accept-new, off; hashed entries,
// @revoked, @cert-authority; a changed key is always refused; retries for a refused port; a host
// that accepts TCP and never speaks fails within the connect timeout.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { freePort, fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, fapLive, makeRepo, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();

describe('host keys and reaching hosts', { skip }, () => {
  let fleet: Fleet;
  let file = '';
  let line = '';
  before(async () => {
    fleet = await startFleet(1);
    file = writeDeployFile(fleet, { repo: makeRepo().dir, top: { app_name: 'keys' } });
    line = readFileSync(fleet.knownHosts, 'utf8').trim();
  });
  after(async () => {
    await fleet?.stop();
  });

  const kh = (name: string, text: string) => {
    const p = join(fleet.dir, name);
    writeFileSync(p, text);
    return p;
  };
  const deploy = (knownHosts: string, checking = 'strict', ...extra: string[]) =>
    fap(['-f', file, '--set', `ssh.known_hosts_file=${knownHosts}`, '--set', `ssh.host_key_checking=${checking}`, ...extra, 'deploy', 'production']);

  test('accept-new adds an unknown key once; a changed key is refused even then', async () => {
    const p = kh('kh-new', '');
    const first = await deploy(p, 'accept-new');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /added ssh-ed25519 SHA256:\S+ to /);
    assert.equal(readFileSync(p, 'utf8').trim(), line, 'the line OpenSSH would write');
    assert.equal((await deploy(p, 'strict')).code, 0, 'and strict trusts it from then on');
    // another key for the same [host]:port: an attack until proven otherwise
    const other = join(fleet.dir, 'other_key');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const [type, key] = readFileSync(other + '.pub', 'utf8').split(' ');
    const changed = kh('kh-changed', `[127.0.0.1]:${fleet.hosts[0].port} ${type} ${key}\n`);
    for (const mode of ['strict', 'accept-new']) {
      const r = await deploy(changed, mode);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /HOST KEY CHANGED: the ssh-ed25519 key is now SHA256:\S+, which does not match/);
    }
    assert.equal(readFileSync(changed, 'utf8').split('\n').filter(Boolean).length, 1, 'accept-new did not add to a changed entry');
  });

  test('off connects with a loud warning', async () => {
    const r = await deploy(kh('kh-off', ''), 'off');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: host key NOT verified \(ssh\.host_key_checking: off\)/);
  });

  test('hashed entries are understood; @revoked is refused; @cert-authority is explained', async () => {
    const hashed = kh('kh-hashed', line + '\n');
    spawnSync('ssh-keygen', ['-H', '-f', hashed]);
    assert.match(readFileSync(hashed, 'utf8'), /^\|1\|/);
    assert.equal((await deploy(hashed)).code, 0);
    const revoked = await deploy(kh('kh-revoked', `@revoked ${line}\n${line}\n`));
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /is marked @revoked/);
    const ca = await deploy(kh('kh-ca', `@cert-authority [127.0.0.1]:* ${line.split(' ').slice(1).join(' ')}\n`));
    assert.equal(ca.code, 1);
    assert.match(ca.stderr, /trusts a certificate authority for this host, but the host presented a plain ssh-ed25519 key/);
  });

  test('a refused port is retried with backoff until sshd is there', async () => {
    const port = await freePort();
    const p = kh('kh-retry', line.replace(`[127.0.0.1]:${fleet.hosts[0].port}`, `[127.0.0.1]:${port}`) + '\n');
    // a proxy that starts listening once fap has been refused (its warning says so): not after a
    // fixed delay, which a loaded machine can outrun before fap even starts
    let proxy: Server | undefined;
    const r = await fapLive(['-f', file, '--set', `hosts=[127.0.0.1:${port}]`, '--set', `ssh.known_hosts_file=${p}`, 'deploy', 'production'], (e) => {
      if (proxy || e.event !== 'warning' || !/connection refused/.test(String(e.message))) return;
      proxy = createServer((c) => {
        const up = connect(fleet.hosts[0].port, '127.0.0.1');
        c.pipe(up).pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
      }).listen(port, '127.0.0.1');
    });
    proxy?.close();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(proxy, 'fap was refused first');
    assert.match(r.stdout, /connection refused .*; retrying in 500 ms \(attempt 2 of 3\)/, 'the --json warning names the retry');
  });

  test('a host that accepts TCP and never speaks fails within the connect timeout, naming it', async () => {
    const port = await freePort();
    const silent = createServer(() => {}).listen(port, '127.0.0.1');
    const started = Date.now();
    const r = await fap(['-f', file, '--set', `hosts=[127.0.0.1:${port}]`, '--set', 'ssh.connect_timeout=2', 'deploy', 'production']);
    silent.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`\\[127\\.0\\.0\\.1:${port}\\] FAILED at connect: no SSH answer within 2s`));
    assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
  });
});
