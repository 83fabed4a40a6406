// Rollback: point current back at the previous good release (or --to RELEASE) on every host.
// The release rolled back from is kept, marked rolled-back, so --to can roll forward again.
// Hosts that disagree about current are refused unless --force.
import { ConfigError } from '../errors.js';
import type { HostOutcome } from '../events.js';
import { lockAndHeal, phase, result, type HostReport, type RunResult } from './deploy.js';
import { unlock } from './lock.js';
import { withRelease, type Target } from './plan.js';
import type { Run } from './run.js';
import { appendLogSteps, flipSteps, journalSteps, RELEASE_NAME, revisionsLogLine, setStatusSteps, unlockSteps } from './scripts.js';
import { isGood, rollbackTarget, type HostState, EMPTY_STATE } from './state.js';

export interface RollbackOptions {
  to?: string;
  force?: boolean;
}

/** Where each host would go, or why it cannot. Pure: decided from the hosts' states. */
export function chooseRollback(targets: Target[], states: Map<string, HostState>, o: RollbackOptions): { choice: Map<string, { from?: string; to: string }>; problems: { host: string; message: string }[] } {
  const problems: { host: string; message: string }[] = [];
  const choice = new Map<string, { from?: string; to: string }>();
  const currents = new Map(targets.map((t) => [t.host.name, states.get(t.key)?.current ?? '(none)']));
  if (new Set(currents.values()).size > 1 && !o.force) {
    const where = [...currents].map(([h, c]) => `${h}=${c}`).join(', ');
    return { choice, problems: [{ host: targets[0].host.name, message: `hosts disagree about current (${where}); fix it with fap rollback --to RELEASE --force, or fap deploy` }] };
  }
  for (const t of targets) {
    const st = states.get(t.key) ?? EMPTY_STATE;
    const dest = o.to ?? rollbackTarget(st);
    const info = st.releases.find((r) => r.name === dest);
    const host = t.host.name;
    if (!dest) problems.push({ host, message: `${host}: no earlier good release to roll back to` });
    else if (!info) problems.push({ host, message: `${host}: release ${dest} does not exist there` });
    else if (!isGood(info)) problems.push({ host, message: `${host}: release ${dest} is ${info.status}, not a good release` });
    else if (dest === st.current) {
      // --to a release a host is already on leaves that host as it is (how drift is mended)
      if (!o.to) problems.push({ host, message: `${host}: ${dest} is already current` });
    } else choice.set(t.key, { from: st.current, to: dest });
  }
  return { choice, problems };
}

export async function rollback(run: Run, planned: Target[], o: RollbackOptions = {}): Promise<RunResult> {
  if (o.to !== undefined && !RELEASE_NAME.test(o.to)) throw new ConfigError(`--to "${o.to}" is not a release name (YYYYMMDDHHMMSS; see fap releases)`);
  const { raw, states, heal } = await lockAndHeal(run, planned, { layout: 'existing' });
  const reports = new Map<string, HostReport>(planned.map((t) => [t.key, { host: t.host.name, role: t.role, outcome: 'unchanged' as HostOutcome }]));

  // Decide every host's target before touching any host.
  const { choice, problems } = chooseRollback(planned, states, o);
  // a host never deployed to was not locked, and nothing was created there
  const none = planned.filter((t) => raw.get(t.key)?.nothingDeployed);
  if (none.length) problems.unshift(...none.map((t) => ({ host: t.host.name, message: `${t.host.name}: nothing deployed at ${t.paths.root}` })));
  if (problems.length) {
    // heal leftovers anyway, then let go of the lock
    await run.forEach(planned, (t) => run.exec(t, 'unlock', [...heal(t), ...unlockSteps(t.paths, run.token)]));
    for (const p of problems) {
      run.bus.emit({ event: 'host.failed', host: p.host, step: 'choose release', message: p.message });
      const rep = [...reports.values()].find((r) => r.host === p.host);
      if (rep) rep.outcome = 'failed';
    }
    return result(false, undefined, reports, `rollback refused, nothing changed: ${problems.map((p) => p.message).join('; ')}`);
  }

  const at = new Date().toISOString();
  const owner = run.lockOwner();
  const by = `${owner.user}@${owner.origin}`;
  try {
    run.checkAbort();
    const moving = planned.filter((t) => choice.has(t.key));
    const staying = planned.filter((t) => !choice.has(t.key));
    const participants = moving.map((t) => t.key);
    if (staying.length) await run.forEach(staying, (t) => run.exec(t, 'unlock', [...heal(t), ...unlockSteps(t.paths, run.token)]));
    const done = await phase(run, 'rollback', moving, async (planT) => {
      const { from, to: dest } = choice.get(planT.key)!;
      const t = withRelease(planT, dest);
      const rev = states.get(t.key)?.releases.find((r) => r.name === dest)?.revision;
      return run.exec(t, 'rollback', [
        ...heal(t),
        ...journalSteps(t.paths, { token: run.token, command: 'rollback', release: dest, prev: from ?? '', phase: 'publish', at, hosts: participants }),
        ...(await run.signalSteps(t, dest, ['deploy.reverting'])),
        ...flipSteps(t.paths, dest),
        ...setStatusSteps(t.paths, dest, 'ok'),
        ...(from ? setStatusSteps(t.paths, from, 'rolled-back') : []),
        ...appendLogSteps(t.paths, revisionsLogLine({ at, action: 'rollback', release: dest, revision: rev, by, extra: from ? `from=${from}` : '' })),
        ...(await run.signalSteps(t, dest, ['deploy.reverted', 'deploy.finishing_rollback'])),
        // published, not done: a rollback has no later barrier, so the next run confirms it
        ...journalSteps(t.paths, { token: run.token, command: 'rollback', release: dest, prev: from ?? '', phase: 'published', at, hosts: participants }),
        ...unlockSteps(t.paths, run.token),
      ]);
    });
    for (const r of done) {
      const rep = reports.get(r.target.key)!;
      if (r.ok) rep.outcome = 'rolled-back';
      else {
        rep.outcome = 'failed';
        rep.error = r.error.message;
        run.reportFailure(r.target, r.error);
      }
    }
    const dests = [...new Set([...choice.values()].map((c) => c.to))];
    const ok = done.every((r) => r.ok);
    if (!ok) {
      // all or nothing, like a deploy: every host goes back to where the rollback found it
      run.bus.emit({ event: 'deploy.reverting', release: dests.join(',') });
      const back = await phase(run, 'revert', moving, async (planT) => {
        const { from, to: dest } = choice.get(planT.key)!;
        const t = withRelease(planT, dest);
        return run.exec(t, 'revert', [
          ...(from ? flipSteps(t.paths, from, `switch current back to ${from}`) : []),
          ...(from ? setStatusSteps(t.paths, from, 'ok') : []),
          ...appendLogSteps(t.paths, revisionsLogLine({ at: new Date().toISOString(), action: 'revert', release: from ?? '-', by, extra: `reverted=rollback:${dest}` })),
          ...(await run.signalSteps(t, from ?? dest, ['deploy.reverted'])),
          ...journalSteps(t.paths, { token: run.token, command: 'rollback', release: dest, prev: from ?? '', phase: 'reverted', at, hosts: participants }),
          ...unlockSteps(t.paths, run.token),
        ]);
      });
      for (const r of back) {
        const rep = reports.get(r.target.key)!;
        if (r.ok && rep.outcome === 'rolled-back') rep.outcome = 'reverted';
        if (!r.ok) {
          rep.outcome = 'failed';
          rep.error = `revert failed: ${r.error.message}`;
          run.reportFailure(r.target, r.error, 'revert');
        }
      }
      return result(false, dests.join(','), reports, 'rollback failed on some hosts; every host was put back where it was (the next fap run heals any host that could not be reached)');
    }
    return result(ok, dests.join(','), reports, ok ? `rolled back to ${dests.join(', ')} on ${moving.length} host(s)${staying.length ? ` (${staying.length} already there)` : ''}` : 'rollback failed on some hosts; the next fap run puts them back in step');
  } catch (e) {
    await unlock(run, planned).catch(() => {});
    throw e;
  }
}
