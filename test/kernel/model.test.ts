// Model-based fault test: seeded random schedules of commands (deploy, rollback, cleanup) and
// faults (a connection closing mid-handshake, after step k, just after a script's last step; a
// step failing on a full disk; an old session running on; fap killed) over 2-3 hosts, with the
// invariants (invariants.ts) checked after every command, and after a last clean deploy every host
// agreeing, unlocked. By default 1,000 schedules on simulated hosts (sim.ts, kept honest by
// sim.test.ts), in worker threads, and a few on real local hosts. A failing schedule prints its
// seed and the command that replays it.
//
//   FAP_MODEL_RUNS=5000 node --test dist/test/kernel/model.test.js   more schedules
//   FAP_MODEL_SEED=1234 node --test dist/test/kernel/model.test.js   replay one schedule (both kinds of hosts)
//   FAP_MODEL_BASE=random FAP_MODEL_RUNS=10000 ...                     explore (simulated hosts run seeds 1..1000 by default)
//   FAP_MODEL_HOSTS=sim|local                                         one kind of host only
//   FAP_MODEL_WORKERS=1                                               no worker threads
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availableParallelism } from 'node:os';
import { describe, playInWorkers, playSeed, schedule } from './model.js';

const replay = process.env.FAP_MODEL_SEED;
const kinds = (process.env.FAP_MODEL_HOSTS ? [process.env.FAP_MODEL_HOSTS] : ['sim', 'local']) as ('sim' | 'local')[];
// simulated hosts: seeds 1..1000 by default, the same every run (a red run is a regression, not luck);
// FAP_MODEL_BASE=random explores. Real local hosts: a few random seeds each run, as before.
const baseFor = (kind: 'sim' | 'local') => {
  const b = process.env.FAP_MODEL_BASE ?? (kind === 'sim' ? '1' : 'random');
  return b === 'random' ? Math.floor(Math.random() * 1e9) : Number(b);
};
const seedsFor = (kind: 'sim' | 'local') => {
  if (replay !== undefined) return [Number(replay)];
  const runs = Number(process.env.FAP_MODEL_RUNS ?? (kind === 'sim' ? 1000 : 4));
  const base = baseFor(kind);
  return Array.from({ length: runs }, (_, i) => base + i);
};
const workers = Number(process.env.FAP_MODEL_WORKERS ?? Math.min(2, availableParallelism()));
const unbounded = !!(replay || process.env.FAP_MODEL_RUNS);

const explain = (seed: number, broken: string, kind: string) =>
  `schedule ${seed} on ${kind} hosts (${describe(schedule(seed))}) broke an invariant ${broken}\nreplay it: npm run build && FAP_MODEL_SEED=${seed} FAP_MODEL_HOSTS=${kind} node --test dist/test/kernel/model.test.js`;

if (kinds.includes('sim')) {
  const seeds = seedsFor('sim');
  test(`model: ${seeds.length} seeded schedule(s) of commands and faults on simulated hosts`, { timeout: unbounded ? Infinity : 120_000 }, async (t) => {
    const started = Date.now();
    const broken = await playInWorkers(seeds, replay ? 1 : workers);
    const s = (Date.now() - started) / 1000;
    t.diagnostic(`${seeds.length} schedules in ${s.toFixed(1)} s (${(seeds.length / s).toFixed(0)} per second, ${workers} worker(s)), seeds ${seeds[0]}..${seeds[seeds.length - 1]}`);
    if (broken.length) assert.fail(`${broken.length} schedule(s) broke an invariant; the first: ${explain(broken[0].seed, broken[0].broken, 'sim')}\nall: ${broken.map((b) => b.seed).join(', ')}`);
  });
}

if (kinds.includes('local')) {
  const seeds = seedsFor('local');
  test(`model: ${seeds.length} seeded schedule(s) of commands and faults on local hosts`, { timeout: unbounded ? Infinity : 300_000 }, async () => {
    for (const seed of seeds) {
      const broken = await playSeed(seed, 'local');
      assert.equal(broken, undefined, explain(seed, broken ?? '', 'local'));
    }
  });
}
