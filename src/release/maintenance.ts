// fap cleanup (prune and heal under the lock) and fap unlock (remove a lock, saying whose it was).
import { constants } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { FapError, HostError } from '../errors.js';
import { ByteMasker, LineMasker, redact } from '../redact.js';
import { flushReports } from '../report/reporter.js';
import { asUser, cmd, guardedCommand, quote, SUDO_DID_NOT_START } from '../remote/shell.js';
import type { Readable } from 'node:stream';
import { Fanout } from '../transport/fanout.js';
import type { AttachTerminal } from '../transport/transport.js';
import { Transaction, type RunResult } from './transaction.js';
import { describeOwner, parseOwner } from './lock.js';
import { hostsText, withRelease, type Target } from './plan.js';
import type { Run } from './run.js';
import { forceUnlockSteps, removeReleasesSteps } from './scripts.js';
import { pruneList } from './state.js';
import { count } from '../words.js';
import { pruneText } from './summary.js';

export async function cleanup(run: Run, targets: Target[]): Promise<RunResult> {
  return Transaction.run(run, targets, async (tx) => {
    await tx.lock({ layout: 'existing' });
    const prunes: { host: string; names: string[] }[] = [];
    const done = await tx.phase('cleanup', targets, async (t) => {
      if (tx.nothingDeployed(t)) return nothingDeployed(run, t);
      const prune = pruneList(tx.state(t), t.config.keep_releases);
      prunes.push({ host: t.host.name, names: prune });
      if (prune.length) run.bus.emit({ event: 'log', host: t.host.name, plugin: 'cleanup', message: `${run.opts.dryRun ? 'would remove' : 'removing'} ${count(prune.length, 'release')}` });
      return run.exec(t, 'cleanup', [...tx.heal(t), ...removeReleasesSteps(t.paths, prune), ...tx.unlock(t)]);
    });
    const ok = tx.record(done, { ok: 'ok' });
    if (run.opts.dryRun) return tx.result(ok, undefined, `would clean up ${hostsText(targets)}: ${pruneText(prunes)}`);
    return tx.result(ok, undefined, ok ? `cleaned up ${hostsText(targets)}` : 'cleanup failed on some hosts');
  });
}

/** A host never deployed to: not locked, nothing created, nothing to do. */
function nothingDeployed(run: Run, t: Target): undefined {
  run.bus.emit({ event: 'log', host: t.host.name, plugin: run.opts.command, message: `nothing deployed at ${t.paths.root}; nothing to do` });
  return undefined;
}

/** fap unlock: remove the lock whoever holds it, saying whose it was (not a transaction: it takes no lock). */
export async function forceUnlock(run: Run, targets: Target[]): Promise<RunResult> {
  return Transaction.run(run, targets, async (tx) => {
    const done = await tx.each('unlock', targets, (t) => forceUnlockSteps(t.paths));
    const held: string[] = [];
    for (const r of done) {
      const owner = r.ok ? r.value.outputs.get('lock-held') : undefined;
      if (!owner) continue;
      const who = describeOwner(parseOwner(owner[0]));
      held.push(`${r.target.host.name}: ${who}`);
      run.bus.emit({ event: 'lock.removed', host: r.target.host.name, owner: parseOwner(owner[0]) ?? null, message: `removed the lock held by ${who}` });
    }
    tx.record(done, { ok: 'ok' });
    const failed = done.filter((r) => !r.ok).map((r) => r.target.host.name);
    // a host whose script did not run says nothing about its lock (found by the attack pass: a sudo
    // refusal read as "no deploy lock was held")
    const summary = held.length ? `removed the deploy lock: ${held.join('; ')}` : failed.length < done.length ? `no deploy lock was held on ${count(done.length - failed.length, 'host')}` : '';
    const unknown = failed.length ? `the lock could not be checked on ${failed.join(', ')} (see above)` : '';
    return tx.result(!failed.length, undefined, [summary, unknown].filter(Boolean).join('; '));
  });
}

/** fap restart: the restart signal on every host, under the lock (plugins contribute the steps). */
export async function restart(run: Run, targets: Target[]): Promise<RunResult> {
  return Transaction.run(run, targets, async (tx) => {
    await tx.lock({ layout: 'existing' });
    const done = await tx.phase('restart', targets, async (planned) => {
      if (tx.nothingDeployed(planned)) return nothingDeployed(run, planned);
      const current = tx.state(planned).current;
      if (!current) throw new HostError(planned.host.name, 'restart', 'nothing is deployed here yet (no current release)');
      const t = withRelease(planned, current);
      return run.exec(t, 'restart', [...tx.heal(t), ...(await run.signalSteps(t, current, ['deploy.restarting', 'deploy.restarted'])), ...tx.unlock(t)]);
    });
    const ok = tx.record(done, { ok: 'ok' });
    return tx.result(ok, undefined, run.opts.dryRun ? `would restart on ${hostsText(targets)}` : ok ? `restarted on ${hostsText(targets)}` : 'restart failed on some hosts');
  });
}

/** Shell text: into current (exit 127 when nothing is deployed), the release's .env exported. */
function inCurrent(t: Target): string {
  return `cd ${quote(t.paths.current)} || { echo ${quote(`${t.paths.current}: nothing is deployed here yet`)} >&2; exit 127; }; if [ -f .env ]; then set -a; . ./.env; set +a; fi`;
}

/**
 * fap run / fap once: the command in the current release with .env loaded, output streamed
 * (prefixed with the host when there are several). `words` are quoted one by one; `{ shell }` (fap
 * once -c) is one shell command line. `input` (fap's stdin when it is not a terminal) is given to
 * every host whole, then end-of-file; without it the command reads end-of-file at once. The exit
 * code is the first host's (in the order of the selection) that did not exit 0: its exit code, or
 * 255 where the command could not run (as ssh does); every such host is named in one summary line.
 */
export async function runCommand(run: Run, targets: Target[], command: string[] | { shell: string }, o: { prefix: boolean; input?: Readable }): Promise<number> {
  const words = Array.isArray(command) ? command : ['/bin/sh', '-c', command.shell];
  const shown = Array.isArray(command) ? command.join(' ') : command.shell;
  // a dry run runs nothing, so it reads nothing
  const input = o.input && !run.opts.dryRun ? new Fanout(o.input, targets.length) : undefined;
  const codes = await run.forEach(targets, async (t) => {
    const i = targets.indexOf(t);
    try {
      return await runOn(run, t, `${inCurrent(t)}; exec ${cmd(...words)}`, shown, o.prefix, () => input?.take(i));
    } finally {
      input?.release(i);
    }
  });
  input?.close();
  for (const c of codes) {
    if (!c.ok) {
      run.reportFailure(c.target, c.error);
      // the reporter prints the failure on the terminal; with --json it is an event, so said here too
      if (run.opts.json) process.stderr.write(redact(`fap: ${c.error.message}\n`));
    }
  }
  const exit = codes.map((c) => (c.ok ? c.value : 255)).find((c) => c !== 0) ?? 0;
  const failed = codes.filter((c) => !c.ok || c.value !== 0).map((c) => `${c.target.host.name} (${c.ok ? `exit ${c.value}` : 'could not run'})`);
  const summary = failed.length ? `${run.opts.command} failed on ${targets.length > 1 ? `${failed.length} of ${targets.length} hosts: ` : ''}${failed.join(', ')}` : undefined;
  if (run.opts.dryRun) {
    // nothing ran: no exit codes to report, only what would run where
    const plan = `would run ${shown} in the current release on ${hostsText(targets)}`;
    run.bus.emit({ event: 'result', ok: true, command: run.opts.command, exitCode: 0, hosts: targets.map((t) => ({ host: t.host.name })), summary: plan, dryRun: true });
    if (!run.opts.json) process.stderr.write(redact(`✔ dry run, nothing was changed: ${plan}\n`));
    return 0;
  }
  run.bus.emit({
    event: 'result',
    ok: exit === 0,
    command: run.opts.command,
    exitCode: exit,
    hosts: codes.map((c) => ({ host: c.target.host.name, code: c.ok ? c.value : null, ...(c.ok ? {} : { error: c.error.message }) })),
    ...(summary ? { summary } : {}),
  });
  // on the terminal only when something failed, after the hosts' own failure lines (the result
  // lets the reporter print those): a command's output is the rest of what fap prints
  if (summary && !run.opts.json) process.stderr.write(redact(`✖ ${summary}\n`));
  return exit;
}

/** One host of fap run: the command under the watchdog, its output masked line by line. */
async function runOn(run: Run, t: Target, line: string, shown: string, prefixed: boolean, stdin: () => Readable | undefined): Promise<number> {
  run.bus.emit({ event: 'run.command', host: t.host.name, command: shown });
  if (run.opts.dryRun) {
    run.bus.emit({ event: 'script', host: t.host.name, phase: 'run', script: line, verbose: true, dryRun: true });
    return 0;
  }
  const conn = await run.connection(t);
  // masked whole lines at a time: a secret split across output chunks is still found
  const prefix = prefixed ? `[${t.host.name}] ` : '';
  // one host on the terminal (or a pipe): the bytes as the command wrote them, binary too, as ssh
  // gives them; prefixed lines and --json events are text (a character split across packets is
  // decoded whole, so a secret in it is still found)
  const raw = !prefixed && !run.opts.json;
  const masker = (stream: 'stdout' | 'stderr'): { write(b: Buffer): void; end(): void } => {
    if (raw) return new ByteMasker((bytes) => void process[stream].write(bytes));
    // --json: each line an event (a command's own output must not pass for one of fap's JSON lines)
    const text = run.opts.json ? LineMasker.lines((line) => run.bus.emit({ event: 'run.output', host: t.host.name, stream, line })) : new LineMasker((s) => void process[stream].write(s), prefix);
    const decoder = new StringDecoder('utf8');
    return { write: (b) => text.write(decoder.write(b)), end: () => (text.write(decoder.end()), text.end()) };
  };
  const maskers = { stdout: masker('stdout'), stderr: masker('stderr') };
  let errTail = '';
  const r = await conn.exec(guardedCommand(line, conn.sudoUser), {
    stdin: stdin(),
    onData: (stream, chunk) => {
      if (stream === 'stderr') errTail = (errTail + chunk.toString('latin1')).slice(-512);
      maskers[stream].write(chunk);
    },
  }).finally(() => {
    maskers.stdout.end();
    maskers.stderr.end();
  });
  // sudo refused to start the command (its own last word is sudo's): say what would let it
  // (or the host has no sudo: the shell's "sh: 1: sudo: not found")
  const hint = conn.sudoUser && r.code !== 0 && SUDO_DID_NOT_START.test(errTail) ? run.sudoHint(t) : undefined;
  if (hint) run.bus.emit({ event: 'warning', host: t.host.name, message: hint });
  run.bus.emit({ event: 'run.exit', host: t.host.name, code: r.code });
  return r.code;
}

/**
 * The remote side of fap shell: in current with .env exported and venv/bin/activate sourced when
 * there is one (Fapistrano's shell did both: deploy.py:111, 119-120), then the user's login shell
 * (from the passwd entry of whoever runs it, so sudo_user's own, unless that is nologin/false;
 * else $SHELL; else /bin/sh),
 * interactive and not a login shell, so /etc/profile does not reset the venv's PATH.
 */
export function shellCommandLine(t: Target): string {
  return [
    `${inCurrent(t)};`,
    'if [ -f venv/bin/activate ]; then . venv/bin/activate; fi;',
    'fap_sh=$(getent passwd "$(id -un)" 2>/dev/null | cut -d: -f7);',
    'case "$fap_sh" in */nologin|*/false) fap_sh=;; esac;',
    '[ -n "$fap_sh" ] && [ -x "$fap_sh" ] || fap_sh=${SHELL:-/bin/sh};',
    '[ -x "$fap_sh" ] || fap_sh=/bin/sh;',
    'exec "$fap_sh" -i',
  ].join(' ');
}

/**
 * fap shell on one target. Not under the watchdog of fap run: a terminal session's processes get
 * SIGHUP when the SSH session ends, and the watchdog's own process group would take the shell off
 * its terminal. The exit code is the shell's; 255 when the connection is lost (as ssh does).
 */
export function openShell(run: Run, t: Target, attach: AttachTerminal): Promise<number> {
  return onTerminal(run, t, `/bin/sh -c ${quote(shellCommandLine(t))}`, 'shell', attach);
}

/**
 * fap run -i: the command in current with .env loaded, on a terminal on one host (as fap shell,
 * for `manage.py shell`, `psql`); the exit code is the command's.
 */
export function runInteractive(run: Run, t: Target, words: string[], attach: AttachTerminal): Promise<number> {
  return onTerminal(run, t, `/bin/sh -c ${quote(`${inCurrent(t)}; exec ${cmd(...words)}`)}`, words.join(' '), attach);
}

async function onTerminal(run: Run, t: Target, commandLine: string, shown: string, attach: AttachTerminal): Promise<number> {
  run.bus.emit({ event: 'run.command', host: t.host.name, command: shown });
  if (run.opts.dryRun) {
    run.bus.emit({ event: 'script', host: t.host.name, phase: run.opts.command, script: commandLine, verbose: true, dryRun: true });
    return 0;
  }
  try {
    // inside the try: a host that cannot be reached is 255, as for fap run without -i (and ssh)
    const conn = await run.connection(t);
    // as sudo_user when it differs from the user logged in (the connection knows which). exec: the
    // shell that reads this line (the login shell, /bin/sh) must not stay between the terminal and
    // the command, where a Ctrl-C typed for the command would end it (dash does, while it waits)
    const line = `exec ${asUser(commandLine, conn.sudoUser)}`;
    const r = await conn.interactive(line, attach);
    // ssh2 names a signal INT, node SIGINT
    const signal = r.signal?.replace(/^(SIG)?/, 'SIG') as keyof typeof constants.signals | undefined;
    const code = r.code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    run.bus.emit({ event: 'run.exit', host: t.host.name, code });
    return code;
  } catch (e) {
    const message = (e as Error)?.message ?? String(e);
    const named = message.startsWith(`${t.host.name}:`) ? message : `${t.host.name}: ${message}`;
    // after what the reporter still holds (the connection's retries): they came first
    flushReports();
    process.stderr.write(redact(`fap: ${named}\n` + (e instanceof FapError && e.hint ? `  ${e.hint}\n` : '')));
    return 255;
  }
}
