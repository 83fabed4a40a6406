// The localshared plugin on a real 2-host fleet: every deploy copies linked files and dirs from a
// directory on each host (fapistrano-0.9.5 plugins/localshared.py:11-58); shared/ changes only at
// publish, a failed deploy puts the previous copies back, a crash mid-prepare changes nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, fapLive, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();

describe('localshared on a 2-host fleet', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo();
  });
  after(async () => {
    await fleet?.stop();
  });

  const HOSTS = [0, 1];
  /** a path on host i, as the host sees it, read from the test */
  const onHost = (i: number, ...p: string[]) => fleet.hostPath(i, join(fleet.deployDir, ...p));
  const put = (path: string, body: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  };

  /** the source directory on every host: configs/app.conf and media/logo.txt */
  function seedSource(name: string): string {
    for (const i of HOSTS) {
      put(onHost(i, name, 'configs/app.conf'), `port=80${i}\n`);
      put(onHost(i, name, 'media/logo.txt'), 'logo\n');
    }
    return join(fleet.deployDir, name); // the host's view
  }

  function deployFile(app: string, source: string, linked: { files?: string[]; dirs?: string[] } = {}, top: Record<string, unknown> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'fap-ls-'));
    const fault = writeFaultPlugin(dir);
    return writeDeployFile(fleet, {
      dir,
      repo: repo.dir,
      top: {
        app_name: app,
        user: fleet.user,
        sudo_user: fleet.user,
        plugins: ['git', 'localshared', fault],
        localshared_source: source,
        linked_files: linked.files ?? ['configs/app.conf'],
        linked_dirs: linked.dirs ?? ['media'],
        ...top,
      },
    });
  }
  const read = (i: number, app: string, ...p: string[]) => readFileSync(onHost(i, app, ...p), 'utf8');
  /** what the live release reads at `rel`: current's link into shared/ (a host path), followed on that host */
  const live = (i: number, app: string, rel: string) => readFileSync(fleet.hostPath(i, readlinkSync(onHost(i, app, 'current', rel))), 'utf8');

  test('copies what shared/ lacks from the source; releases link into shared/', async () => {
    const app = 'ls-copy';
    const file = deployFile(app, seedSource('appconf'));
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const release = String(jsonEvents(r.stdout).pop()!.release);
    for (const i of HOSTS) {
      assert.equal(readFileSync(onHost(i, app, 'shared/configs/app.conf'), 'utf8'), `port=80${i}\n`, 'each host copies from its own source');
      assert.ok(statSync(onHost(i, app, 'shared/media')).isDirectory());
      assert.equal(readFileSync(onHost(i, app, 'shared/media/logo.txt'), 'utf8'), 'logo\n');
      const rel = join(fleet.deployDir, app, 'releases', release);
      assert.equal(readlinkSync(fleet.hostPath(i, join(rel, 'configs/app.conf'))), join(fleet.deployDir, app, 'shared/configs/app.conf'));
      assert.equal(readlinkSync(fleet.hostPath(i, join(rel, 'media'))), join(fleet.deployDir, app, 'shared/media'));
      assert.equal(readlinkSync(onHost(i, app, 'current')), `releases/${release}`);
      // log: shared_writable (default true) makes shared/log, as Fapistrano did (fapistrano-0.9.5 deploy.py:149)
      assert.deepEqual(readdirSync(onHost(i, app, 'shared')).sort(), ['configs', 'log', 'media'], 'no temporary copies left behind');
    }
  });

  test('every deploy copies the source again: shared/ has the new copy once published', async () => {
    // fapistrano-0.9.5 plugins/localshared.py:44-58: cp on every deploy.starting, a merge into linked dirs
    const app = 'ls-every';
    const source = seedSource('appconf-every');
    const file = deployFile(app, source);
    put(onHost(1, app, 'shared/media/own.txt'), 'mine\n');
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    for (const i of HOSTS) put(onHost(i, 'appconf-every', 'configs/app.conf'), `port=90${i}\n`);
    put(onHost(0, 'appconf-every', 'media/new.txt'), 'new\n');
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    for (const i of HOSTS) {
      assert.equal(read(i, app, 'shared/configs/app.conf'), `port=90${i}\n`);
      assert.equal(live(i, app, 'configs/app.conf'), `port=90${i}\n`, 'the live release reads the new copy');
      assert.ok(!existsSync(onHost(i, app, '.fap/localshared')), 'no staging left after a finished deploy');
    }
    assert.equal(read(0, app, 'shared/media/new.txt'), 'new\n');
    assert.equal(read(1, app, 'shared/media/own.txt'), 'mine\n', 'what shared/ has beyond the source stays (a merge)');
  });

  test('a deploy failing at publish puts the previous copies back; the live release reads the old value', async () => {
    const app = 'ls-revert';
    const file = deployFile(app, seedSource('appconf-revert'));
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const before = HOSTS.map((i) => readlinkSync(onHost(i, app, 'current')));
    for (const i of HOSTS) put(onHost(i, 'appconf-revert', 'configs/app.conf'), 'broken=1\n');
    put(onHost(0, 'appconf-revert', 'media/added.txt'), 'added\n');
    const bad = deployFile(app, join(fleet.deployDir, 'appconf-revert'), {}, { health_check: 'false', health_check_timeout: 1 });
    const r = await fap(['-f', bad, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /health check/);
    for (const i of HOSTS) {
      assert.equal(readlinkSync(onHost(i, app, 'current')), before[i]);
      assert.equal(read(i, app, 'shared/configs/app.conf'), `port=80${i}\n`, 'the previous copy is back');
      assert.equal(live(i, app, 'configs/app.conf'), `port=80${i}\n`, 'the live release reads the old value');
    }
    assert.ok(!existsSync(onHost(0, app, 'shared/media/added.txt')), 'what the publish added went with the revert');
    // the next good deploy installs the source again
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    for (const i of HOSTS) assert.equal(read(i, app, 'shared/configs/app.conf'), 'broken=1\n');
  });

  test('a deploy failing in prepare leaves shared/ unchanged', async () => {
    const app = 'ls-prepare';
    const file = deployFile(app, seedSource('appconf-prepare'));
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    for (const i of HOSTS) put(onHost(i, 'appconf-prepare', 'configs/app.conf'), 'next\n');
    const r = await fap(['-f', file, '--set', 'fault_signal=deploy.updated', '--set', `fault_hosts=[${fleet.hosts[1].name}]`, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no host was switched/);
    for (const i of HOSTS) assert.equal(read(i, app, 'shared/configs/app.conf'), `port=80${i}\n`);
  });

  test('kill -9 mid-prepare leaves shared/ unchanged; the next deploy copies', async () => {
    const app = 'ls-crash';
    const file = deployFile(app, seedSource('appconf-crash'), {}, { fault_action: 'sleep 7.25' });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    for (const i of HOSTS) put(onHost(i, 'appconf-crash', 'configs/app.conf'), 'after-crash\n');
    let updated = 0;
    const killed = await fapLive(['-f', file, '--set', 'fault_signal=deploy.updated', 'deploy', 'production'], (e, kill) => {
      if (e.event === 'deploy.updated' && ++updated === HOSTS.length) setTimeout(kill, 400);
    });
    assert.ok(killed.killed, killed.stderr);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(spawnSync('pgrep', ['-f', '^sleep 7.25$'], { encoding: 'utf8' }).stdout.trim(), '', 'the remote scripts ended');
    for (const i of HOSTS) {
      assert.equal(read(i, app, 'shared/configs/app.conf'), `port=80${i}\n`, 'shared/ unchanged');
      assert.ok(existsSync(onHost(i, app, '.fap/localshared')), 'the killed run had staged its copy');
    }
    const next = await fap(['-f', file, '--set', 'fault_signal=none', 'deploy', 'production']);
    assert.equal(next.code, 0, next.stderr);
    for (const i of HOSTS) assert.equal(live(i, app, 'configs/app.conf'), 'after-crash\n');
  });

  test('a source entry that is missing is a warning (Fapistrano red_alert), not a failure', async () => {
    // fapistrano-0.9.5 plugins/localshared.py:49-50 red_alert('Missing ...')
    const app = 'ls-warn';
    const source = seedSource('appconf-warn');
    for (const i of HOSTS) put(onHost(i, app, 'shared/extra.conf'), 'kept\n');
    const file = deployFile(app, source, { files: ['configs/app.conf', 'extra.conf'] });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /localshared: warning: missing .*appconf-warn\/extra\.conf; shared\/ keeps what it has/);
    for (const i of HOSTS) assert.equal(read(i, app, 'shared/extra.conf'), 'kept\n');
  });

  test('a linked file missing from both shared/ and the source fails the deploy, nothing switched', async () => {
    const app = 'ls-missing';
    const source = seedSource('appconf-missing');
    const ok = deployFile(app, source);
    assert.equal((await fap(['-f', ok, 'deploy', 'production'])).code, 0);
    const before = HOSTS.map((i) => readlinkSync(onHost(i, app, 'current')));
    const releasesBefore = HOSTS.map((i) => readdirSync(onHost(i, app, 'releases')).sort());
    const file = deployFile(app, source, { files: ['configs/app.conf', 'configs/secret.conf'] });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /check linked files/);
    assert.match(r.stderr, /configs\/secret\.conf/);
    assert.match(r.stderr, /no host was switched/);
    for (const i of HOSTS) {
      assert.equal(readlinkSync(onHost(i, app, 'current')), before[i]);
      assert.deepEqual(readdirSync(onHost(i, app, 'releases')).sort(), releasesBefore[i], 'the unpublished release is gone');
      assert.ok(!existsSync(onHost(i, app, 'shared/configs/secret.conf')));
      assert.ok(!existsSync(onHost(i, app, '.fap/lock')));
    }
  });

  test('an empty localshared_source does nothing and says nothing', async () => {
    const app = 'ls-empty';
    for (const i of HOSTS) put(onHost(i, app, 'shared/configs/app.conf'), 'seeded\n');
    const file = deployFile(app, '');
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    const events = jsonEvents(r.stdout);
    assert.ok(!events.some((e) => e.plugin === 'localshared'), 'no log from localshared');
    assert.ok(!r.stdout.includes('localshared'), 'no localshared step in any event');
    for (const i of HOSTS) assert.equal(readFileSync(onHost(i, app, 'shared/configs/app.conf'), 'utf8'), 'seeded\n');
  });

  test('a source that is not a directory on the host is a warning; shared/ keeps what it has', async () => {
    const app = 'ls-nosource';
    for (const i of HOSTS) put(onHost(i, app, 'shared/configs/app.conf'), 'seeded\n');
    const file = deployFile(app, join(fleet.deployDir, 'no-such-dir'));
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /localshared: warning: localshared_source .*no-such-dir is not a directory on this host; nothing copied/);
    for (const i of HOSTS) assert.equal(live(i, app, 'configs/app.conf'), 'seeded\n');
  });
});
