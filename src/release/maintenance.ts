// fap cleanup (prune and heal under the lock) and fap unlock (remove a lock, saying whose it was).
import { HostError } from '../errors.js';
import type { HostOutcome } from '../events.js';
import { redact } from '../redact.js';
import { cmd, guardedCommand, quote } from '../remote/shell.js';
import { lockAndHeal, phase, result, type HostReport, type RunResult } from './deploy.js';
import { describeOwner, parseOwner, unlock } from './lock.js';
import { withRelease, type Target } from './plan.js';
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
        run.reportFailure(r.target, r.error);
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
      run.reportFailure(r.target, r.error);
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

/** fap restart: the restart signal on every host, under the lock (plugins contribute the steps). */
export async function restart(run: Run, targets: Target[]): Promise<RunResult> {
  const { states, heal } = await lockAndHeal(run, targets);
  const reports = reportsFor(targets);
  try {
    const done = await phase(run, 'restart', targets, async (planned) => {
      const current = states.get(planned.key)?.current;
      if (!current) throw new HostError(planned.host.name, 'restart', 'nothing is deployed here yet (no current release)');
      const t = withRelease(planned, current);
      return run.exec(t, 'restart', [...heal(t), ...(await run.signalSteps(t, current, ['deploy.restarting', 'deploy.restarted'])), ...unlockSteps(t.paths, run.token)]);
    });
    for (const r of done) {
      const rep = reports.get(r.target.key)!;
      rep.outcome = r.ok ? 'ok' : 'failed';
      if (!r.ok) {
        rep.error = r.error.message;
        if (r.error instanceof HostError) rep.step = r.error.step;
        run.reportFailure(r.target, r.error);
      }
    }
    const failed = done.filter((r) => !r.ok).map((r) => r.target);
    if (failed.length) await unlock(run, failed);
    const ok = !failed.length;
    return result(ok, undefined, reports, ok ? `restarted on ${targets.length} host(s)` : 'restart failed on some hosts');
  } catch (e) {
    await unlock(run, targets).catch(() => {});
    throw e;
  }
}

/**
 * fap run: the command in the current release with .env loaded, output streamed (prefixed with the
 * host when there are several); the exit code is the command's (the first non-zero one).
 */
export async function runCommand(run: Run, targets: Target[], words: string[], o: { prefix: boolean }): Promise<number> {
  const codes = await run.forEach(targets, async (t) => {
    const line = `cd ${quote(t.paths.current)} || { echo ${quote(`${t.paths.current}: nothing is deployed here yet`)} >&2; exit 127; }; if [ -f .env ]; then set -a; . ./.env; set +a; fi; exec ${cmd(...words)}`;
    run.bus.emit({ event: 'run.command', host: t.host.name, command: words.join(' ') });
    if (run.opts.dryRun) {
      run.bus.emit({ event: 'script', host: t.host.name, phase: 'run', script: line, verbose: true, dryRun: true });
      return 0;
    }
    const conn = await run.connection(t);
    const partial = { stdout: '', stderr: '' };
    const write = (stream: 'stdout' | 'stderr', chunk: string) => {
      const out = stream === 'stdout' ? process.stdout : process.stderr;
      if (!o.prefix) return void out.write(redact(chunk));
      partial[stream] += chunk;
      const lines = partial[stream].split('\n');
      partial[stream] = lines.pop()!;
      for (const l of lines) out.write(redact(`[${t.host.name}] ${l}\n`));
    };
    const r = await conn.exec(guardedCommand(line, t.config.sudo_user ? String(t.config.sudo_user) : undefined), { onData: write });
    for (const stream of ['stdout', 'stderr'] as const) if (partial[stream]) write(stream, '\n');
    run.bus.emit({ event: 'run.exit', host: t.host.name, code: r.code });
    return r.code;
  });
  for (const c of codes) {
    if (!c.ok) {
      run.reportFailure(c.target, c.error);
      process.stderr.write(redact(`fap: ${c.error.message}\n`));
    }
  }
  const exit = codes.map((c) => (c.ok ? c.value : 255)).find((c) => c !== 0) ?? 0;
  run.bus.emit({ event: 'result', ok: exit === 0, command: 'run', exitCode: exit, hosts: codes.map((c) => ({ host: c.target.host.name, code: c.ok ? c.value : null })) });
  return exit;
}
