// The transaction every changing command runs in (deploy, release, rollback, cleanup, restart). It
// owns what they all share: take the lock and read state on every host, heal what an interrupted
// run left, keep one report per host, run phases as barriers across hosts, write the run's journal,
// stop at a phase boundary when asked, and give the lock back on every host whatever ends the
// command (success, failure, an exception, a signal, a dropped connection: then over a new one).
import { ConnectError, HostError, OperationFailed } from '../errors.js';
import type { HostOutcome } from '../events.js';
import { asUser, composeScript, quote, type Step } from '../remote/shell.js';
import { lockAll, type LockedState, type LockOptions } from './lock.js';
import type { Target } from './plan.js';
import { failureStep, type Run, type Settled } from './run.js';
import { abandonLockSteps, healSteps, journalSteps, unlockSteps } from './scripts.js';
import { planHeal, EMPTY_STATE, type Heal, type HostState, type JournalPhase } from './state.js';

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
  /** the command refused before changing any host: the summary says why, hosts need no list */
  refused?: boolean;
}

/** What a run's journal says it is doing on a host: the release it moves current to, and from where. */
export interface JournalEntry {
  command: string;
  release: string;
  /** current before the run ('' for none) */
  prev: string;
}

export class Transaction {
  /** every host's state as read under the lock (before healing) */
  private raw = new Map<string, LockedState>();
  /** every host's state as it will be once healed: what the command decides from */
  private healed = new Map<string, HostState>();
  private heals = new Map<string, Heal>();
  private readonly reports: Map<string, HostReport>;
  /** when this run started, and who runs it, as written in journals and revisions.log */
  readonly at = new Date().toISOString();
  readonly by: string;
  /** the targets a journal names as the run's participants (set by participants()) */
  private members: string[] = [];

  private constructor(
    readonly run: Run,
    readonly targets: Target[],
  ) {
    this.reports = new Map(targets.map((t) => [t.key, { host: t.host.name, role: t.role, outcome: 'unchanged' as HostOutcome }]));
    // the result names every host even when the command ends in an error (a host unreachable)
    run.hostReports = () => [...this.reports.values()];
    const owner = run.lockOwner();
    this.by = `${owner.user}@${owner.origin}`;
  }

  /**
   * Run a command's body in a transaction; afterwards every target that may still hold this run's
   * lock is unlocked (unlockSteps removes only a lock carrying our token), and a host that could not
   * be reached to do so is named in the result.
   */
  static async run(run: Run, targets: Target[], body: (tx: Transaction) => Promise<RunResult>): Promise<RunResult> {
    const tx = new Transaction(run, targets);
    let res: RunResult | undefined;
    try {
      res = await body(tx);
      return res;
    } finally {
      const stuck = await tx.releaseLocks();
      if (stuck.length && res) res.summary += `; the deploy lock could not be released on ${stuck.join(', ')} (it expires with its lease, or fap unlock)`;
    }
  }

  // ---- lock and heal ----

  /**
   * Lock every target, read its state, and decide how to heal leftovers of interrupted runs. A run
   * that cannot be judged from these targets (it involved hosts out of view) stops the command
   * before anything changes, naming the hosts it needs. ownCurrent: the command moves current, so
   * a current fap could not put back stops it (refuseForeignCurrent).
   */
  async lock(o: LockOptions & { ownCurrent?: boolean } = {}): Promise<void> {
    const { run, targets } = this;
    for (const t of targets) run.markLockAttempt(t, o.layout);
    this.raw = await lockAll(run, targets, {
      ...o,
      failed: (t, e) => {
        const rep = this.report(t);
        rep.outcome = 'failed';
        rep.step = e instanceof HostError ? e.step : e instanceof ConnectError ? (e.step ?? 'connect') : 'lock';
        rep.error = e.message;
      },
    });
    // a path never deployed to was not locked (and nothing was created there)
    for (const t of targets) if (this.raw.get(t.key)?.nothingDeployed) run.markUnlocked(t);
    else run.markLocked(t);
    const { heals, healed, problems } = planHeal(this.raw);
    if (problems.length) {
      throw new OperationFailed(
        `cannot heal from this view, nothing changed: ${problems.map((p) => p.message).join('; ')}`,
        `run fap cleanup ${targets[0].stage} without --hosts or a role, so every host the interrupted run touched is in view (if a host is gone for good, remove .fap/journal/${problems[0].journal.token} on the others)`,
      );
    }
    if (o.ownCurrent) refuseForeignCurrent(targets, this.raw);
    this.heals = heals;
    this.healed = healed;
    for (const t of targets) {
      const h = heals.get(t.key);
      if (h) run.bus.emit({ event: 'heal', host: t.host.name, interrupted: h.journal, action: describeHeal(h) });
    }
  }

  /** A target's state as it will be once healed. */
  state(t: Target): HostState {
    return this.healed.get(t.key) ?? EMPTY_STATE;
  }

  /** Every host's state as read under the lock, before healing. */
  rawStates(): LockedState[] {
    return [...this.raw.values()];
  }

  /** The path was never deployed to (layout 'existing'): not locked, nothing created there. */
  nothingDeployed(t: Target): boolean {
    return !!this.raw.get(t.key)?.nothingDeployed;
  }

  /** How the lock phase decided to heal a target, if there was anything to heal. */
  healOf(t: Target): Heal | undefined {
    return this.heals.get(t.key);
  }

  /** The steps that heal a target; they go first in the command's first script on it. */
  heal(t: Target): Step[] {
    const h = this.heals.get(t.key);
    return h ? healSteps(t.paths, h, this.at, this.by) : [];
  }

  // ---- journal ----

  /** The targets the run's journals name as its participants (every host's record is needed to heal it). */
  participants(targets: Target[]): void {
    this.members = targets.map((t) => t.key);
  }

  journal(t: Target, entry: JournalEntry, phase: JournalPhase): Step[] {
    return journalSteps(t.paths, { token: this.run.token, ...entry, phase, at: this.at, hosts: this.members });
  }

  /** The steps that give this run's lock back on a target. */
  unlock(t: Target): Step[] {
    return unlockSteps(t.paths, this.run.token);
  }

  // ---- phases and reports ----

  /** Run one phase on all targets, with phase events around it; never rejects. */
  async phase<T>(name: string, targets: Target[], fn: (t: Target) => Promise<T>): Promise<Settled<T>[]> {
    return phase(this.run, name, targets, fn);
  }

  /** Run one script per target as a phase (run.exec with the steps fn gives). */
  async each(name: string, targets: Target[], steps: (t: Target) => Promise<Step[]> | Step[], phaseOf = name) {
    return this.phase(name, targets, async (t) => this.run.exec(t, phaseOf, await steps(t)));
  }

  /** One script per target outside any phase (no phase events): healing and unlocking on the way out. */
  async send(name: string, targets: Target[], steps: (t: Target) => Step[]) {
    return this.run.forEach(targets, (t) => this.run.exec(t, name, steps(t)));
  }

  /**
   * Record a phase's results in the reports: a success sets `ok` as the host's outcome (when given),
   * a failure is reported once, with its outcome and, for a phase that cleans up after a failure
   * (revert, discard), that phase as its step: printed `FAILED at revert: ...`, never `FAILED at
   * revert failed: ...`; the result's error says `revert failed: ...`. True if all succeeded.
   */
  record(results: Settled<unknown>[], o: { ok?: HostOutcome; failed?: HostOutcome; step?: string } = {}): boolean {
    let all = true;
    for (const r of results) {
      const rep = this.reports.get(r.target.key)!;
      if (r.ok) {
        if (o.ok) rep.outcome = o.ok;
        continue;
      }
      all = false;
      rep.outcome = o.failed ?? 'failed';
      rep.error = (o.step ? `${o.step} failed: ` : '') + r.error.message;
      const step = r.error instanceof HostError ? r.error.step : (o.step ?? failureStep(r.error));
      if (step) rep.step = step;
      this.run.reportFailure(r.target, r.error, o.step);
    }
    return all;
  }

  /** A host's report (outcome, step, error, revision). */
  report(t: Target): HostReport {
    return this.reports.get(t.key)!;
  }

  /** A problem found before any host changed, reported as that host's failure. */
  refuse(host: string, step: string, message: string): void {
    this.run.bus.emit({ event: 'host.failed', host, step, message, refused: true });
    const rep = [...this.reports.values()].find((r) => r.host === host);
    if (rep) rep.outcome = 'failed';
  }

  result(ok: boolean, release: string | undefined, summary: string): RunResult {
    return { ok, release, hosts: [...this.reports.values()], summary };
  }

  /** Why the run was asked to stop (SIGINT/SIGTERM), if it was: checked at phase boundaries. */
  interrupted(): string | undefined {
    return this.run.abortReason();
  }

  // ---- unlock on every way out ----

  private async releaseLocks(): Promise<string[]> {
    const { run } = this;
    const left = this.targets.filter((t) => run.mayHoldLock(t));
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
}

/**
 * The second Ctrl-C: remove this run's lock (only a lock carrying its token) on every host it has a
 * connection to, each on a channel of its own (the host's session may be busy with a step).
 */
export async function releaseLocksNow(run: Run, targets: Target[]): Promise<void> {
  if (run.opts.dryRun) return;
  await Promise.all(
    targets.map(async (t) => {
      const conn = await run.openConnection(t);
      if (!conn?.isOpen()) return;
      // a lock script still running there would take the lock after this unlock: marked abandoned
      // first, it gives the lock straight back (lockSteps checks the mark once it holds it)
      const abandon = run.lockInFlight(t) ? abandonLockSteps(t.paths, run.token, run.lockLayout) : [];
      const script = composeScript([...abandon, ...unlockSteps(t.paths, run.token)]);
      await conn.exec(asUser(`/bin/sh -c ${quote(script)}`, conn.sudoUser)).catch(() => {});
    }),
  );
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
  throw new OperationFailed(
    `nothing changed: current on ${foreign.map((f) => f.host.name).join(', ')} is ${states.get(t.key)!.foreignCurrent}, not a release in ${t.paths.releases}; fap moves current only when it can put it back`,
    `point it at a release (ln -sfn ${t.paths.releases}/RELEASE ${t.paths.current}; see fap releases) or remove it, then run the command again`,
  );
}

function describeHeal(h: Heal): string {
  const j = h.journal;
  if (h.keep) return `an interrupted ${j.command} of ${j.release} had finished publishing everywhere; keeping it`;
  const back = h.flipBackTo === undefined ? 'current unchanged' : h.flipBackTo ? `current back to ${h.flipBackTo}` : 'current removed';
  return `cleaning up an interrupted ${j.command} of ${j.release} (${j.phase}): ${back}${h.release === 'remove' ? ', unfinished release removed' : h.release === 'mark-failed' ? ', release marked failed' : ''}`;
}

/** Run one phase on targets, with phase events around it (also for read-only commands: fap releases). */
export async function phase<T>(run: Run, name: string, targets: Target[], fn: (t: Target) => Promise<T>): Promise<Settled<T>[]> {
  // a phase with no host to work on did nothing: no "rollback: 0 ok" line
  if (!targets.length) return [];
  const started = Date.now();
  run.bus.emit({ event: 'phase.started', phase: name, hosts: targets.length });
  const results = await run.forEach(targets, fn);
  const failed = results.filter((r) => !r.ok).length;
  run.bus.emit({ event: 'phase.finished', phase: name, ms: Date.now() - started, ok: results.length - failed, failed });
  return results;
}

