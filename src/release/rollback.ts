// Rollback: point current back at the previous good release (or --to RELEASE) on every host.
// The release rolled back from is kept, marked rolled-back, so --to can roll forward again.
// Hosts that disagree about current are refused unless --force.
import { ConfigError } from '../errors.js';
import { lockAndHeal, phase, recordFailure, reportsFor, result, transact, type RunResult } from './transaction.js';
import { withRelease, type Target } from './plan.js';
import type { Run } from './run.js';
import { isReleaseName, RELEASE_NAME_FORMS } from './names.js';
import { appendLogSteps, flipSteps, journalSteps, removeCurrentSteps, revisionsLogLine, setStatusSteps, unlockSteps } from './scripts.js';
import { chooseRollback, type Heal, type JournalPhase, type RollbackOptions } from './state.js';

/** A heal that put current back from an interrupted deploy (or release). */
function undidDeploy(h: Heal | undefined): boolean {
  return !!h && !h.keep && h.journal.command !== 'rollback' && h.flipBackTo !== undefined;
}

export async function rollback(run: Run, planned: Target[], o: RollbackOptions = {}): Promise<RunResult> {
  if (o.to !== undefined && !isReleaseName(o.to)) throw new ConfigError(`--to "${o.to}" is not a release name (${RELEASE_NAME_FORMS}; see fap releases)`);
  return transact(run, planned, async () => {
    const { raw, states, heal, heals } = await lockAndHeal(run, planned, { layout: 'existing', ownCurrent: true });
    const reports = reportsFor(planned);

    // An interrupted deploy that had moved current is undone by the heal: current is back where
    // that deploy found it, one step back from what `fap releases` showed. A plain rollback stops
    // there rather than going back a second release nobody asked to leave.
    const undone = o.to === undefined ? planned.filter((t) => undidDeploy(heals.get(t.key))) : [];
    if (undone.length) {
      const healedNow = await run.forEach(
        planned.filter((t) => !raw.get(t.key)?.nothingDeployed),
        (t) => run.exec(t, 'heal', [...heal(t), ...unlockSteps(t.paths, run.token)]),
      );
      healedNow.forEach((r) => recordFailure(run, reports, r));
      for (const t of undone) if (reports.get(t.key)!.outcome !== 'failed') reports.get(t.key)!.outcome = 'reverted';
      const h = heals.get(undone[0].key)!;
      const ok = [...reports.values()].every((r) => r.outcome !== 'failed');
      return result(
        ok,
        h.flipBackTo || undefined,
        reports,
        `an interrupted deploy of ${h.journal.release} was undone: current is back on ${h.flipBackTo || '(none)'} on ${undone.length} host(s); not rolling back further (run fap rollback again to go back from there)`,
      );
    }

    // Decide every host's target before touching any host.
    // a host never deployed to was not locked, and nothing was created there
    const none = planned.filter((t) => raw.get(t.key)?.nothingDeployed);
    const chosen = chooseRollback(planned, states, o);
    const { choice } = chosen;
    const problems = [
      ...none.map((t) => ({ host: t.host.name, message: `${t.host.name}: nothing deployed at ${t.paths.root}` })),
      ...chosen.problems.filter((p) => !none.some((t) => t.host.name === p.host)),
    ];
    if (problems.length) {
      // heal leftovers anyway, then let go of the lock
      await run.forEach(planned.filter((t) => !none.includes(t)), (t) => run.exec(t, 'unlock', [...heal(t), ...unlockSteps(t.paths, run.token)]));
      for (const p of problems) {
        run.bus.emit({ event: 'host.failed', host: p.host, step: 'choose release', message: p.message });
        const rep = [...reports.values()].find((r) => r.host === p.host);
        if (rep) rep.outcome = 'failed';
      }
      // the heal above may have moved current (an interrupted deploy undone): then say so, not "nothing changed"
      const healed = planned.map((t) => heals.get(t.key)).find((h) => h && h.flipBackTo !== undefined);
      const what = healed ? `rollback refused (the heal of an interrupted ${healed.journal.command} put current back on ${healed.flipBackTo || '(none)'})` : 'rollback refused, nothing changed';
      return result(false, undefined, reports, `${what}: ${problems.map((p) => p.message).join('; ')}`);
    }

    const at = new Date().toISOString();
    const owner = run.lockOwner();
    const by = `${owner.user}@${owner.origin}`;
    run.checkAbort();
    const moving = planned.filter((t) => choice.has(t.key));
    const staying = planned.filter((t) => !choice.has(t.key));
    const participants = moving.map((t) => t.key);
    const journal = (t: Target, phase: JournalPhase) => {
      const { from, to } = choice.get(t.key)!;
      return journalSteps(t.paths, { token: run.token, command: 'rollback', release: to, prev: from ?? '', phase, at, hosts: participants });
    };
    const onDest = (planT: Target) => withRelease(planT, choice.get(planT.key)!.to);
    if (staying.length) await run.forEach(staying, (t) => run.exec(t, 'unlock', [...heal(t), ...unlockSteps(t.paths, run.token)]));

    // Flip every moving host; the lock is kept until every host has, so a failure can still be undone.
    // Fapistrano's rollback sequence (fapistrano-0.9.5 deploy.py:66-97): starting, started,
    // reverting, reverted, publishing, the flip, published (a ported plugin restarts here, after the
    // flip), then finishing_rollback and finished once every host is there (the finish phase).
    const done = await phase(run, 'rollback', moving, async (planT) => {
      const t = onDest(planT);
      const { from, to: dest } = choice.get(t.key)!;
      const rev = states.get(t.key)?.releases.find((r) => r.name === dest)?.revision;
      return run.exec(t, 'rollback', [
        ...heal(t),
        ...journal(t, 'publish'),
        ...(await run.signalSteps(t, dest, ['deploy.starting', 'deploy.started', 'deploy.reverting', 'deploy.reverted', 'deploy.publishing'])),
        ...flipSteps(t.paths, dest),
        ...setStatusSteps(t.paths, dest, 'ok'),
        ...(from ? setStatusSteps(t.paths, from, 'rolled-back') : []),
        ...appendLogSteps(t.paths, revisionsLogLine({ at, action: 'rollback', release: dest, revision: rev, by, extra: from ? `from=${from}` : '' })),
        ...(await run.signalSteps(t, dest, ['deploy.published'])),
        ...journal(t, 'published'),
      ]);
    });
    for (const r of done) if (recordFailure(run, reports, r)) reports.get(r.target.key)!.outcome = 'rolled-back';
    const dests = [...new Set([...choice.values()].map((c) => c.to))];
    const interrupted = run.abortReason();

    if (done.every((r) => r.ok) && !interrupted) {
      // Every host is there: the outcome is settled, record it and let go.
      const finished = await phase(run, 'finish', moving, async (planT) => {
        const t = onDest(planT);
        const dest = choice.get(t.key)!.to;
        return run.exec(t, 'finish', [
          ...(await run.signalSteps(t, dest, ['deploy.finishing_rollback'])),
          ...journal(planT, 'done'),
          ...unlockSteps(planT.paths, run.token),
          ...(await run.signalSteps(t, dest, ['deploy.finished'])),
        ]);
      });
      finished.forEach((r) => recordFailure(run, reports, r, 'rolled-back'));
      if (!moving.length) return result(true, o.to, reports, `every host is already on ${o.to}; nothing to roll back`);
      return result(true, dests.join(','), reports, `rolled back to ${dests.join(', ')} on ${moving.length} host(s)${staying.length ? ` (${staying.length} already there)` : ''}`);
    }

    // All or nothing, like a deploy: every host goes back to where the rollback found it.
    run.bus.emit({ event: 'deploy.reverting', release: dests.join(',') });
    const back = await phase(run, 'revert', moving, async (planT) => {
      const t = onDest(planT);
      const { from, to: dest } = choice.get(t.key)!;
      return run.exec(t, 'revert', [
        ...(from ? flipSteps(t.paths, from, `switch current back to ${from}`) : removeCurrentSteps(t.paths)),
        ...(from ? setStatusSteps(t.paths, from, 'ok') : []),
        ...appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'revert', release: from ?? '-', by, extra: `reverted=rollback:${dest}` })),
        ...journal(t, 'reverted'),
      ]);
    });
    const stuck: string[] = [];
    for (const r of back) {
      const rep = reports.get(r.target.key)!;
      if (r.ok) {
        if (rep.outcome === 'rolled-back') rep.outcome = 'reverted';
      } else {
        recordFailure(run, reports, r, 'failed', 'revert failed: ');
        stuck.push(r.target.host.name);
      }
    }
    const reachable = back.filter((r) => r.ok).map((r) => r.target);
    const restarted = await phase(run, 'restart after revert', reachable, async (planT) => {
      const t = onDest(planT);
      const { from, to: dest } = choice.get(t.key)!;
      // a restart on the release the host is back on: in a rollback deploy.reverted comes before
      // the flip (Fapistrano's order), so the restart here is deploy.restarting, as fap restart's
      return run.exec(t, 'revert', [...(await run.signalSteps(t, from ?? dest, ['deploy.restarting', 'deploy.restarted'])), ...unlockSteps(t.paths, run.token)]);
    });
    const notRestarted = restarted.filter((r) => !r.ok);
    for (const r of notRestarted) run.reportFailure(r.target, r.error, 'restart after revert');
    const where = reachable.map((t) => `${t.host.name}=${choice.get(t.key)!.from ?? '(no current)'}`).join(', ');
    let summary = `${interrupted ? 'interrupted' : 'rollback failed on some hosts'}; `;
    summary += stuck.length ? `could not put back ${stuck.join(', ')} (the next fap run heals it)${where ? `; back where they were: ${where}` : ''}` : `every host was put back where it was (${where})`;
    if (notRestarted.length) summary += `; the restart after the revert failed on ${notRestarted.map((r) => r.target.host.name).join(', ')}`;
    return result(false, dests.join(','), reports, summary);
  });
}
