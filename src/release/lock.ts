// The deploy lock across hosts: taken on every target (with the host's state read in the same round
// trip), a lock whose holder is provably gone taken over, --lock-wait polling, and release.
//
// When is a holder gone? Not when "its pid is not running here": the same hostname can be another
// PID namespace (containers with host networking, twin CI runners) or another boot. Two proofs:
// - identity: the owner record's hostname, boot id and PID namespace are all ours, and its pid is
//   not alive (or alive with another start time: the pid was reused);
// - lease: the holder's session renews .fap/lock/lease every LEASE_RENEW_SEC; a lease older than
//   LEASE_TTL_SEC by the host's own clock means that session ended (fap killed, connection lost).
// A lock without a lease (written by an older fap, which never renews one) is freed only by the
// identity proof or by `fap unlock`.
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { formatDuration as formatSeconds } from '../duration.js';
import { hostCount } from '../words.js';
import { ConnectError, FapError, HostError, LockError, OperationFailed } from '../errors.js';
import { LOCK_HELD_CODE } from '../remote/runner.js';
import { BUILDING_COMMANDS, type Target } from './plan.js';
import type { Run } from './run.js';
import { abandonLockSteps, breakStaleLockSteps, inspectSteps, LEASE_TTL_SEC, lockPeekSteps, lockSteps, unlockSteps, type LockOwner } from './scripts.js';
import { parseState, type HostState } from './state.js';
import type { ScriptResult } from '../remote/runner.js';

/** Exit code of the lock script on a path with no releases/ (layout 'existing'). */
export const NOTHING_DEPLOYED_CODE = 76;
/** How often a --lock-wait wait says whom it waits for. */
const WAIT_REPORT_MS = 20_000;

export interface LockOptions {
  /** a target could not be reached or locked (called once per target, before the run stops) */
  failed?: (t: Target, e: FapError) => void;
  /**
   * 'create' (the default; deploy and release build a release) creates the layout. 'existing'
   * (rollback, cleanup, restart) locks only hosts deployed to (releases/ exists); a host that
   * was never deployed to gets no lock and nothing created, and its state says nothingDeployed.
   */
  layout?: 'create' | 'existing';
}

/** A host's state as the lock phase read it. */
export type LockedState = HostState & { nothingDeployed?: boolean };

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

/** This process's identity as far as this machine can tell it (undefined parts off Linux). */
export interface ProcessIdentity {
  hostname: string;
  bootId?: string;
  pidNs?: string;
}

function readOr(read: () => string): string | undefined {
  try {
    return read().trim() || undefined;
  } catch {
    return undefined;
  }
}

export function localIdentity(): ProcessIdentity {
  return {
    hostname: hostname(),
    bootId: readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidNs: readOr(() => readlinkSync('/proc/self/ns/pid')),
  };
}

/**
 * A process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or undefined. Read
 * only when this /proc shows our own PID namespace (its "self" is our pid): a /proc mounted for
 * another namespace would name other processes.
 */
export function processStart(pid: number): string | undefined {
  const field22 = (stat: string) => stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const self = readOr(() => readFileSync('/proc/self/stat', 'utf8'));
  if (!self || Number(self.split(' ')[0]) !== process.pid) return undefined;
  const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return stat ? field22(stat) : undefined;
}

/** The owner record this run writes: who, and the identity that lets this machine prove it gone. */
export function ownerRecord(run: Run): LockOwner {
  const id = localIdentity();
  const owner = run.lockOwner();
  return { ...owner, boot_id: id.bootId, pid_ns: id.pidNs, pid_start: processStart(owner.pid) };
}

/** Is a pid alive here, and still the same process (same start time when both are known)? */
export function pidAlive(pid: number, start: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // it exists (EPERM: another user's): reused only if both start times are known and differ
  const now = processStart(pid);
  return !(start && now && start !== now);
}

export type Verdict = { gone: true; how: 'identity' | 'lease'; why: string } | { gone: false; why: string };

/**
 * Whether a lock's holder is provably gone. leaseAge: seconds since the lease was renewed, by the
 * host's clock (undefined: the lock has no lease, an older fap wrote it).
 */
export function judgeHolder(
  o: Partial<LockOwner> | undefined,
  leaseAge: number | undefined,
  here: ProcessIdentity = localIdentity(),
  alive: (pid: number, start: string | undefined) => boolean = pidAlive,
  ttlSec = LEASE_TTL_SEC,
): Verdict {
  const sameMachine = !!o && o.origin === here.hostname && !!o.boot_id && o.boot_id === here.bootId && !!o.pid_ns && o.pid_ns === here.pidNs;
  if (sameMachine && typeof o.pid === 'number' && o.pid > 0 && o.token && !alive(o.pid, o.pid_start)) {
    return { gone: true, how: 'identity', why: `its process (pid ${o.pid}) is no longer running on this machine` };
  }
  if (leaseAge === undefined) return { gone: false, why: 'no lease (a lock of an older fap)' };
  if (leaseAge >= ttlSec && o?.token) return { gone: true, how: 'lease', why: `lease expired ${leaseAge} s ago` };
  return { gone: false, why: `lease renewed ${leaseAge} s ago` };
}

export function lockHeldError(t: Target, o: Partial<LockOwner> | undefined, why?: string, waitedMs = 0): LockError {
  // after a wait, the hint is not to wait: that was done
  const how = waitedMs > 0 ? `waited ${formatSeconds(waitedMs)}; wait longer with --lock-wait` : 'or wait with --lock-wait 5m';
  const wait = why?.startsWith('lease renewed') ? ` (${how}; if that run died, its lock frees itself ${LEASE_TTL_SEC} s after its lease was last renewed)` : '';
  return new LockError(`${t.host.name}: ${t.paths.root} is locked by ${describeOwner(o)}${why ? `; ${why}` : ''}`, `if that run is gone: fap unlock ${t.stage} ${t.role}${wait}`);
}

/**
 * Lock every target and read its state. A lock whose holder is provably gone is taken over; a live
 * one is waited for up to run.opts.lockWaitMs, else every lock taken is given back and the run
 * stops with exit 3.
 */
export async function lockAll(run: Run, targets: Target[], o: LockOptions = {}): Promise<Map<string, LockedState>> {
  const started = Date.now();
  run.bus.emit({ event: 'phase.started', phase: 'lock', hosts: targets.length });
  // the hosts it failed on: a host that was reached and locked counts as ok even when another stops the run
  const failedOn = new Set<string>();
  let failed = targets.length;
  try {
    const states = run.opts.dryRun ? await dryRunState(run, targets, o) : await lockEverywhere(run, targets, o, failedOn);
    failed = 0;
    return states;
  } catch (e) {
    if (failedOn.size) failed = failedOn.size;
    throw e;
  } finally {
    run.bus.emit({ event: 'phase.finished', phase: 'lock', ms: Date.now() - started, ok: targets.length - failed, failed });
  }
}

const held = (r: ScriptResult) => ({ owner: parseOwner(r.outputs.get('lock-held')?.[0] ?? ''), leaseAge: parseAge(r.outputs.get('lock-lease')?.[0]) });

function parseAge(s: string | undefined): number | undefined {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
}

async function lockEverywhere(run: Run, targets: Target[], o: LockOptions, failedOn: Set<string>): Promise<Map<string, LockedState>> {
  const owner = ownerRecord(run);
  // --lock-wait counts from the first sight of a held lock (connecting is not waiting)
  let deadline: number | undefined;
  const states = new Map<string, LockedState>();
  // every target the lock script may have run on: released on any way out, answered or not
  const touched = new Set<Target>();
  // targets whose lock script got no answer: it may still run there, so they are released as abandoned
  const unanswered = new Set<Target>();
  const steps = (t: Target) => [...lockSteps(t.paths, owner, LOCK_HELD_CODE, { layout: o.layout, nothingDeployedCode: NOTHING_DEPLOYED_CODE }), ...inspectSteps(t.paths)];
  const take = (ts: Target[]) =>
    run.forEach(ts, async (t) => {
      await run.connection(t);
      touched.add(t);
      return run.exec(t, 'lock', steps(t), { allowCodes: [LOCK_HELD_CODE, NOTHING_DEPLOYED_CODE] }).catch((e: unknown) => {
        // sudo refused the session: the lock script never ran, so there is no lock to give back
        if (e instanceof ConnectError && e.notStarted && !states.has(t.key)) touched.delete(t);
        else if (e instanceof ConnectError) unanswered.add(t);
        throw e;
      });
    });
  let pending = targets;
  let lastWaitReport = 0;
  try {
    for (;;) {
      // The first target (in a fixed order) is locked before the others: of two runs started together
      // on the same hosts, the one that wins it wins everywhere, instead of each holding some and both
      // giving up. Connections to the other hosts open meanwhile.
      const ordered = [...pending].sort((a, b) => a.key.localeCompare(b.key));
      for (const t of ordered.slice(1)) void run.connection(t);
      const first = await take(ordered.slice(0, 1));
      const firstHeld = first[0]?.ok && first[0].value.code === LOCK_HELD_CODE;
      const results = firstHeld || !first[0]?.ok ? first : [...first, ...(await take(ordered.slice(1)))];
      // the first host failing stops the run, but every other unreachable host is named too, each
      // with its own reason: their connections are waited for (no lock is taken on them)
      const unreached = !first[0]?.ok ? await run.forEach(ordered.slice(1), (t) => run.connection(t)) : [];
      const failed = [...results, ...unreached].filter((r) => !r.ok);
      const busy: { target: Target; owner?: Partial<LockOwner>; verdict: Verdict }[] = [];
      for (const r of results) {
        if (!r.ok) continue;
        if (r.value.code === 0) {
          states.set(r.target.key, parseState(r.value.outputs));
          run.markLocked(r.target);
        }
        else if (r.value.code === NOTHING_DEPLOYED_CODE) states.set(r.target.key, { releases: [], journals: [], nothingDeployed: true });
        else {
          const h = held(r.value);
          busy.push({ target: r.target, owner: h.owner, verdict: judgeHolder(h.owner, h.leaseAge) });
        }
      }
      if (failed.length) {
        // a target no lock script ran on holds no lock of ours: nothing to release or to warn about
        for (const t of targets) if (!touched.has(t) && !states.has(t.key)) run.markUnlocked(t);
        const stuck = await releaseAll(run, touched, unanswered, o.layout);
        const errors = failed.flatMap((f) => (f.ok ? [] : [{ target: f.target, error: f.error }]));
        for (const { target, error } of errors) {
          failedOn.add(target.key);
          // each host's reason is said once, here; the run's error names the hosts
          run.reportFailure(target, error, error instanceof ConnectError ? (error.step ?? 'connect') : 'lock');
          o.failed?.(target, error);
        }
        // (each host's hint is in its own failure too)
        throw new OperationFailed('stopped before changing anything: ' + failedHostsText(errors, new Set(targets.map((t) => t.host.name)).size) + stuckMessage(run, stuck));
      }
      if (!busy.length) return states;

      // Locks whose holders are provably gone are taken over at once (exactly one breaker wins).
      for (const b of busy) {
        if (!b.verdict.gone) continue;
        run.bus.emit({ event: 'warning', host: b.target.host.name, message: `taking over the lock of ${describeOwner(b.owner)}: ${b.verdict.why}` });
        await run.exec(b.target, 'lock', breakStaleLockSteps(b.target.paths, b.owner!.token!, run.token, { requireExpiredLease: b.verdict.how === 'lease' })).catch(() => undefined);
      }
      const live = busy.filter((b) => !b.verdict.gone);
      if (live.length) deadline ??= Date.now() + run.opts.lockWaitMs;
      if (live.length && Date.now() >= deadline!) {
        // (hosts still being connected to are not needed any more: no retries said after this)
        run.stopConnecting();
        const stuck = await releaseAll(run, touched, unanswered, o.layout);
        const err = lockHeldError(live[0].target, live[0].owner, live[0].verdict.why, run.opts.lockWaitMs);
        err.message += stuckMessage(run, stuck);
        throw err;
      }
      if (live.length && Date.now() - lastWaitReport >= WAIT_REPORT_MS) {
        lastWaitReport = Date.now();
        const l = live[0];
        const hosts = live.map((b) => b.target.host.name);
        const left = Math.max(0, deadline! - Date.now());
        const waited = run.opts.lockWaitMs - left;
        run.bus.emit({
          event: 'lock.waiting',
          host: l.target.host.name,
          hosts,
          holder: describeOwner(l.owner),
          waitedMs: waited,
          timeoutMs: run.opts.lockWaitMs,
          message: `waiting for the deploy lock held by ${describeOwner(l.owner)}${hosts.length > 1 ? ` on ${hostCount(hosts)}` : ''} (${l.verdict.why}); ${waited < 1000 ? `waiting up to ${formatSeconds(run.opts.lockWaitMs)}` : `${formatSeconds(left)} left`}`,
        });
      }
      pending = pending.filter((t) => !states.has(t.key));
      if (live.length) await new Promise((r) => setTimeout(r, Math.min(2000, Math.max(0, deadline! - Date.now()))));
      run.checkAbort();
    }
  } catch (e) {
    // an interrupt or an unexpected error while locking: leave no lock of ours behind
    if (!(e instanceof LockError) && !(e instanceof OperationFailed)) await releaseAll(run, touched, unanswered, o.layout).catch(() => undefined);
    throw e;
  }
}

/** "could not connect to 2 of 5 hosts (a, b)", and those whose lock script failed; the reasons are each host's own failure. */
/** A dry run's hosts the real run could not reach or read: it would stop before changing anything. */
export function dryRunBlockersText(run: Run, targets: readonly Target[]): string | undefined {
  if (!run.dryRunBlockers.length) return undefined;
  const total = new Set(targets.map((t) => t.host.name)).size;
  const unreached = run.dryRunBlockers.filter((b) => b.error instanceof ConnectError);
  // a step that failed on the host (the revision of a branch the repository lacks): the real run
  // would fail there too
  const failing = run.dryRunBlockers.filter((b) => !(b.error instanceof ConnectError));
  const steps = [...new Set(failing.map((b) => (b.error instanceof HostError ? b.error.step : 'inspect')))];
  const parts = [
    unreached.length ? `the real ${run.opts.command} would stop before changing anything: ${failedHostsText(unreached, total)}` : '',
    failing.length ? `the real ${run.opts.command} would fail at ${steps.join(', ')} on ${[...new Set(failing.map((b) => b.target.host.name))].join(', ')}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

export function failedHostsText(errors: { target: Target; error: FapError }[], total: number): string {
  const names = (es: typeof errors) => [...new Set(es.map((e) => e.target.host.name))];
  const unreachable = names(errors.filter((e) => e.error instanceof ConnectError));
  const other = names(errors.filter((e) => !(e.error instanceof ConnectError)));
  const of = (hosts: string[]) => (total > 1 ? `${hosts.length} of ${total} hosts (${hosts.join(', ')})` : hosts.join(', '));
  return [unreachable.length ? `could not connect to ${of(unreachable)}` : '', other.length ? `could not lock ${of(other)}` : '']
    .filter(Boolean)
    .join('; ');
}

function stuckMessage(run: Run, stuck: Target[]): string {
  if (!stuck.length) return '';
  const t = stuck[0];
  return `; the lock could not be released on ${stuck.map((s) => s.host.name).join(', ')}: it frees itself ${LEASE_TTL_SEC} s after that host's session ended, or run fap unlock ${t.stage}${stuck.every((s) => s.role === t.role) ? ` ${t.role}` : ''}`;
}

/**
 * Release this run's lock on targets (a no-op where it holds none), reconnecting where the
 * connection dropped. Returns the targets where that could not be done.
 */
async function releaseAll(run: Run, targets: Iterable<Target>, unanswered: Set<Target>, layout: LockOptions['layout']): Promise<Target[]> {
  const done = await run.forEach([...targets], (t) => run.exec(t, 'unlock', [...(unanswered.has(t) ? abandonLockSteps(t.paths, run.token, layout) : []), ...unlockSteps(t.paths, run.token)]));
  return done.filter((r) => !r.ok).map((r) => r.target);
}

/**
 * --dry-run: print the lock script, but read each host's state for real (a read-only script) so the
 * release name, heal, prune and rollback choices shown are the ones a real run would make. A host
 * that cannot be reached is planned from an empty state, with a warning.
 */
async function dryRunState(run: Run, targets: Target[], o: LockOptions): Promise<Map<string, LockedState>> {
  const owner = ownerRecord(run);
  const states = new Map<string, LockedState>();
  const results = await run.forEach(targets, async (t) => {
    await run.exec(t, 'lock', lockSteps(t.paths, owner, LOCK_HELD_CODE, { layout: o.layout, nothingDeployedCode: NOTHING_DEPLOYED_CODE }));
    try {
      // the lock first: a run still working there makes its journal look interrupted
      const r = await run.exec(t, 'inspect (read-only, run for real)', [...lockPeekSteps(t.paths), ...inspectSteps(t.paths)], { readOnly: true });
      const h = held(r);
      if (r.outputs.has('lock-held')) {
        const verdict = judgeHolder(h.owner, h.leaseAge);
        if (!verdict.gone) throw lockHeldError(t, h.owner, verdict.why);
        run.bus.emit({ event: 'warning', host: t.host.name, message: `would take over the lock of ${describeOwner(h.owner)}: ${verdict.why}` });
      }
      states.set(t.key, parseState(r.outputs));
    } catch (e) {
      if (e instanceof LockError) throw e;
      // planned from an empty state so the rest of the plan still shows; unless it is a host key
      // a real run would accept (accept-new) and a dry run never records, the real run would stop
      // here, and so the dry run fails at its end (found by the attack pass: "✔ would deploy" to
      // hosts nobody could reach)
      const error = e instanceof FapError ? e : new HostError(t.host.name, 'inspect', String(e));
      run.dryRunBlockers.push({ target: t, error });
      run.reportFailure(t, error, error instanceof ConnectError ? 'connect' : 'inspect');
      states.set(t.key, { releases: [], journals: [] });
    }
  });
  // another run holds the lock: a real run would stop (exit 3) or wait, so the dry run stops too
  const busy = results.find((r) => !r.ok && r.error instanceof LockError);
  if (busy && !busy.ok) throw busy.error;
  // a deploy's plan for the hosts it read still shows (a new release is the same everywhere); a
  // rollback or cleanup decided from a host it could not read would be invented (a dry rollback
  // blamed the reachable hosts for disagreeing with an empty one): it stops here
  const blocked = dryRunBlockersText(run, targets);
  if (blocked && !BUILDING_COMMANDS.has(run.opts.command)) throw new OperationFailed(blocked);
  return states;
}
