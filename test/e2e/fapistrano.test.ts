// Coming from Fapistrano: its documented deploy.yml files and the commands its documentation prints
// run unchanged against real sshd hosts, including hosts Fapistrano deployed before. Only what a
// migrating user adapts is adapted: host names (app-web01, ... resolved through ~/.ssh/config, as
// Fabric's use_ssh_config did) and repository URLs. Every host sees its own /home/deploy and
// /etc/supervisor (mount namespaces), the user `deploy` logs in, and a real supervisord runs the app.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, git, makeRepo, type Repo } from '../helpers.js';

const USER = 'deploy';
const HOME = '/home/deploy';
const APP = 'shop';
const ROOT = `${HOME}/www/${APP}`;
const HOSTS = ['app-web01', 'app-web02', 'app-job01'];
const supervisord = ['/usr/bin/supervisord', '/usr/local/bin/supervisord'].find((p) => existsSync(p));
const skip = fleetUnsupportedReason() ?? (supervisord ? undefined : 'supervisord is not installed (apt-get install supervisor)');

/** Fapistrano's "12 Factory Deployment" guide, Codebase section, with the repository URL adapted. */
const twelveFactor = (repo: string) => `
app_name: ${APP}
plugins:
  - fapistrano.git
  - fapistrano.supervisorctl
repo: ${repo}
stage_role_configs:
  production:
    web:
      hosts:
        - app-web01
        - app-web02
      linked_files:
        - configs/supervisor_production_web.conf
    worker:
      hosts:
        - app-job01
      linked_files:
        - configs/supervisor_production_worker.conf
`;

/** Fapistrano's examples/curl-example.yml, host names adapted. */
const CURL_EXAMPLE = `
project_name: curl-example
app_name: curl-example
user: deploy
use_ssh_config: true
keep_releases: 5

stage_role_configs:
  staging:
    app:
      hosts:
        - app-stag01
      app_name: curl-example-staging
      linked_files:
        - configs/supervisor_staging.conf
        - settings/staging.py
  production:
    app:
      hosts:
        - app-app01
      linked_files:
        - configs/supervisor_production_app.conf
        - settings/production.py

plugins:
  - fapistrano.plugins.localshared
  - fapistrano.plugins.curl
  - fapistrano.plugins.supervisorctl

curl_extract_tar: true
curl_postinstall_script: "sh ./install.sh"

supervisor_check_status: true

localshared_source: '/etc/appconf/curl-example'
`;

/** A program config as a Fapistrano user keeps it in shared/ (linked into each release). */
const program = (name: string, root = ROOT) => ['[program:' + name + ']', `command=/bin/sh -c 'exec sleep 1000'`, `directory=${root}/current`, 'startsecs=1', 'startretries=0', 'autorestart=false', ''].join('\n');

describe('Fapistrano configs, commands and hosts', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  let home = '';
  let file = '';
  let server: Server | undefined;
  const env = () => ({ HOME: home, USER: 'someone-else', LOGNAME: 'someone-else' });
  const run = (args: string[]) => fap(['-d', file, ...args], { env: env() });
  const on = (i: number, p: string) => fleet.bindPath(i, p);
  const ctl = (i: number, ...args: string[]) => spawnSync('nsenter', ['-t', String(fleet.hosts[i].process.pid), '-m', '--', 'supervisorctl', ...args], { encoding: 'utf8' });
  const current = (i: number) => readlinkSync(on(i, `${ROOT}/current`)).split('/').pop()!;
  const runningFrom = (i: number, prog = APP) => {
    // `supervisorctl update` starts an autostart program in the background: wait out STARTING
    // (startsecs=1) instead of reading the state mid-start
    for (let n = 0; n < 50 && /STARTING/.test(ctl(i, 'status', prog).stdout); n++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    const m = /RUNNING\s+pid (\d+)/.exec(ctl(i, 'status', prog).stdout);
    assert.ok(m, `${prog} runs on host ${i}: ${ctl(i, 'status').stdout}`);
    return readlinkSync(`/proc/${m[1]}/cwd`).split('/').pop()!;
  };

  before(async () => {
    // fapistrano-0.9.5 configuration.py:67,69 setdefault('user', 'deploy'), setdefault('sudo_user', 'deploy')
    if (spawnSync('id', [USER]).status !== 0) assert.equal(spawnSync('useradd', ['-M', '-d', HOME, '-s', '/bin/sh', USER]).status, 0);
    spawnSync('usermod', ['-p', '*', USER]); // no password, not locked: sshd without PAM refuses locked accounts
    fleet = await startFleet(3, { user: USER, binds: [HOME, '/etc/supervisor', '/etc/appconf'] });
    repo = makeRepo({ 'app.py': 'print("v2")\n' });
    spawnSync('chmod', ['-R', 'a+rX', repo.dir]);
    spawnSync('chown', ['-R', `${USER}:${USER}`, repo.dir]); // git refuses repositories of other owners

    for (let i = 0; i < 3; i++) {
      const etc = on(i, '/etc/supervisor');
      mkdirSync(join(etc, 'conf.d'), { recursive: true });
      writeFileSync(
        join(etc, 'supervisord.conf'),
        ['[unix_http_server]', `file=${HOME}/supervisor.sock`, 'chmod=0700', `chown=${USER}:${USER}`, '[supervisord]', `pidfile=${HOME}/supervisord.pid`, `logfile=${HOME}/supervisord.log`, `childlogdir=${HOME}`, '[rpcinterface:supervisor]', 'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface', '[supervisorctl]', `serverurl=unix://${HOME}/supervisor.sock`, '[include]', 'files = /etc/supervisor/conf.d/*.conf', ''].join('\n'),
      );
      spawnSync('chown', ['-R', `${USER}:${USER}`, on(i, HOME), join(etc, 'conf.d')]);
      // supervisord runs as root inside the host's namespace, like the host's own service; the
      // default config path is what supervisorctl (run by the plugin, unchanged) finds
      const r = spawnSync('nsenter', ['-t', String(fleet.hosts[i].process.pid), '-m', '--', supervisord!, '-c', '/etc/supervisor/supervisord.conf'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }

    // Hosts 0 and 1 were deployed by Fapistrano: releases named %y%m%d-%H%M%S (configuration.py:64),
    // an absolute current (deploy.py:188), a mirror in repo/ (git.py:53-55), REVISION from the git
    // plugin (git.py:99), shared/ files, and one "dirty" release newer than current: a deploy that
    // failed before its symlink (directory.py:74-84).
    const old = makeRepo({ 'app.py': 'print("v1")\n' });
    const oldRev = git(old.dir, 'rev-parse', '--short=12', 'HEAD');
    for (const i of [0, 1]) {
      const root = on(i, ROOT);
      for (const rel of ['261127-090000', '261128-090000', '261129-101500', '261129-113000']) {
        mkdirSync(join(root, 'releases', rel, 'configs'), { recursive: true });
        writeFileSync(join(root, 'releases', rel, 'app.py'), `print("${rel}")\n`);
        if (rel !== '261129-113000') writeFileSync(join(root, 'releases', rel, 'REVISION'), `${oldRev}\n`);
        symlinkSync(`${ROOT}/shared/configs/supervisor_production_web.conf`, join(root, 'releases', rel, 'configs', 'supervisor_production_web.conf'));
      }
      mkdirSync(join(root, 'shared', 'configs'), { recursive: true });
      mkdirSync(join(root, 'shared', 'log'), { recursive: true });
      writeFileSync(join(root, 'shared', 'configs', 'supervisor_production_web.conf'), program(APP));
      symlinkSync(`${ROOT}/releases/261129-101500`, join(root, 'current'));
      assert.equal(spawnSync('git', ['clone', '-q', '--mirror', old.dir, join(root, 'repo')]).status, 0);
      spawnSync('chown', ['-R', `${USER}:${USER}`, on(i, HOME)]);
      symlinkSync(`${ROOT}/current/configs/supervisor_production_web.conf`, on(i, '/etc/supervisor/conf.d/shop.conf'));
      assert.match(ctl(i, 'update').stdout + ctl(i, 'start', APP).stdout, /shop/);
      assert.equal(runningFrom(i), '261129-101500');
    }
    // app-job01 is new: its shared file is put there before the first deploy, as the guide says
    mkdirSync(on(2, `${ROOT}/shared/configs`), { recursive: true });
    writeFileSync(on(2, `${ROOT}/shared/configs/supervisor_production_worker.conf`), program(APP));
    spawnSync('chown', ['-R', `${USER}:${USER}`, on(2, HOME)]);

    // ~/.ssh/config resolves Fapistrano's host names, as Fabric's use_ssh_config did
    home = mkdtempSync(join(tmpdir(), 'fap-home-'));
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    // app-app01 (the curl example's host) is a second name for the third host
    const cfg = fleet.hosts.map((h, i) => `Host ${HOSTS[i]}${i === 2 ? ' app-app01' : ''}\n  HostName 127.0.0.1\n  Port ${h.port}\n`).join('');
    writeFileSync(join(home, '.ssh', 'config'), `${cfg}Host *\n  IdentityFile ${fleet.identityFile}\n  UserKnownHostsFile ${fleet.knownHosts}\n`);
    file = join(mkdtempSync(join(tmpdir(), 'fap-fapistrano-')), 'deploy.yml');
    writeFileSync(file, twelveFactor(repo.dir));
  });

  after(async () => {
    if (fleet) for (let i = 0; i < 3; i++) ctl(i, 'shutdown');
    await fleet?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
    server?.close();
  });

  test('fap releases shows what Fapistrano left, marked as made by Fapistrano', async () => {
    const r = await run(['releases', '-s', 'production', '-r', 'web']);
    assert.equal(r.code, 0, r.stderr);
    for (const rel of ['261127-090000', '261128-090000', '261129-101500']) assert.match(r.stdout, new RegExp(`${rel}.*fapistrano`, 'i'));
    assert.match(r.stdout, /261129-101500.*\*/, 'the absolute current is read');
  });

  test('fap release -s production -r web: a fap release on a Fapistrano host, supervisord restarted on it', async () => {
    const r = await run(['release', '-s', 'production', '-r', 'web']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (const i of [0, 1]) {
      const rel = current(i);
      assert.match(rel, /^\d{14}$/);
      assert.equal(readFileSync(on(i, `${ROOT}/releases/${rel}/app.py`), 'utf8'), 'print("v2")\n', 'the default branch of the repository (its HEAD) was deployed');
      assert.equal(runningFrom(i), rel, 'supervisorctl restarted the program in the new release');
    }
  });

  test('fap rollback -s production -r web goes back to the release Fapistrano made, never to its dirty one', async () => {
    const r = await run(['rollback', '-s', 'production', '-r', 'web']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (const i of [0, 1]) {
      assert.equal(current(i), '261129-101500');
      assert.equal(runningFrom(i), '261129-101500', 'deploy.published restarts after a rollback (deploy.py:96-98)');
    }
    const back = await run(['rollback', '-s', 'production', '-r', 'web']);
    assert.equal(back.code, 0, back.stderr + back.stdout);
    for (const i of [0, 1]) assert.equal(current(i), '261128-090000', '261129-113000 (newer than current, never published) is skipped');
    const to = await run(['rollback', '-s', 'production', '-r', 'web', '--to', '261129-101500']);
    assert.equal(to.code, 0, to.stderr + to.stdout);
    for (const i of [0, 1]) assert.equal(current(i), '261129-101500');
  });

  test('fap once -s production -r web -c CMD runs in current on every host', async () => {
    const r = await run(['once', '-s', 'production', '-r', 'web', '-c', 'cat app.py; pwd']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('print("261129-101500")').length - 1, 2, r.stdout);
  });

  test('a role without a stage, keep_releases as --keep-releases=2: prunes Fapistrano and fap releases by age together', async () => {
    const r = await run(['release', '-r', 'web', '--keep-releases=2']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /production/);
    for (const i of [0, 1]) {
      // the two newest good releases (by age, not by name: a fap name sorts before a Fapistrano one
      // as text) plus the rollback target (261129-101500: the fap release between them was rolled
      // back from, so it is not one); Fapistrano's older and dirty releases are pruned
      const left = readdirSync(on(i, `${ROOT}/releases`)).sort();
      assert.equal(left.length, 3, left.join(' '));
      assert.ok(left.includes(current(i)));
      assert.ok(left.includes('261129-101500'));
      for (const gone of ['261127-090000', '261128-090000', '261129-113000']) assert.ok(!left.includes(gone), left.join(' '));
    }
  });

  test('fap release -s production (every role): the new host app-job01 gets its first release', async () => {
    // supervisord learns a new program only on reread/update: on a new host that is Fapistrano's
    // --supervisor-refresh=true (supervisorctl.py:29-33); without it fap says so
    const plain = await run(['release', '-s', 'production', '-r', 'worker']);
    assert.equal(plain.code, 1);
    assert.match(plain.stdout + plain.stderr, /supervisor_refresh/);
    const r = await run(['release', '-s', 'production', '--supervisor-refresh=true']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(current(2), /^\d{14}$/);
    assert.equal(runningFrom(2), current(2));
    const restart = await run(['restart', '-s', 'production', '-r', 'worker']);
    assert.equal(restart.code, 0, restart.stderr);
  });

  test('examples/curl-example.yml: fap release --curl-url, localshared copies the operator\'s files on every deploy', async () => {
    const CROOT = `${HOME}/www/curl-example`;
    const conf = on(2, '/etc/appconf/curl-example');
    mkdirSync(join(conf, 'configs'), { recursive: true });
    mkdirSync(join(conf, 'settings'), { recursive: true });
    writeFileSync(join(conf, 'configs', 'supervisor_production_app.conf'), program('curl-example', CROOT));
    writeFileSync(join(conf, 'settings', 'production.py'), 'DEBUG = False\n');
    spawnSync('chmod', ['-R', 'a+rX', on(2, '/etc/appconf')]);
    // the CI build: a tar with the code and the install script the example runs (curl_postinstall_script)
    const build = mkdtempSync(join(tmpdir(), 'fap-build-'));
    writeFileSync(join(build, 'app.py'), 'print("built")\n');
    writeFileSync(join(build, 'install.sh'), 'echo installed > installed.txt\n');
    assert.equal(spawnSync('tar', ['-cf', join(build, 'build.tar'), '-C', build, 'app.py', 'install.sh']).status, 0);
    server = createServer((_req, res) => res.end(readFileSync(join(build, 'build.tar'))));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/build.tar`;
    const cfile = join(mkdtempSync(join(tmpdir(), 'fap-curl-example-')), 'deploy.yml');
    writeFileSync(cfile, CURL_EXAMPLE);
    const release = (...more: string[]) => fap(['-d', cfile, 'release', '-s', 'production', '-r', 'app', '--curl-url', url, ...more], { env: env() });

    const first = await release('--supervisor-refresh=true'); // a new program for supervisord
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const rel = readlinkSync(on(2, `${CROOT}/current`)).split('/').pop()!;
    assert.equal(readFileSync(on(2, `${CROOT}/releases/${rel}/installed.txt`), 'utf8'), 'installed\n', 'install.sh ran in the release');
    // the link points at the host's own path (absolute), so read it where it points, on that host
    assert.equal(readlinkSync(on(2, `${CROOT}/releases/${rel}/settings/production.py`)), `${CROOT}/shared/settings/production.py`);
    assert.equal(readFileSync(on(2, `${CROOT}/shared/settings/production.py`), 'utf8'), 'DEBUG = False\n');
    assert.equal(runningFrom(2, 'curl-example'), rel, 'supervisor_check_status: the program is RUNNING from the new release');

    // the operator changes the source of truth; the next release copies it (localshared.py:44-50)
    writeFileSync(join(conf, 'settings', 'production.py'), 'DEBUG = False\nWORKERS = 4\n');
    const second = await release();
    assert.equal(second.code, 0, second.stderr + second.stdout);
    assert.equal(readFileSync(on(2, `${CROOT}/shared/settings/production.py`), 'utf8'), 'DEBUG = False\nWORKERS = 4\n');
    const rollback = await fap(['-d', cfile, 'rollback', '-s', 'production', '-r', 'app'], { env: env() });
    assert.equal(rollback.code, 0, rollback.stderr + rollback.stdout);
    assert.equal(readlinkSync(on(2, `${CROOT}/current`)).split('/').pop(), rel);
    rmSync(build, { recursive: true, force: true });
  });
});
