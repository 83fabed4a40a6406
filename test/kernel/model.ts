// Seeded schedules of commands and faults for the model-based test (model.test.ts) and the
// differential test (sim.test.ts): a schedule is a function of its seed alone; play() runs one on
// fresh local or simulated hosts and checks the invariants after every command.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { makeFleet, makeSimFleet, runCommand, type Command, type Fault, type FaultKind, type Fleet } from './harness.js';
import { check, observe, settled } from './invariants.js';

/** mulberry32: a small seeded generator, so a schedule is a function of its seed alone */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Planned {
  command: Command;
  faults: Fault[];
}

export interface Schedule {
  seed: number;
  hosts: number;
  steps: Planned[];
}

const KINDS: FaultKind[] = ['handshake', 'drop-after-step', 'drop-after-last', 'disk-full', 'old-session', 'kill'];

/** The schedule a seed stands for: 2-3 hosts, a first deploy, then 1-3 commands, about half of them with a fault. */
export function schedule(seed: number): Schedule {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const hosts = 2 + Math.floor(rnd() * 2);
  const names = Array.from({ length: hosts }, (_, i) => `h${i + 1}`);
  const steps: Planned[] = [{ command: 'deploy', faults: [] }];
  const n = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const command = pick<Command>(['deploy', 'deploy', 'deploy', 'rollback', 'rollback', 'cleanup']);
    const faults: Fault[] = [];
    if (rnd() < 0.6) {
      const kind = pick(KINDS);
      // scripts per host: lock, then 1-3 phases (and a revert's); connections: the first, and a reconnect
      const f: Fault = { host: pick(names), kind, at: kind === 'handshake' ? 1 + Math.floor(rnd() * 2) : 1 + Math.floor(rnd() * 5), step: 1 + Math.floor(rnd() * 12) };
      // simulated hosts: where among its successor's steps the old session goes on (real ones: their own timing)
      if (kind === 'old-session') f.resume = Math.floor(rnd() * 16);
      faults.push(f);
    }
    steps.push({ command, faults });
  }
  return { seed, hosts, steps };
}

export function describe(s: Schedule): string {
  return `${s.hosts} hosts: ` + s.steps.map((p) => p.command + p.faults.map((f) => ` [${f.kind} on ${f.host} at script/connection ${f.at}${f.step ? `, step ${f.step}` : ''}${f.resume !== undefined ? `, resumes after ${f.resume}` : ''}]`).join('')).join(' → ');
}

/** Run a schedule on fresh hosts (local or simulated); returns the first broken invariant, in words, or undefined. */
export async function play(s: Schedule, hosts: 'local' | 'sim' = 'local'): Promise<string | undefined> {
  const fleet: Fleet = hosts === 'sim' ? await makeSimFleet(s.hosts) : await makeFleet(s.hosts);
  try {
    for (const [i, p] of s.steps.entries()) {
      const before = observe(fleet);
      const out = await runCommand(fleet, p.command, { faults: p.faults });
      const problems = check(fleet, out, before);
      if (problems.length) return `after step ${i + 1} (${p.command}: ${out.killed ? 'fap killed' : (out.result?.summary ?? out.error?.message)}): ${problems.join('; ')}`;
    }
    // whatever the faults left, one clean deploy heals it and brings every host together
    const last = await runCommand(fleet, 'deploy');
    if (!last.result?.ok) return `the clean deploy at the end failed: ${last.result?.summary ?? last.error?.message}`;
    const problems = settled(fleet);
    if (problems.length) return `after the clean deploy at the end: ${problems.join('; ')}`;
    return undefined;
  } finally {
    fleet.remove();
  }
}


/** A seed's schedule played; the broken invariant (or what threw), in words, or undefined. */
export async function playSeed(seed: number, hosts: 'local' | 'sim'): Promise<string | undefined> {
  try {
    return await play(schedule(seed), hosts);
  } catch (e) {
    return `threw ${(e as Error).stack ?? e}`;
  }
}

export interface Broken {
  seed: number;
  broken: string;
}

/** Play seeds on simulated hosts; the broken ones. */
export async function playAll(seeds: number[]): Promise<Broken[]> {
  const out: Broken[] = [];
  for (const seed of seeds) {
    const broken = await playSeed(seed, 'sim');
    if (broken) out.push({ seed, broken });
  }
  return out;
}

/** Play seeds on simulated hosts in `workers` worker threads (each its share of the seeds, in order). */
export async function playInWorkers(seeds: number[], workers: number): Promise<Broken[]> {
  if (workers <= 1) return playAll(seeds);
  const shares = Array.from({ length: workers }, (_, w) => seeds.filter((_, i) => i % workers === w));
  const done = await Promise.all(
    shares.map(
      (share) =>
        new Promise<Broken[]>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { fapModelSeeds: share } });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => code !== 0 && reject(new Error(`a model worker exited with ${code}`)));
        }),
    ),
  );
  return done.flat().sort((a, b) => a.seed - b.seed);
}

// a worker of playInWorkers (as a plain module, e.g. under node --test, this does nothing)
if (!isMainThread && Array.isArray(workerData?.fapModelSeeds)) {
  playAll(workerData.fapModelSeeds as number[]).then((b) => parentPort!.postMessage(b));
}
