// The deploy transaction. Phases are barriers across hosts: lock and read state everywhere, build
// the release everywhere, and only if every host built it, publish everywhere; a host whose publish
// fails puts every flipped host back. Each phase is one script per host (one round trip).
import { HostError, LockError, OperationFailed, type FapError } from '../errors.js';
import type { HostOutcome } from '../events.js';
import { LOCK_HELD_CODE } from '../remote/runner.js';
import type { Target } from './plan.js';
import { withRelease } from './plan.js';
import type { Run, Settled } from './run.js';
import {
  appendLogSteps,
  flipSteps,
  inspectSteps,
  lockSteps,
  prepareEndSteps,
  prepareStartSteps,
  recordSteps,
  removeCurrentSteps,
  removeReleasesSteps,
  revisionsLogLine,
  setStatusSteps,
  unlockSteps,
} from './scripts.js';
import { nextReleaseName, parseState, pruneList, type HostState } from './state.js';

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

/** Lock every target and read its state. Locks taken are released again if any host refused. */
export async function lockAndInspect(run: Run, targets: Target[]): Promise<Map<string, HostState>> {
  const owner = run.lockOwner();
  const results = await phase(run, 'lock', targets, (t) =>
    run.exec(t, 'lock', [...lockSteps(t.paths, owner, LOCK_HELD_CODE), ...inspectSteps(t.paths)], { allowCodes: [LOCK_HELD_CODE] }),
  );
  const held = results.filter((r) => r.ok && r.value.code === LOCK_HELD_CODE);
  const taken = results.filter((r) => r.ok && r.value.code === 0).map((r) => r.target);
  const failed = results.filter((r) => !r.ok);
  if (held.length || failed.length) {
    await unlock(run, taken);
    if (held.length) {
      const r = held[0] as Extract<Settled<unknown>, { ok: true }> & { value: { outputs: Map<string, string[]> } };
      throw lockHeldError(r.target, r.value.outputs.get('lock-held')?.[0] ?? '', run.opts.commandLine);
    }
    throw new OperationFailed(failureSummary('stopped before changing anything', failed));
  }
  const states = new Map<string, HostState>();
  for (const r of results) if (r.ok) states.set(r.target.key, parseState(r.value.outputs));
  return states;
}

export function lockHeldError(t: Target, ownerJson: string, _commandLine: string): LockError {
  let who = 'an unknown run (no owner record)';
  try {
    const o = JSON.parse(ownerJson) as { user?: string; origin?: string; pid?: number; command?: string; started_at?: string };
    who = `${o.user}@${o.origin} (pid ${o.pid}, "${o.command}") since ${o.started_at}`;
  } catch {
    /* keep the generic text */
  }
  const err = new LockError(`${t.host.name}: ${t.paths.root} is locked by ${who}`);
  err.hint = `if that run is gone: fap unlock ${t.stage} ${t.role}`;
  return err;
}

export async function unlock(run: Run, targets: Target[]): Promise<void> {
  await run.forEach(targets, (t) => run.exec(t, 'unlock', unlockSteps(t.paths, run.token)));
}

export async function deploy(run: Run, planned: Target[]): Promise<RunResult> {
  const bus = run.bus;
  const states = await lockAndInspect(run, planned);
  const release = nextReleaseName(new Date(), [...states.values()]);
  const targets = planned.map((t) => withRelease(t, release));
  const state = (t: Target) => states.get(t.key) ?? { releases: [] };
  bus.emit({ event: 'release.planned', release, hosts: targets.map((t) => t.host.name) });

  const reports = new Map<string, HostReport>(targets.map((t) => [t.key, { host: t.host.name, role: t.role, outcome: 'unchanged' as HostOutcome }]));
  const fail = (r: Settled<unknown>) => {
    if (r.ok) return;
    const rep = reports.get(r.target.key)!;
    rep.outcome = 'failed';
    rep.error = r.error.message;
    if (r.error instanceof HostError) rep.step = r.error.step;
    bus.emit({ event: 'host.failed', host: r.target.host.name, role: r.target.role, step: rep.step, message: r.error.message, stderr: r.error instanceof HostError ? r.error.stderrTail : undefined });
  };
  const at = new Date().toISOString();
  const by = run.lockOwner();
  const byText = `${by.user}@${by.origin}`;

  try {
    // Build: everything up to deploy.updated, on every host.
    const built = await phase(run, 'prepare', targets, async (t) => {
      const linkedFiles = (t.config.linked_files as string[]) ?? [];
      const steps = [
        ...prepareStartSteps(t.paths, release, linkedFiles),
        ...(await run.signalSteps(t, release, ['deploy.starting', 'deploy.started', 'deploy.updating'])),
        ...prepareEndSteps(t.paths, {
          environment: (t.config.environment as Record<string, unknown>) ?? {},
          linkedFiles,
          linkedDirs: (t.config.linked_dirs as string[]) ?? [],
        }),
        ...(await run.signalSteps(t, release, ['deploy.updated'])),
        ...recordSteps(t.paths, release, { deployedAt: at, deployedBy: byText, command: run.opts.command }),
      ];
      return run.exec(t, 'prepare', steps);
    });
    built.forEach(fail);
    for (const r of built) if (r.ok) reports.get(r.target.key)!.revision = r.value.outputs.get('revision')?.[0];
    if (built.some((r) => !r.ok)) {
      // Nothing was switched anywhere: remove the new release from every host and stop.
      bus.emit({ event: 'deploy.failed', release, phase: 'prepare' });
      await phase(run, 'discard', targets, (t) => run.exec(t, 'discard', [...removeReleasesSteps(t.paths, [release], 'remove unpublished release'), ...unlockSteps(t.paths, run.token)]));
      return result(false, release, reports, `release ${release} failed before publishing; no host was switched`);
    }

    // Publish: flip current everywhere. A failed flip puts every other host back.
    const published = await phase(run, 'publish', targets, async (t) => {
      const rev = reports.get(t.key)!.revision;
      const steps = [
        ...(await run.signalSteps(t, release, ['deploy.publishing'])),
        ...flipSteps(t.paths, release),
        ...setStatusSteps(t.paths, release, 'ok'),
        ...appendLogSteps(t.paths, revisionsLogLine({ at, action: 'deploy', release, revision: rev, by: byText })),
        ...(await run.signalSteps(t, release, ['deploy.published'])),
      ];
      return run.exec(t, 'publish', steps);
    });
    published.forEach(fail);
    if (published.some((r) => !r.ok)) {
      bus.emit({ event: 'deploy.failed', release, phase: 'publish' });
      bus.emit({ event: 'deploy.reverting', release });
      const reverted = await phase(run, 'revert', targets, (t) => {
        const prev = state(t).current;
        const back = prev ? flipSteps(t.paths, prev) : removeCurrentSteps(t.paths);
        return run.exec(t, 'revert', [
          ...back,
          ...setStatusSteps(t.paths, release, 'failed'),
          ...appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'revert', release: prev ?? '-', by: byText, extra: `reverted=${release}` })),
          ...unlockSteps(t.paths, run.token),
        ]);
      });
      for (const r of reverted) {
        const rep = reports.get(r.target.key)!;
        if (r.ok && rep.outcome !== 'failed') rep.outcome = 'reverted';
        if (!r.ok) fail(r);
      }
      bus.emit({ event: 'deploy.reverted', release });
      return result(false, release, reports, `publishing ${release} failed; hosts were put back on their previous release`);
    }
    for (const t of targets) reports.get(t.key)!.outcome = 'deployed';

    // Finish: prune and unlock. The release is live; a failure here is reported, not reverted.
    const finished = await phase(run, 'finish', targets, async (t) => {
      const st = state(t);
      const after: HostState = { current: release, releases: [...st.releases, { name: release, status: 'ok' }] };
      const keep = Number(t.config.keep_releases);
      return run.exec(t, 'finish', [
        ...(await run.signalSteps(t, release, ['deploy.finishing'])),
        ...removeReleasesSteps(t.paths, pruneList(after, keep)),
        ...unlockSteps(t.paths, run.token),
        ...(await run.signalSteps(t, release, ['deploy.finished'])),
      ]);
    });
    finished.forEach(fail);
    const ok = finished.every((r) => r.ok);
    return result(ok, release, reports, ok ? `deployed ${release} to ${targets.length} host(s)` : `deployed ${release}, but finishing failed on some hosts`);
  } catch (e) {
    // An unexpected error mid-run: leave no lock of ours behind.
    await unlock(run, targets).catch(() => {});
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

export function failureSummary(what: string, failed: Settled<unknown>[]): string {
  return `${what}: ` + failed.map((f) => (f.ok ? '' : (f.error as FapError).message)).join('; ');
}

export function result(ok: boolean, release: string | undefined, reports: Map<string, HostReport>, summary: string): RunResult {
  return { ok, release, hosts: [...reports.values()], summary };
}
