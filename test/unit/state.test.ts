// Unit tests for src/release/state.ts: release names, parsed host state, rollback and prune decisions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatReleaseName,
  isGood,
  nextReleaseName,
  parseReleaseName,
  parseState,
  pruneList,
  rollbackTarget,
  type HostState,
  type ReleaseInfo,
  type ReleaseStatus,
} from '../../src/release/state.js';

const rel = (name: string, status: ReleaseStatus = 'ok'): ReleaseInfo => ({ name, status });
const names = (n: number, start = Date.UTC(2024, 0, 1)) => Array.from({ length: n }, (_, i) => formatReleaseName(new Date(start + i * 1000 * 61)));

describe('formatReleaseName / parseReleaseName', () => {
  test('formats in UTC with zero padding', () => {
    assert.equal(formatReleaseName(new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), '20240102030405');
    assert.equal(formatReleaseName(new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999))), '19991231235959');
  });

  test('round-trips (whole seconds)', () => {
    for (const ms of [0, Date.UTC(2024, 1, 29, 12, 0, 0), Date.UTC(2038, 0, 19, 3, 14, 7), 1_700_000_000_000, Date.UTC(9999, 11, 31, 23, 59, 59)]) {
      const d = new Date(ms);
      const name = formatReleaseName(d);
      assert.match(name, /^\d{14}$/);
      assert.equal(parseReleaseName(name).getTime(), ms);
      assert.equal(formatReleaseName(parseReleaseName(name)), name);
    }
  });

  test('milliseconds are dropped', () => {
    const name = formatReleaseName(new Date(Date.UTC(2024, 5, 6, 7, 8, 9, 876)));
    assert.equal(parseReleaseName(name).getTime(), Date.UTC(2024, 5, 6, 7, 8, 9));
  });

  test('rejects non release names', () => {
    for (const bad of ['', '2024010203040', '202401020304056', 'current', '2024-01-02T03', ' 20240102030405', '20240102030405\n']) {
      assert.throws(() => parseReleaseName(bad), /is not a release name/, JSON.stringify(bad));
    }
  });
});

describe('nextReleaseName', () => {
  const now = new Date(Date.UTC(2024, 4, 1, 10, 0, 0));

  test('is now when no host has a release', () => {
    assert.equal(nextReleaseName(now, []), '20240501100000');
    assert.equal(nextReleaseName(now, [{ releases: [] }, { releases: [] }]), '20240501100000');
  });

  test('is now when all releases are older', () => {
    assert.equal(nextReleaseName(now, [{ releases: [rel('20240501095959')] }]), '20240501100000');
  });

  test('same-second collision bumps one second', () => {
    assert.equal(nextReleaseName(now, [{ releases: [rel('20240501100000')] }]), '20240501100001');
  });

  test('goes one second past the newest on any host, even when ahead of now', () => {
    const states: HostState[] = [
      { releases: [rel('20240501095000'), rel('20240501100000')] },
      { releases: [rel('20240501100005', 'failed')] },
      { releases: [rel('20240401000000')] },
    ];
    assert.equal(nextReleaseName(now, states), '20240501100006');
  });

  test('carries across minute, hour, day and year', () => {
    assert.equal(nextReleaseName(now, [{ releases: [rel('20231231235959')] }]), '20240501100000');
    const early = new Date(Date.UTC(2023, 0, 1));
    assert.equal(nextReleaseName(early, [{ releases: [rel('20231231235959')] }]), '20240101000000');
    assert.equal(nextReleaseName(early, [{ releases: [rel('20240229235959')] }]), '20240301000000');
  });

  test('the result is always newer than every existing release', () => {
    const states: HostState[] = [{ releases: names(50).map((n) => rel(n)) }];
    const next = nextReleaseName(new Date(Date.UTC(2024, 0, 1)), states);
    for (const r of states[0].releases) assert.ok(next > r.name);
  });
});

describe('parseState', () => {
  const outputs = (o: Record<string, string[]>) => new Map(Object.entries(o));

  test('reads current, releases (sorted) and their records', () => {
    const st = parseState(
      outputs({
        current: ['releases/20240102000000'],
        rel: ['20240103000000', '20240101000000', '20240102000000'],
        st: [
          '20240101000000.status:ok',
          '20240101000000.meta:revision=abc123',
          '20240101000000.meta:deployed_at=2024-01-01T00:00:00Z',
          '20240101000000.meta:deployed_by=me@box',
          '20240102000000.status:rolled-back  ',
          '20240103000000.status:building',
        ],
      }),
    );
    assert.equal(st.current, '20240102000000');
    assert.deepEqual(
      st.releases.map((r) => [r.name, r.status]),
      [
        ['20240101000000', 'ok'],
        ['20240102000000', 'rolled-back'],
        ['20240103000000', 'building'],
      ],
    );
    assert.equal(st.releases[0].revision, 'abc123');
    assert.equal(st.releases[0].deployed_at, '2024-01-01T00:00:00Z');
    assert.equal(st.releases[0].deployed_by, 'me@box');
    assert.equal(st.releases[1].revision, undefined);
  });

  test('meta values keep = signs', () => {
    const st = parseState(outputs({ rel: ['20240101000000'], st: ['20240101000000.meta:deployed_by=a=b'] }));
    assert.equal(st.releases[0].deployed_by, 'a=b');
  });

  test('ignores names that are not releases', () => {
    const st = parseState(
      outputs({
        rel: ['20240101000000', 'current', '.fap', 'foo', '2024010100000', '202401010000001', '20240101000000.bak', 'x20240101000000', ''],
        st: ['notarelease.status:ok', 'garbage', '20240101000000.other:x'],
      }),
    );
    assert.deepEqual(
      st.releases.map((r) => r.name),
      ['20240101000000'],
    );
    assert.equal(st.releases[0].status, 'unknown');
  });

  test('unknown and missing statuses become unknown', () => {
    const st = parseState(
      outputs({
        rel: ['20240101000000', '20240102000000', '20240103000000'],
        st: ['20240101000000.status:exploded', '20240102000000.status:'],
      }),
    );
    assert.deepEqual(
      st.releases.map((r) => r.status),
      ['unknown', 'unknown', 'unknown'],
    );
  });

  test('current: absolute link, trailing slash, missing, or not a release', () => {
    assert.equal(parseState(outputs({ current: ['/srv/app/releases/20240101000000/'] })).current, '20240101000000');
    assert.equal(parseState(outputs({ current: [''] })).current, undefined);
    assert.equal(parseState(outputs({})).current, undefined);
    assert.equal(parseState(outputs({ current: ['/somewhere/else'] })).current, undefined);
    assert.deepEqual(parseState(outputs({})).releases, []);
  });
});

describe('isGood', () => {
  test('ok, rolled-back and unknown are good; failed and building are not', () => {
    assert.equal(isGood(rel('x', 'ok')), true);
    assert.equal(isGood(rel('x', 'rolled-back')), true);
    assert.equal(isGood(rel('x', 'unknown')), true);
    assert.equal(isGood(rel('x', 'failed')), false);
    assert.equal(isGood(rel('x', 'building')), false);
  });
});

describe('rollbackTarget', () => {
  const [a, b, c, d, e] = names(5);

  test('is the good release before current', () => {
    assert.equal(rollbackTarget({ current: c, releases: [rel(a), rel(b), rel(c), rel(d)] }), b);
  });

  test('skips failed and building releases', () => {
    assert.equal(rollbackTarget({ current: d, releases: [rel(a), rel(b, 'ok'), rel(c, 'failed'), rel(d)] }), b);
    assert.equal(rollbackTarget({ current: d, releases: [rel(a), rel(b, 'building'), rel(c, 'failed'), rel(d)] }), a);
    assert.equal(rollbackTarget({ current: c, releases: [rel(a, 'unknown'), rel(b, 'rolled-back'), rel(c)] }), a, 'a release rolled back from is never chosen by a plain rollback');
  });

  test('never returns current nor anything newer', () => {
    assert.equal(rollbackTarget({ current: a, releases: [rel(a), rel(b), rel(c)] }), undefined);
    assert.equal(rollbackTarget({ current: c, releases: [rel(c), rel(d), rel(e)] }), undefined);
    for (let i = 0; i < 5; i++) {
      const all = names(5);
      const t = rollbackTarget({ current: all[i], releases: all.map((n) => rel(n)) });
      assert.notEqual(t, all[i]);
      if (t) assert.ok(t < all[i]);
    }
  });

  test('undefined when there is nothing good before current', () => {
    assert.equal(rollbackTarget({ current: c, releases: [rel(a, 'failed'), rel(b, 'building'), rel(c)] }), undefined);
    assert.equal(rollbackTarget({ releases: [] }), undefined);
  });

  test('without current, the newest good release', () => {
    assert.equal(rollbackTarget({ releases: [rel(a), rel(b), rel(c, 'failed')] }), b);
  });
});

describe('pruneList', () => {
  test('keeps the newest N good releases, drops older ones', () => {
    const all = names(8);
    const st: HostState = { current: all[7], releases: all.map((n) => rel(n)) };
    assert.deepEqual(pruneList(st, 3), all.slice(0, 5));
  });

  test('drops failed and building releases even if recent', () => {
    const all = names(6);
    const st: HostState = {
      current: all[4],
      releases: [rel(all[0]), rel(all[1], 'failed'), rel(all[2]), rel(all[3], 'building'), rel(all[4]), rel(all[5], 'failed')],
    };
    assert.deepEqual(pruneList(st, 5).sort(), [all[1], all[3], all[5]].sort());
  });

  test('never deletes current, even when it is not among the newest N', () => {
    const all = names(6);
    // after a rollback current is old; newer releases are rolled-back (good)
    const st: HostState = { current: all[1], releases: all.map((n, i) => rel(n, i > 1 ? 'rolled-back' : 'ok')) };
    const out = pruneList(st, 2);
    assert.ok(!out.includes(all[1]));
    assert.ok(!out.includes(all[0]), 'rollback target of current is protected');
    assert.deepEqual(out, [all[2], all[3]]);
  });

  test('never deletes the rollback target, even with keep 1', () => {
    const all = names(4);
    const st: HostState = { current: all[3], releases: all.map((n) => rel(n)) };
    assert.deepEqual(pruneList(st, 1), [all[0], all[1]]);
  });

  test('the rollback target is protected even if older than the kept window because of failures', () => {
    const all = names(5);
    const st: HostState = { current: all[4], releases: [rel(all[0]), rel(all[1]), rel(all[2], 'failed'), rel(all[3], 'failed'), rel(all[4])] };
    assert.deepEqual(pruneList(st, 1), [all[0], all[2], all[3]]);
  });

  test('leaves the in-flight release alone, whatever its status', () => {
    const all = names(5);
    const st: HostState = { current: all[3], releases: [...all.slice(0, 4).map((n) => rel(n)), rel(all[4], 'building')] };
    const out = pruneList(st, 2, all[4]);
    assert.ok(!out.includes(all[4]));
    assert.deepEqual(out, [all[0], all[1]]);
    assert.ok(pruneList(st, 2).includes(all[4]), 'without inFlight a building release is dropped');
  });

  test('nothing to delete when everything fits', () => {
    const all = names(3);
    assert.deepEqual(pruneList({ current: all[2], releases: all.map((n) => rel(n)) }, 5), []);
    assert.deepEqual(pruneList({ releases: [] }, 5), []);
  });

  test('handles 5000 releases quickly and correctly', () => {
    const all = names(5000);
    const releases = all.map((n, i) => rel(n, i % 10 === 3 ? 'failed' : i % 17 === 5 ? 'building' : 'ok'));
    const st: HostState = { current: all[4999], releases };
    const t0 = performance.now();
    const out = pruneList(st, 5);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `took ${ms}ms`);
    const outSet = new Set(out);
    const kept = all.filter((n) => !outSet.has(n));
    const keptSet = new Set(kept);
    assert.ok(keptSet.has(all[4999]));
    assert.ok(keptSet.has(rollbackTarget(st)!));
    for (const r of releases) if (keptSet.has(r.name)) assert.ok(isGood(r), `${r.name} kept but not good`);
    assert.ok(kept.length <= 6);
    assert.equal(new Set(out).size, out.length, 'no duplicates');
    assert.equal(out.length + kept.length, 5000);
  });
});
