// sudo_user on the real fleet: roles with different SSH settings on one host get their own
// connections (issue 12 item 4), a killed fap leaves no script running under sudo (item 11), and
// uploads are never readable by other users.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { Connection } from '../../src/remote/connection.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, fapLive, jsonEvents, makeRepo } from '../helpers.js';

const SSH_USER = 'fapdeploy';
const APP_USER = 'fapapp';
const SUDOERS = '/etc/sudoers.d/fap-test-sessions';
const sudo = spawnSync('sh', ['-c', 'command -v sudo']).status === 0;
const skip = fleetUnsupportedReason() ?? (sudo ? undefined : 'sudo is not installed (apt-get install sudo)');
const uid = (name: string) => Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pids = (pattern: string) => spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim();

let fleet: Fleet;
before(async () => {
  if (skip) return;
  for (const u of [SSH_USER, APP_USER]) if (spawnSync('id', [u]).status !== 0) assert.equal(spawnSync('useradd', ['-M', '-s', '/bin/sh', u]).status, 0);
  spawnSync('usermod', ['-p', '*', SSH_USER]);
  writeFileSync(SUDOERS, `${SSH_USER} ALL=(${APP_USER}) NOPASSWD: ALL\n`, { mode: 0o440 });
  fleet = await startFleet(1, { user: SSH_USER });
  for (const [dir, owner] of [['asapp', APP_USER], ['asdeploy', SSH_USER]]) {
    mkdirSync(join(fleet.hosts[0].root, dir), { recursive: true });
    chownSync(join(fleet.hosts[0].root, dir), uid(owner), uid(owner));
  }
});
after(async () => {
  await fleet?.stop();
  if (existsSync(SUDOERS)) unlinkSync(SUDOERS);
});

function repoOf(owner: string) {
  const repo = makeRepo();
  spawnSync('chown', ['-R', `${owner}:${owner}`, repo.dir]); // git refuses repositories of other owners
  return repo;
}

function deployFile(roles: Record<string, Record<string, unknown>>, top: Record<string, unknown> = {}, dir = mkdtempSync(join(tmpdir(), 'fap-sudo-sessions-'))): string {
  const file = join(dir, 'deploy.yml');
  writeFileSync(
    file,
    stringify({
      app_name: 'mixed',
      user: fleet.user,
      sudo_user: fleet.user,
      keep_releases: 3,
      plugins: ['git'],
      branch: 'main',
      ssh: { identity_file: fleet.identityFile, known_hosts_file: fleet.knownHosts, host_key_checking: 'strict' },
      ...top,
      stage_role_configs: { production: Object.fromEntries(Object.entries(roles).map(([r, c]) => [r, { hosts: [fleet.hosts[0].name], ...c }])) },
    }),
  );
  return file;
}

test('two roles on one host, one with sudo_user and one without: each runs as its own user', { skip }, async () => {
  const app = join(fleet.deployDir, 'asapp', 'web');
  const plain = join(fleet.deployDir, 'asdeploy', 'worker');
  const file = deployFile({ web: { path: app, sudo_user: APP_USER, repo: repoOf(APP_USER).dir }, worker: { path: plain, repo: repoOf(SSH_USER).dir } });
  for (const order of [file]) {
    const r = await fap(['-f', order, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(Object.keys(jsonEvents(r.stdout).pop()!.channels as object).length, 2, 'two connections: the settings differ');
  }
  const owner = (p: string) => statSync(fleet.hostPath(0, p)).uid;
  const rel = (root: string) => join(root, readlinkSync(fleet.hostPath(0, join(root, 'current'))), 'REVISION');
  assert.equal(owner(rel(app)), uid(APP_USER), 'the sudo_user role wrote as sudo_user');
  assert.equal(owner(rel(plain)), uid(SSH_USER), 'the other role wrote as the SSH user, not as the first role\'s sudo_user');

  // the same settings still share one connection
  const same = deployFile({ web: { path: app, sudo_user: APP_USER, repo: repoOf(APP_USER).dir }, cron: { path: app + '-cron', sudo_user: APP_USER, repo: repoOf(APP_USER).dir } });
  const r = await fap(['-f', same, '--json', 'deploy', 'production']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(Object.keys(jsonEvents(r.stdout).pop()!.channels as object).length, 1, 'one connection for identical settings');
});

async function waitGone(pattern: string): Promise<void> {
  for (let i = 0; i < 300 && pids(pattern); i++) await pause(100); // a hang detector, not a speed assertion
  assert.equal(pids(pattern), '', `processes matching ${pattern} remain on the host`);
}

test('kill -9 of fap during a long step under sudo_user: the whole script ends, current does not flip', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-sudo-kill-'));
  const plugin = writeFaultPlugin(dir);
  const root = join(fleet.deployDir, 'asapp', 'killed');
  const file = deployFile({ web: { path: root } }, { sudo_user: APP_USER, repo: repoOf(APP_USER).dir, plugins: ['git', plugin] }, dir);
  const first = await fap(['-f', file, 'deploy', 'production']);
  assert.equal(first.code, 0, first.stderr);
  const before = readlinkSync(fleet.hostPath(0, join(root, 'current')));
  const SLEEP = 'sleep 301.25';
  const killed = await fapLive(['-f', file, '--set', 'fault_signal=deploy.publishing', '--set', `fault_action=${SLEEP}; echo after-sleep`, 'deploy', 'production'], (e, kill) => {
    if (e.event === 'phase.started' && e.phase === 'publish') {
      const poll = setInterval(() => {
        if (pids(`^${SLEEP}$`)) {
          clearInterval(poll);
          kill();
        }
      }, 100);
    }
  });
  assert.ok(killed.killed, killed.stderr);
  await waitGone(`^${SLEEP}$`);
  await pause(2000);
  assert.equal(readlinkSync(fleet.hostPath(0, join(root, 'current'))), before, 'current did not flip after fap died');
});

test('kill -9 of fap run under sudo_user: the command ends with the session', { skip }, async () => {
  const root = join(fleet.deployDir, 'asapp', 'runner');
  const file = deployFile({ web: { path: root } }, { sudo_user: APP_USER, repo: repoOf(APP_USER).dir });
  assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
  const SLEEP = 'sleep 302.5';
  const killed = await fapLive(['-f', file, 'run', 'production', 'web', '--', ...SLEEP.split(' ')], (e, kill) => {
    if (e.event !== 'run.command') return;
    const poll = setInterval(() => {
      if (pids(`^${SLEEP}$`)) {
        clearInterval(poll);
        kill();
      }
    }, 100);
  });
  assert.ok(killed.killed, killed.stderr);
  await waitGone(`^${SLEEP}$`);
});

test('an upload under sudo_user lands owned by sudo_user, readable by it alone, never in /tmp', { skip }, async () => {
  const local = join(mkdtempSync(join(tmpdir(), 'fap-upl-')), 'secret.bin');
  const body = Buffer.concat([Buffer.from('secret\0bytes\n'), Buffer.alloc(300_000, 7)]);
  writeFileSync(local, body);
  const tmpBefore = readdirSync('/tmp').filter((f) => f.startsWith('fap-upload'));
  const conn = await Connection.open({ name: 'h', hostname: '127.0.0.1', port: fleet.hosts[0].port, user: SSH_USER, identityFile: fleet.identityFile, knownHostsFile: fleet.knownHosts, connectTimeoutSec: 20, hostKeyChecking: 'strict', sudoUser: APP_USER });
  const remote = join(fleet.deployDir, 'asapp', 'upl', '.fap', 'uploads', 'x-secret.bin');
  try {
    await conn.upload(local, remote);
  } finally {
    conn.close();
  }
  const st = statSync(fleet.hostPath(0, remote));
  assert.equal(st.uid, uid(APP_USER));
  assert.equal(st.mode & 0o077, 0, `mode ${(st.mode & 0o777).toString(8)}: no access for group or others`);
  assert.equal(statSync(fleet.hostPath(0, join(fleet.deployDir, 'asapp', 'upl', '.fap', 'uploads'))).mode & 0o077, 0);
  assert.deepEqual((await import('node:fs')).readFileSync(fleet.hostPath(0, remote)), body, 'bytes arrive intact');
  assert.deepEqual(readdirSync('/tmp').filter((f) => f.startsWith('fap-upload')), tmpBefore, 'nothing in /tmp');
});
