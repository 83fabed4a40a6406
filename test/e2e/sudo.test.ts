// sudo_user: the SSH user logs in, remote work runs as another user through sudo -n -u, with a real
// sudoers rule; without one, a clear error and nothing changes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { after, before, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, makeRepo, writeDeployFile, saidBy } from '../helpers.js';

const SSH_USER = 'fapdeploy';
const APP_USER = 'fapapp';
// Fapistrano's default sudo_user (configuration.py:70), with a home and a profile that puts its bin/ on PATH
const DEPLOY_USER = 'deploy';
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
  if (spawnSync('id', [DEPLOY_USER]).status !== 0) assert.equal(spawnSync('useradd', ['-m', '-s', '/bin/sh', DEPLOY_USER]).status, 0);
  const home = spawnSync('sh', ['-c', `getent passwd ${DEPLOY_USER} | cut -d: -f6`], { encoding: 'utf8' }).stdout.trim();
  mkdirSync(join(home, 'fapbin'), { recursive: true });
  writeFileSync(join(home, 'fapbin', 'fap-login-probe'), '#!/bin/sh\necho "login-env $(id -un) $HOME"\n', { mode: 0o755 });
  writeFileSync(join(home, '.profile'), 'PATH="$HOME/fapbin:$PATH"; export PATH\n');
  spawnSync('chown', ['-R', `${DEPLOY_USER}:`, home]);
  writeFileSync(SUDOERS, `${SSH_USER} ALL=(${APP_USER}, ${DEPLOY_USER}) NOPASSWD: ALL\n`, { mode: 0o440 });
  fleet = await startFleet(2, { user: SSH_USER });
  for (const h of fleet.hosts) chownSync(h.root, uid(APP_USER), uid(APP_USER));
  // a corner of each host for the deploy user
  for (const h of fleet.hosts) {
    mkdirSync(join(h.root, 'as-deploy'), { recursive: true });
    chownSync(join(h.root, 'as-deploy'), uid(DEPLOY_USER), uid(DEPLOY_USER));
    chmodSync(h.root, 0o755);
  }
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

/** A deploy.yml with neither user nor sudo_user: the login user comes from the host string (user@host). */
function fapistranoStyle(app: string, top: Record<string, unknown> = {}): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fap-sudo-fapistrano-')), 'deploy.yml');
  writeFileSync(
    file,
    stringify({
      app_name: app,
      path: join(fleet.deployDir, 'as-deploy', '%(app_name)s'),
      plugins: [],
      ssh: { identity_file: fleet.identityFile, known_hosts_file: fleet.knownHosts, host_key_checking: 'strict' },
      ...top,
      stage_role_configs: { production: { web: { hosts: fleet.hosts.map((h) => `${SSH_USER}@${h.name}`) } } },
    }),
  );
  return file;
}

test("no user or sudo_user in deploy.yml: work runs as Fapistrano's deploy through sudo -i, in its login environment", { skip }, async () => {
  // fapistrano-0.9.5 configuration.py:70-71 sudo_user 'deploy', sudo_prefix 'sudo -i '; utils.py:33 sudo(...)
  const file = fapistranoStyle('fapi');
  const r = await fap(['-f', file, 'release', 'production']);
  assert.equal(r.code, 0, r.stderr);
  const rel = readdirSync(fleet.hostPath(0, join(fleet.deployDir, 'as-deploy', 'fapi', 'releases')))[0];
  assert.equal(statSync(fleet.hostPath(0, join(fleet.deployDir, 'as-deploy', 'fapi', 'releases', rel))).uid, uid(DEPLOY_USER));
  // the login environment: deploy's profile puts fapbin on PATH, HOME is deploy's
  const run = await fap(['-f', file, '--hosts', `${SSH_USER}@${fleet.hosts[0].name}`, 'run', 'production', 'web', '--', 'fap-login-probe']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`^login-env ${DEPLOY_USER} /\\S*${DEPLOY_USER}$`, 'm'));
  // rollback and a second release go through the same session driver under sudo -i
  assert.equal((await fap(['-f', file, 'release', 'production'])).code, 0);
  const back = await fap(['-f', file, 'rollback', 'production']);
  assert.equal(back.code, 0, back.stderr);

  // plain sudo: no profile, so the probe is not on PATH
  const plain = await fap(['-f', fapistranoStyle('fapi', { sudo_prefix: 'sudo' }), '--hosts', `${SSH_USER}@${fleet.hosts[0].name}`, 'run', 'production', 'web', '--', 'fap-login-probe']);
  assert.notEqual(plain.code, 0);
});

test('sudo_user equal to the login user (user@host): no sudo at all', { skip }, async () => {
  // fapistrano-0.9.5 utils.py:29 `if not sudo_user or sudo_user == env.user: fabrun(command)`
  // SSH_USER has no sudoers rule for itself: any sudo would fail with "a password is required"
  for (const h of fleet.hosts) {
    mkdirSync(join(h.root, 'as-login'), { recursive: true });
    chownSync(join(h.root, 'as-login'), uid(SSH_USER), uid(SSH_USER));
  }
  const file = fapistranoStyle('self', { sudo_user: SSH_USER, path: join(fleet.deployDir, 'as-login', '%(app_name)s') });
  const r = await fap(['-f', file, 'release', 'production']);
  assert.equal(r.code, 0, r.stderr);
  const run = await fap(['-f', file, '--hosts', `${SSH_USER}@${fleet.hosts[0].name}`, 'run', 'production', 'web', '--', 'id', '-un']);
  assert.equal(run.stdout, `${SSH_USER}\n`, run.stderr);
});

test("a sudo refused because of the default sudo_user says it is Fapistrano's default and how to set it", { skip }, async () => {
  const file = fapistranoStyle('nodeploy');
  writeFileSync(SUDOERS, `${SSH_USER} ALL=(${APP_USER}) NOPASSWD: ALL\n`, { mode: 0o440 });
  try {
    const r = await fap(['-f', file, 'release', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`sudo_user defaults to deploy, as in Fapistrano; set sudo_user: ${SSH_USER} in deploy.yml`));
  } finally {
    writeFileSync(SUDOERS, `${SSH_USER} ALL=(${APP_USER}, ${DEPLOY_USER}) NOPASSWD: ALL\n`, { mode: 0o440 });
  }
});

test('an explicit sudo_user that needs a password: the NOPASSWD hint naming that user (fap run and once too); no word of releasing a lock never taken', { skip }, async () => {
  // the lock was never taken: sudo refused the session before the lock script could run
  const hint = new RegExp(`sudo_user: let ${SSH_USER} run commands as root without a password, e\\.g\\. in /etc/sudoers\\.d/: ${SSH_USER} ALL=\\(root\\) NOPASSWD: ALL`);
  const file = fapistranoStyle('explicit', { user: SSH_USER, sudo_user: 'root' });
  for (const command of [['release', 'production'], ['cleanup', 'production'], ['run', 'production', 'web', '--', 'true'], ['once', '-s', 'production', '-r', 'web', '-c', 'true']]) {
    const r = await fap(['-f', file, ...command]);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /sudo: a password is required/);
    for (const h of fleet.hosts) if (command[0] === 'run' || command[0] === 'once') assert.match(r.stderr, saidBy(`${SSH_USER}@${h.name.replace(/\./g, '\\.')}`, `warning: ${hint.source}`), r.stderr);
    assert.match(r.stderr, hint, `${command[0]}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /could not be released|could not release the deploy lock/, `${command[0]}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/);
  }
  // found by the attack pass: check and releases gave no hint; unlock said "no deploy lock was held"
  for (const command of [['check', 'production'], ['releases', 'production'], ['unlock', 'production']]) {
    const r = await fap(['-f', file, ...command]);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, hint, `${command[0]}: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /no deploy lock was held/);
    if (command[0] === 'unlock') assert.match(r.stderr, /the lock could not be checked on /);
  }
  // a command of the user's that fails on its own gets no sudo hint
  const own = await fap(['-f', fapistranoStyle('explicit-own', { user: SSH_USER, sudo_user: APP_USER }), 'once', '-s', 'production', '-r', 'web', '-c', 'echo failing >&2; exit 4']);
  assert.doesNotMatch(own.stderr, /NOPASSWD/, own.stderr);
});
