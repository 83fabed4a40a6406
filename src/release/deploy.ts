// The deploy, signal by signal (Capistrano's deploy flow, as a transaction across hosts):
//
//   lock, read state, heal             every host, before anything changes
//   deploy.starting / started          plugins prepare shared/ (localshared)
//   deploy.updating / updated          the release is built on EVERY host: checkout, links, .env
//   deploy.publishing / published      only then is current flipped, batch by batch (health checks)
//   deploy.finishing / finished        prune, unlock
//   deploy.failed                      before publish: the new release is removed everywhere;
//   deploy.reverting / reverted        after: every published host is put back where it was
//
// Each phase is one script per host. A journal in .fap/ lets the next run heal what a killed run left.
import { hostsText, targetHandles, withRelease, type Target } from './plan.js';
import type { Run } from './run.js';
import {
  appendLogSteps,
  discardReleaseSteps,
  flipSteps,
  healthCheckSteps,
  prepareEndSteps,
  prepareStartSteps,
  recordSteps,
  removeCurrentSteps,
  removeReleasesSteps,
  revisionsLogLine,
  setStatusSteps,
  sharedWritableSteps,
} from './scripts.js';
import { batchSize, nextReleaseName, pruneList, unrecordedDirty, unrecordedUnverified, type HostState, type JournalPhase } from './state.js';
import { Transaction, type RunResult } from './transaction.js';
import { deployedText, pruneText, sourceText } from './summary.js';
import type { Step } from '../remote/shell.js';
import { FapError, HostError } from '../errors.js';

export async function deploy(run: Run, planned: Target[]): Promise<RunResult> {
  return Transaction.run(run, planned, async (tx) => {
    await tx.lock({ ownCurrent: true });
    const release = nextReleaseName(new Date(), tx.rawStates());
    const d = new Deploy(tx, planned.map((t) => withRelease(t, release)), release);
    run.bus.emit({ event: 'release.planned', release, hosts: d.targets.map((t) => t.host.name) });

    run.checkAbort();
    if (run.opts.dryRun) await d.preview();
    if (!(await d.build()) || tx.interrupted()) return d.discard();
    for (const batch of d.batches()) {
      const stop = await d.publish(batch);
      if (stop) return d.revert(stop);
    }
    return d.finish();
  });
}

/** One deploy's phases, over its targets (each already bound to the new release). */
class Deploy {
  private readonly published: Target[] = [];

  constructor(
    private readonly tx: Transaction,
    readonly targets: Target[],
    private readonly release: string,
  ) {
    tx.participants(targets);
  }

  private get run(): Run {
    return this.tx.run;
  }

  private state(t: Target): HostState {
    return this.tx.state(t);
  }

  private journal(t: Target, phase: JournalPhase): Step[] {
    return this.tx.journal(t, { command: this.run.opts.command, release: this.release, prev: this.state(t).current ?? '' }, phase);
  }

  private signals(t: Target, ...names: Parameters<Run['signalSteps']>[2]): Promise<Step[]> {
    return this.run.signalSteps(t, this.release, names);
  }

  /**
   * --dry-run: ask each host, read-only, for the revision the release would be made from (the
   * plugins that can tell, e.g. git's ls-remote), so the plan names it. A host that cannot tell is
   * a warning: the dry run still shows the rest.
   */
  async preview(): Promise<void> {
    const { tx, release } = this;
    const unread = new Set(this.run.dryRunBlockers.map((b) => b.target.key));
    await this.run.forEach(this.targets.filter((t) => !unread.has(t.key)), async (t) => {
      for (const steps of await this.run.revisionSteps(t, release)) {
        try {
          const r = await this.run.exec(t, 'revision (read-only, run for real)', steps, { readOnly: true });
          const revision = r.stdout.trim().split('\n').pop()?.trim();
          if (revision) {
            tx.report(t).revision = revision;
            return;
          }
        } catch (e) {
          // the deploy would fail there (a branch the repository lacks, a repository it cannot read)
          const error = e instanceof FapError ? e : new HostError(t.host.name, 'revision', String(e));
          this.run.dryRunBlockers.push({ target: t, error });
          this.run.reportFailure(t, error);
          return;
        }
      }
    });
  }

  /** deploy.starting .. deploy.updated on every host: the release, complete, nothing switched. */
  async build(): Promise<boolean> {
    const { tx, release } = this;
    const results = await tx.each('prepare', this.targets, async (t) => {
      const linkedFiles = t.config.linked_files;
      return [
        ...tx.heal(t),
        ...this.journal(t, 'prepare'),
        // Fapistrano's failed deploys (its dirty releases) stay failed once current moves past them
        ...unrecordedDirty(this.state(t)).flatMap((n) => setStatusSteps(t.paths, n, 'failed')),
        ...unrecordedUnverified(this.state(t)).flatMap((n) => setStatusSteps(t.paths, n, 'unverified')),
        // deploy.starting plugins (localshared fills shared/) run before the linked-file check
        ...(await this.signals(t, 'deploy.starting', 'deploy.started')),
        ...(t.config.shared_writable !== false ? sharedWritableSteps(t.paths) : []),
        ...prepareStartSteps(t.paths, release, linkedFiles, this.run.token),
        ...(await this.signals(t, 'deploy.updating')),
        ...prepareEndSteps(t.paths, {
          environment: t.config.environment,
          linkedFiles,
          linkedDirs: t.config.linked_dirs,
          environmentFormat: t.config.environment_format,
        }),
        ...(await this.signals(t, 'deploy.updated')),
        ...recordSteps(t.paths, release, { deployedAt: tx.at, deployedBy: tx.by, command: this.run.opts.command }),
      ];
    });
    for (const r of results) if (r.ok) tx.report(r.target).revision = r.value.outputs.get('revision')?.[0] ?? tx.report(r.target).revision;
    return tx.record(results);
  }

  /** deploy.failed before publish: nothing was switched anywhere; the new release goes where this run made it. */
  async discard(): Promise<RunResult> {
    const { tx, release } = this;
    const interrupted = tx.interrupted();
    this.run.bus.emit({ event: 'deploy.failed', release, phase: 'prepare', reason: interrupted });
    const results = await tx.each('discard', this.targets, async (t) => [
      ...(await this.signals(t, 'deploy.failed')),
      ...discardReleaseSteps(t.paths, release, this.run.token),
      ...this.journal(t, 'reverted'),
      ...tx.unlock(t),
    ]);
    tx.record(results, { step: 'discard' });
    return tx.result(false, release, `${interrupted ? 'interrupted: ' : ''}release ${release} was not published; no host was switched`);
  }

  /** Publish batches: one unless --batch / batch_size (a number or a percentage). */
  *batches(): Generator<{ name: string; targets: Target[] }> {
    const { targets } = this;
    const size = batchSize(targets.length, this.run.opts.options.batch ?? targets[0].config.batch_size);
    const count = Math.ceil(targets.length / size);
    for (let i = 0; i < targets.length; i += size) {
      yield { name: count > 1 ? `publish ${i / size + 1}/${count}` : 'publish', targets: targets.slice(i, i + size) };
    }
  }

  /**
   * deploy.publishing .. published on one batch: flip current, record, health check. Returns why
   * the deploy must stop (a failure, or an interrupt before the last batch finished), else undefined.
   */
  async publish(batch: { name: string; targets: Target[] }): Promise<string | undefined> {
    const { tx, release } = this;
    const results = await tx.each(
      batch.name,
      batch.targets,
      async (t) => [
        ...this.journal(t, 'publish'),
        ...(await this.signals(t, 'deploy.publishing')),
        ...flipSteps(t.paths, release),
        ...setStatusSteps(t.paths, release, 'ok'),
        ...appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'deploy', release, revision: tx.report(t).revision, by: tx.by })),
        ...(await this.signals(t, 'deploy.published')),
        ...(t.config.health_check ? healthCheckSteps(t.paths, t.config.health_check, t.config.health_check_timeout, t.config.health_check_interval) : []),
        ...this.journal(t, 'published'),
      ],
      'publish',
    );
    this.published.push(...batch.targets);
    tx.record(results, { ok: 'deployed' });
    const stop = results.some((r) => !r.ok) ? 'publishing failed' : tx.interrupted();
    if (stop) this.run.bus.emit({ event: 'deploy.failed', release, phase: batch.name, reason: stop });
    return stop;
  }

  /**
   * A publish failed or was interrupted: until finish the deploy can still be undone, so every
   * published host is put back (rollback_on_failure, the default) and the release marked failed.
   */
  async revert(stop: string): Promise<RunResult> {
    const { tx, release, published } = this;
    if (this.targets[0].config.rollback_on_failure === false) {
      // the user chose to keep what was published; the failed hosts are marked, nothing reverted
      await tx.each('stop', this.targets, (t) => [
        ...(published.includes(t) && tx.report(t).outcome === 'failed' ? setStatusSteps(t.paths, release, 'failed') : []),
        ...this.journal(t, 'done'),
        ...tx.unlock(t),
      ]);
      return tx.result(false, release, `${stop}; rollback_on_failure is false, so published hosts stay on ${release}`);
    }
    this.run.bus.emit({ event: 'deploy.reverting', release });
    // The state that matters (current back, release marked failed, journal final) is one script;
    // deploy.reverted (a restart) is a second, so a failing restart cannot leave the record half-written.
    const back = await tx.each('revert', this.targets, async (t) => {
      const prev = this.state(t).current;
      const wasPublished = published.includes(t);
      return [
        ...(!wasPublished ? [] : prev ? flipSteps(t.paths, prev, `switch current back to ${prev}`) : removeCurrentSteps(t.paths)),
        // after the switch back, so a failing plugin step cannot keep the host on the failed release
        // (localshared puts back the shared/ copies the publish replaced); ctx.release: the failed release
        ...(wasPublished ? await this.signals(t, 'deploy.reverting') : []),
        ...setStatusSteps(t.paths, release, 'failed'),
        ...(wasPublished ? appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'revert', release: prev ?? '-', by: tx.by, extra: `reverted=${release}` })) : []),
        ...this.journal(t, 'reverted'),
      ];
    });
    const stuck = back.filter((r) => !r.ok && published.includes(r.target)).map((r) => `${r.target.host.name} (may still be on ${release})`);
    for (const r of back) if (r.ok && tx.report(r.target).outcome === 'deployed') tx.report(r.target).outcome = 'reverted';
    tx.record(back, { step: 'revert' });
    // hosts that were switched back restart on the release they are back on
    // (hosts the revert could not reach are unlocked, or named, by the transaction)
    const reachable = back.filter((r) => r.ok).map((r) => r.target);
    // named for what it does: with no plugin that restarts anything it only gives the lock back
    const restarts = reachable.some((t) => published.includes(t) && targetHandles(t, ['deploy.reverted']));
    const restarted = await tx.each(
      restarts ? 'restart after revert' : 'unlock',
      reachable,
      async (t) => [...(published.includes(t) ? await this.run.signalSteps(t, this.state(t).current ?? release, ['deploy.reverted']) : []), ...tx.unlock(t)],
      'revert',
    );
    const notRestarted: string[] = [];
    for (const r of restarted) {
      if (r.ok) continue;
      notRestarted.push(r.target.host.name);
      this.run.reportFailure(r.target, r.error, 'restart after revert');
      const rep = tx.report(r.target);
      rep.error = `${rep.error ? rep.error + '; ' : ''}back on its previous release, but its restart failed: ${r.error.message}`;
    }
    this.run.bus.emit({ event: 'deploy.reverted', release });
    const backOn = (t: Target) => `${t.host.name}=${this.state(t).current ?? '(no current)'}`;
    const moved = published.filter((t) => back.find((r) => r.target === t)?.ok);
    let summary = stuck.length
      ? `could not put back ${stuck.join(', ')}; the next fap run heals it` + (moved.length ? `; back on their previous release: ${moved.map(backOn).join(', ')}` : '')
      : published.length
        ? `every published host was put back on its previous release (${moved.map(backOn).join(', ')})`
        : 'no host was switched';
    if (notRestarted.length) summary += `; the restart after the revert failed on ${notRestarted.join(', ')}`;
    return tx.result(false, release, `${stop}: ${summary}`);
  }

  /** deploy.finishing .. finished: prune and unlock. The release is live; a failure here is reported, not reverted. */
  async finish(): Promise<RunResult> {
    const { tx, release } = this;
    const results = await tx.each('finish', this.targets, async (t) => {
      const st = this.state(t);
      const after: HostState = { ...st, current: release, releases: [...st.releases, { name: release, status: 'ok' }] };
      return [
        ...(await this.signals(t, 'deploy.finishing')),
        ...removeReleasesSteps(t.paths, pruneList(after, t.config.keep_releases)),
        ...this.journal(t, 'done'),
        ...tx.unlock(t),
        ...(await this.signals(t, 'deploy.finished')),
      ];
    });
    const ok = tx.record(results, { failed: 'deployed' });
    if (this.run.opts.dryRun) return tx.result(ok, release, this.plannedText());
    const what = deployedText(release, this.source());
    return tx.result(ok, release, ok ? `${what} to ${hostsText(this.targets)}` : `${what}, but finishing (cleanup) failed on some hosts`);
  }

  /** --dry-run's one line: what would be deployed where, and what would be pruned. */
  private plannedText(): string {
    const prunes = this.targets.map((t) => {
      const st = this.state(t);
      const after: HostState = { ...st, current: this.release, releases: [...st.releases, { name: this.release, status: 'ok' }] };
      return { host: t.host.name, names: pruneList(after, t.config.keep_releases) };
    });
    return `${deployedText(this.release, this.source(), 'would deploy')} to ${hostsText(this.targets)}; ${pruneText(prunes)}`;
  }

  /** What the release was made from, as the hosts reported it (git: branch@commit). */
  private source(): string | undefined {
    const branch = this.targets[0].roles[0]?.config.branch;
    return sourceText(
      this.targets.map((t) => this.tx.report(t).revision),
      branch === undefined || branch === null || branch === '' ? undefined : String(branch),
    );
  }
}
