// The deploy transaction. Phases are barriers across hosts: lock and read state everywhere, build
// the release everywhere, and only if every host built it, publish (batch by batch with --batch);
// a failed publish or health check puts every published host back. Each phase is one script per
// host, and a journal in .fap/ lets the next run heal whatever a killed run left.
import { HostError, Interrupted } from '../errors.js';
import type { HostOutcome } from '../events.js';
import { lockAll, unlock, type LockedState, type LockOptions } from './lock.js';
import { withRelease, type Target } from './plan.js';
import type { Run, Settled } from './run.js';
import {
  appendLogSteps,
  flipSteps,
  healSteps,
  healthCheckSteps,
  journalSteps,
  prepareEndSteps,
  prepareStartSteps,
  recordSteps,
  removeCurrentSteps,
  removeReleasesSteps,
  revisionsLogLine,
  setStatusSteps,
  unlockSteps,
} from './scripts.js';
import { batchSize, nextReleaseName, planHeal, pruneList, type Heal, type HostState, EMPTY_STATE } from './state.js';
import type { Step } from '../remote/shell.js';
import type { JournalPhase } from './scripts.js';

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

/** Shared by the transactions: lock, then decide how to heal leftovers of interrupted runs. */
export async function lockAndHeal(run: Run, targets: Target[], lock: LockOptions = {}): Promise<{ raw: Map<string, LockedState>; states: Map<string, HostState>; heal: (t: Target) => Step[] }> {
  const raw = await lockAll(run, targets, lock);
  const { heals, healed } = planHeal(raw);
  const owner = run.lockOwner();
  const at = new Date().toISOString();
  for (const t of targets) {
    const h = heals.get(t.key);
    if (h) run.bus.emit({ event: 'heal', host: t.host.name, interrupted: h.journal, action: describeHeal(h) });
  }
  return {
    raw,
    states: healed,
    heal: (t) => {
      const h = heals.get(t.key);
      return h ? healSteps(t.paths, h, at, `${owner.user}@${owner.origin}`) : [];
    },
  };
}

function describeHeal(h: Heal): string {
  const j = h.journal;
  if (h.keep) return `an interrupted ${j.command} of ${j.release} had finished publishing everywhere; keeping it`;
  const back = h.flipBackTo === undefined ? 'current unchanged' : h.flipBackTo ? `current back to ${h.flipBackTo}` : 'current removed';
  return `cleaning up an interrupted ${j.command} of ${j.release} (${j.phase}): ${back}${h.release === 'remove' ? ', unfinished release removed' : h.release === 'mark-failed' ? ', release marked failed' : ''}`;
}

export async function deploy(run: Run, planned: Target[]): Promise<RunResult> {
  const bus = run.bus;
  const { raw, states, heal } = await lockAndHeal(run, planned);
  const release = nextReleaseName(new Date(), [...raw.values()]);
  const targets = planned.map((t) => withRelease(t, release));
  const state = (t: Target): HostState => states.get(t.key) ?? EMPTY_STATE;
  bus.emit({ event: 'release.planned', release, hosts: targets.map((t) => t.host.name) });

  const reports = new Map<string, HostReport>(targets.map((t) => [t.key, { host: t.host.name, role: t.role, outcome: 'unchanged' as HostOutcome }]));
  const fail = (r: Settled<unknown>) => {
    if (r.ok) return;
    const rep = reports.get(r.target.key)!;
    rep.outcome = 'failed';
    rep.error = r.error.message;
    if (r.error instanceof HostError) rep.step = r.error.step;
    run.reportFailure(r.target, r.error);
  };
  const at = new Date().toISOString();
  const owner = run.lockOwner();
  const by = `${owner.user}@${owner.origin}`;
  const participants = targets.map((t) => t.key);
  const journal = (t: Target, phase: JournalPhase) =>
    journalSteps(t.paths, { token: run.token, command: run.opts.command, release, prev: state(t).current ?? '', phase, at, hosts: participants });

  try {
    run.checkAbort();
    // Build: everything up to deploy.updated, on every host.
    const built = await phase(run, 'prepare', targets, async (t) => {
      const linkedFiles = (t.config.linked_files as string[]) ?? [];
      return run.exec(t, 'prepare', [
        ...heal(t),
        ...journal(t, 'prepare'),
        // deploy.starting plugins (localshared fills shared/) run before the linked-file check
        ...(await run.signalSteps(t, release, ['deploy.starting', 'deploy.started'])),
        ...prepareStartSteps(t.paths, release, linkedFiles),
        ...(await run.signalSteps(t, release, ['deploy.updating'])),
        ...prepareEndSteps(t.paths, {
          environment: (t.config.environment as Record<string, unknown>) ?? {},
          linkedFiles,
          linkedDirs: (t.config.linked_dirs as string[]) ?? [],
        }),
        ...(await run.signalSteps(t, release, ['deploy.updated'])),
        ...recordSteps(t.paths, release, { deployedAt: at, deployedBy: by, command: run.opts.command }),
      ]);
    });
    built.forEach(fail);
    for (const r of built) if (r.ok) reports.get(r.target.key)!.revision = r.value.outputs.get('revision')?.[0];
    const interrupted = abortReason(run);
    if (built.some((r) => !r.ok) || interrupted) {
      // Nothing was switched anywhere: remove the new release from every host and stop.
      bus.emit({ event: 'deploy.failed', release, phase: 'prepare', reason: interrupted });
      const discarded = await phase(run, 'discard', targets, async (t) =>
        run.exec(t, 'discard', [
          ...(await run.signalSteps(t, release, ['deploy.failed'])),
          ...removeReleasesSteps(t.paths, [release], 'remove unpublished release'),
          ...journal(t, 'reverted'),
          ...unlockSteps(t.paths, run.token),
        ]),
      );
      discarded.forEach(fail);
      return result(false, release, reports, `${interrupted ? 'interrupted: ' : ''}release ${release} was not published; no host was switched`);
    }

    // Publish, batch by batch (one batch unless --batch / batch_size). A failure puts back every
    // host published so far (rollback_on_failure, the default).
    const size = batchSize(targets.length, run.opts.options.batch ?? targets[0].config.batch_size);
    const published: Target[] = [];
    for (let i = 0; i < targets.length; i += size) {
      const batch = targets.slice(i, i + size);
      const name = size < targets.length ? `publish ${i / size + 1}/${Math.ceil(targets.length / size)}` : 'publish';
      const results = await phase(run, name, batch, async (t) => {
        const check = t.config.health_check ? healthCheckSteps(t.paths, String(t.config.health_check), Number(t.config.health_check_timeout), Number(t.config.health_check_interval)) : [];
        return run.exec(t, 'publish', [
          ...journal(t, 'publish'),
          ...(await run.signalSteps(t, release, ['deploy.publishing'])),
          ...flipSteps(t.paths, release),
          ...setStatusSteps(t.paths, release, 'ok'),
          ...appendLogSteps(t.paths, revisionsLogLine({ at, action: 'deploy', release, revision: reports.get(t.key)!.revision, by })),
          ...(await run.signalSteps(t, release, ['deploy.published'])),
          ...check,
          ...journal(t, 'published'),
        ]);
      });
      published.push(...batch);
      results.forEach(fail);
      for (const r of results) if (r.ok) reports.get(r.target.key)!.outcome = 'deployed';
      const stop = results.some((r) => !r.ok) ? 'publishing failed' : i + size < targets.length ? abortReason(run) : undefined;
      if (!stop) continue;
      bus.emit({ event: 'deploy.failed', release, phase: name, reason: stop });
      if (targets[0].config.rollback_on_failure === false) {
        // The user chose to keep what was published; the failed hosts are marked, nothing reverted.
        await phase(run, 'stop', targets, (t) =>
          run.exec(t, 'stop', [...(published.includes(t) && reports.get(t.key)!.outcome === 'failed' ? setStatusSteps(t.paths, release, 'failed') : []), ...journal(t, 'done'), ...unlockSteps(t.paths, run.token)]),
        );
        return result(false, release, reports, `${stop}; rollback_on_failure is false, so published hosts stay on ${release}`);
      }
      await revert(run, targets, published, release, state, reports, by, (t) => journal(t, 'reverted'));
      return result(false, release, reports, `${stop}: every published host was put back on its previous release`);
    }

    // Finish: prune and unlock. The release is live; a failure here is reported, not reverted.
    const finished = await phase(run, 'finish', targets, async (t) => {
      const st = state(t);
      const after: HostState = { ...st, current: release, releases: [...st.releases, { name: release, status: 'ok' }] };
      return run.exec(t, 'finish', [
        ...(await run.signalSteps(t, release, ['deploy.finishing'])),
        ...removeReleasesSteps(t.paths, pruneList(after, Number(t.config.keep_releases))),
        ...journal(t, 'done'),
        ...unlockSteps(t.paths, run.token),
        ...(await run.signalSteps(t, release, ['deploy.finished'])),
      ]);
    });
    finished.forEach(fail);
    for (const r of finished) if (!r.ok) reports.get(r.target.key)!.outcome = 'deployed';
    const ok = finished.every((r) => r.ok);
    return result(ok, release, reports, ok ? `deployed ${release} to ${targets.length} host(s)` : `deployed ${release}, but finishing (cleanup) failed on some hosts`);
  } catch (e) {
    // An unexpected error mid-run: leave no lock of ours behind (the journal stays for the next run).
    await unlock(run, targets).catch(() => {});
    throw e;
  }
}

/** Put every published host back where the run found it, and mark the release failed. */
async function revert(run: Run, targets: Target[], published: Target[], release: string, state: (t: Target) => HostState, reports: Map<string, HostReport>, by: string, reverted: (t: Target) => Step[]) {
  run.bus.emit({ event: 'deploy.reverting', release });
  const results = await phase(run, 'revert', targets, async (t) => {
    const wasPublished = published.includes(t);
    const prev = state(t).current;
    const back = !wasPublished ? [] : prev ? flipSteps(t.paths, prev, `switch current back to ${prev}`) : removeCurrentSteps(t.paths);
    return run.exec(t, 'revert', [
      ...back,
      ...setStatusSteps(t.paths, release, 'failed'),
      ...(wasPublished ? appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'revert', release: prev ?? '-', by, extra: `reverted=${release}` })) : []),
      // hosts that were switched restart on the release they are back on
      ...(wasPublished ? await run.signalSteps(t, prev ?? release, ['deploy.reverted']) : []),
      ...reverted(t),
      ...unlockSteps(t.paths, run.token),
    ]);
  });
  for (const r of results) {
    const rep = reports.get(r.target.key)!;
    if (r.ok) {
      if (rep.outcome === 'deployed') rep.outcome = 'reverted';
    } else {
      rep.outcome = 'failed';
      rep.error = `revert failed: ${r.error.message}`;
      run.reportFailure(r.target, r.error, 'revert');
    }
  }
  run.bus.emit({ event: 'deploy.reverted', release });
}

function abortReason(run: Run): string | undefined {
  try {
    run.checkAbort();
    return undefined;
  } catch (e) {
    if (e instanceof Interrupted) return e.message;
    throw e;
  }
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
