// sudo_user: the SSH user logs in, remote work runs as another user through sudo -n -u, with a real
// sudoers rule; without one, a clear error and nothing changes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, makeRepo, writeDeployFile } from '../helpers.js';

const SSH_USER = 'fapdeploy';
const APP_USER = 'fapapp';
const SUDOERS = '/etc/sudoers.d/fap-test';
const sudo = spawnSync('sh', ['-c', 'command -v sudo']).status === 0;
const skip = fleetUnsupportedReason() ?? (sudo ? undefined : 'sudo is not installed (apt-get install sudo)');

let fleet: Fleet;
const uid = (name: string) => Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());

before(async () => {
  if (skip) return;
  for (const u of [SSH_USER, APP_USER]) if (spawnSync('id', [u]).status !== 0) assert.equal(spawnSync('useradd', ['-M', '-s', '/bin/sh', u]).status, 0);
  // no password, but not locked: sshd (without PAM) refuses locked accounts even with a key
  spawnSync('usermod', ['-p', '*', SSH_USER]);
  writeFileSync(SUDOERS, `${SSH_USER} ALL=(${APP_USER}) NOPASSWD: ALL\n`, { mode: 0o440 });
  fleet = await startFleet(2, { user: SSH_USER });
  for (const h of fleet.hosts) chownSync(h.root, uid(APP_USER), uid(APP_USER));
});
after(async () => {
  await fleet?.stop();
  if (existsSync(SUDOERS)) unlinkSync(SUDOERS);
});

test('remote work runs as sudo_user; a user without a sudo rule gets a clear error', { skip }, async () => {
  const repo = makeRepo();
  spawnSync('chown', ['-R', `${APP_USER}:${APP_USER}`, repo.dir]); // git refuses repositories of other owners
  const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'sudoapp', sudo_user: APP_USER } });
  const r = await fap(['-f', file, 'deploy', 'production']);
  assert.equal(r.code, 0, r.stderr);
  const root = join(fleet.deployDir, 'sudoapp');
  for (let i = 0; i < 2; i++) {
    const rel = readdirSync(fleet.hostPath(i, join(root, 'releases')))[0];
    assert.equal(statSync(fleet.hostPath(i, join(root, 'releases', rel, 'REVISION'))).uid, uid(APP_USER), 'the release belongs to sudo_user');
    assert.equal(statSync(fleet.hostPath(i, join(root, '.fap'))).uid, uid(APP_USER));
  }
  const run = await fap(['-f', file, '--hosts', fleet.hosts[0].name, 'run', 'production', 'web', '--', 'id', '-un']);
  assert.equal(run.stdout, `${APP_USER}\n`, 'fap run runs as sudo_user too');

  const denied = await fap(['-f', file, '--set', 'sudo_user=root', 'deploy', 'production']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /sudo: a password is required/);
  assert.match(denied.stderr, new RegExp(`sudo_user: let ${SSH_USER} run commands as root without a password`));
  assert.doesNotMatch(denied.stderr, /\n\s+at .+:\d+:\d+/);
});
