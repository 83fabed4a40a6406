// fap check, the doctor: what every host needs before a deploy can succeed there — a trusted
// connection, a deploy root it can write, the linked files in shared/, the tools (and versions) the
// configuration and its plugins use, free space — found out in one read-only script per host.
// The script never fails and writes nothing but a probe file it removes at once; turning its
// answers into rows of checks is pure (evaluateCheck) and unit-tested.
import { paint } from '../report/color.js';
import { count } from '../words.js';
import { posix } from 'node:path';
import semver from 'semver';
import { emitOutput, outputLines, quote, type Step } from '../remote/shell.js';
import type { Plugin, Probe } from '../signals.js';
import type { Paths } from './paths.js';
import type { Target } from './plan.js';
import type { Run } from './run.js';

/** What fap's own scripts run on every host (beyond the shell's builtins); checked as one row. */
export const CORE_TOOLS = ['sh', 'mkdir', 'ln', 'mv', 'rm', 'readlink', 'grep', 'sed'];

export interface ToolNeed {
  name: string;
  /** a semver range; '*' means any version */
  range: string;
  /** who asks for it: "requires", "git plugin", ... */
  why: string[];
}

export type CheckStatus = 'ok' | 'FAIL' | 'warn';

export interface CheckRow {
  name: string;
  status: CheckStatus;
  detail: string;
}

/** What the connection attempt gave: a failure, or how the host key was trusted. */
export type ConnectionOutcome =
  | { ok: false; error: string }
  | { ok: true; user: string; checking: string; knownHosts: string; warning?: string };

export interface CheckInput {
  paths: Paths;
  user: string;
  connection: ConnectionOutcome;
  /** the check script's outputs; undefined when it could not run */
  outputs?: Map<string, string[]>;
  /** why the script could not run, when it could not */
  scriptError?: string;
  linkedFiles: string[];
  tools: ToolNeed[];
  minFreeMb: number;
  /** the plugins' probes (git repository, artifact URL), in the order checkSteps ran them */
  probes?: readonly Pick<Probe, 'name'>[];
  /**
   * The role's ${VAR}s, checked on this machine: undefined when it uses none; else each unset
   * required one (with where it is written), none when all are set.
   */
  environment?: string[];
}

/** Seconds a plugin's probe may take on a host (an unreachable git server must not hang the doctor). */
export const PROBE_TIMEOUT_S = 30;

/** The probes of every plugin any command of the target's roles runs, each once. */
export function targetProbes(t: Pick<Target, 'roles' | 'paths'>): Probe[] {
  const seen = new Map<string, Probe>();
  for (const r of t.roles) {
    for (const p of r.allPlugins) {
      for (const probe of p.probes?.(r.config, { paths: t.paths, quote }) ?? []) {
        const k = `${probe.name}\u0000${probe.script}`;
        if (!seen.has(k)) seen.set(k, probe);
      }
    }
  }
  return [...seen.values()];
}

/** The line of a failed probe's output that says why: git and curl write their cause first (fatal:, error:, curl: (N)). */
export function probeCause(lines: readonly string[]): string {
  const text = lines.map((l) => l.trim()).filter(Boolean);
  return text.find((l) => /^(fatal|error|curl: \(\d+\))[: ]/i.test(l)) ?? text.at(-1) ?? 'failed with no message';
}

const words = (s: unknown) => String(s ?? '').trim().split(/\s+/).filter(Boolean);

/** The program a command line runs: past sudo (and its options) and env (and its assignments). */
export function commandProgram(line: unknown): { program?: string; sudo: boolean } {
  const w = words(line);
  let i = 0;
  let sudo = false;
  if (w[i] === 'sudo' || w[i]?.endsWith('/sudo')) {
    sudo = true;
    i++;
    while (i < w.length && w[i].startsWith('-')) {
      // options of sudo that take a value as the next word
      if (/^-[ugCDhprRT]$/.test(w[i])) i++;
      i++;
    }
  }
  if (w[i] === 'env' || w[i]?.endsWith('/env')) {
    i++;
    while (i < w.length && (w[i].startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[i]))) i++;
  }
  return { program: w[i], sudo };
}

/**
 * The tools a target needs: fap's core ones are separate (CORE_TOOLS); here, what its plugins
 * declare (Plugin.tools: every plugin any command of the role runs, so check answers for deploy,
 * release, rollback and restart alike) and what `requires` lists (a range there applies to the
 * plugin's tool too). Several roles deploying to one host and path: every role's needs, ranges
 * combined (all must hold).
 */
export function requiredTools(roles: { config: Readonly<Record<string, unknown>>; plugins: readonly Plugin[] }[]): ToolNeed[] {
  const needs = new Map<string, ToolNeed>();
  const add = (name: string | undefined, range: string, why: string) => {
    if (!name) return;
    const n = needs.get(name);
    if (!n) return void needs.set(name, { name, range, why: [why] });
    if (!n.why.includes(why)) n.why.push(why);
    if (range !== '*') n.range = n.range === '*' ? range : n.range.split(' ').includes(range) ? n.range : `${n.range} ${range}`;
  };
  for (const { config, plugins } of roles) {
    for (const p of plugins) {
      for (const line of p.tools?.(config) ?? []) {
        // a command line: its program, and sudo when it runs through sudo
        const { program, sudo } = commandProgram(line);
        if (sudo) add('sudo', '*', `${p.name} plugin`);
        add(program, '*', `${p.name} plugin`);
      }
    }
    const req = config.requires;
    if (req && typeof req === 'object' && !Array.isArray(req)) {
      for (const [name, range] of Object.entries(req as Record<string, unknown>)) {
        const r = range === null || range === undefined || String(range).trim() === '' ? '*' : String(range).trim();
        add(name, r, 'requires');
      }
    }
  }
  return [...needs.values()];
}

/** Print one output line from shell text (a $-expansion in double quotes). */
const out = (key: string, expr = "''") => emitOutput(key, expr);

/**
 * The doctor's script for one host: every probe records its answer as an output line and none can
 * fail the script. Read-only but for a probe file created (never over an existing one) and removed
 * at once in each directory whose writability matters.
 */
export function checkSteps(p: Paths, linkedFiles: string[], tools: { name: string; version: boolean }[], probes: readonly Probe[] = []): Step[] {
  const steps: Step[] = [];
  steps.push({
    name: 'check deploy root',
    script: [
      `fap_root=${quote(p.root)}`,
      // the nearest existing directory: where the root will be created, and whose disk it will use
      'if [ -d "$fap_root" ]; then fap_base="$fap_root"; ' + out('root', 'exists'),
      'elif [ -e "$fap_root" ] || [ -L "$fap_root" ]; then fap_base=$(dirname "$fap_root"); ' + out('root', 'notdir'),
      'else fap_base=$(dirname "$fap_root"); ' + out('root', 'missing') + '; fi',
      'while [ ! -d "$fap_base" ]; do fap_base=$(dirname "$fap_base"); done',
      out('base', '"$fap_base"'),
      // create a probe file (noclobber: never over an existing file) and remove it at once
      'fap_probe() {',
      '  if [ -d "$1" ]; then',
      `    if (set -C; : > "$1/.fap-check.$$") 2>/dev/null; then rm -f "$1/.fap-check.$$"; ${out('writable', '"$1"')}; else ${out('unwritable', '"$1"')}; fi`,
      '  fi',
      '}',
      'if [ -d "$fap_root" ]; then',
      `  for fap_d in "$fap_root" ${[p.releases, p.shared, p.state].map(quote).join(' ')}; do fap_probe "$fap_d"; done`,
      'else fap_probe "$fap_base"; fi',
      out('current', `"$(readlink ${quote(p.current)} 2>/dev/null || true)"`),
      out('df', '"$(df -Pk "$fap_base" 2>/dev/null | tail -n 1 || true)"'),
    ].join('\n'),
  });
  if (linkedFiles.length) {
    steps.push({
      name: 'check linked files',
      script: linkedFiles.map((f, i) => `if [ -e ${quote(posix.join(p.shared, f))} ]; then ${out(`linked.${i}`, 'present')}; else ${out(`linked.${i}`, 'missing')}; fi`).join('\n'),
    });
  }
  if (tools.length) {
    const lines = [
      // a tool that hangs on --version must not hang the doctor
      'fap_run() { if command -v timeout >/dev/null 2>&1; then timeout 10 "$@"; else "$@"; fi; }',
    ];
    tools.forEach((t, i) => {
      const probe = [`if fap_p=$(command -v -- ${quote(t.name)} 2>/dev/null); then`, `  ${out(`tool.${i}.path`, '"$fap_p"')}`];
      if (t.version) {
        probe.push(
          "  fap_v=''",
          '  for fap_a in --version -V version; do',
          // the first line with a x.y in it, of the first way of asking that gives one
          `    fap_v=$(fap_run ${quote(t.name)} "$fap_a" 2>&1 </dev/null | sed -n '/[0-9][0-9]*\\.[0-9]/{p;q;}' | cut -c1-200 || true)`,
          '    if [ -n "$fap_v" ]; then break; fi',
          '  done',
          `  ${out(`tool.${i}.version`, '"$fap_v"')}`,
        );
      }
      probe.push(`else ${out(`tool.${i}.missing`)}; fi`);
      lines.push(...probe);
    });
    steps.push({ name: 'check tools', script: lines.join('\n') });
  }
  if (probes.length) {
    const lines = [
      // each probe in its own shell, stdin closed, bounded in time; its exit status and output are answers
      `fap_probe_run() { if command -v timeout >/dev/null 2>&1; then timeout ${PROBE_TIMEOUT_S} sh -c "$1"; else sh -c "$1"; fi; }`,
    ];
    probes.forEach((probe, i) => {
      lines.push(
        `if fap_o=$(fap_probe_run ${quote(probe.script)} </dev/null 2>&1); then fap_rc=0; else fap_rc=$?; fi`,
        out(`probe.${i}.rc`, '"$fap_rc"'),
        `printf '%s\n' "$fap_o" | ${outputLines(`probe-${i}-out`)}`,
      );
    });
    steps.push({ name: 'check plugins', script: lines.join('\n') });
  }
  return steps;
}

/** The tools checkSteps probes: fap's core ones (presence only), then the needed ones (with versions). */
export function probedTools(needs: ToolNeed[]): { name: string; version: boolean }[] {
  return [...CORE_TOOLS.filter((c) => !needs.some((n) => n.name === c)).map((name) => ({ name, version: false })), ...needs.map((n) => ({ name: n.name, version: true }))];
}

/** The first x.y[.z] in a tool's version line, as semver (git version 2.39.2 -> 2.39.2). */
export function parseToolVersion(line: string | undefined): string | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(line ?? '');
  return m ? semver.coerce(m[0])?.version : undefined;
}

/** Free space in KB from the last line of `df -Pk` (fields: fs, blocks, used, available, capacity%, mount). */
export function parseDfAvailableKb(line: string | undefined): number | undefined {
  const m = /\s(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s/.exec(` ${line ?? ''} `);
  return m ? Number(m[3]) : undefined;
}

/** Turn one target's connection outcome and check outputs into rows. Pure. */
export function evaluateCheck(i: CheckInput): CheckRow[] {
  const c = i.connection;
  if (!c.ok) return [{ name: 'connection', status: 'FAIL', detail: c.error }];
  const rows: CheckRow[] = [];
  if (c.warning) rows.push({ name: 'connection', status: 'warn', detail: `connected as ${c.user}; ${c.warning}` });
  else if (c.checking === 'local') rows.push({ name: 'connection', status: 'ok', detail: `this machine, as ${c.user} (no SSH)` });
  else if (c.checking === 'off') rows.push({ name: 'connection', status: 'warn', detail: `connected as ${c.user}; host key not checked (ssh.host_key_checking: off)` });
  else rows.push({ name: 'connection', status: 'ok', detail: `connected as ${c.user}; host key verified (${c.knownHosts})` });
  const o = i.outputs;
  if (!o) {
    rows.push({ name: 'checks', status: 'FAIL', detail: `the check script did not run: ${i.scriptError ?? 'no answer'}` });
    return rows;
  }
  const one = (k: string) => o.get(k)?.[0];
  const all = (k: string) => o.get(k) ?? [];

  // deploy root
  const root = one('root');
  const base = one('base') ?? posix.dirname(i.paths.root);
  const unwritable = all('unwritable');
  if (root === 'exists') {
    if (unwritable.length) rows.push({ name: 'deploy path', status: 'FAIL', detail: `not writable by ${i.user}: ${unwritable.join(', ')}` });
    else rows.push({ name: 'deploy path', status: 'ok', detail: `${i.paths.root} exists and is writable` });
  } else if (root === 'missing') {
    if (unwritable.length) rows.push({ name: 'deploy path', status: 'FAIL', detail: `${i.paths.root} does not exist and cannot be created: ${base} is not writable by ${i.user}` });
    else rows.push({ name: 'deploy path', status: 'ok', detail: `${i.paths.root} does not exist yet; will be created (${base} is writable)` });
  } else if (root === 'notdir') {
    rows.push({ name: 'deploy path', status: 'FAIL', detail: `${i.paths.root} exists but is not a directory` });
  } else {
    rows.push({ name: 'deploy path', status: 'FAIL', detail: 'no answer about the deploy root' });
  }
  const current = one('current');
  rows.push({ name: 'current release', status: 'ok', detail: current ? posix.basename(current) : root === 'exists' ? '(none yet)' : '(none: nothing deployed)' });

  // linked files
  i.linkedFiles.forEach((f, n) => {
    const v = one(`linked.${n}`);
    const where = posix.join(i.paths.shared, f);
    if (v === 'present') rows.push({ name: `linked file ${f}`, status: 'ok', detail: `present: ${where}` });
    else rows.push({ name: `linked file ${f}`, status: 'FAIL', detail: `missing: ${where} (create it there before deploying)` });
  });

  // tools: fap's own in one row, then each needed one
  const probed = probedTools(i.tools);
  const missingCore = probed.flatMap((t, n) => (!t.version && !one(`tool.${n}.path`) ? [t.name] : []));
  const core = probed.filter((t) => !t.version).map((t) => t.name);
  if (core.length) {
    rows.push(missingCore.length ? { name: 'core tools', status: 'FAIL', detail: `not found: ${missingCore.join(', ')} (fap's scripts use ${core.join(' ')})` } : { name: 'core tools', status: 'ok', detail: core.join(' ') });
  }
  for (const need of i.tools) {
    const n = probed.findIndex((t) => t.name === need.name);
    const path = one(`tool.${n}.path`);
    const name = `tool ${need.name}`;
    const why = need.why.join(', ');
    if (!path) {
      rows.push({ name, status: 'FAIL', detail: `not found on PATH (needed by ${why})` });
      continue;
    }
    const line = one(`tool.${n}.version`);
    const version = parseToolVersion(line);
    if (need.range === '*') {
      rows.push({ name, status: 'ok', detail: `${version ?? 'version unknown'} at ${path}` });
    } else if (!version) {
      rows.push({ name, status: 'FAIL', detail: `found at ${path}, but its version is unknown (no x.y from --version, -V or version); ${why} needs ${need.range}` });
    } else if (semver.satisfies(version, need.range)) {
      rows.push({ name, status: 'ok', detail: `${version} at ${path} (needs ${need.range})` });
    } else {
      rows.push({ name, status: 'FAIL', detail: `${version} at ${path} does not satisfy ${need.range} (${why})` });
    }
  }

  // what the plugins asked the host (can it reach the repository, the artifact)
  (i.probes ?? []).forEach((probe, n) => {
    const rc = one(`probe.${n}.rc`);
    const lines = all(`probe-${n}-out`);
    if (rc === '0') rows.push({ name: probe.name, status: 'ok', detail: lines.map((l) => l.trim()).filter(Boolean).at(-1) ?? 'ok' });
    else if (rc === '124') rows.push({ name: probe.name, status: 'FAIL', detail: `no answer within ${PROBE_TIMEOUT_S} s${lines.some((l) => l.trim()) ? `: ${probeCause(lines)}` : ''}` });
    else rows.push({ name: probe.name, status: 'FAIL', detail: rc === undefined ? 'no answer' : probeCause(lines) });
  });

  // the ${VAR}s the release's environment reads, on this machine
  if (i.environment) {
    rows.push(i.environment.length ? { name: 'environment', status: 'FAIL', detail: `unset: ${i.environment.join('; ')}` } : { name: 'environment', status: 'ok', detail: 'every ${VAR} it reads is set' });
  }

  // disk
  const kb = parseDfAvailableKb(one('df'));
  if (kb === undefined) rows.push({ name: 'free disk', status: 'warn', detail: `could not read the free space of ${base} (df -Pk)` });
  else {
    const mb = Math.floor(kb / 1024);
    rows.push({ name: 'free disk', status: mb >= i.minFreeMb ? 'ok' : 'FAIL', detail: `${mb} MB free on ${base} (check_min_free_mb: ${i.minFreeMb})` });
  }
  return rows;
}

export interface HostChecks {
  host: string;
  role: string;
  path: string;
  checks: CheckRow[];
}

/** The doctor's table: one row per check, host by host. */
/** The table of fap check; FAIL red and warn yellow when colour is on. */
export function formatCheckTable(hosts: HostChecks[], o: { color?: boolean } = {}): string {
  const lines: string[][] = [['HOST', 'CHECK', 'STATUS', 'DETAIL']];
  const several = new Set<string>();
  const seen = new Set<string>();
  for (const h of hosts) (seen.has(h.host) ? several : seen).add(h.host);
  for (const h of hosts) {
    const label = several.has(h.host) ? `${h.host} (${h.role})` : h.host;
    for (const c of h.checks) lines.push([label, c.name, c.status, c.detail]);
  }
  const widths = [0, 1, 2].map((i) => Math.max(...lines.map((l) => l[i].length)));
  const shown = (cell: string, i: number, row: number) => {
    const padded = i < 3 ? cell.padEnd(widths[i]) : cell;
    if (row && i === 2 && cell === 'FAIL') return paint(!!o.color, 'red', padded);
    if (row && i === 2 && cell === 'warn') return paint(!!o.color, 'yellow', padded);
    return padded;
  };
  return lines.map((l, row) => l.map((cell, i) => shown(cell, i, row)).join('  ').trimEnd()).join('\n');
}

/** One line: how many checks passed, and which hosts failed which checks. */
export function checkSummary(hosts: HostChecks[]): { ok: boolean; text: string } {
  const rows = hosts.flatMap((h) => h.checks.map((c) => ({ h, c })));
  const failed = rows.filter((r) => r.c.status === 'FAIL');
  const warned = rows.filter((r) => r.c.status === 'warn').length;
  const w = warned ? `, ${count(warned, 'warning')}` : '';
  if (!failed.length) return { ok: true, text: `✔ all ${rows.length} checks passed on ${count(new Set(hosts.map((h) => h.host)).size, 'host')}${w}` };
  const badHosts = [...new Set(failed.map((r) => r.h.host))];
  return {
    ok: false,
    text: `✖ ${failed.length} of ${rows.length} checks failed on ${badHosts.length} of ${count(new Set(hosts.map((h) => h.host)).size, 'host')}${w}: ` + failed.map((r) => `${r.h.host} ${r.c.name}`).join(', '),
  };
}

/**
 * Check every target: connect (a host that cannot be reached gets one failing row; the others go
 * on), then one read-only script per target. Takes no lock.
 */
export async function runChecks(run: Run, targets: Target[], environment: (t: Target) => string[] | undefined = () => undefined): Promise<HostChecks[]> {
  // warnings the connection gave (a key added by accept-new, checking off), per host
  const warnings = new Map<string, string>();
  run.bus.on((e) => {
    if (e.event === 'warning' && e.host && /host key|added /.test(String(e.message))) warnings.set(e.host, String(e.message).replace(`${e.host}: `, ''));
  });
  const started = Date.now();
  run.bus.emit({ event: 'phase.started', phase: 'check', hosts: targets.length });
  const results = await run.forEach(targets, async (t): Promise<HostChecks> => {
    const ssh = t.config.ssh;
    const tools = requiredTools(t.roles.map((r) => ({ config: r.config, plugins: r.allPlugins })));
    const linkedFiles = t.config.linked_files;
    const probes = targetProbes(t);
    const steps = checkSteps(t.paths, linkedFiles, probedTools(tools), probes);
    const base = { host: t.host.name, role: t.role, path: t.paths.root };
    let connection: ConnectionOutcome;
    try {
      const conn = await run.connection(t);
      // the user and known_hosts actually used (the ssh config may name them), and any jump hosts
      const knownHosts = (conn.knownHostsFile ?? '') + (conn.via.length ? `; via ${conn.via.join(' -> ')}` : '');
      const checking = conn.knownHostsFile === undefined ? 'local' : ssh.host_key_checking;
      connection = { ok: true, user: conn.user, checking, knownHosts, warning: warnings.get(t.host.name) };
    } catch (e) {
      connection = { ok: false, error: String((e as Error).message).replace(`${t.host.name}: `, '') };
    }
    let outputs: Map<string, string[]> | undefined;
    let scriptError: string | undefined;
    if (connection.ok) {
      try {
        // read-only: under --dry-run it runs for real too, never passing having checked nothing
        // (found by the attack pass: fap --dry-run check exited 0 having asked no host)
        outputs = (await run.exec(t, 'check', steps, { readOnly: true })).outputs;
      } catch (e) {
        scriptError = String((e as Error).message).replace(`${t.host.name}: `, '');
        // sudo refused the session: the doctor names the sudoers line, as every other command does
        const hint = /sudo:/.test(scriptError) ? run.sudoHint(t) : undefined;
        if (hint) scriptError += ` → ${hint}`;
      }
    }
    const minFreeMb = Math.max(...t.roles.map((r) => r.config.check_min_free_mb));
    return { ...base, checks: evaluateCheck({ paths: t.paths, user: connection.ok ? connection.user : t.user, connection, outputs, scriptError, linkedFiles, tools, minFreeMb, probes, environment: environment(t) }) };
  });
  const hosts = results.map((r) => (r.ok ? r.value : { host: r.target.host.name, role: r.target.role, path: r.target.paths.root, checks: [{ name: 'checks', status: 'FAIL' as const, detail: r.error.message }] }));
  // a host whose checks failed counts as failed here, though its script ran
  const failed = hosts.filter((h) => h.checks.some((c) => c.status === 'FAIL')).length;
  run.bus.emit({ event: 'phase.finished', phase: 'check', ms: Date.now() - started, ok: hosts.length - failed, failed });
  return hosts;
}
