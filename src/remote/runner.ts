// The one executor of remote work: compose steps into a script, run it in one round trip, and
// turn a failure into a HostError naming host and step.
import { causeLine, ConnectError, HostError } from '../errors.js';
import type { EventBus } from '../events.js';
import { redact } from '../redact.js';
import type { Transport } from '../transport/transport.js';
import { composeScript, FAILURE_OUTPUT, FAILURE_STATUS, LOG_OUTPUT_PREFIX, parseFailedStep, parseOutputs, type Step } from './shell.js';

export interface ScriptResult {
  code: number;
  outputs: Map<string, string[]>;
  stdout: string;
  stderr: string;
}

/** Exit code a script uses to say "the deploy lock is held by someone else". */
export const LOCK_HELD_CODE = 75;

export class Runner {
  constructor(
    private readonly bus: EventBus,
    private readonly verbose: boolean,
  ) {}

  async run(conn: Transport, host: string, phase: string, steps: Step[], opts: { allowCodes?: number[] } = {}): Promise<ScriptResult> {
    const script = composeScript(steps);
    this.bus.emit({ event: 'script', host, phase, script: composeScript(steps, { shown: true }), verbose: this.verbose });
    // a connection lost mid-script names the phase it was in ("FAILED at publish: connection lost ...")
    const r = await conn.runScript(script).catch((e: unknown) => Promise.reject(e instanceof ConnectError ? e.during(phase) : e));
    // only lines with this session's marks count: a program a step runs cannot forge a result
    const { step, stderr } = parseFailedStep(r.stderr, r.marks?.failed);
    const { outputs, rest } = parseOutputs(r.stdout, r.marks?.output);
    // log lines plugins' steps printed (ctx.remoteLog), reported whether or not the script succeeded
    for (const [key, lines] of outputs) {
      if (!key.startsWith(LOG_OUTPUT_PREFIX)) continue;
      for (const message of lines) this.bus.emit({ event: 'log', host, plugin: key.slice(LOG_OUTPUT_PREFIX.length), message });
    }
    if (r.code !== 0 && !opts.allowCodes?.includes(r.code)) {
      // a step that reported its command's result itself (the health check): that command's
      // output and exit status, not the script's (earlier steps' lines, the retry loop's words)
      const own = outputs.get(FAILURE_OUTPUT);
      const status = outputs.get(FAILURE_STATUS)?.at(-1);
      // a program that explains itself on stdout only (virtualenv, pip, some build tools): its
      // output is the reason, not the bare exit code (found by the attack pass)
      const said = own ? own.join('\n').replace(/^\n+|\s+$/g, '') : stderr.trim() || rest.trim();
      const cause = causeLine(said);
      const failed = steps.find((s) => s.name === step);
      const shownCause = cause === undefined ? undefined : clip(cause);
      const detail = status === undefined ? (shownCause ?? `exit code ${r.code}`) : commandFailure(shownCause, status, failed?.failureNote);
      // a step that wraps the user's command (the health check's retry loop) shows that command
      const command = (failed?.command ?? failed?.shown ?? failed?.script)?.trim().split('\n').slice(0, 3).join('\n');
      throw new HostError(host, step ?? phase, detail, excerpt(said, cause), command);
    }
    // a lock attempt that found the lock held is not done: it is tried again while fap waits
    if (r.code !== LOCK_HELD_CODE) this.bus.emit({ event: 'host.done', host, phase });
    return { code: r.code, outputs, stdout: rest, stderr };
  }
}

/**
 * A wrapped command's failure: its cause line first (the headline), then its exit status and the
 * step's note: `curl: (7) Failed to connect ... (exit status 7; still failing after 30s)`.
 */
function commandFailure(cause: string | undefined, status: string, note?: string): string {
  if (cause) return `${cause} (exit status ${status}${note ? `; ${note}` : ''})`;
  return `exit status ${status}, no output${note ? ` (${note})` : ''}`;
}

/** The last 8 lines of a failed script's output, or 8 from its cause line when that came earlier. */
export function excerpt(output: string, cause: string | undefined, max = 8): string {
  const lines = output.split(/\r\n|\n|\r/);
  const at = cause === undefined ? -1 : lines.findIndex((l) => l.trim() === cause);
  const from = at >= 0 && at < lines.length - max ? at : Math.max(0, lines.length - max);
  return lines.slice(from, from + max).map(clip).join('\n');
}

/** Longest line of a host's output a failure shows: one line of megabytes must not flood a log. */
export const LINE_MAX = 400;

/**
 * A line cut to LINE_MAX characters, saying how much was left out; secrets are masked before the
 * cut, so a cut through one can never leave part of it to be shown.
 */
export function clip(line: string): string {
  const safe = redact(line);
  return safe.length > LINE_MAX ? `${safe.slice(0, LINE_MAX)}… (${safe.length - LINE_MAX} more characters)` : safe;
}
