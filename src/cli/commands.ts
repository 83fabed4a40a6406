// One handler per command; each builds a plan, runs it with a reporter attached, and reports
// the result. No remote logic lives here.
import { copyFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, EXIT, FapError, UsageError } from '../errors.js';
import { EventBus } from '../events.js';
import { attachReporter } from '../report/reporter.js';
import { displayValues, formatConfig } from '../config/show.js';
import { bundledKeys } from '../plugin/load.js';
import { redact } from '../redact.js';
import { deploy, type RunResult } from '../release/deploy.js';
import { buildPlan, type Plan, type Target } from '../release/plan.js';
import { formatReleasesTable, listReleases } from '../release/releases.js';
import { rollback } from '../release/rollback.js';
import { Run } from '../release/run.js';
import type { GlobalOptions } from './main.js';

interface Selected {
  stage: string;
  role?: string;
  g: GlobalOptions;
}

function select(cmd: Command, stageArg?: string, roleArg?: string): Selected {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  const stage = stageArg ?? g.stage;
  const role = roleArg ?? g.role;
  if (!stage) throw new UsageError(`fap ${cmd.name()}: which stage? (fap ${cmd.name()} <stage> [role])`);
  return { stage, role, g };
}

function parallelOf(g: GlobalOptions): number {
  const n = Number(g.parallel);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--parallel must be a whole number of at least 1, got "${g.parallel}"`);
  return n;
}

async function plan(s: Selected, needs: { environment?: boolean; plugins?: boolean }): Promise<Plan> {
  const p = await buildPlan({
    deployfile: resolve(s.g.deployfile),
    stage: s.stage,
    role: s.role,
    sets: s.g.set,
    hosts: s.g.hosts?.split(',').map((h) => h.trim()).filter(Boolean),
    needsEnvironment: needs.environment,
    needsPlugins: needs.plugins,
  });
  if (!s.g.json && !s.g.quiet) for (const w of p.warnings) process.stderr.write(`warning: ${w}\n`);
  return p;
}

async function startRun(command: string, s: Selected, targets: Target[], warnings: string[], options: Record<string, unknown> = {}): Promise<Run> {
  const bus = new EventBus();
  const color = s.g.color !== false && !process.env.NO_COLOR && !!process.stderr.isTTY;
  await attachReporter(bus, { json: !!s.g.json, verbose: !!s.g.verbose, quiet: !!s.g.quiet, color, tty: !!process.stderr.isTTY });
  const run = new Run(bus, {
    command,
    commandLine: ['fap', command, s.stage, s.role].filter(Boolean).join(' '),
    parallel: parallelOf(s.g),
    verbose: !!s.g.verbose || targets.some((t) => t.config.show_output === true),
    dryRun: !!s.g.dryRun,
    options,
  });
  bus.emit({ event: 'run.started', command, stage: s.stage, role: s.role, hosts: targets.map((t) => t.host.name), dryRun: !!s.g.dryRun });
  if (s.g.json) for (const w of warnings) bus.emit({ event: 'warning', message: w });
  return run;
}

/** Run a transaction-style command and report its result; returns the exit code. */
async function execute(command: string, s: Selected, p: Plan, body: (run: Run) => Promise<RunResult>, options: Record<string, unknown> = {}): Promise<number> {
  const run = await startRun(command, s, p.targets, p.warnings, options);
  let res: RunResult | undefined;
  let error: unknown;
  try {
    res = await body(run);
  } catch (e) {
    error = e;
  }
  const channels = await run.channelCounts();
  await run.close();
  const ok = !!res?.ok && !error;
  run.bus.emit({
    event: 'result',
    ok,
    command,
    release: res?.release,
    hosts: res?.hosts ?? [],
    channels,
    error: error instanceof Error ? error.message : undefined,
    exitCode: error instanceof FapError ? error.exitCode : ok ? EXIT.ok : EXIT.failed,
  });
  if (error) throw error;
  if (!s.g.json && res) {
    const failed = res.hosts.filter((h) => h.outcome !== 'deployed' && h.outcome !== 'rolled-back');
    const line = `${ok ? '✔' : '✖'} ${res.summary}` + (ok || !failed.length ? '' : '\n' + res.hosts.map((h) => `  ${h.host} (${h.role}): ${h.outcome}${h.step ? ' at ' + h.step : ''}`).join('\n'));
    process.stderr.write(line + '\n');
  }
  return ok ? EXIT.ok : EXIT.failed;
}

export function registerCommands(program: Command): void {
  program
    .command('init')
    .description('write a commented deploy.yml to start from')
    .option('--force', 'overwrite an existing file')
    .action((o: { force?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const dest = resolve(g.deployfile);
      if (existsSync(dest) && !o.force) throw new UsageError(`${dest} already exists (use fap init --force to overwrite it)`);
      copyFileSync(new URL('../../../deploy.example.yml', import.meta.url), dest);
      process.stdout.write(`wrote ${dest}: edit app_name, repo and stage_role_configs, then run fap deploy <stage>\n`);
    });

  program
    .command('deploy')
    .description('build a new release on every selected host, publish it, clean up')
    .argument('[stage]')
    .argument('[role]')
    .action(async (stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command) => {
      const s = select(cmd, stage, role);
      const p = await plan(s, { environment: true, plugins: true });
      process.exitCode = await execute('deploy', s, p, (run) => deploy(run, p.targets));
    });

  program
    .command('rollback')
    .description('point current back at the previous good release (or --to RELEASE) on every host')
    .argument('[stage]')
    .argument('[role]')
    .option('--to <release>', 'roll back (or forward) to this release')
    .action(async (stage: string | undefined, role: string | undefined, o: { to?: string }, cmd: Command) => {
      const s = select(cmd, stage, role);
      const p = await plan(s, { plugins: true });
      if (o.to !== undefined && !/^\d{14}$/.test(o.to)) throw new ConfigError(`--to "${o.to}" is not a release name (YYYYMMDDHHMMSS; see fap releases)`);
      process.exitCode = await execute('rollback', s, p, (run) => rollback(run, p.targets, o.to));
    });

  program
    .command('config')
    .description('the resolved configuration of a stage and role, each value with where it came from; secrets shown as ***')
    .argument('[stage]')
    .argument('[role]')
    .action(async (stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command) => {
      const s = select(cmd, stage, role);
      const p = await plan(s, {});
      const keys = { ...(await bundledKeys()), ...p.pluginKeys };
      if (s.g.json) {
        for (const rc of p.roles) {
          const origins = Object.fromEntries(Object.entries(rc.origins).map(([k, o]) => [k, { layer: o.layer, line: o.pos?.line, col: o.pos?.col }]));
          process.stdout.write(redact(JSON.stringify({ ts: new Date().toISOString(), event: 'config', stage: rc.stage, role: rc.role, hosts: rc.hosts.map((h) => h.name), values: displayValues(rc, keys), origins, warnings: rc.warnings })) + '\n');
        }
        return;
      }
      process.stdout.write(p.roles.map((rc) => formatConfig(rc, keys, p.loaded)).join('---\n'));
    });

  program
    .command('releases')
    .description('table per host: release, revision, status, current marker, when, by whom')
    .argument('[stage]')
    .argument('[role]')
    .action(async (stage: string | undefined, role: string | undefined, _o: unknown, cmd: Command) => {
      const s = select(cmd, stage, role);
      const p = await plan(s, {});
      const run = await startRun('releases', s, p.targets, p.warnings);
      try {
        const rows = await listReleases(run, p.targets);
        const ok = rows.every((r) => !r.error);
        run.bus.emit({ event: 'result', ok, command: 'releases', hosts: rows.map((r) => ({ host: r.host, role: r.role, current: r.state?.current, releases: r.state?.releases, error: r.error })) });
        if (!s.g.json) process.stdout.write(formatReleasesTable(rows) + '\n');
        process.exitCode = ok ? EXIT.ok : EXIT.failed;
      } finally {
        await run.close();
      }
    });
}
