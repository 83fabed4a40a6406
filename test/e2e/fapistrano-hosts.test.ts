// A host exactly as Fapistrano 0.9.5 leaves it, then fap: releases, deploy, rollback (plain and
// --to a Fapistrano name), pruning by age across both makers, a failed first deploy reverting to
// the absolute-linked Fapistrano release, and Fapistrano's rollback signal sequence. Real sshd fleet.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();

const OLD = ['261127-090000', '261128-090000'];
const CURRENT = '261129-101500';
const DIRTY = '261130-080000';

// every signal, recorded in order into <root>/signals.log on the host
const RECORDER = `
const signals = ['deploy.starting','deploy.started','deploy.updating','deploy.updated','deploy.publishing','deploy.published','deploy.finishing','deploy.finished','deploy.reverting','deploy.reverted','deploy.finishing_rollback','deploy.restarting','deploy.restarted','deploy.failed'];
export default {
  name: 'recorder',
  on: Object.fromEntries(signals.map((s) => [s, (ctx) => ctx.script('record ' + s, 'echo ' + s + ' >> ' + ctx.quote(ctx.paths.root + '/signals.log'))])),
};
`;

describe('a host Fapistrano deployed', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo();
  });
  after(async () => {
    await fleet?.stop();
  });

  const root = (app: string) => join(fleet.deployDir, app);
  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(root(app), ...p));
  const current = (i: number, app: string) => basename(readlinkSync(onHost(i, app, 'current')));
  const releases = (i: number, app: string) => readdirSync(onHost(i, app, 'releases')).sort();

  /**
   * The layout Fapistrano leaves: releases/%y%m%d-%H%M%S (configuration.py:64,77), current an
   * absolute link (deploy.py:178 ln -nfs %(release_path)s %(current_path)s), shared/log
   * (deploy.py:149), REVISION only where the git plugin wrote it (plugins/git.py:94; curl: none),
   * a dirty release newer than current (a failed deploy, directory.py:71-78), no .fap/.
   */
  function fapistranoHost(app: string) {
    for (let i = 0; i < fleet.hosts.length; i++) {
      for (const r of [...OLD, CURRENT, DIRTY]) {
        mkdirSync(onHost(i, app, 'releases', r), { recursive: true });
        writeFileSync(onHost(i, app, 'releases', r, 'app.py'), `print("${r}")\n`);
      }
      writeFileSync(onHost(i, app, 'releases', OLD[1], 'REVISION'), 'abc123\n');
      mkdirSync(onHost(i, app, 'shared', 'log'), { recursive: true });
      writeFileSync(onHost(i, app, 'shared', 'settings.ini'), 'x=1\n');
      symlinkSync(join(root(app), 'releases', CURRENT), onHost(i, app, 'current'));
    }
  }

  function setup(app: string, top: Record<string, unknown> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'fap-fapistrano-'));
    writeFileSync(join(dir, 'recorder.mjs'), RECORDER);
    fapistranoHost(app);
    return writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, user: fleet.user, sudo_user: fleet.user, plugins: ['git', './recorder.mjs'], linked_files: ['settings.ini'], ...top } });
  }

  test('releases, deploy, rollback to the Fapistrano release, --to an older one, prune by age', async () => {
    const app = 'fapi';
    const file = setup(app, { keep_releases: 5 });

    const listed = await fap(['-f', file, '--json', 'releases', 'production']);
    assert.equal(listed.code, 0, listed.stderr);
    const hosts = jsonEvents(listed.stdout).pop()!.hosts as { current: string; releases: { name: string; status: string; made_by: string; deployed_at: string }[] }[];
    for (const h of hosts) {
      assert.equal(h.current, CURRENT, 'the absolute current is read');
      assert.deepEqual(h.releases.map((r) => [r.name, r.made_by]), [...OLD, CURRENT, DIRTY].map((n) => [n, 'fapistrano']));
      assert.equal(h.releases.find((r) => r.name === DIRTY)!.status, 'failed', 'a release newer than current is a failed Fapistrano deploy');
      assert.equal(h.releases[0].deployed_at, new Date(2026, 10, 27, 9, 0, 0).toISOString(), 'deployed-at from the name (local time)');
    }
    const table = await fap(['-f', file, 'releases', 'production']);
    assert.match(table.stdout, new RegExp(`${CURRENT}\\s.*\\*.*\\(Fapistrano\\)`));

    const d = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(d.code, 0, d.stderr);
    const r1 = String(jsonEvents(d.stdout).pop()!.release);
    for (let i = 0; i < 2; i++) {
      assert.equal(readlinkSync(onHost(i, app, 'current')), `releases/${r1}`);
      // recorded failed, so pruned first (keep_releases 5 would have kept it by count)
      assert.deepEqual(releases(i, app), [...OLD, CURRENT, r1].sort(), 'the dirty release is pruned as a failed one');
    }

    // plain rollback: back to the Fapistrano release (it has no REVISION: curl made it)
    const back = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(back.code, 0, back.stderr);
    for (let i = 0; i < 2; i++) assert.equal(current(i, app), CURRENT);
    // Fapistrano's rollback sequence (fapistrano-0.9.5 deploy.py:66-97), each signal once, in order
    const log = readFileSync(onHost(0, app, 'signals.log'), 'utf8').trim().split('\n');
    const rollbackSignals = log.slice(log.lastIndexOf('deploy.finished', log.length - 2) + 1);
    assert.deepEqual(rollbackSignals, ['deploy.starting', 'deploy.started', 'deploy.reverting', 'deploy.reverted', 'deploy.publishing', 'deploy.published', 'deploy.finishing_rollback', 'deploy.finished']);

    // --to names a Fapistrano release
    const to = await fap(['-f', file, 'rollback', 'production', '--to', OLD[1]]);
    assert.equal(to.code, 0, to.stderr);
    for (let i = 0; i < 2; i++) assert.equal(current(i, app), OLD[1]);

    // prune counts Fapistrano's releases by age with fap's: keep the 2 newest good (r1, r2), current,
    // and the rollback target (OLD[1]: CURRENT and r1 were rolled back from); OLD[0] and CURRENT go
    const d2 = await fap(['-f', file, '--json', '--set', 'keep_releases=2', 'deploy', 'production']);
    assert.equal(d2.code, 0, d2.stderr);
    const r2 = String(jsonEvents(d2.stdout).pop()!.release);
    for (let i = 0; i < 2; i++) assert.deepEqual(releases(i, app), [OLD[1], r1, r2].sort());
  });

  test('a first deploy failing at publish puts current back on the Fapistrano release', async () => {
    const app = 'fapi-fail';
    const file = setup(app);
    // a dirty release (a failed Fapistrano deploy, directory.py:71-78) is never a rollback target
    const dirty = await fap(['-f', file, 'rollback', 'production', '--to', DIRTY]);
    assert.equal(dirty.code, 1);
    assert.match(dirty.stderr, new RegExp(`${DIRTY} is failed, not a good release`));
    const r = await fap(['-f', file, '--set', 'health_check="false"', '--set', 'health_check_timeout=1', 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    for (let i = 0; i < 2; i++) {
      assert.equal(current(i, app), CURRENT);
      assert.ok(existsSync(onHost(i, app, 'current', 'app.py')), 'current resolves');
      assert.equal(readFileSync(onHost(i, app, 'current', 'app.py'), 'utf8'), `print("${CURRENT}")\n`);
    }
    // and fap can still go back from there
    const back = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(back.code, 0, back.stderr);
    for (let i = 0; i < 2; i++) assert.equal(current(i, app), OLD[1]);
  });

  test('current_path, releases_path and shared_path elsewhere: deploy, run, releases, a failed deploy, rollback, prune', async () => {
    // fapistrano-0.9.5 configuration.py:74-76: each place is a key of its own; a Fapistrano host
    // laid out that way keeps working, its absolute current included
    const app = 'fapi-places';
    const live = join(fleet.deployDir, `${app}-web`, 'current');
    const rels = join(fleet.deployDir, `${app}-releases`);
    const shared = join(fleet.deployDir, `${app}-shared`);
    const dir = mkdtempSync(join(tmpdir(), 'fap-fapistrano-'));
    for (let i = 0; i < 2; i++) {
      for (const r of [...OLD, CURRENT]) {
        mkdirSync(fleet.hostPath(i, join(rels, r)), { recursive: true });
        writeFileSync(fleet.hostPath(i, join(rels, r, 'app.py')), `print("${r}")\n`);
      }
      mkdirSync(fleet.hostPath(i, shared), { recursive: true });
      writeFileSync(fleet.hostPath(i, join(shared, 'settings.ini')), 'x=1\n');
      mkdirSync(fleet.hostPath(i, join(fleet.deployDir, `${app}-web`)), { recursive: true });
      symlinkSync(join(rels, CURRENT), fleet.hostPath(i, live));
    }
    const file = writeDeployFile(fleet, {
      dir,
      repo: repo.dir,
      top: { app_name: app, current_path: live, releases_path: rels, shared_path: `${shared}/`, keep_releases: 2, linked_files: ['settings.ini'] },
    });
    const onAll = (f: (i: number) => void) => [0, 1].forEach(f);
    const cur = (i: number) => basename(readlinkSync(fleet.hostPath(i, live)));

    const d = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(d.code, 0, d.stderr);
    const r1 = String(jsonEvents(d.stdout).pop()!.release);
    onAll((i) => {
      assert.equal(readlinkSync(fleet.hostPath(i, live)), join(rels, r1), 'current elsewhere: an absolute link');
      assert.ok(existsSync(fleet.hostPath(i, join(rels, r1, 'REVISION'))));
      assert.equal(readlinkSync(fleet.hostPath(i, join(rels, r1, 'settings.ini'))), join(shared, 'settings.ini'));
      assert.ok(!existsSync(onHost(i, app, 'releases')) && !existsSync(onHost(i, app, 'shared')) && !existsSync(onHost(i, app, 'current')), 'nothing at the default places');
      assert.ok(existsSync(onHost(i, app, '.fap')), 'the lock and journal stay under path');
      // keep_releases 2: r1 and the rollback target CURRENT
      assert.deepEqual(readdirSync(fleet.hostPath(i, rels)).sort(), [CURRENT, r1].sort());
    });
    const run = await fap(['-f', file, 'run', 'production', 'web', '--', 'sh', '-c', 'pwd -P; cat settings.ini']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`${rels}/${r1}[\\s\\S]*x=1`));
    const listed = await fap(['-f', file, 'releases', 'production']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${r1}\\s.*ok\\s+\\*`));
    assert.doesNotMatch(listed.stdout, /warning/);

    const bad = await fap(['-f', file, '--set', 'health_check="false"', '--set', 'health_check_timeout=1', 'deploy', 'production']);
    assert.equal(bad.code, 1, bad.stderr);
    onAll((i) => assert.equal(cur(i), r1, 'a failed deploy puts the moved current back'));

    const back = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(back.code, 0, back.stderr);
    onAll((i) => assert.equal(cur(i), CURRENT));
    const check = await fap(['-f', file, 'check', 'production']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });

  test('a current fap cannot put back stops deploy and rollback; with no current, rollback never picks an undated release', async () => {
    // found by the attack pass: with current outside releases/ (or none), every Fapistrano release
    // counted as good, and the rollback after the first fap deploy landed on the dirty one
    const app = 'fapi-foreign';
    const file = setup(app);
    for (let i = 0; i < 2; i++) {
      writeFileSync(onHost(i, app, 'releases', CURRENT, 'REVISION'), '0123456789ab\n'); // as Fapistrano's git plugin wrote it (git.py:92-94)
      rmSync(onHost(i, app, 'current'));
      mkdirSync(onHost(i, app, 'hotfix'));
      symlinkSync(join(root(app), 'hotfix'), onHost(i, app, 'current'));
    }
    const table = await fap(['-f', file, 'releases', 'production']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`${CURRENT}\\s+0123456789ab\\s+unverified`), 'Fapistrano\'s REVISION is shown');
    assert.match(table.stdout, /warning: current on .* is .*hotfix, not a release/);
    for (const args of [['deploy', 'production'], ['rollback', 'production'], ['rollback', 'production', '--to', CURRENT]]) {
      const r = await fap(['-f', file, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /current on .* is .*hotfix, not a release in .*releases; fap moves current only when it can put it back/);
      assert.match(r.stderr, /ln -sfn/);
      for (let i = 0; i < 2; i++) {
        assert.equal(readlinkSync(onHost(i, app, 'current')), join(root(app), 'hotfix'), 'current untouched');
        assert.deepEqual(releases(i, app), [...OLD, CURRENT, DIRTY], 'nothing built');
        assert.ok(!existsSync(onHost(i, app, '.fap', 'lock')), 'no lock left');
      }
    }

    // no current at all: the first deploy goes ahead; nothing Fapistrano left is a plain rollback target
    for (let i = 0; i < 2; i++) rmSync(onHost(i, app, 'current'));
    const d = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(d.code, 0, d.stderr);
    const back = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(back.code, 1, back.stderr);
    assert.match(back.stderr, /no earlier good release to roll back to/);
    const r1 = String(jsonEvents(d.stdout).pop()!.release);
    for (let i = 0; i < 2; i++) {
      assert.equal(current(i, app), r1);
      assert.deepEqual(releases(i, app), [...OLD, CURRENT, DIRTY, r1].sort(), 'unverified releases are kept (keep_releases 5)');
    }
    // the operator who knows one ran may still choose it
    const to = await fap(['-f', file, 'rollback', 'production', '--to', CURRENT]);
    assert.equal(to.code, 0, to.stderr);
    for (let i = 0; i < 2; i++) assert.equal(current(i, app), CURRENT);
  });
});
