// Rollback: point current back at the previous good release (or --to RELEASE) on every host.
// The release rolled back from is kept, marked rolled-back, so --to can roll forward again.
import { ConfigError } from '../errors.js';
import type { HostOutcome } from '../events.js';
import { lockAndInspect, phase, result, unlock, type HostReport, type RunResult } from './deploy.js';
import { withRelease, type Target } from './plan.js';
import type { Run } from './run.js';
import { appendLogSteps, flipSteps, RELEASE_NAME, revisionsLogLine, setStatusSteps, unlockSteps } from './scripts.js';
import { isGood, rollbackTarget } from './state.js';

export async function rollback(run: Run, planned: Target[], to?: string): Promise<RunResult> {
  if (to !== undefined && !RELEASE_NAME.test(to)) throw new ConfigError(`--to "${to}" is not a release name (YYYYMMDDHHMMSS; see fap releases)`);
  const states = await lockAndInspect(run, planned);
  const reports = new Map<string, HostReport>(planned.map((t) => [t.key, { host: t.host.name, role: t.role, outcome: 'unchanged' as HostOutcome }]));

  // Decide every host's target before touching any host.
  const problems: string[] = [];
  const choice = new Map<string, { from?: string; to: string }>();
  for (const t of planned) {
    const st = states.get(t.key) ?? { releases: [] };
    const target = to ?? rollbackTarget(st);
    const info = st.releases.find((r) => r.name === target);
    if (!target) problems.push(`${t.host.name}: no earlier good release to roll back to`);
    else if (!info) problems.push(`${t.host.name}: release ${target} does not exist`);
    else if (!isGood(info)) problems.push(`${t.host.name}: release ${target} is ${info.status}, not a good release`);
    else if (target === st.current) problems.push(`${t.host.name}: ${target} is already current`);
    else choice.set(t.key, { from: st.current, to: target });
  }
  if (problems.length) {
    await unlock(run, planned);
    for (const p of problems) run.bus.emit({ event: 'host.failed', host: p.split(':')[0], step: 'choose release', message: p });
    return result(false, undefined, reports, `rollback refused, nothing changed: ${problems.join('; ')}`);
  }

  const at = new Date().toISOString();
  const owner = run.lockOwner();
  const by = `${owner.user}@${owner.origin}`;
  const done = await phase(run, 'rollback', planned, async (planT) => {
    const { from, to: dest } = choice.get(planT.key)!;
    const t = withRelease(planT, dest);
    const rev = states.get(t.key)?.releases.find((r) => r.name === dest)?.revision;
    return run.exec(t, 'rollback', [
      ...(await run.signalSteps(t, dest, ['deploy.reverting'])),
      ...flipSteps(t.paths, dest),
      ...setStatusSteps(t.paths, dest, 'ok'),
      ...(from ? setStatusSteps(t.paths, from, 'rolled-back') : []),
      ...appendLogSteps(t.paths, revisionsLogLine({ at, action: 'rollback', release: dest, revision: rev, by, extra: from ? `from=${from}` : '' })),
      ...(await run.signalSteps(t, dest, ['deploy.reverted', 'deploy.finishing_rollback'])),
      ...unlockSteps(t.paths, run.token),
    ]);
  });
  for (const r of done) {
    const rep = reports.get(r.target.key)!;
    if (r.ok) rep.outcome = 'rolled-back';
    else {
      rep.outcome = 'failed';
      rep.error = r.error.message;
      run.bus.emit({ event: 'host.failed', host: r.target.host.name, message: r.error.message });
    }
  }
  const dests = [...new Set([...choice.values()].map((c) => c.to))];
  const ok = done.every((r) => r.ok);
  return result(ok, dests.join(','), reports, ok ? `rolled back to ${dests.join(', ')} on ${planned.length} host(s)` : 'rollback failed on some hosts');
}
