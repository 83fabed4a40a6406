// What every locking command (deploy, rollback, cleanup, restart) shares: take the lock and read
// state everywhere, heal what an interrupted run left, keep one report per host, and give the lock
// back on every host whatever ends the command (success, failure, an exception, a signal, a
// dropped connection: then over a new one).
import { HostError, OperationFailed } from '../errors.js';
import type { HostOutcome } from '../events.js';
import type { Step } from '../remote/shell.js';
import { lockAll, type LockedState, type LockOptions } from './lock.js';
import type { Target } from './plan.js';
import type { Run, Settled } from './run.js';
import { healSteps, unlockSteps } from './scripts.js';
import { planHeal, type Heal, type HostState } from './state.js';

export interface HostReport {
  host: string;
  role: string;
  outcome: HostOutcome;
  step?: string;
  error?: string;
  revision?: string;
}

export interface RunResult {
  ok: boolean;
  release?: string;
  hosts: HostReport[];
  /** a one-line summary for humans */
  summary: string;
}

export function reportsFor(targets: Target[]): Map<string, HostReport> {
  return new Map(targets.map((t) => [t.key, { host: t.host.name, role: t.role, outcome: 'unchanged' as HostOutcome }]));
}

/** Record a host's failure in its report and report it once; returns false for a failure. */
export function recordFailure(run: Run, reports: Map<string, HostReport>, r: Settled<unknown>, outcome: HostOutcome = 'failed', prefix = ''): boolean {
  if (r.ok) return true;
  const rep = reports.get(r.target.key)!;
  rep.outcome = outcome;
  rep.error = prefix + r.error.message;
  if (r.error instanceof HostError) rep.step = r.error.step;
  run.reportFailure(r.target, r.error, prefix ? prefix.replace(/: $/, '') : undefined);
  return false;
}

/**
 * Run a locking command's body; afterwards every target that may still hold this run's lock is
 * unlocked (unlockSteps removes only a lock carrying our token), and a host that could not be
 * reached to do so is named in the result.
 */
export async function transact(run: Run, targets: Target[], body: () => Promise<RunResult>): Promise<RunResult> {
  let res: RunResult | undefined;
  try {
    res = await body();
    return res;
  } finally {
    const stuck = await releaseLocks(run, targets);
    if (stuck.length && res) {
      res.summary += `; the deploy lock could not be released on ${stuck.join(', ')} (it expires with its lease, or fap unlock)`;
    }
  }
}

async function releaseLocks(run: Run, targets: Target[]): Promise<string[]> {
  const left = targets.filter((t) => run.mayHoldLock(t));
  if (!left.length) return [];
  const done = await run.forEach(left, (t) => run.exec(t, 'unlock', unlockSteps(t.paths, run.token)));
  const stuck: string[] = [];
  for (const r of done) {
    if (r.ok) continue;
    stuck.push(r.target.host.name);
    run.bus.emit({ event: 'warning', host: r.target.host.name, message: `could not release the deploy lock: ${r.error.message}` });
  }
  return stuck;
}

/**
 * Lock every target, read its state, and decide how to heal leftovers of interrupted runs. A run
 * that cannot be judged from these targets (it involved hosts out of view) stops the command
 * before anything changes, naming the hosts it needs.
 */
export async function lockAndHeal(
  run: Run,
  targets: Target[],
  lock: LockOptions & { ownCurrent?: boolean } = {},
): Promise<{ raw: Map<string, LockedState>; states: Map<string, HostState>; heal: (t: Target) => Step[]; heals: Map<string, Heal> }> {
  for (const t of targets) run.markLockAttempt(t);
  const raw = await lockAll(run, targets, lock);
  // a path never deployed to was not locked (and nothing was created there)
  for (const t of targets) if (raw.get(t.key)?.nothingDeployed) run.markUnlocked(t);
  else run.markLocked(t);
  const { heals, healed, problems } = planHeal(raw);
  if (problems.length) {
    const err = new OperationFailed(`cannot heal from this view, nothing changed: ${problems.map((p) => p.message).join('; ')}`);
    err.hint = `run fap cleanup ${targets[0].stage} without --hosts or a role, so every host the interrupted run touched is in view (if a host is gone for good, remove .fap/journal/${problems[0].journal.token} on the others)`;
    throw err;
  }
  if (lock.ownCurrent) refuseForeignCurrent(targets, raw);
  const owner = run.lockOwner();
  const at = new Date().toISOString();
  for (const t of targets) {
    const h = heals.get(t.key);
    if (h) run.bus.emit({ event: 'heal', host: t.host.name, interrupted: h.journal, action: describeHeal(h) });
  }
  return {
    raw,
    heals,
    states: healed,
    heal: (t) => {
      const h = heals.get(t.key);
      return h ? healSteps(t.paths, h, at, `${owner.user}@${owner.origin}`) : [];
    },
  };
}

/**
 * Commands that move current (deploy, rollback) must be able to put it back: a current that does
 * not lead to a release in releases/ (set by hand, or by another tool) could not be restored if
 * the run failed on another host, so they stop before anything changes.
 */
function refuseForeignCurrent(targets: Target[], states: Map<string, HostState>): void {
  const foreign = targets.filter((t) => states.get(t.key)?.foreignCurrent);
  if (!foreign.length) return;
  const t = foreign[0];
  const err = new OperationFailed(
    `nothing changed: current on ${foreign.map((f) => f.host.name).join(', ')} is ${states.get(t.key)!.foreignCurrent}, not a release in ${t.paths.releases}; fap moves current only when it can put it back`,
  );
  err.hint = `point it at a release (ln -sfn ${t.paths.releases}/RELEASE ${t.paths.current}; see fap releases) or remove it, then run the command again`;
  throw err;
}

function describeHeal(h: Heal): string {
  const j = h.journal;
  if (h.keep) return `an interrupted ${j.command} of ${j.release} had finished publishing everywhere; keeping it`;
  const back = h.flipBackTo === undefined ? 'current unchanged' : h.flipBackTo ? `current back to ${h.flipBackTo}` : 'current removed';
  return `cleaning up an interrupted ${j.command} of ${j.release} (${j.phase}): ${back}${h.release === 'remove' ? ', unfinished release removed' : h.release === 'mark-failed' ? ', release marked failed' : ''}`;
}

/** Run one phase on all targets, with phase events around it. */
export async function phase<T>(run: Run, name: string, targets: Target[], fn: (t: Target) => Promise<T>): Promise<Settled<T>[]> {
  const started = Date.now();
  run.bus.emit({ event: 'phase.started', phase: name, hosts: targets.length });
  const results = await run.forEach(targets, fn);
  const failed = results.filter((r) => !r.ok).length;
  run.bus.emit({ event: 'phase.finished', phase: name, ms: Date.now() - started, ok: results.length - failed, failed });
  return results;
}

export function result(ok: boolean, release: string | undefined, reports: Map<string, HostReport>, summary: string): RunResult {
  return { ok, release, hosts: [...reports.values()], summary };
}
