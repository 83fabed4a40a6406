// Model-based fault test: seeded random schedules of commands (deploy, rollback, cleanup) and
// faults (a connection closing mid-handshake, after step k, just after a script's last step; a
// step failing on a full disk; an old session running on; fap killed) over 2-3 local hosts, with
// the invariants (invariants.ts) checked after every command, and after a last clean deploy every
// host agreeing, unlocked. A failing schedule prints its seed and the command that replays it.
//
//   FAP_MODEL_RUNS=200 node --test dist/test/kernel/model.test.js    more schedules
//   FAP_MODEL_SEED=1234 node --test dist/test/kernel/model.test.js   replay one schedule
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe, play, schedule } from './model.js';

const replay = process.env.FAP_MODEL_SEED;
const runs = Number(process.env.FAP_MODEL_RUNS ?? 4);
const base = Number(process.env.FAP_MODEL_BASE ?? Math.floor(Math.random() * 1e9));
const seeds = replay !== undefined ? [Number(replay)] : Array.from({ length: runs }, (_, i) => base + i);

test(`model: ${seeds.length} seeded schedule(s) of commands and faults on local hosts`, { timeout: replay || process.env.FAP_MODEL_RUNS ? Infinity : 300_000 }, async () => {
  for (const seed of seeds) {
    const s = schedule(seed);
    const broken = await play(s);
    assert.equal(broken, undefined, `schedule ${seed} (${describe(s)}) broke an invariant ${broken}\nreplay it: npm run build && FAP_MODEL_SEED=${seed} node --test dist/test/kernel/model.test.js`);
  }
});
