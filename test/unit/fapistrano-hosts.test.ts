// Hosts Fapistrano deployed (issue 13 item 5): its release names, its absolute current, its dirty
// releases, side by side with fap's own. Pure decisions over generated mixed hosts, and the flip /
// inspect scripts run by a real sh on a directory laid out as Fapistrano leaves it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { composeScript, parseFailedStep, parseOutputs, type Step } from '../../src/remote/shell.js';
import { layout } from '../../src/release/paths.js';
import { compareReleases, formatReleaseName, isReleaseName, makerOf, releaseTime } from '../../src/release/names.js';
import { currentLinkTarget, flipSteps, inspectSteps, journalSteps } from '../../src/release/scripts.js';
import { isGood, nextReleaseName, parseState, planHeal, pruneList, rollbackTarget, unrecordedDirty, unrecordedUnverified, type HostState, type ReleaseInfo, type ReleaseStatus } from '../../src/release/state.js';
import { chooseRollback } from '../../src/release/state.js';
import type { Target } from '../../src/release/plan.js';

const base = mkdtempSync(join(tmpdir(), 'fap-unit-fapistrano-'));
after(() => rmSync(base, { recursive: true, force: true }));

function sh(steps: Step[]) {
  const r = spawnSync('/bin/sh', ['-c', composeScript(steps)], { encoding: 'utf8' });
  const { outputs } = parseOutputs(r.stdout);
  return { status: r.status, outputs, stderr: parseFailedStep(r.stderr).stderr };
}

/** Fapistrano's name for an instant: %y%m%d-%H%M%S of the deploying machine's local time (configuration.py:64,77). */
function fapistranoName(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getFullYear() % 100)}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

// whole seconds in 2001..2098 (Fapistrano's %y), away from DST gaps by being whole minutes + 7 s
const instant = fc.integer({ min: Date.UTC(2001, 0, 2) / 60000, max: Date.UTC(2098, 11, 30) / 60000 }).map((m) => m * 60000 + 7000);
/** a release: its instant, and who named it */
const mixedRelease = fc.record({ at: instant, fapistrano: fc.boolean() }).map((r) => ({ ...r, name: r.fapistrano ? fapistranoName(r.at) : formatReleaseName(new Date(r.at)) }));

describe('release names', () => {
  test('a Fapistrano name is a release made by Fapistrano, at that local time', () => {
    // fapistrano-0.9.5 configuration.py:64 RELEASE_PATH_FORMAT = '%y%m%d-%H%M%S', :77 datetime.now()
    assert.equal(makerOf('261129-101500'), 'fapistrano');
    assert.equal(makerOf('20261129101500'), 'fap');
    assert.equal(releaseTime('261129-101500'), new Date(2026, 10, 29, 10, 15, 0).getTime());
    for (const bad of ['261329-101500', '261129-251500', '26112-9101500', '261129101500', '20241399000000', 'current', '261129-101500\n']) assert.ok(!isReleaseName(bad), bad);
  });

  test('every comparison goes by age: Fapistrano (local) and fap (UTC) names sort as their instants', () => {
    fc.assert(
      fc.property(fc.array(mixedRelease, { maxLength: 12 }), (rels) => {
        const byName = rels.map((r) => r.name).sort(compareReleases);
        const byAge = [...rels].sort((a, b) => a.at - b.at || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((r) => r.name);
        assert.deepEqual(byName, byAge);
      }),
    );
  });

  test('the next release is newer than every release, whoever named it', () => {
    fc.assert(
      fc.property(fc.array(mixedRelease, { maxLength: 8 }), instant, (rels, now) => {
        const next = nextReleaseName(new Date(now), [{ releases: rels.map((r) => ({ name: r.name, status: 'ok' as const })) }]);
        assert.match(next, /^\d{14}$/);
        for (const r of rels) assert.ok(compareReleases(next, r.name) > 0, `${next} after ${r.name}`);
      }),
    );
  });
});

/** A host as Fapistrano leaves it, possibly after some fap deploys: releases by age, current, statuses. */
const mixedHost = fc
  .uniqueArray(mixedRelease, { minLength: 1, maxLength: 10, selector: (r) => r.at })
  .chain((rels) => {
    const sorted = [...rels].sort((a, b) => a.at - b.at);
    return fc.record({
      rels: fc.constant(sorted),
      // -1: no current at all; -2: current outside releases/ (set by hand or another tool)
      current: fc.integer({ min: -2, max: sorted.length - 1 }),
      statuses: fc.array(fc.constantFrom<ReleaseStatus | 'none'>('none', 'ok', 'failed', 'rolled-back', 'building', 'unverified'), { minLength: sorted.length, maxLength: sorted.length }),
      keep: fc.integer({ min: 1, max: 6 }),
    });
  })
  .map(({ rels, current, statuses, keep }) => {
    // what `inspectSteps` prints for it: directory names (ls order), current's link, .fap records
    const cur = current >= 0 ? rels[current].name : undefined;
    const foreign = current === -2;
    const st: string[] = [];
    // fap's own releases always carry a record; Fapistrano's only once fap recorded them
    const recorded = rels.map((r, i) => (statuses[i] === 'none' && !r.fapistrano ? 'ok' : statuses[i]));
    rels.forEach((r, i) => {
      if (recorded[i] !== 'none') st.push(`${r.name}.status:${recorded[i]}`);
    });
    const outputs = new Map<string, string[]>([
      ['current', [cur ? `/home/deploy/www/app/releases/${cur}` : foreign ? '/srv/hotfix' : '']],
      ['rel', [...rels.map((r) => r.name)].sort().reverse()],
      ['st', st],
      ...(cur || foreign ? [['current-in', [foreign ? 'elsewhere' : 'releases']] as [string, string[]]] : []),
    ]);
    return { rels, cur, foreign, keep, recorded, statuses, state: parseState(outputs) };
  });

describe('a host Fapistrano deployed', () => {
  test('parseState orders by age, reads an absolute current, and never calls a dirty release good', () => {
    fc.assert(
      fc.property(mixedHost, ({ rels, cur, foreign, recorded, state }) => {
        assert.deepEqual(state.releases.map((r) => r.name), rels.map((r) => r.name), 'oldest first, by age');
        assert.equal(state.current, cur);
        assert.equal(state.foreignCurrent, foreign ? '/srv/hotfix' : undefined);
        state.releases.forEach((r, i) => {
          assert.equal(r.made_by, rels[i].fapistrano ? 'fapistrano' : 'fap');
          // fapistrano-0.9.5 directory.py:71-78: unrecorded releases after current are dirty (failed
          // deploys) — after Fapistrano's last current, which fap's records (a rollback moves current
          // back) place no lower than the newest recorded release
          const known = [cur, ...rels.filter((_, j) => recorded[j] !== 'none').map((x) => x.name)].filter(Boolean).map((n) => rels.find((x) => x.name === n)!.at);
          const untracked = recorded[i] === 'none' && rels[i].at > Math.max(...known);
          const dirty = untracked && cur !== undefined;
          // no current to date it (none, or one outside releases/): it may never have run
          const unverified = untracked && cur === undefined;
          assert.equal(r.status, dirty ? 'failed' : unverified ? 'unverified' : recorded[i] === 'none' ? 'unknown' : recorded[i]);
          assert.equal(unrecordedDirty(state).includes(r.name), dirty);
          assert.equal(unrecordedUnverified(state).includes(r.name), unverified);
        });
      }),
    );
  });

  test('rollback target: the newest good release older than current, never a dirty or failed one', () => {
    fc.assert(
      fc.property(mixedHost, ({ state }) => {
        const t = rollbackTarget(state);
        const good = state.releases.filter((r) => isGood(r) && r.status !== 'rolled-back' && r.status !== 'unverified');
        const older = state.current ? good.filter((r) => compareReleases(r.name, state.current!) < 0) : good;
        assert.equal(t, older.at(-1)?.name);
        if (t) {
          const info = state.releases.find((r) => r.name === t)!;
          assert.ok(info.status !== 'failed' && info.status !== 'building' && info.status !== 'unverified');
          assert.ok(!unrecordedDirty(state).includes(t));
        }
      }),
    );
  });

  test('after the first fap deploy, a plain rollback never lands on a release no current ever dated', () => {
    // found by the attack pass: a host with no current (or one fap cannot read) had its Fapistrano
    // releases counted as good, so the rollback after fap's first deploy went to one never published
    fc.assert(
      fc.property(mixedHost, instant, ({ rels, recorded, foreign, state }, now) => {
        fc.pre(!foreign); // deploy refuses a foreign current (test/e2e/fapistrano-hosts.test.ts)
        const release = nextReleaseName(new Date(now), [state]);
        // what the deploy writes (deploy.ts prepare + record + flip), read back as inspect would
        const st = rels.flatMap((r, i) => (recorded[i] !== 'none' ? [`${r.name}.status:${recorded[i]}`] : []));
        st.push(...unrecordedDirty(state).map((n) => `${n}.status:failed`), ...unrecordedUnverified(state).map((n) => `${n}.status:unverified`), `${release}.status:ok`);
        const after = parseState(
          new Map([
            ['current', [`releases/${release}`]],
            ['current-in', ['releases']],
            ['rel', [...rels.map((r) => r.name), release]],
            ['st', st],
          ]),
        );
        const target = rollbackTarget(after);
        const before = state.releases.find((r) => r.name === target);
        if (target) assert.ok(before && isGood(before) && before.status !== 'unverified' && before.status !== 'rolled-back', `${target} was ${before?.status}`);
        assert.deepEqual(unrecordedDirty(after), []);
        assert.deepEqual(unrecordedUnverified(after), []);
      }),
    );
  });

  test('prune keeps exactly the keep_releases newest good releases (both makers), current and the rollback target', () => {
    fc.assert(
      fc.property(mixedHost, ({ state, keep }) => {
        const pruned = new Set(pruneList(state, keep));
        const good = state.releases.filter(isGood).map((r) => r.name); // oldest first, by age
        const kept = state.releases.map((r) => r.name).filter((n) => !pruned.has(n));
        const expected = new Set([...good.slice(-keep), ...(state.current ? [state.current] : []), ...(rollbackTarget(state) ? [rollbackTarget(state)!] : [])]);
        assert.deepEqual(new Set(kept), expected);
        for (const r of state.releases) if (!isGood(r) && r.name !== state.current) assert.ok(pruned.has(r.name), `${r.name} (${r.status}) pruned`);
      }),
    );
  });

  test('the dirty release of a Fapistrano host: failed, listed as Fapistrano, deployed-at from its name', () => {
    const outputs = new Map([
      ['current', ['/home/deploy/www/app/releases/261129-101500']],
      ['rel', ['261127-090000', '261128-090000', '261129-101500', '261130-080000']],
      ['st', []],
    ]);
    const s = parseState(outputs);
    assert.equal(s.current, '261129-101500');
    assert.deepEqual(s.releases.map((r) => [r.name, r.status, r.made_by]), [
      ['261127-090000', 'unknown', 'fapistrano'],
      ['261128-090000', 'unknown', 'fapistrano'],
      ['261129-101500', 'unknown', 'fapistrano'],
      ['261130-080000', 'failed', 'fapistrano'],
    ]);
    assert.equal(s.releases[0].deployed_at, new Date(2026, 10, 27, 9, 0, 0).toISOString());
    assert.deepEqual(unrecordedDirty(s), ['261130-080000']);
    assert.equal(rollbackTarget(s), '261128-090000');
    // once fap deployed (current moved past it), the dirty release stays failed through its record
    const after = parseState(new Map([...outputs, ['current', ['releases/20261201000000']], ['rel', [...outputs.get('rel')!, '20261201000000']], ['st', ['261130-080000.status:failed', '20261201000000.status:ok']]]));
    assert.equal(after.releases.find((r) => r.name === '261130-080000')!.status, 'failed');
    assert.equal(rollbackTarget(after), '261129-101500', 'a plain rollback after the first fap deploy goes back to the Fapistrano release');
    assert.deepEqual(pruneList(after, 2), ['261127-090000', '261128-090000', '261130-080000']);
    // before that record, a plain reading after the move would call it good: that is why it is recorded
    assert.equal(parseState(new Map([['current', ['releases/20261201000000']], ['rel', outputs.get('rel')!.concat('20261201000000')], ['st', []]])).releases.find((r) => r.name === '261130-080000')!.status, 'unknown');
  });

  test('rollback --to a Fapistrano release; a dirty one is refused', () => {
    const s = parseState(new Map([['current', ['/srv/app/releases/261129-101500']], ['rel', ['261128-090000', '261129-101500', '261130-080000']], ['st', []]]));
    const t = { key: 'k', host: { name: 'h1' } } as unknown as Target;
    const states = new Map([['k', s]]);
    assert.deepEqual([...chooseRollback([t], states, { to: '261128-090000' }).choice.values()], [{ from: '261129-101500', to: '261128-090000' }]);
    assert.match(chooseRollback([t], states, { to: '261130-080000' }).problems[0].message, /261130-080000 is failed/);
  });

  test('an interrupted first fap deploy heals back to the Fapistrano release (its journal prev is kept)', () => {
    const rel = '20261201000000';
    const j = journalSteps(layout('/x', rel), { token: 'tok1', command: 'deploy', release: rel, prev: '261129-101500', phase: 'publish', at: 'A', hosts: ['k'] });
    const body = /printf '%s' '([^']*)'/.exec(j[0].script)![1];
    const outputs = new Map([
      ['current', [`releases/${rel}`]],
      ['rel', ['261129-101500', rel]],
      ['st', [`${rel}.status:ok`]],
      ['journal', body.split('\n').filter(Boolean).map((l) => `tok1:${l}`)],
    ]);
    const s = parseState(outputs);
    assert.equal(s.journals![0].prev, '261129-101500');
    const { heals } = planHeal(new Map([['k', s]]));
    assert.equal(heals.get('k')!.flipBackTo, '261129-101500');
  });
});

describe('flip on a host Fapistrano deployed (real sh)', () => {
  /** the layout Fapistrano leaves: releases without REVISION (curl), current an absolute link (deploy.py:178) */
  function fapistranoHost() {
    const root = join(base, `fapistrano host ${Math.random().toString(36).slice(2)}`);
    for (const n of ['261128-090000', '261129-101500']) mkdirSync(join(root, 'releases', n), { recursive: true });
    mkdirSync(join(root, 'shared', 'log'), { recursive: true });
    // fapistrano-0.9.5 deploy.py:178 ln -nfs %(release_path)s %(current_path)s: an absolute link
    symlinkSync(join(root, 'releases', '261129-101500'), join(root, 'current'));
    return root;
  }

  test('inspect reads the absolute current; flip to a release without REVISION works, and back', () => {
    const root = fapistranoHost();
    const p = layout(root, '<release>');
    let r = sh(inspectSteps(p));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseState(r.outputs).current, '261129-101500');
    r = sh(flipSteps(p, '261128-090000'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readlinkSync(join(root, 'current')), 'releases/261128-090000');
    assert.equal(parseState(sh(inspectSteps(p)).outputs).current, '261128-090000');
  });

  test('a fap release still needs its REVISION; a missing Fapistrano release is refused', () => {
    const root = fapistranoHost();
    const p = layout(root, '<release>');
    mkdirSync(join(root, 'releases', '20261201000000'));
    let r = sh(flipSteps(p, '20261201000000'));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /missing or incomplete/);
    r = sh(flipSteps(p, '261101-000000'));
    assert.notEqual(r.status, 0);
    assert.equal(readlinkSync(join(root, 'current')), join(root, 'releases', '261129-101500'), 'current untouched');
    writeFileSync(join(root, 'releases', '20261201000000', 'REVISION'), 'abc\n');
    assert.equal(sh(flipSteps(p, '20261201000000')).status, 0);
    assert.equal(readlinkSync(join(root, 'current')), 'releases/20261201000000');
  });

  test('inspect tells a current fap can put back from one it cannot', () => {
    const root = fapistranoHost();
    const p = layout(root, '<release>');
    const read = () => parseState(sh(inspectSteps(p)).outputs);
    // Fapistrano's REVISION is the revision of its releases (plugins/git.py:92-94)
    writeFileSync(join(root, 'releases', '261129-101500', 'REVISION'), '0123456789ab\n');
    writeFileSync(join(root, 'releases', '261128-090000', 'REVISION'), '$(reboot)\n');
    let s = read();
    assert.equal(s.releases.find((r) => r.name === '261129-101500')!.revision, '0123456789ab');
    assert.equal(s.releases.find((r) => r.name === '261128-090000')!.revision, undefined, 'not a revision: not shown');
    // an absolute link through another spelling of the root (a symlinked home) is still in releases/
    const alias = join(base, `alias-${Math.random().toString(36).slice(2)}`);
    symlinkSync(root, alias);
    rmSync(join(root, 'current'));
    symlinkSync(join(alias, 'releases', '261129-101500'), join(root, 'current'));
    s = read();
    assert.equal(s.current, '261129-101500');
    assert.equal(s.foreignCurrent, undefined);
    // a dangling current still names its release: what is newer is dirty (directory.py:71-78)
    rmSync(join(root, 'current'));
    symlinkSync(join(root, 'releases', '261129-000000'), join(root, 'current'));
    s = read();
    assert.equal(s.current, '261129-000000');
    assert.equal(s.releases.find((r) => r.name === '261129-101500')!.status, 'failed');
    // elsewhere, even under a release-like name, or not a link at all: foreign
    for (const make of [() => symlinkSync('/srv/hotfix/261129-101500', join(root, 'current')), () => symlinkSync('shared', join(root, 'current')), () => mkdirSync(join(root, 'current'))]) {
      rmSync(join(root, 'current'), { recursive: true, force: true });
      make();
      s = read();
      assert.equal(s.current, undefined);
      assert.ok(s.foreignCurrent);
      assert.deepEqual(s.releases.map((r) => r.status), ['unverified', 'unverified'], 'no current dates them');
      assert.equal(rollbackTarget(s), undefined);
    }
    // no current at all: nothing was published as far as fap can tell
    rmSync(join(root, 'current'), { recursive: true, force: true });
    s = read();
    assert.equal(s.foreignCurrent, undefined);
    assert.deepEqual(unrecordedUnverified(s), ['261128-090000', '261129-101500']);
    assert.equal(rollbackTarget(s), undefined);
    const t = { key: 'k', host: { name: 'h' } } as unknown as Target;
    assert.equal(chooseRollback([t], new Map([['k', s]]), { to: '261128-090000' }).choice.get('k')?.to, '261128-090000', '--to may still choose one');
  });

  test('the link is relative inside the deploy root, absolute when current lives elsewhere', () => {
    const p = layout('/srv/app', 'x');
    assert.equal(currentLinkTarget(p, '261129-101500'), 'releases/261129-101500');
    assert.equal(currentLinkTarget({ ...p, current: '/var/www/current' }, 'R'), '/srv/app/releases/R');
    assert.equal(currentLinkTarget({ ...p, current: '/srv/app/live/current' }, 'R'), '../releases/R');
  });
});

export type { HostState, ReleaseInfo };

describe('a rollback --to an older Fapistrano release', () => {
  // found by the attack pass: after fap release R, rollback --to 261129-101500, rollback --to
  // 261127-090000, the good 261128-090000 (newer than the new current, no record) read as dirty.
  // Dirty (directory.py:71-78) is what is newer than Fapistrano's last current, which the records
  // fap wrote (rolled-back 261129-101500, failed 261129-113000) place above it.
  test('good releases between the new current and the recorded ones stay good; the real dirty one stays failed', () => {
    const outputs = new Map<string, string[]>([
      ['current', ['releases/261127-090000']],
      ['rel', ['261127-090000', '261128-090000', '261129-101500', '261129-113000', '20261201000000']],
      ['st', ['261129-101500.status:rolled-back', '261129-113000.status:failed', '20261201000000.status:rolled-back', '261127-090000.status:ok']],
    ]);
    const s = parseState(outputs);
    const status = Object.fromEntries(s.releases.map((r) => [r.name, r.status]));
    assert.equal(status['261128-090000'], 'unknown');
    assert.ok(isGood(s.releases.find((r) => r.name === '261128-090000')!));
    assert.equal(status['261129-113000'], 'failed');
    assert.deepEqual(unrecordedDirty(s), []);
    // a pure Fapistrano host: what is newer than current is dirty
    const pure = parseState(new Map([['current', ['/home/deploy/www/a/releases/261128-090000']], ['rel', ['261127-090000', '261128-090000', '261129-101500']]]));
    assert.deepEqual(unrecordedDirty(pure), ['261129-101500']);
  });
});
