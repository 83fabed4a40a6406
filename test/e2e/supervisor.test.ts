// supervisorctl against a real supervisord running on each fleet host (inside the host's own
// mount namespace): the running program is always the one from the release current points at.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const supervisord = ['/usr/bin/supervisord', '/usr/local/bin/supervisord'].find((p) => existsSync(p));
const skip = fleetUnsupportedReason() ?? (supervisord ? undefined : 'supervisord is not installed (apt-get install supervisor)');

describe('supervisorctl with a real supervisord', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  let file = '';
  const app = 'shop';

  /** supervisorctl as host i runs it (inside its mount namespace) */
  const ctl = (i: number, ...args: string[]) => spawnSync('nsenter', ['-t', String(fleet.hosts[i].process.pid), '-m', '--', 'supervisorctl', '-c', conf(), ...args], { encoding: 'utf8' });
  /** the same path on every host; each host's own file */
  const conf = () => join(fleet.deployDir, 'supervisord', 'supervisord.conf');
  const root = () => join(fleet.deployDir, app);
  /** the release the program's process runs in: its working directory, as the host sees it */
  const runningFrom = (i: number) => {
    const m = /RUNNING\s+pid (\d+)/.exec(ctl(i, 'status', 'shop').stdout);
    assert.ok(m, `shop is running on host ${i}: ${ctl(i, 'status').stdout}`);
    return { pid: Number(m[1]), release: readlinkSync(`/proc/${m[1]}/cwd`).split('/').pop()! };
  };
  const current = (i: number) => readlinkSync(fleet.hostPath(i, join(root(), 'current'))).replace('releases/', '');

  function programConf(command: string) {
    return ['[program:shop]', `command=${command}`, `directory=${root()}/current`, 'startsecs=1', 'startretries=0', 'autorestart=false', ''].join('\n');
  }

  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo({ 'app.py': 'print("v1")\n', 'configs/supervisor_production_web.conf': programConf("/bin/sh -c 'exec sleep 1000'") });
    const d = join(fleet.deployDir, 'supervisord');
    for (let i = 0; i < 2; i++) {
      mkdirSync(fleet.hostPath(i, d));
      writeFileSync(
        fleet.hostPath(i, conf()),
        [
          '[unix_http_server]',
          `file=${d}/supervisor.sock`,
          '[supervisord]',
          `pidfile=${d}/supervisord.pid`,
          `logfile=${d}/supervisord.log`,
          `childlogdir=${d}`,
          '[rpcinterface:supervisor]',
          'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
          '[supervisorctl]',
          `serverurl=unix://${d}/supervisor.sock`,
          '[include]',
          `files = ${fleet.deployDir}/supervisor/*.conf`,
          '',
        ].join('\n'),
      );
      // supervisord daemonizes inside host i's mount namespace, like the host's own service
      const r = spawnSync('nsenter', ['-t', String(fleet.hosts[i].process.pid), '-m', '--', supervisord!, '-c', conf()], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    file = writeDeployFile(fleet, {
      repo: repo.dir,
      top: {
        app_name: app,
        plugins: ['git', 'supervisorctl'],
        supervisor_refresh: true,
        supervisor_check_status: true,
        supervisor_check_timeout: 5,
        supervisor_target: `${fleet.deployDir}/supervisor/shop.conf`,
        supervisorctl_command: `supervisorctl -c ${conf()}`,
      },
    });
  });
  after(async () => {
    if (fleet) for (let i = 0; i < 2; i++) ctl(i, 'shutdown');
    await fleet?.stop();
  });

  const onEach = async (args: string[]) => [await fap(["-f", file, ...args])];

  test('deploy links the config and starts the program from the new release; again; rollback', async () => {
    for (const r of await onEach(['deploy', 'production'])) assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 2; i++) {
      assert.equal(readlinkSync(fleet.hostPath(i, `${fleet.deployDir}/supervisor/shop.conf`)), `${root()}/current/configs/supervisor_production_web.conf`);
      assert.equal(runningFrom(i).release, current(i));
    }
    const first = current(0);
    repo.commit({ 'app.py': 'print("v2")\n' });
    for (const r of await onEach(['deploy', 'production'])) assert.equal(r.code, 0, r.stderr);
    const second = current(0);
    assert.notEqual(second, first);
    for (let i = 0; i < 2; i++) assert.equal(runningFrom(i).release, second, 'restarted into the new release (the same on every host)');

    for (const r of await onEach(['rollback', 'production'])) assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 2; i++) {
      assert.equal(current(i), first);
      assert.equal(runningFrom(i).release, first, 'after rollback the running process is from the rolled-back-to release');
    }
    const before = runningFrom(0).pid;
    const [restarted] = await onEach(['restart', 'production']);
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.notEqual(runningFrom(0).pid, before, 'fap restart restarted it');
    assert.equal(runningFrom(0).release, first);
  });

  test('a program that does not come up fails the deploy and everything is put back', async () => {
    const good = current(0);
    repo.commit({ 'configs/supervisor_production_web.conf': programConf('/bin/false') });
    const [r] = await onEach(['--json', 'deploy', 'production']);
    assert.equal(r.code, 1);
    const failed = jsonEvents(r.stdout).find((e) => e.event === 'host.failed')!;
    assert.match(String(failed.step), /^supervisorctl: restart programs/);
    assert.equal(current(0), good, 'current is back on the previous release');
    assert.equal(runningFrom(0).release, good, 'and the program runs from it again');
    repo.commit({ 'configs/supervisor_production_web.conf': programConf("/bin/sh -c 'exec sleep 1000'") });
  });
});
