// Rollback: point current back at the previous good release (or --to RELEASE) on every host.
// The release rolled back from is kept, marked rolled-back, so --to can roll forward again.
// Hosts that disagree about current are refused unless --force.
import { ConfigError } from '../errors.js';
import { count } from '../words.js';
import { Transaction, type RunResult } from './transaction.js';
import { hostsText, RESTART_SIGNALS, targetHandles, withRelease, type Target } from './plan.js';
import type { Run } from './run.js';
import type { Step } from '../remote/shell.js';
import { isReleaseName, RELEASE_NAME_FORMS } from './names.js';
import { appendLogSteps, flipSteps, removeCurrentSteps, revisionsLogLine, setStatusSteps } from './scripts.js';
import { chooseRollback, commonGoodReleases, EMPTY_STATE, type Heal, type HostState, type JournalPhase, type RollbackOptions } from './state.js';

/** A heal that put current back from an interrupted deploy (or release). */
function undidDeploy(h: Heal | undefined): boolean {
  return !!h && !h.keep && h.journal.command !== 'rollback' && h.flipBackTo !== undefined;
}

export async function rollback(run: Run, planned: Target[], o: RollbackOptions = {}): Promise<RunResult> {
  if (o.to !== undefined && !isReleaseName(o.to)) throw new ConfigError(`--to "${o.to}" is not a release name (${RELEASE_NAME_FORMS}; see fap releases)`);
  return Transaction.run(run, planned, async (tx) => {
    await tx.lock({ layout: 'existing', ownCurrent: true });
    const deployed = planned.filter((t) => !tx.nothingDeployed(t));

    // An interrupted deploy that had moved current is undone by the heal: current is back where
    // that deploy found it, one step back from what `fap releases` showed. A plain rollback stops
    // there rather than going back a second release nobody asked to leave.
    const undone = o.to === undefined ? planned.filter((t) => undidDeploy(tx.healOf(t))) : [];
    if (undone.length) {
      tx.record(await tx.send('heal', deployed, (t) => [...tx.heal(t), ...tx.unlock(t)]));
      for (const t of undone) if (tx.report(t).outcome !== 'failed') tx.report(t).outcome = 'reverted';
      const h = tx.healOf(undone[0])!;
      const ok = planned.every((t) => tx.report(t).outcome !== 'failed');
      return tx.result(
        ok,
        h.flipBackTo || undefined,
        tx.run.opts.dryRun
          ? `would undo an interrupted deploy of ${h.journal.release}: current would be back on ${h.flipBackTo || '(none)'} on ${count(undone.length, 'host')}, and the rollback would stop there`
          : `an interrupted deploy of ${h.journal.release} was undone: current is back on ${h.flipBackTo || '(none)'} on ${count(undone.length, 'host')}; not rolling back further (run fap rollback again to go back from there)`,
      );
    }

    // Decide every host's target before touching any host.
    // a host never deployed to was not locked, and nothing was created there
    const none = planned.filter((t) => tx.nothingDeployed(t));
    const states = new Map(planned.map((t) => [t.key, tx.state(t)]));
    const { choice, problems: refused } = chooseRollback(planned, states, o);
    const problems = [
      ...none.map((t) => ({ host: t.host.name, message: `${t.host.name}: nothing deployed at ${t.paths.root}` })),
      ...refused.filter((p) => !none.some((t) => t.host.name === p.host)),
    ];
    if (problems.length) {
      // heal leftovers anyway, then let go of the lock
      await tx.send('unlock', deployed, (t) => [...tx.heal(t), ...tx.unlock(t)]);
      for (const p of problems) tx.refuse(p.host, 'choose release', p.message);
      // the heal above may have moved current (an interrupted deploy undone): then say so, not "nothing changed"
      const healed = planned.map((t) => tx.healOf(t)).find((h) => h && h.flipBackTo !== undefined);
      const what = healed ? `rollback refused (the heal of an interrupted ${healed.journal.command} put current back on ${healed.flipBackTo || '(none)'})` : 'rollback refused, nothing changed';
      return { ...tx.result(false, undefined, `${what}: ${refusalText(problems, planned.map((t) => states.get(t.key) ?? EMPTY_STATE), o.to)}`), refused: true };
    }

    run.checkAbort();
    const moving = planned.filter((t) => choice.has(t.key)).map((t) => withRelease(t, choice.get(t.key)!.to));
    const staying = planned.filter((t) => !choice.has(t.key));
    if (staying.length) await tx.send('unlock', staying, (t) => [...tx.heal(t), ...tx.unlock(t)]);
    const rb = new Rollback(tx, moving, choice);
    if ((await rb.flip()) && !tx.interrupted()) return rb.finish(staying.length, o.to);
    return rb.revert();
  });
}

/** One rollback's phases over the hosts that move (each bound to its destination release). */
class Rollback {
  constructor(
    private readonly tx: Transaction,
    private readonly moving: Target[],
    private readonly choice: Map<string, { from?: string; to: string }>,
  ) {
    tx.participants(moving);
  }

  private journal(t: Target, phase: JournalPhase): Step[] {
    const { from, to } = this.choice.get(t.key)!;
    return this.tx.journal(t, { command: 'rollback', release: to, prev: from ?? '' }, phase);
  }

  private get dests(): string[] {
    return [...new Set([...this.choice.values()].map((c) => c.to))];
  }

  /**
   * Flip every moving host; the lock is kept until every host has, so a failure can still be undone.
   * Fapistrano's rollback sequence (fapistrano-0.9.5 deploy.py:66-97): starting, started,
   * reverting, reverted, publishing, the flip, published (a ported plugin restarts here, after the
   * flip), then finishing_rollback and finished once every host is there (the finish phase).
   */
  async flip(): Promise<boolean> {
    const { tx } = this;
    const run = tx.run;
    const done = await tx.each('rollback', this.moving, async (t) => {
      const { from, to: dest } = this.choice.get(t.key)!;
      const rev = tx.state(t).releases.find((r) => r.name === dest)?.revision;
      return [
        ...tx.heal(t),
        ...this.journal(t, 'publish'),
        ...(await run.signalSteps(t, dest, ['deploy.starting', 'deploy.started', 'deploy.reverting', 'deploy.reverted', 'deploy.publishing'])),
        ...flipSteps(t.paths, dest),
        ...setStatusSteps(t.paths, dest, 'ok'),
        ...(from ? setStatusSteps(t.paths, from, 'rolled-back') : []),
        ...appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'rollback', release: dest, revision: rev, by: tx.by, extra: from ? `from=${from}` : '' })),
        ...(await run.signalSteps(t, dest, ['deploy.published'])),
        ...this.journal(t, 'published'),
      ];
    });
    return tx.record(done, { ok: 'rolled-back' });
  }

  /** Every host is there: the outcome is settled, record it and let go. */
  async finish(already: number, to: string | undefined): Promise<RunResult> {
    const { tx, moving } = this;
    const finished = await tx.each('finish', moving, async (t) => {
      const dest = this.choice.get(t.key)!.to;
      return [
        ...(await tx.run.signalSteps(t, dest, ['deploy.finishing_rollback'])),
        ...this.journal(t, 'done'),
        ...tx.unlock(t),
        ...(await tx.run.signalSteps(t, dest, ['deploy.finished'])),
      ];
    });
    tx.record(finished, { failed: 'rolled-back' });
    if (!moving.length) return tx.result(true, to, `every host is already on ${to}; nothing to roll back`);
    const dests = this.dests;
    return tx.result(true, dests.join(','), `${tx.run.opts.dryRun ? 'would roll back' : 'rolled back'} to ${dests.join(', ')} on ${hostsText(moving)}${already ? ` (${already} already there)` : ''}`);
  }

  /** All or nothing, like a deploy: every host goes back to where the rollback found it. */
  async revert(): Promise<RunResult> {
    const { tx, moving } = this;
    const run = tx.run;
    const interrupted = tx.interrupted();
    const dests = this.dests;
    run.bus.emit({ event: 'deploy.reverting', release: dests.join(',') });
    const back = await tx.each('revert', moving, (t) => {
      const { from, to: dest } = this.choice.get(t.key)!;
      return [
        ...(from ? flipSteps(t.paths, from, `switch current back to ${from}`) : removeCurrentSteps(t.paths)),
        ...(from ? setStatusSteps(t.paths, from, 'ok') : []),
        ...appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'revert', release: from ?? '-', by: tx.by, extra: `reverted=rollback:${dest}` })),
        ...this.journal(t, 'reverted'),
      ];
    });
    for (const r of back) if (r.ok && tx.report(r.target).outcome === 'rolled-back') tx.report(r.target).outcome = 'reverted';
    tx.record(back, { step: 'revert' });
    const stuck = back.filter((r) => !r.ok).map((r) => r.target.host.name);
    const reachable = back.filter((r) => r.ok).map((r) => r.target);
    // a restart on the release the host is back on: in a rollback deploy.reverted comes before
    // the flip (Fapistrano's order), so the restart here is deploy.restarting, as fap restart's
    // named for what it does: with no plugin that restarts anything it only gives the lock back
    const restarts = reachable.some((t) => targetHandles(t, RESTART_SIGNALS));
    const restarted = await tx.each(
      restarts ? 'restart after revert' : 'unlock',
      reachable,
      async (t) => {
        const { from, to: dest } = this.choice.get(t.key)!;
        return [...(await run.signalSteps(t, from ?? dest, ['deploy.restarting', 'deploy.restarted'])), ...tx.unlock(t)];
      },
      'revert',
    );
    const notRestarted = restarted.filter((r) => !r.ok);
    for (const r of notRestarted) run.reportFailure(r.target, r.error, 'restart after revert');
    const where = reachable.map((t) => `${t.host.name}=${this.choice.get(t.key)!.from ?? '(no current)'}`).join(', ');
    let summary = `${interrupted ? 'interrupted' : 'rollback failed on some hosts'}; `;
    summary += stuck.length ? `could not put back ${stuck.join(', ')} (the next fap run heals it)${where ? `; back where they were: ${where}` : ''}` : `every host was put back where it was (${where})`;
    if (notRestarted.length) summary += `; the restart after the revert failed on ${notRestarted.map((r) => r.target.host.name).join(', ')}`;
    return tx.result(false, dests.join(','), summary);
  }
}

/**
 * The reasons a rollback was refused, each said once with the hosts it applies to (the same reason
 * on every host was printed once per host); a --to that names no release there lists the good
 * releases every host has, newest first, to choose from.
 */
export function refusalText(problems: readonly { host: string; message: string }[], states: readonly HostState[], to?: string): string {
  const byReason = new Map<string, string[]>();
  for (const p of problems) {
    const reason = p.message.startsWith(`${p.host}: `) ? p.message.slice(p.host.length + 2) : p.message;
    const hosts = byReason.get(reason) ?? [];
    if (!hosts.includes(p.host) && p.message !== reason) hosts.push(p.host);
    byReason.set(reason, hosts);
  }
  const parts = [...byReason].map(([reason, hosts]) => (hosts.length ? `${reason.replace(/ there$/, '')} on ${hosts.join(', ')}` : reason));
  if (to !== undefined && problems.some((p) => p.message.endsWith(`release ${to} does not exist there`))) {
    const good = commonGoodReleases(states).slice(0, 5);
    parts.push(good.length ? `good releases on every host, newest first: ${good.join(', ')} (fap releases shows all)` : 'no good release is on every host (fap releases shows each host\'s)');
  }
  return parts.join('; ');
}
