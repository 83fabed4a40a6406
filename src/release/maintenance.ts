// fap cleanup (prune and heal under the lock) and fap unlock (remove a lock, saying whose it was).
import type { HostOutcome } from '../events.js';
import { lockAndHeal, phase, result, type HostReport, type RunResult } from './deploy.js';
import { describeOwner, parseOwner, unlock } from './lock.js';
import type { Target } from './plan.js';
import type { Run } from './run.js';
import { forceUnlockSteps, removeReleasesSteps, unlockSteps } from './scripts.js';
import { pruneList, EMPTY_STATE } from './state.js';

function reportsFor(targets: Target[]): Map<string, HostReport> {
  return new Map(targets.map((t) => [t.key, { host: t.host.name, role: t.role, outcome: 'unchanged' as HostOutcome }]));
}

export async function cleanup(run: Run, targets: Target[]): Promise<RunResult> {
  const { states, heal } = await lockAndHeal(run, targets);
  const reports = reportsFor(targets);
  try {
    const done = await phase(run, 'cleanup', targets, (t) => {
      const prune = pruneList(states.get(t.key) ?? EMPTY_STATE, Number(t.config.keep_releases));
      if (prune.length) run.bus.emit({ event: 'log', host: t.host.name, plugin: 'cleanup', message: `removing ${prune.length} release(s)` });
      return run.exec(t, 'cleanup', [...heal(t), ...removeReleasesSteps(t.paths, prune), ...unlockSteps(t.paths, run.token)]);
    });
    for (const r of done) {
      const rep = reports.get(r.target.key)!;
      rep.outcome = r.ok ? 'ok' : 'failed';
      if (!r.ok) {
        rep.error = r.error.message;
        run.bus.emit({ event: 'host.failed', host: r.target.host.name, message: r.error.message });
      }
    }
    const ok = done.every((r) => r.ok);
    return result(ok, undefined, reports, ok ? `cleaned up ${targets.length} host(s)` : 'cleanup failed on some hosts');
  } catch (e) {
    await unlock(run, targets).catch(() => {});
    throw e;
  }
}

export async function forceUnlock(run: Run, targets: Target[]): Promise<RunResult> {
  const reports = reportsFor(targets);
  const done = await phase(run, 'unlock', targets, (t) => run.exec(t, 'unlock', forceUnlockSteps(t.paths)));
  const held: string[] = [];
  for (const r of done) {
    const rep = reports.get(r.target.key)!;
    if (!r.ok) {
      rep.outcome = 'failed';
      rep.error = r.error.message;
      run.bus.emit({ event: 'host.failed', host: r.target.host.name, message: r.error.message });
      continue;
    }
    rep.outcome = 'ok';
    const owner = r.value.outputs.get('lock-held');
    if (owner) {
      const who = describeOwner(parseOwner(owner[0]));
      held.push(`${r.target.host.name}: ${who}`);
      run.bus.emit({ event: 'lock.removed', host: r.target.host.name, owner: parseOwner(owner[0]) ?? null, message: `removed the lock held by ${who}` });
    }
  }
  const ok = done.every((r) => r.ok);
  const summary = held.length ? `removed the deploy lock: ${held.join('; ')}` : 'no deploy lock was held';
  return result(ok, undefined, reports, ok ? summary : `${summary}; some hosts could not be reached`);
}
