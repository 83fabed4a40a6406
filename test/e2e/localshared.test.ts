// The localshared plugin on a real 2-host fleet: linked files and dirs missing from shared/ are
// copied from a directory on each host before the linked-file check; shared/ is never overwritten.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

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

  function deployFile(app: string, source: string, linked: { files?: string[]; dirs?: string[] } = {}): string {
    return writeDeployFile(fleet, {
      repo: repo.dir,
      top: { app_name: app, plugins: ['git', 'localshared'], localshared_source: source, linked_files: linked.files ?? ['configs/app.conf'], linked_dirs: linked.dirs ?? ['media'] },
    });
  }

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

  test('what shared/ already has is never overwritten', async () => {
    const app = 'ls-keep';
    const file = deployFile(app, seedSource('appconf-keep'));
    put(onHost(0, app, 'shared/configs/app.conf'), 'edited on the server\n');
    put(onHost(1, app, 'shared/media/own.txt'), 'mine\n');
    for (let round = 0; round < 2; round++) {
      const r = await fap(['-f', file, 'deploy', 'production']);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(readFileSync(onHost(0, app, 'shared/configs/app.conf'), 'utf8'), 'edited on the server\n');
    assert.equal(readFileSync(onHost(1, app, 'shared/configs/app.conf'), 'utf8'), 'port=801\n');
    // host 1 already had a media dir: it is left as it is (no merge into it)
    assert.deepEqual(readdirSync(onHost(1, app, 'shared/media')), ['own.txt']);
    assert.deepEqual(readdirSync(onHost(0, app, 'shared/media')), ['logo.txt']);
    // a source file changed later does not replace the copy made earlier
    put(onHost(1, 'appconf-keep', 'configs/app.conf'), 'changed source\n');
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    assert.equal(readFileSync(onHost(1, app, 'shared/configs/app.conf'), 'utf8'), 'port=801\n');
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

  test('a source that is not a directory on the host fails before anything is built', async () => {
    const app = 'ls-nosource';
    const file = deployFile(app, join(fleet.deployDir, 'no-such-dir'));
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /localshared: copy missing shared files/);
    assert.match(r.stderr, /is not a directory on this host/);
    for (const i of HOSTS) assert.ok(!existsSync(onHost(i, app, 'current')));
  });
});
