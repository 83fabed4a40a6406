// The plain reporter's lines: one `[host] message` line per event worth showing, for CI logs and
// under a terminal's spinners (./tty.ts), with what a host sent made visible.
import type { StampedEvent } from '../events.js';
import { hostCount } from '../words.js';

export interface ReporterOptions {
  json: boolean;
  verbose: boolean;
  quiet: boolean;
  color: boolean;
  tty: boolean;
  /** --dry-run: the phases are not run, so no phase lines; scripts only with -v, once per distinct script */
  dryRun?: boolean;
  /** false: no phase lines (commands that answer with a table: fap releases, fap check) */
  phases?: boolean;
}

const paint = (o: ReporterOptions, code: number, s: string) => (o.color ? `\u001b[${code}m${s}\u001b[0m` : s);

/**
 * Text a host sent (a script's output, an error) shown with its control characters made visible:
 * an artifact's escape sequences must not recolour, move or clear the operator's terminal, nor a
 * CR overwrite the [host] prefix (found by the attack pass). --json escapes them already.
 */
export function visible(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => (c === '\u001b' ? '^[' : c.charCodeAt(0) < 32 ? `^${String.fromCharCode(c.charCodeAt(0) + 64)}` : `\\x${c.charCodeAt(0).toString(16)}`));
}

/** The event with each of its own strings made visible: same event, only the text changes. */
function shown<T extends object>(e: T): T {
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, typeof v === 'string' ? visible(v) : v])) as T;
}

export function plainLine(raw: StampedEvent, o: ReporterOptions): string | undefined {
  const e = shown(raw);
  const h = 'host' in e && e.host ? `[${e.host}] ` : '';
  switch (e.event) {
    case 'run.started':
      return o.quiet ? undefined : `fap ${e.command} ${e.stage}${e.role ? ' ' + e.role : ''}: ${hostCount(e.hosts)}${e.dryRun ? ' (dry run: nothing will be changed)' : ''}`;
    case 'release.planned':
      return o.quiet || o.dryRun ? undefined : `release ${e.release}`;
    case 'phase.finished':
      return o.quiet || o.dryRun || o.phases === false ? undefined : `${e.phase}: ${e.ok} ok${e.failed ? `, ${paint(o, 31, e.failed + ' failed')}` : ''} (${(e.ms / 1000).toFixed(1)}s)`;
    case 'host.connected':
      return o.verbose ? `${h}connected (${e.ms} ms)` : undefined;
    case 'script':
      if (!o.verbose) return undefined;
      return `${h}${e.phase} script:\n${indent(e.script)}`;
    case 'host.failed':
      // a refusal's reasons are the summary's, said once for all hosts
      if (e.refused) return undefined;
      return failureBlock(e, [e.host], o);
    case 'warning':
      return `${h}${paint(o, 33, 'warning')}: ${stripHost(e.message, e.host)}`;
    case 'lock.waiting':
      return `${h}${stripHost(e.message, e.host)}`;
    case 'heal':
      // a leftover of an interrupted run changes hosts before this command's own work: always said
      return `${h}${o.dryRun ? 'would heal' : 'heal'}: ${e.action} (the run started ${e.interrupted.at})`;
    case 'log':
      return o.quiet ? undefined : `${h}${e.plugin}: ${e.message}`;
    case 'result':
      return undefined; // the CLI prints the summary
    default:
      if (o.verbose && e.event.startsWith('deploy.')) return `${h}${e.event}`;
      return undefined;
  }
}

type HostFailed = Extract<StampedEvent, { event: 'host.failed' }>;

/** A failure as printed: `[hosts] FAILED at step: cause`, then the output, the command, the hint. */
function failureBlock(e: HostFailed, hosts: string[], o: ReporterOptions): string {
  const command = e.command ? '\n' + indent(e.command.split('\n').map((l, i) => (i ? '  ' : '$ ') + l).join('\n')) : '';
  const hint = e.hint ? '\n' + indent(`→ ${e.hint}`) : '';
  const tail = (e.stderr ? '\n' + indent(e.stderr) : '') + command + hint;
  return `[${hosts.join(', ')}] ${paint(o, 31, 'FAILED')}${e.step ? ` at ${e.step}` : ''}: ${failureDetail(e)}${tail}`;
}

/** The message without the host and step it starts with (they are printed in front of it). */
function failureDetail(e: HostFailed): string {
  return stripPrefix(stripHost(e.message, e.host), e.step ? `${e.step}: ` : '');
}

/**
 * Failures are held until the next other event and then printed grouped: hosts that failed the
 * same way (the same step, cause, output, command and hint: a git fetch refused everywhere) are
 * one block naming them all, in the order they failed, instead of the same block once per host.
 */
export class FailureGroups {
  private pending: HostFailed[] = [];

  constructor(private readonly o: ReporterOptions) {}

  /** Keep a host.failed event; true if it was one (and so is printed by flush, not now). */
  hold(e: StampedEvent): boolean {
    if (e.event !== 'host.failed') return false;
    // a refusal's reasons are the summary's, said once for all hosts
    if (!e.refused) this.pending.push(e);
    return true;
  }

  /** The blocks of the failures held, each printed once with its hosts. */
  flush(): string[] {
    const groups = new Map<string, { first: HostFailed; hosts: string[] }>();
    for (const raw of this.pending) {
      const e = shown(raw);
      const key = JSON.stringify([e.step ?? '', failureDetail(e), e.stderr ?? '', e.command ?? '', e.hint ?? '']);
      const g = groups.get(key);
      if (g) g.hosts.push(e.host);
      else groups.set(key, { first: e, hosts: [e.host] });
    }
    this.pending = [];
    return [...groups.values()].map((g) => failureBlock(g.first, g.hosts, this.o));
  }
}

function indent(s: string): string {
  return s
    .trimEnd()
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');
}

function stripPrefix(message: string, prefix: string): string {
  return prefix && message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

function stripHost(message: string, host?: string): string {
  return host && message.startsWith(host + ': ') ? message.slice(host.length + 2) : message;
}

/** The flushes of the lines reporters hold for grouping (reporter.ts flushReports). */
export const heldLines = new Set<() => void>();

/** Events said per host that read the same on many hosts: grouped into one line naming the hosts. */
const GROUPED = new Set(['heal', 'warning', 'log']);
const BOUNDARIES = new Set(['phase.started', 'phase.finished', 'result']);

/** An event said by one host that others may say alike: grouped (signal lines too, with -v). */
function grouped(e: StampedEvent): boolean {
  return 'host' in e && !!e.host && (GROUPED.has(e.event) || (e.event.startsWith('deploy.') && e.event !== 'deploy.failed'));
}

/**
 * Lines for the reporters, with what every host says alike said once: a phase emits heals,
 * warnings and plugin log lines one host after the other, and consecutive identical ones print as
 * one line naming the hosts ("[web1, web2] heal: ..."). A dry run's scripts (-v) print at the end
 * of their phase, once per distinct script. Every other event passes through at once.
 */
export function lineGrouper(o: ReporterOptions, write: (line: string) => void): ((e: StampedEvent) => void) & { flush(): void } {
  let said: StampedEvent[] = [];
  const flushSaid = () => {
    const byText = new Map<string, string[]>();
    for (const e of said) {
      const host = 'host' in e && e.host ? e.host : '';
      // the line as one host would say it, less its [host] prefix (a message naming its own host
      // loses that too, as it would alone)
      const line = plainLine(e, o);
      if (line === undefined) continue;
      const prefix = `[${visible(host)}] `;
      const text = line.startsWith(prefix) ? line.slice(prefix.length) : line;
      byText.set(text, [...(byText.get(text) ?? []), host]);
    }
    said = [];
    for (const [text, hosts] of byText) {
      const named = [...new Set(hosts.filter(Boolean))];
      write(named.length ? `[${named.map(visible).join(', ')}] ${text}` : text);
    }
  };
  // --dry-run -v: a phase's scripts, printed at its end once per distinct script with its hosts
  let scripts: Extract<StampedEvent, { event: 'script' }>[] = [];
  const flushScripts = () => {
    const byText = new Map<string, string[]>();
    for (const e of scripts) byText.set(e.script, [...(byText.get(e.script) ?? []), e.host]);
    const phase = scripts[0]?.phase;
    scripts = [];
    for (const [script, hosts] of byText) write(`[${hosts.map(visible).join(', ')}] ${visible(phase ?? '')} script:\n${indent(visible(script))}`);
  };
  // identical failures of several hosts: one block naming them (FailureGroups); at most one of
  // the buffers holds anything at a time, so lines keep the order of their events
  const failures = new FailureGroups(o);
  let failing = false;
  const flushFailures = () => {
    if (failing) failures.flush().forEach(write);
    failing = false;
  };
  // a dry run's scripts (-v), the read-only ones it runs for real included, wait for their phase's
  // end; other lines print meanwhile
  const heldScript = (e: StampedEvent): e is Extract<StampedEvent, { event: 'script' }> => e.event === 'script' && !!o.dryRun && o.verbose;
  const each = (e: StampedEvent) => {
    if (heldScript(e)) {
      if (scripts.length && scripts[0].phase !== e.phase) flushScripts();
      scripts.push(e);
      return;
    }
    if (e.event === 'host.failed') {
      if (said.length) flushSaid();
      failing = failures.hold(e) || failing;
      return;
    }
    if (grouped(e)) {
      flushFailures();
      said.push(e);
      return;
    }
    const line = plainLine(e, o);
    // an event that shows nothing (a host done, a script not shown) does not break a group, but a
    // phase's end and the result do: what the hosts said prints before them
    if (line === undefined && !BOUNDARIES.has(e.event)) return;
    flushFailures();
    if (said.length) flushSaid();
    if (scripts.length && BOUNDARIES.has(e.event)) flushScripts();
    if (line !== undefined) write(line);
  };
  return Object.assign(each, {
    flush: () => {
      flushFailures();
      if (said.length) flushSaid();
      if (scripts.length) flushScripts();
    },
  });
}
