// The deploy transaction. Phases are barriers across hosts: lock and read state everywhere, build
// the release everywhere, and only if every host built it, publish (batch by batch with --batch);
// a failed publish or health check puts every published host back. Each phase is one script per
// host, and a journal in .fap/ lets the next run heal whatever a killed run left.
import { withRelease, type Target } from './plan.js';
import type { Run } from './run.js';
import {
  appendLogSteps,
  discardReleaseSteps,
  flipSteps,
  healthCheckSteps,
  journalSteps,
  prepareEndSteps,
  prepareStartSteps,
  recordSteps,
  removeCurrentSteps,
  removeReleasesSteps,
  revisionsLogLine,
  setStatusSteps,
  sharedWritableSteps,
  unlockSteps,
} from './scripts.js';
import { batchSize, nextReleaseName, pruneList, unrecordedDirty, unrecordedUnverified, type HostState, type JournalPhase, EMPTY_STATE } from './state.js';
import { lockAndHeal, phase, recordFailure, reportsFor, result, transact, type HostReport, type RunResult } from './transaction.js';


export async function deploy(run: Run, planned: Target[]): Promise<RunResult> {
  return transact(run, planned, async () => {
    const bus = run.bus;
    const { raw, states, heal } = await lockAndHeal(run, planned, { ownCurrent: true });
    const release = nextReleaseName(new Date(), [...raw.values()]);
    const targets = planned.map((t) => withRelease(t, release));
    const state = (t: Target): HostState => states.get(t.key) ?? EMPTY_STATE;
    bus.emit({ event: 'release.planned', release, hosts: targets.map((t) => t.host.name) });

    const reports = reportsFor(targets);
    const at = new Date().toISOString();
    const owner = run.lockOwner();
    const by = `${owner.user}@${owner.origin}`;
    const participants = targets.map((t) => t.key);
    const journal = (t: Target, phase: JournalPhase) =>
      journalSteps(t.paths, { token: run.token, command: run.opts.command, release, prev: state(t).current ?? '', phase, at, hosts: participants });

    run.checkAbort();
    // Build: everything up to deploy.updated, on every host.
    const built = await phase(run, 'prepare', targets, async (t) => {
      const linkedFiles = (t.config.linked_files as string[]) ?? [];
      return run.exec(t, 'prepare', [
        ...heal(t),
        ...journal(t, 'prepare'),
        // Fapistrano's failed deploys (its dirty releases) stay failed once current moves past them
        ...unrecordedDirty(state(t)).flatMap((n) => setStatusSteps(t.paths, n, 'failed')),
        ...unrecordedUnverified(state(t)).flatMap((n) => setStatusSteps(t.paths, n, 'unverified')),
        // deploy.starting plugins (localshared fills shared/) run before the linked-file check
        ...(await run.signalSteps(t, release, ['deploy.starting', 'deploy.started'])),
        ...(t.config.shared_writable !== false ? sharedWritableSteps(t.paths) : []),
        ...prepareStartSteps(t.paths, release, linkedFiles, run.token),
        ...(await run.signalSteps(t, release, ['deploy.updating'])),
        ...prepareEndSteps(t.paths, {
          environment: (t.config.environment as Record<string, unknown>) ?? {},
          linkedFiles,
          linkedDirs: (t.config.linked_dirs as string[]) ?? [],
          environmentFormat: t.config.environment_format as string | undefined,
        }),
        ...(await run.signalSteps(t, release, ['deploy.updated'])),
        ...recordSteps(t.paths, release, { deployedAt: at, deployedBy: by, command: run.opts.command }),
      ]);
    });
    const builtOk = built.map((r) => recordFailure(run, reports, r)).every(Boolean);
    for (const r of built) if (r.ok) reports.get(r.target.key)!.revision = r.value.outputs.get('revision')?.[0];
    const interrupted = run.abortReason();
    if (!builtOk || interrupted) {
      // Nothing was switched anywhere: remove the new release (where this run made it) and stop.
      bus.emit({ event: 'deploy.failed', release, phase: 'prepare', reason: interrupted });
      const discarded = await phase(run, 'discard', targets, async (t) =>
        run.exec(t, 'discard', [
          ...(await run.signalSteps(t, release, ['deploy.failed'])),
          ...discardReleaseSteps(t.paths, release, run.token),
          ...journal(t, 'reverted'),
          ...unlockSteps(t.paths, run.token),
        ]),
      );
      discarded.forEach((r) => recordFailure(run, reports, r, 'failed', 'discard failed: '));
      return result(false, release, reports, `${interrupted ? 'interrupted: ' : ''}release ${release} was not published; no host was switched`);
    }

    // Publish, batch by batch (one batch unless --batch / batch_size). A failure, or an interrupt
    // before the last batch has finished, puts back every host published so far
    // (rollback_on_failure, the default): until finish, the deploy can still be undone.
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
      for (const r of results) if (recordFailure(run, reports, r)) reports.get(r.target.key)!.outcome = 'deployed';
      const stop = results.some((r) => !r.ok) ? 'publishing failed' : run.abortReason();
      if (!stop) continue;
      bus.emit({ event: 'deploy.failed', release, phase: name, reason: stop });
      if (targets[0].config.rollback_on_failure === false) {
        // The user chose to keep what was published; the failed hosts are marked, nothing reverted.
        await phase(run, 'stop', targets, (t) =>
          run.exec(t, 'stop', [...(published.includes(t) && reports.get(t.key)!.outcome === 'failed' ? setStatusSteps(t.paths, release, 'failed') : []), ...journal(t, 'done'), ...unlockSteps(t.paths, run.token)]),
        );
        return result(false, release, reports, `${stop}; rollback_on_failure is false, so published hosts stay on ${release}`);
      }
      const summary = await revert(run, targets, published, release, state, reports, by, (t) => journal(t, 'reverted'));
      return result(false, release, reports, `${stop}: ${summary}`);
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
    const ok = finished.map((r) => recordFailure(run, reports, r, 'deployed')).every(Boolean);
    return result(ok, release, reports, ok ? `deployed ${release} to ${targets.length} host(s)` : `deployed ${release}, but finishing (cleanup) failed on some hosts`);
  });
}

/**
 * Put every published host back where the run found it and mark the release failed; returns a
 * summary that says exactly where each host is. The state that matters (current back, release
 * marked failed, journal final) is one script; the deploy.reverted signal (a restart) is a second,
 * so a failing restart cannot leave the host's record half-written.
 */
async function revert(run: Run, targets: Target[], published: Target[], release: string, state: (t: Target) => HostState, reports: Map<string, HostReport>, by: string, reverted: (t: Target) => ReturnType<typeof journalSteps>): Promise<string> {
  run.bus.emit({ event: 'deploy.reverting', release });
  const back = await phase(run, 'revert', targets, async (t) => {
    const prev = state(t).current;
    const wasPublished = published.includes(t);
    return run.exec(t, 'revert', [
      ...(!wasPublished ? [] : prev ? flipSteps(t.paths, prev, `switch current back to ${prev}`) : removeCurrentSteps(t.paths)),
      // after the switch back, so a failing plugin step cannot keep the host on the failed release
      // (localshared puts back the shared/ copies the publish replaced); ctx.release: the failed release
      ...(wasPublished ? await run.signalSteps(t, release, ['deploy.reverting']) : []),
      ...setStatusSteps(t.paths, release, 'failed'),
      ...(wasPublished ? appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'revert', release: prev ?? '-', by, extra: `reverted=${release}` })) : []),
      ...reverted(t),
    ]);
  });
  const stuck: string[] = [];
  for (const r of back) {
    const rep = reports.get(r.target.key)!;
    if (r.ok) {
      if (rep.outcome === 'deployed') rep.outcome = 'reverted';
    } else {
      recordFailure(run, reports, r, 'failed', 'revert failed: ');
      if (published.includes(r.target)) stuck.push(`${r.target.host.name} (may still be on ${release})`);
    }
  }
  // hosts that were switched back restart on the release they are back on
  // (hosts the revert could not reach are unlocked, or named, by transact)
  const reachable = back.filter((r) => r.ok).map((r) => r.target);
  const restarted = await phase(run, 'restart after revert', reachable, async (t) => {
    const prev = state(t).current;
    return run.exec(t, 'revert', [...(published.includes(t) ? await run.signalSteps(t, prev ?? release, ['deploy.reverted']) : []), ...unlockSteps(t.paths, run.token)]);
  });
  const notRestarted: string[] = [];
  for (const r of restarted) {
    if (r.ok) continue;
    notRestarted.push(r.target.host.name);
    run.reportFailure(r.target, r.error, 'restart after revert');
    const rep = reports.get(r.target.key)!;
    rep.error = `${rep.error ? rep.error + '; ' : ''}back on its previous release, but its restart failed: ${r.error.message}`;
  }
  run.bus.emit({ event: 'deploy.reverted', release });
  const backOn = (t: Target) => state(t).current ?? '(no current)';
  const moved = published.filter((t) => back.find((r) => r.target === t)?.ok);
  let summary = stuck.length
    ? `could not put back ${stuck.join(', ')}; the next fap run heals it` + (moved.length ? `; back on their previous release: ${moved.map((t) => `${t.host.name}=${backOn(t)}`).join(', ')}` : '')
    : published.length
      ? `every published host was put back on its previous release (${moved.map((t) => `${t.host.name}=${backOn(t)}`).join(', ')})`
      : 'no host was switched';
  if (notRestarted.length) summary += `; the restart after the revert failed on ${notRestarted.join(', ')}`;
  return summary;
}

