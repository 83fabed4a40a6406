// Where a plain `fap rollback` takes the hosts (state.ts chooseRollback), over generated fleets whose
// release histories differ (a --hosts deploy, a prune, a failed release on one host): hosts that
// agree on current keep agreeing, and no host lands on a release that is not good or not older.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chooseRollback, rollbackTarget, type HostState, type ReleaseStatus } from '../../src/release/state.js';

const names = Array.from({ length: 8 }, (_, i) => `2026120208${String(10 + i).padStart(2, '0')}00`);
const statuses: ReleaseStatus[] = ['ok', 'ok', 'ok', 'failed', 'rolled-back'];

/** a host: some of the releases, each with a status; current is the newest of them (status ok) */
const hostArb = fc.subarray(names, { minLength: 1 }).chain((own) => fc.tuple(fc.constant(own), fc.array(fc.constantFrom(...statuses), { minLength: own.length, maxLength: own.length })));

test('a plain rollback of hosts that agree takes them all to one release, good and older on each, or refuses (generative; found by the attack pass)', () => {
  fc.assert(
    fc.property(fc.array(hostArb, { minLength: 2, maxLength: 4 }), (hosts) => {
      const current = names.at(-1)!;
      const states = new Map<string, HostState>();
      const targets = hosts.map((_, i) => ({ key: `h${i}`, host: { name: `h${i}` } }));
      hosts.forEach(([own, st], i) => {
        const releases = own.filter((n) => n !== current).map((name, j) => ({ name, status: st[j] }));
        states.set(`h${i}`, { current, releases: [...releases, { name: current, status: 'ok' as ReleaseStatus }] });
      });
      const { choice, problems } = chooseRollback(targets, states, {});
      const own = targets.map((t) => rollbackTarget(states.get(t.key)!));
      if (problems.length) {
        assert.equal(choice.size, 0);
        // refused only when no release is a good, older one on every host
        const common = names.filter((n) => targets.every((t) => states.get(t.key)!.releases.some((r) => r.name === n && r.status === 'ok' && n < current)));
        assert.deepEqual(common, [], JSON.stringify({ problems, common }));
        return;
      }
      const dests = new Set([...choice.values()].map((c) => c.to));
      assert.equal(choice.size, targets.length);
      assert.equal(dests.size, 1, `hosts split: ${JSON.stringify([...choice])}`);
      const [dest] = dests;
      for (const t of targets) {
        const r = states.get(t.key)!.releases.find((x) => x.name === dest);
        assert.equal(r?.status, 'ok', `${t.key}: ${dest} is ${r?.status}`);
        assert.ok(dest < current);
      }
      // the newest such: when every host's own previous release is the same, that one
      if (new Set(own).size === 1) assert.equal(dest, own[0]);
    }),
    { numRuns: 500 },
  );
});
