// The deploy lock across hosts: taken on every target (with the host's state read in the same round
// trip), stale locks of dead local processes taken over, --lock-wait polling, and release.
import { hostname } from 'node:os';
import { LockError, OperationFailed } from '../errors.js';
import { LOCK_HELD_CODE } from '../remote/runner.js';
import type { Target } from './plan.js';
import type { Run, Settled } from './run.js';
import { breakStaleLockSteps, inspectSteps, lockSteps, unlockSteps, type LockOwner } from './scripts.js';
import { parseState, type HostState } from './state.js';
import type { ScriptResult } from '../remote/runner.js';

export function parseOwner(json: string): Partial<LockOwner> | undefined {
  try {
    const o = JSON.parse(json) as Partial<LockOwner>;
    return o && typeof o === 'object' ? o : undefined;
  } catch {
    return undefined;
  }
}

export function describeOwner(o: Partial<LockOwner> | undefined): string {
  if (!o) return 'an unknown run (no owner record)';
  return `${o.user}@${o.origin} (pid ${o.pid}, "${o.command}") since ${o.started_at}`;
}

/** A lock whose owner ran on this machine and whose process is gone. */
export function isStale(o: Partial<LockOwner> | undefined, thisMachine = hostname()): boolean {
  if (!o || o.origin !== thisMachine || typeof o.pid !== 'number' || !o.token) return false;
  try {
    process.kill(o.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export function lockHeldError(t: Target, o: Partial<LockOwner> | undefined): LockError {
  const err = new LockError(`${t.host.name}: ${t.paths.root} is locked by ${describeOwner(o)}`);
  err.hint = o?.origin && o.origin !== hostname() ? `if that run is gone: fap unlock ${t.stage} ${t.role}` : `if that run is gone: fap unlock ${t.stage} ${t.role} (or wait with --lock-wait 5m)`;
  return err;
}

/**
 * Lock every target and read its state. A stale lock (owner on this machine, process gone) is taken
 * over; a live one is waited for up to run.opts.lockWaitMs, else every lock taken is given back and
 * the run stops with exit 3.
 */
export async function lockAll(run: Run, targets: Target[]): Promise<Map<string, HostState>> {
  const started = Date.now();
  run.bus.emit({ event: 'phase.started', phase: 'lock', hosts: targets.length });
  let failed = targets.length;
  try {
    const states = run.opts.dryRun ? await dryRunState(run, targets) : await lockEverywhere(run, targets);
    failed = 0;
    return states;
  } finally {
    run.bus.emit({ event: 'phase.finished', phase: 'lock', ms: Date.now() - started, ok: targets.length - failed, failed });
  }
}

async function lockEverywhere(run: Run, targets: Target[]): Promise<Map<string, HostState>> {
  const owner = run.lockOwner();
  const deadline = Date.now() + run.opts.lockWaitMs;
  const states = new Map<string, HostState>();
  let pending = targets;
  const taken: Target[] = [];
  const take = (ts: Target[]) => run.forEach(ts, (t) => run.exec(t, 'lock', [...lockSteps(t.paths, owner, LOCK_HELD_CODE), ...inspectSteps(t.paths)], { allowCodes: [LOCK_HELD_CODE] }));
  for (let attempt = 0; ; attempt++) {
    // The first target (in a fixed order) is locked before the others: of two runs started together
    // on the same hosts, the one that wins it wins everywhere, instead of each holding some and both
    // giving up. Connections to the other hosts open meanwhile.
    const ordered = [...pending].sort((a, b) => a.key.localeCompare(b.key));
    if (!run.opts.dryRun) for (const t of ordered.slice(1)) void run.connection(t);
    const first = await take(ordered.slice(0, 1));
    const firstHeld = first[0]?.ok && first[0].value.code === LOCK_HELD_CODE;
    const results = firstHeld || !first[0]?.ok ? first : [...first, ...(await take(ordered.slice(1)))];
    const failed = results.filter((r) => !r.ok);
    const held: Extract<Settled<ScriptResult>, { ok: true }>[] = [];
    for (const r of results) {
      if (!r.ok) continue;
      if (r.value.code === 0) {
        taken.push(r.target);
        states.set(r.target.key, parseState(r.value.outputs));
      } else held.push(r);
    }
    if (failed.length) {
      await unlock(run, taken);
      for (const f of failed) if (!f.ok) run.reportFailure(f.target, f.error, 'connect and lock');
      const err = new OperationFailed('stopped before changing anything: ' + failed.map((f) => (f.ok ? '' : f.error.message)).join('; '));
      err.hint = failed.map((f) => (f.ok ? undefined : f.error.hint)).find(Boolean);
      throw err;
    }
    if (!held.length) return states;

    // Stale locks of dead processes on this machine are taken over at once.
    const stale = held.filter((r) => isStale(parseOwner(r.value.outputs.get('lock-held')?.[0] ?? '')));
    for (const r of stale) {
      const o = parseOwner(r.value.outputs.get('lock-held')![0])!;
      run.bus.emit({ event: 'warning', host: r.target.host.name, message: `taking over a stale lock: ${describeOwner(o)} is no longer running` });
      await run.exec(r.target, 'lock', breakStaleLockSteps(r.target.paths, o.token!, run.token)).catch(() => undefined);
    }
    const live = held.filter((r) => !stale.includes(r));
    if (live.length && Date.now() >= deadline) {
      await unlock(run, taken);
      const r = live[0];
      throw lockHeldError(r.target, parseOwner(r.value.outputs.get('lock-held')?.[0] ?? ''));
    }
    if (live.length && attempt % 10 === 0) {
      const o = parseOwner(live[0].value.outputs.get('lock-held')?.[0] ?? '');
      run.bus.emit({ event: 'lock.waiting', host: live[0].target.host.name, message: `waiting for the lock held by ${describeOwner(o)}` });
    }
    pending = pending.filter((t) => !taken.includes(t));
    if (live.length) await new Promise((r) => setTimeout(r, Math.min(2000, Math.max(0, deadline - Date.now()))));
    run.checkAbort();
  }
}

export async function unlock(run: Run, targets: Target[]): Promise<void> {
  await run.forEach(targets, (t) => run.exec(t, 'unlock', unlockSteps(t.paths, run.token)));
}

/**
 * --dry-run: print the lock script, but read each host's state for real (a read-only script) so the
 * release name, heal, prune and rollback choices shown are the ones a real run would make. A host
 * that cannot be reached is planned from an empty state, with a warning.
 */
async function dryRunState(run: Run, targets: Target[]): Promise<Map<string, HostState>> {
  const owner = run.lockOwner();
  const states = new Map<string, HostState>();
  await run.forEach(targets, async (t) => {
    await run.exec(t, 'lock', lockSteps(t.paths, owner, LOCK_HELD_CODE));
    try {
      const r = await run.exec(t, 'inspect (read-only, run for real)', inspectSteps(t.paths), { readOnly: true });
      states.set(t.key, parseState(r.outputs));
    } catch (e) {
      run.bus.emit({ event: 'warning', host: t.host.name, message: `could not read the host's state (${(e as Error).message}); planning as if it had no releases` });
      states.set(t.key, { releases: [], journals: [] });
    }
  });
  return states;
}
