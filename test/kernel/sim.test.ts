// The differential test that keeps the simulated hosts (sim.ts) honest: the same schedules of
// commands and faults run on simulated hosts and on real local hosts (the /bin/sh session driver),
// and after every command every host's whole tree (paths, and contents with run tokens, release
// names and times normalised; the lock's owner record and renewer pid by name only) and the
// command's result (ok, killed, each host's outcome and failed step) must be the same. A step whose
// simulated semantics differ from the shell's shows here as the first command where they part.
//
// An old session's timing on a real host is a race (it runs on, slowly, until its successor reaps
// it), which the simulation models as a seeded choice of where it goes on among its successor's
// steps: a command with an old session agrees when the real outcome is one of the simulated ones
// (tried from the same state: after all of the successor's steps, then after 0, 1, 2, ... of them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeScript } from '../../src/remote/shell.js';
import { setStatusSteps } from '../../src/release/scripts.js';
import { makeFleet, makeSimFleet, putShared, runCommand, snapshot, SimTransportFor, type Fleet, type Outcome } from './harness.js';
import { schedule, type Schedule } from './model.js';

/** Seeds whose schedules cover every fault kind (checked below), and some without faults. */
const SEEDS = (process.env.FAP_DIFF_SEEDS ?? '2,3,13,25,47,51').split(',').map(Number);

interface Seen {
  tokens: string[];
  releases: Set<string>;
}

/** A host's tree, normalised: run tokens as T<command>, release names as R<rank>, times as <time>. */
function tree(f: Fleet, host: string, seen: Seen): Record<string, string> {
  const raw = snapshot(f, f.root(host));
  for (const k of Object.keys(raw)) for (const m of k.matchAll(/\b\d{14}\b/g)) seen.releases.add(m[0]);
  const names = [...seen.releases].sort();
  const norm = (s: string) => {
    let out = s.split(f.dir).join('<fleet>');
    seen.tokens.forEach((t, i) => (out = out.split(t).join(`T${i + 1}`)));
    return out
      .replace(/\b\d{14}\b/g, (r) => `R${names.indexOf(r) + 1}`)
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>')
      .replace(/renewer\.\d+/g, 'renewer.<pid>')
      // a session's $$ (the fence names it)
      .replace(/\b(T\d+)\.(\d+)\.\d+\b/g, "$1.$2.<pid>");
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    const byName = /(^|\/)owner$|renewer\.\d+$/.test(k);
    out[norm(k)] = byName ? '' : norm(v);
  }
  return out;
}

function result(o: Outcome): unknown {
  return {
    ok: o.result?.ok,
    killed: o.killed,
    error: o.error?.constructor.name,
    hosts: o.result?.hosts.map((h) => ({ host: h.host, outcome: h.outcome, step: h.step })),
  };
}

/** The first difference between a command on simulated and on real hosts, in words. */
function compare(sim: Fleet, real: Fleet, a: Outcome, b: Outcome, seen: { sim: Seen; real: Seen }, hosts: number): string | undefined {
  try {
    assert.deepEqual(result(a), result(b));
  } catch (e) {
    return `results differ (sim: ${a.result?.summary ?? a.error?.message}; real: ${b.result?.summary ?? b.error?.message})\n${(e as Error).message}`;
  }
  // (a discarded try's releases are not counted)
  const simSeen = { tokens: [...seen.sim.tokens, a.token], releases: new Set(seen.sim.releases) };
  for (const h of sim.hosts.slice(0, hosts)) {
    try {
      assert.deepEqual(tree(sim, h, simSeen), tree(real, h, seen.real));
    } catch (e) {
      return `${h} differs (actual: sim, expected: real)\n${(e as Error).message}`;
    }
  }
  return undefined;
}

/** Run the schedule on both kinds of hosts in step; the first difference, in words, or undefined. */
export async function differ(s: Schedule, role: Record<string, unknown> = {}, shared: Record<string, string> = {}): Promise<string | undefined> {
  const sim = await makeSimFleet(s.hosts, role);
  const real = await makeFleet(s.hosts, role);
  for (const [rel, content] of Object.entries(shared)) for (const f of [sim, real]) putShared(f, rel, content);
  const seen = { sim: { tokens: [], releases: new Set() } as Seen, real: { tokens: [], releases: new Set() } as Seen };
  try {
    for (const [i, p] of s.steps.entries()) {
      const b = await runCommand(real, p.command, { faults: p.faults });
      seen.real.tokens.push(b.token);
      const old = p.faults.some((f) => f.kind === 'old-session');
      const start = sim.world!.fs.copy();
      let a!: Outcome;
      let first: string | undefined;
      for (const resume of old ? [Infinity, ...Array.from({ length: 24 }, (_, r) => r)] : [undefined]) {
        sim.world!.fs = start.copy();
        a = await runCommand(sim, p.command, { faults: p.faults.map((f) => (f.kind === 'old-session' ? { ...f, resume } : f)) });
        const problem = compare(sim, real, a, b, seen, s.hosts);
        if (!problem) break;
        first ??= problem;
        if (!old || resume === 23) {
          const where = `command ${i + 1} (${p.command}${p.faults.map((f) => ` [${f.kind} on ${f.host} at ${f.at}${f.step ? `, step ${f.step}` : ''}]`).join('')})`;
          return `${where}: ${first}`;
        }
      }
      seen.sim = { tokens: [...seen.sim.tokens, a.token], releases: new Set([...seen.sim.releases, ...sim.hosts.flatMap((h) => Object.keys(snapshot(sim, sim.root(h))).flatMap((k) => k.match(/\b\d{14}\b/g) ?? []))]) };
    }
    return undefined;
  } finally {
    real.remove();
  }
}

test('the schedules the differential test runs cover every fault kind', () => {
  const kinds = new Set(SEEDS.flatMap((seed) => schedule(seed).steps.flatMap((p) => p.faults.map((f) => f.kind))));
  if (process.env.FAP_DIFF_SEEDS) return;
  assert.deepEqual([...kinds].sort(), ['disk-full', 'drop-after-last', 'drop-after-step', 'handshake', 'kill', 'old-session']);
});

for (const seed of SEEDS) {
  test(`simulated hosts do what real local hosts do: schedule ${seed}`, { timeout: 120_000 }, async () => {
    const broken = await differ(schedule(seed));
    assert.equal(broken, undefined, `schedule ${seed}: ${broken}\nreplay it: npm run build && FAP_DIFF_SEEDS=${seed} node --test dist/test/kernel/sim.test.js`);
  });
}

test('simulated hosts with linked files and dirs, an environment and keep_releases 1 do what real ones do', { timeout: 120_000 }, async () => {
  const role = { linked_files: ['config.json', 'conf/app.ini'], linked_dirs: ['storage'], environment: { APP_ENV: 'production', NOTE: "it's \"quoted\"" }, keep_releases: 1 };
  const shared = { 'config.json': '{}\n', 'conf/app.ini': 'x=1\n' };
  const s: Schedule = { seed: 0, hosts: 2, steps: [{ command: 'deploy', faults: [] }, { command: 'deploy', faults: [{ host: 'h2', kind: 'drop-after-last', at: 3 }] }, { command: 'deploy', faults: [] }, { command: 'rollback', faults: [] }, { command: 'cleanup', faults: [] }] };
  assert.equal(await differ(s, role, shared), undefined);
  // a linked file missing from shared/: the deploy fails at the same step on both
  const missing: Schedule = { seed: 0, hosts: 2, steps: [{ command: 'deploy', faults: [] }] };
  assert.equal(await differ(missing, role, { 'config.json': '{}\n' }), undefined);
});

test('the simulation refuses what it does not know: an unknown step, text its builder would not write', async () => {
  const f = await makeSimFleet(1);
  const t = SimTransportFor(f, 'h1');
  const unknown = composeScript([{ name: 'frobnicate', script: 'true' }]);
  await assert.rejects(t.runScript(unknown), /a step it does not know: "frobnicate"/);
  const p = f.targets[0].paths;
  const [mark] = setStatusSteps(p, '20260101000000', 'ok');
  await assert.rejects(t.runScript(composeScript([{ ...mark, script: mark.script.replace('>', '>>') }])), /is not what its builder makes/);
  assert.notEqual((await t.runScript(composeScript([mark]))).code, 0, 'no .fap/releases yet: the write fails as in the shell');
});
