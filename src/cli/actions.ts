// The commands' handlers, loaded only when a command runs (fap --version and --help stay light):
// each builds a plan, runs it with a reporter attached, and reports the result. No remote logic
// lives here.
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { localFileProblem } from '../local-file.js';
import type { Command } from 'commander';
import { ConfigError, ConfigErrors, EXIT, FapError, StagesNotRun, UsageError } from '../errors.js';
import { formatDuration, parseDuration } from '../duration.js';
import { cleanup, forceUnlock, openShell, restart, runCommand, runInteractive } from '../release/maintenance.js';
import { loadDeployFile } from '../config/load.js';
import { allKeys, selectRoles, stagesOf } from '../config/resolve.js';
import { announceStages, roleGivenAsStage, selection, stagesForRole, whichStage, type StageRoles } from './stages.js';
import { deployfile, namedDeployfile } from './deployfile.js';
import { attachTerminal } from './terminal.js';
import { batchSize, currentShown, unfinished } from '../release/state.js';
import { EventBus, type StampedEvent } from '../events.js';
import { colorFor } from '../report/color.js';
import { attachReporter } from '../report/reporter.js';
import { displayValues, formatConfig } from '../config/show.js';
import { bundledKeys, bundledPlugins } from '../plugin/load.js';
import { redact, redactDeep } from '../redact.js';
import { deploy } from '../release/deploy.js';
import { releaseLocksNow, type RunResult } from '../release/transaction.js';
import { dryRunBlockersText } from '../release/lock.js';
import { buildPlan, handlesAny, localUser, RESTART_SIGNALS, targetHandles, type Plan, type Target } from '../release/plan.js';
import { formatReleasesTable, listReleases } from '../release/releases.js';
import { isReleaseName, RELEASE_NAME_FORMS } from '../release/names.js';
import { checkSummary, formatCheckTable, runChecks } from '../release/check.js';
import { rollback } from '../release/rollback.js';
import { Run } from '../release/run.js';
import { beginTransaction, markHostsContacted, outputWasClosed } from './interrupt.js';
import type { GlobalOptions } from './argv.js';
import type { Plugin, RunSummary } from '../signals.js';

interface Selected {
  stage: string;
  role?: string;
  g: GlobalOptions;
  /** the deploy file, absolute */
  file: string;
}

/** The stage and role asked for: -s/-r and the positionals (stages.ts selection). */
async function chosen(cmd: Command, stageArg?: string, roleArg?: string): Promise<{ g: GlobalOptions; stage?: string; role?: string }> {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  const positionals = [stageArg, roleArg].filter((a): a is string => a !== undefined);
  // -s with one positional: a role, or a second stage? the file says (its errors come later)
  const byStage = g.stage !== undefined && positionals.length === 1 ? await stageRoles(resolve(deployfile(g.deployfile))).catch(() => undefined) : undefined;
  return { g, ...selection(cmd.name(), { stage: g.stage, role: g.role }, positionals, byStage) };
}

async function select(cmd: Command, stageArg?: string, roleArg?: string, asked?: Awaited<ReturnType<typeof chosen>>): Promise<Selected> {
  const { g, stage, role } = asked ?? (await chosen(cmd, stageArg, roleArg));
  const file = resolve(deployfile(g.deployfile));
  if (!stage) {
    // what the file offers, when it loads (its errors are reported once a stage is given)
    const w = whichStage(cmd.name(), file, await stageRoles(file).catch(() => undefined));
    throw new UsageError(w.message, w.hint);
  }
  return { stage, role, g, file };
}

/** A command made ready to run (its plan built): running it gives the exit code. */
type Ready = () => Promise<number>;

/**
 * deploy, release, rollback, restart: with a stage, as usual; with only a role (-r web), that role
 * in every stage that has it, one after the other (fapistrano-0.9.5 cli.py:139-153, 157-161).
 * Every stage's plan is built first, so a configuration error stops fap before any host is touched;
 * the first stage that fails stops the rest, and its exit code is fap's.
 */
async function eachStage(cmd: Command, stageArg: string | undefined, roleArg: string | undefined, prepare: (s: Selected) => Promise<Ready>): Promise<void> {
  const asked = await chosen(cmd, stageArg, roleArg);
  const { g, stage, role } = asked;
  if (stage !== undefined || role === undefined) {
    process.exitCode = await (await prepare(await select(cmd, stageArg, roleArg, asked)))();
    return;
  }
  const file = resolve(deployfile(g.deployfile));
  const stages = await stagesWithRole(file, role);
  if (!g.quiet) process.stderr.write(announceStages(role, stages) + '\n');
  const ready: Ready[] = [];
  for (const stage of stages) ready.push(await prepare({ stage, role, g, file }));
  for (let i = 0; i < stages.length; i++) {
    const notRun = stages.slice(i + 1);
    const note = notRun.length ? `not run: ${notRun.join(', ')} (fap stopped at ${stages[i]})` : '';
    let code: number;
    try {
      code = await ready[i]();
    } catch (e) {
      if (note && e instanceof FapError) throw new StagesNotRun(e, note);
      if (note) process.stderr.write(`fap: ${note}\n`);
      throw e;
    }
    if (code !== EXIT.ok) {
      if (note) process.stderr.write(`fap: ${stages[i]} failed; ${note}\n`);
      process.exitCode = code;
      return;
    }
  }
  process.exitCode = EXIT.ok;
}

/** Each stage of the file with its roles, in file order (a stage with no roles has none). */
async function stageRoles(file: string): Promise<StageRoles> {
  const loaded = loadDeployFile(file);
  const keys = allKeys(await bundledKeys());
  return Object.keys(stagesOf(loaded)).map((stage) => {
    try {
      return [stage, selectRoles(loaded, stage, undefined, keys)];
    } catch (e) {
      if (e instanceof FapError && /has no roles/.test(e.message)) return [stage, []];
      throw e;
    }
  });
}

/** The stages whose roles include `role`, in file order (a stage with no roles has none of them). */
async function stagesWithRole(file: string, role: string): Promise<string[]> {
  const r = stagesForRole(await stageRoles(file), role);
  if ('error' in r) throw loadDeployFile(file).error(['stage_role_configs'], r.error);
  return r.stages;
}

function parallelOf(g: GlobalOptions): number {
  const n = Number(g.parallel);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--parallel must be a whole number of at least 1, got "${g.parallel}"`);
  return n;
}

/**
 * What each command asks of the plan: the release's environment (commands that write .env).
 * Plugins' own checks apply only to the commands that build a release (BUILDING_COMMANDS in plan.ts).
 */
export const PLAN_NEEDS = {
  deploy: { environment: true },
  release: { environment: true },
  restart: {},
  rollback: {},
  run: {},
  once: {},
  shell: {},
  cleanup: {},
  unlock: {},
  config: {},
  releases: {},
  check: {},
} satisfies Record<string, { environment?: boolean }>;

export type PlannedCommand = keyof typeof PLAN_NEEDS;

/** The plan input of a command (exported for the test that no plugin requirement blocks rollback). */
export function planInput(command: PlannedCommand, o: { deployfile: string; stage: string; role?: string; sets?: string[]; hosts?: string[]; env?: NodeJS.ProcessEnv }): Parameters<typeof buildPlan>[0] {
  const needs: { environment?: boolean } = PLAN_NEEDS[command];
  return { ...o, command, needsEnvironment: needs.environment };
}

/**
 * A command's own options that stand for a key (fap release --curl-url is curl_url=...): an error
 * in the value names the option given, not --set, unless a --set of the same key replaced it.
 */
type OptionKeys = Record<string, string>;

function optionNamed(e: ConfigError, options: OptionKeys, userSets: string[]): ConfigError {
  const named = (x: ConfigError) => {
    const key = x.where?.file === '--set' ? x.where.keyPath : undefined;
    const option = key === undefined ? undefined : options[key];
    if (!option || userSets.some((set) => set.split('=')[0].split('.')[0].replace(/-/g, '_') === key)) return x;
    return new ConfigError(x.detail, { file: option });
  };
  return e instanceof ConfigErrors ? new ConfigErrors(e.errors.map(named)) : named(e);
}

async function plan(s: Selected, command: PlannedCommand, sets: string[] = [], options: OptionKeys = {}): Promise<Plan> {
  let p: Plan;
  try {
    p = await buildPlan(
      planInput(command, {
        deployfile: s.file,
        stage: s.stage,
        role: s.role,
        sets: [...sets, ...s.g.set],
        hosts: s.g.hosts,
      }),
    );
  } catch (e) {
    // a role given where the stage goes (fap deploy web): say whose role it is
    if (!(e instanceof ConfigError)) throw e;
    const asRole = roleGivenAsStage(command, s.stage, await stageRoles(s.file).catch(() => []));
    throw asRole ? new UsageError(asRole.message, asRole.hint) : optionNamed(e, options, s.g.set);
  }
  if (!s.g.json && !s.g.quiet) for (const w of p.warnings) process.stderr.write(`warning: ${w}\n`);
  // Fapistrano's env.dry_run (configuration.py:84): dry_run: true in deploy.yml is --dry-run
  if (p.targets.some((t) => t.config.dry_run === true)) s.g.dryRun = true;
  return p;
}

interface RunFlags {
  lockWait?: string;
  batch?: string;
}

function lockWaitMs(flags: RunFlags, targets: Target[]): number {
  const text = flags.lockWait ?? targets[0]?.config.lock_wait;
  if (text === undefined) return 0;
  try {
    return parseDuration(String(text));
  } catch (e) {
    throw new UsageError(`--lock-wait: ${(e as Error).message}`);
  }
}

/** Commands whose answer is a table on stdout: their read-only phase is not reported above it. */
const TABLE_COMMANDS = new Set(['releases', 'check']);

async function startRun(command: string, s: Selected, p: Plan, flags: RunFlags = {}, options: Record<string, unknown> = {}): Promise<Run> {
  markHostsContacted();
  const bus = new EventBus();
  const color = colorFor(process.stderr, s.g.color);
  await attachReporter(bus, { json: !!s.g.json, verbose: !!s.g.verbose, quiet: !!s.g.quiet, color, tty: !!process.stderr.isTTY, dryRun: !!s.g.dryRun, phases: !TABLE_COMMANDS.has(command) });
  const run = new Run(bus, {
    command,
    commandLine: ['fap', command, s.stage, s.role].filter(Boolean).join(' '),
    parallel: parallelOf(s.g),
    verbose: !!s.g.verbose || p.targets.some((t) => t.config.show_output === true),
    dryRun: !!s.g.dryRun,
    options,
    lockWaitMs: lockWaitMs(flags, p.targets),
    interactive: !s.g.json && !!process.stdin.isTTY && !!process.stderr.isTTY,
    json: !!s.g.json,
  });
  await run.refuseShadowedLocal(p.targets);
  await run.unlockIdentities(p.targets);
  bus.emit({ event: 'run.started', command, stage: s.stage, role: s.role, hosts: p.targets.map((t) => t.host.name), dryRun: !!s.g.dryRun });
  if (s.g.json) for (const w of p.warnings) bus.emit({ event: 'warning', message: w });
  return run;
}

/**
 * Run a transaction-style command and report its result; returns the exit code. While it runs,
 * SIGINT/SIGTERM or a closed output stream ask it to stop at the next phase boundary and clean up;
 * a second signal releases this run's locks and exits 130 (the journal lets the next run heal the
 * rest). See interrupt.ts.
 */
async function execute(command: string, s: Selected, p: Plan, body: (run: Run) => Promise<RunResult>, flags: RunFlags = {}, options: Record<string, unknown> = {}): Promise<number> {
  const run = await startRun(command, s, p, flags, options);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const end = beginTransaction({ stop: (reason) => run.abort(reason), quit: () => releaseLocksNow(run, p.targets) });
  let res: RunResult | undefined;
  let error: unknown;
  try {
    res = await body(run);
  } catch (e) {
    error = e;
  } finally {
    end();
  }
  const channels = await run.channelCounts();
  await run.close();
  // a dry run planned past hosts it could not reach or read; the real run would stop there
  const blocked = run.opts.dryRun ? dryRunBlockersText(run, p.targets) : undefined;
  if (blocked && res) {
    const unread = new Set(run.dryRunBlockers.map((b) => b.target.host.name));
    res = {
      ...res,
      ok: false,
      summary: `${blocked}; the rest of the plan: ${res.summary}`,
      // what the real run would leave: the unread hosts failed, the others unchanged
      hosts: res.hosts.map((h) => (unread.has(h.host) ? { ...h, outcome: 'failed', step: 'connect', error: run.dryRunBlockers.find((b) => b.target.host.name === h.host)!.error.message } : { ...h, outcome: 'unchanged' })),
    };
  }
  const ok = !!res?.ok && !error;
  await runResultHooks(run, command, s, p, startedAt, ok, res, error);
  run.bus.emit({
    event: 'result',
    ok,
    command,
    release: res?.release,
    hosts: res?.hosts ?? run.hostReports?.() ?? [],
    summary: res?.summary,
    ...(run.opts.dryRun ? { dryRun: true } : {}),
    channels,
    // peak resident memory of this fap process, for the benchmark
    maxRssKb: process.resourceUsage().maxRSS,
    durationMs: Math.round(performance.now() - t0),
    error: error instanceof Error ? error.message : undefined,
    exitCode: error instanceof FapError ? error.exitCode : ok ? EXIT.ok : EXIT.failed,
  });
  if (error) throw error;
  // with --json and stdout gone, the result event was lost: say on stderr where the hosts are
  if ((!s.g.json || outputWasClosed()) && res) {
    const good = new Set(['deployed', 'rolled-back', 'ok']);
    const failed = res.hosts.filter((h) => !good.has(h.outcome));
    // the plain sentences of a switch end with how long it took: "deployed ... to 2 hosts in 3.1 s"
    const timed = ok && !run.opts.dryRun && /^(deployed|rolled back) /.test(res.summary) && !res.summary.includes(';');
    const dry = run.opts.dryRun ? (ok ? 'dry run, nothing was changed: ' : 'dry run: ') : '';
    const scriptsHint = run.opts.dryRun && ok && !s.g.verbose ? ` (fap -v --dry-run ${command} shows the scripts)` : '';
    const line = `${ok ? '✔' : '✖'} ${dry}${res.summary}${timed ? ` in ${formatDuration(performance.now() - t0)}` : ''}${scriptsHint}` + (ok || !failed.length || res.refused || run.opts.dryRun ? '' : '\n' + res.hosts.map((h) => `  ${h.host} (${h.role}): ${h.outcome}${h.step ? ' at ' + h.step : ''}`).join('\n'));
    process.stderr.write(line + '\n');
  }
  return ok ? EXIT.ok : EXIT.failed;
}

/** Plugins' result hooks (notify, ...): once per distinct role configuration; failures are warnings. */
async function runResultHooks(run: Run, command: string, s: Selected, p: Plan, startedAt: string, ok: boolean, res: RunResult | undefined, error: unknown): Promise<void> {
  if (run.opts.dryRun) return;
  const summary: RunSummary = {
    command,
    stage: s.stage,
    role: s.role,
    ok,
    release: res?.release,
    summary: res?.summary ?? (error instanceof Error ? error.message : 'failed'),
    hosts: res?.hosts ?? run.hostReports?.() ?? [],
    startedAt,
    finishedAt: new Date().toISOString(),
    by: `${localUser()}@${hostname()}`,
  };
  const done = new Set<string>();
  for (const t of p.targets) {
    for (const work of t.roles) {
      for (const plugin of work.plugins) {
        if (!plugin.result) continue;
        const id = plugin.name + '\0' + JSON.stringify(work.config);
        if (done.has(id)) continue;
        done.add(id);
        try {
          await plugin.result(summary, work.config);
        } catch (e) {
          run.bus.emit({ event: 'warning', message: `${plugin.name}: ${(e as Error).message}` });
        }
      }
    }
  }
}


function checkBatch(batch: string | undefined): void {
  if (batch === undefined) return;
  try {
    batchSize(100, batch);
  } catch (e) {
    throw new UsageError(`--batch: ${(e as Error).message}`);
  }
}

export async function initAction(o: { force?: boolean }, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  // written here, not where a parent's deploy.yml is
  const named = namedDeployfile(g.deployfile);
  if (named?.path.trim() === '') throw new UsageError(`${named.from} is empty: give the path to write the deploy file to`, 'or leave it out: fap init writes ./deploy.yml');
  const dest = resolve(named?.path ?? 'deploy.yml');
  if (statSync(dest, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${dest}${named?.said ?? ''}: is a directory`, `give a file's path, e.g. -f ${join(named?.path ?? '.', 'deploy.yml')}`);
  if (existsSync(dest) && !o.force) throw new UsageError(`${dest} already exists (use fap init --force to overwrite it)`);
  copyFileSync(new URL('../../../deploy.example.yml', import.meta.url), dest);
  process.stdout.write(`wrote ${dest}: edit app_name, repo and stage_role_configs, then run fap deploy <stage>\n`);
}

export async function deployAction(stage: string | undefined, role: string | undefined, o: RunFlags, cmd: Command): Promise<void> {
  checkBatch(o.batch);
  await eachStage(cmd, stage, role, async (s) => {
    const p = await plan(s, 'deploy');
    return () => execute('deploy', s, p, (run) => deploy(run, p.targets), o, { batch: o.batch });
  });
}

export async function releaseAction(stage: string | undefined, role: string | undefined, o: RunFlags & { curlUrl?: string; curlSha256?: string; artifact?: string }, cmd: Command): Promise<void> {
  checkBatch(o.batch);
  const sets: string[] = [];
  if (o.curlUrl !== undefined) sets.push(`curl_url=${JSON.stringify(o.curlUrl)}`);
  if (o.curlSha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(o.curlSha256)) throw new UsageError(`--curl-sha256: "${o.curlSha256}" is not a sha256 (64 hex digits)`);
    sets.push(`curl_sha256=${JSON.stringify(o.curlSha256.toLowerCase())}`);
  }
  if (o.artifact !== undefined) {
    const problem = localFileProblem(o.artifact);
    if (problem) throw new UsageError(`--artifact: ${problem}`);
    const local = resolve(o.artifact);
    if (o.curlUrl !== undefined) throw new UsageError('give either --curl-url or --artifact, not both');
    sets.push(`curl_artifact=${JSON.stringify(local)}`);
  }
  await eachStage(cmd, stage, role, async (s) => {
    const p = await plan(s, 'release', sets, { curl_url: '--curl-url', curl_sha256: '--curl-sha256', curl_artifact: '--artifact' });
    return () => execute('release', s, p, (run) => deploy(run, p.targets), o, { batch: o.batch });
  });
}

export async function restartAction(stage: string | undefined, role: string | undefined, o: RunFlags, cmd: Command): Promise<void> {
  await eachStage(cmd, stage, role, async (s) => {
    const p = await plan(s, 'restart');
    await refuseRestartingNothing(s, p);
    return () => execute('restart', s, p, (run) => restart(run, p.targets), o);
  });
}

/**
 * fap restart where no plugin of any selected role handles the restart signals would report
 * success having restarted nothing: refused before any host is contacted, naming the plugins that
 * would (found by the newcomer's pass: "✔ restarted on 2 hosts" with only git configured).
 */
async function refuseRestartingNothing(s: Selected, p: Plan): Promise<void> {
  const restarts = (pl: Plugin) => handlesAny(pl, RESTART_SIGNALS);
  if (p.targets.some((t) => targetHandles(t, RESTART_SIGNALS))) return;
  const using = [...new Set(p.targets.flatMap((t) => t.roles.flatMap((r) => r.plugins.map((pl) => pl.name))))];
  const could = [...(await bundledPlugins()).values()].filter(restarts).map((pl) => pl.name);
  throw new UsageError(
    `nothing to restart in ${s.stage}${s.role ? ` ${s.role}` : ''}: no plugin of the selected roles handles restart (their plugins: ${using.join(', ') || 'none'}); no host was contacted`,
    could.length ? `a plugin that restarts your app goes in plugins or restart_plugins: ${could.join(', ')}` : undefined,
  );
}

/**
 * fap run: the command on every selected host with fap's stdin (when it is not a terminal: a
 * terminal's input is for -i, so the command reads end-of-file and never waits); -i: on a terminal
 * on one host, as fap shell (Kamal's `app exec -i` runs on the primary host: the role's first).
 */
export async function runAction(stage: string | undefined, role: string | undefined, words: string[], o: { tty?: boolean }, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  if (s.role === undefined) {
    const roles = (await stageRoles(s.file).catch(() => undefined))?.find(([st]) => st === s.stage)?.[1];
    // a stage the file does not have is said as for every command
    if (!roles) await plan(s, 'run');
    throw new UsageError(`which role? fap run runs on the hosts of one role${roles?.length ? `; ${s.stage} has ${roles.join(', ')}` : ''}`, `fap run ${s.stage} ${roles?.[0] ?? 'ROLE'} -- ${words.join(' ') || 'COMMAND'}`);
  }
  if (!words.length) throw new UsageError('which command? fap run needs a command after --', `fap run ${s.stage} ${s.role} -- COMMAND`);
  if (o.tty && s.g.json) throw new UsageError('fap run -i is interactive: --json does not apply (without -i, the output comes as run.output events)');
  const p = await plan(s, 'run');
  if (o.tty) return runOnTerminal(s, p, words);
  const run = await startRun('run', s, p);
  try {
    const input = process.stdin.isTTY ? undefined : process.stdin;
    process.exitCode = await runCommand(run, p.targets, words, { prefix: p.targets.length > 1 && !s.g.json, input });
  } finally {
    await run.close();
  }
}

async function runOnTerminal(s: Selected, p: Plan, words: string[]): Promise<void> {
  if (p.targets.length > 1 && s.g.hosts !== undefined) {
    throw new UsageError(`fap run -i runs on one host, and --hosts selects ${p.targets.length}: ${p.targets.map((t) => t.host.name).join(', ')}`);
  }
  if (!process.stdin.isTTY && !s.g.dryRun) {
    throw new UsageError(`fap run -i needs a terminal, and stdin is not one; without -i, fap run gives the command fap's stdin (fap run ${s.stage} ${s.role} -- ${words.join(' ')} < FILE)`);
  }
  const target = onFirstHost('fap run -i', s, p);
  const run = await startRun('run', s, { ...p, targets: [target] });
  try {
    process.exitCode = await runInteractive(run, target, words, attachTerminal);
  } finally {
    await run.close();
  }
}

/** The one host of fap shell and fap run -i: the role's first, said when it has several. */
function onFirstHost(what: string, s: Selected, p: Plan): Target {
  const target = p.targets[0];
  if (p.targets.length > 1 && !s.g.quiet) process.stderr.write(`${what}: on ${target.host.name}, the first of ${p.targets.length} hosts (--hosts picks another)\n`);
  return target;
}

/**
 * fap once: Fapistrano's one-off command (fapistrano-0.9.5 cli.py:61-70, deploy.py:99-105): -c is one
 * shell command line, run in current on every host of the role with the release's environment.
 */
export async function onceAction(stage: string | undefined, role: string | undefined, o: { command?: string }, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  if (s.role === undefined) throw new UsageError(`which role? (fap once -s ${s.stage} -r ROLE -c COMMAND)`);
  if (o.command === undefined || !o.command.trim()) throw new UsageError(`which command? (fap once -s ${s.stage} -r ${s.role} -c 'COMMAND')`);
  const p = await plan(s, 'once');
  const run = await startRun('once', s, p);
  try {
    process.exitCode = await runCommand(run, p.targets, { shell: o.command }, { prefix: p.targets.length > 1 && !s.g.json });
  } finally {
    await run.close();
  }
}

/**
 * fap shell: an interactive shell in current on one host (fapistrano-0.9.5 cli.py:73-81,
 * deploy.py:108-131, which offered only a Python shell). Needs a terminal on stdin.
 */
export async function shellAction(stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  if (s.role === undefined) throw new UsageError(`which role? (fap shell -s ${s.stage} -r ROLE)`);
  if (s.g.json) throw new UsageError('fap shell is interactive: --json does not apply (for a command, use fap once -c COMMAND)');
  const p = await plan(s, 'shell');
  if (p.targets.length > 1 && s.g.hosts !== undefined) {
    throw new UsageError(`fap shell opens a shell on one host, and --hosts selects ${p.targets.length}: ${p.targets.map((t) => t.host.name).join(', ')}`);
  }
  if (!process.stdin.isTTY && !s.g.dryRun) {
    throw new UsageError(`fap shell needs a terminal, and stdin is not one; for a command without a terminal: fap once -s ${s.stage} -r ${s.role} -c 'COMMAND'`);
  }
  const target = onFirstHost('fap shell', s, p);
  const one: Plan = { ...p, targets: [target] };
  const run = await startRun('shell', s, one);
  try {
    process.exitCode = await openShell(run, target, attachTerminal);
  } finally {
    await run.close();
  }
}

export async function rollbackAction(stage: string | undefined, role: string | undefined, o: RunFlags & { to?: string; force?: boolean }, cmd: Command): Promise<void> {
  if (o.to !== undefined && !isReleaseName(o.to)) throw new UsageError(`--to "${o.to}" is not a release name (${RELEASE_NAME_FORMS}; see fap releases)`);
  await eachStage(cmd, stage, role, async (s) => {
    const p = await plan(s, 'rollback');
    return () => execute('rollback', s, p, (run) => rollback(run, p.targets, { to: o.to, force: o.force }), o);
  });
}

export async function cleanupAction(stage: string | undefined, role: string | undefined, o: RunFlags, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  const p = await plan(s, 'cleanup');
  process.exitCode = await execute('cleanup', s, p, (run) => cleanup(run, p.targets), o);
}

export async function unlockAction(stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  const p = await plan(s, 'unlock');
  process.exitCode = await execute('unlock', s, p, (run) => forceUnlock(run, p.targets));
}

export async function configAction(stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  const p = await plan(s, 'config');
  const keys =  { ...(await bundledKeys()), ...p.pluginKeys };
  if (s.g.json) {
    for (const rc of p.roles) {
      const origins = Object.fromEntries(Object.entries(rc.origins).map(([k, o]) => [k, { layer: o.layer, line: o.pos?.line, col: o.pos?.col }]));
      const line: StampedEvent = { ts: new Date().toISOString(), event: 'config', stage: rc.stage, role: rc.role, hosts: rc.hosts.map((h) => h.name), values: displayValues(rc, keys), origins, warnings: rc.warnings };
      process.stdout.write(JSON.stringify(redactDeep(line)) + '\n');
    }
    return;
  }
  process.stdout.write(p.roles.map((rc) => formatConfig(rc, keys, p.loaded)).join('---\n'));
}

export async function releasesAction(stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  const p = await plan(s, 'releases');
  const run = await startRun('releases', s, p);
  try {
    const rows = await listReleases(run, p.targets);
    const ok = rows.every((r) => !r.error);
    const currents = new Set(rows.filter((r) => r.state).map((r) => currentShown(r.state!)));
    run.bus.emit({
      event: 'result',
      ok,
      command: 'releases',
      exitCode: ok ? EXIT.ok : EXIT.failed,
      // a host that could not be read may be anywhere: the fleet is not known to agree
      agree: currents.size <= 1 && rows.every((r) => r.state),
      hosts: rows.map((r) => ({ host: r.host, role: r.role, current: r.state?.current, ...(r.state?.foreignCurrent ? { foreign_current: r.state.foreignCurrent } : {}), releases: r.state?.releases, interrupted: r.state ? unfinished(r.state) : undefined, error: r.error })),
    });
    if (!s.g.json) process.stdout.write(redact(formatReleasesTable(rows, { color: colorFor(process.stdout, s.g.color) }) + '\n'));
    process.exitCode = ok ? EXIT.ok : EXIT.failed;
  } finally {
    await run.close();
  }
}

/** fap check: the doctor. Read-only, no lock; every host is checked even when some cannot be reached. */
export async function checkAction(stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command): Promise<void> {
  const s = await select(cmd, stage, role);
  const p = await plan(s, 'check');
  const run = await startRun('check', s, p);
  try {
    // the required ${VAR:?}s a deploy would refuse without, each with where it is written
    const environment = (t: Target) => {
      const rcs = p.roles.filter((rc) => t.roles.some((r) => r.role === rc.role));
      if (!rcs.some((rc) => rc.envKeys.size || rc.envProblems.length)) return undefined;
      return [...new Set(rcs.flatMap((rc) => rc.envProblems.map((e) => e.where.message)))];
    };
    const hosts = await runChecks(run, p.targets, environment);
    const { ok, text } = checkSummary(hosts);
    run.bus.emit({
      event: 'result',
      ok,
      command: 'check',
      summary: text,
      hosts: hosts.map((h) => ({ host: h.host, role: h.role, path: h.path, checks: h.checks.map((c) => ({ name: c.name, ok: c.status !== 'FAIL', status: c.status, detail: c.detail })) })),
      exitCode: ok ? EXIT.ok : EXIT.failed,
    });
    if (!s.g.json) process.stdout.write(redact(formatCheckTable(hosts, { color: colorFor(process.stdout, s.g.color) }) + '\n' + text + '\n'));
    process.exitCode = ok ? EXIT.ok : EXIT.failed;
  } finally {
    await run.close();
  }
}
