// Expected failures are typed; the CLI boundary (src/cli/main.ts) maps them to exit codes and a
// one-line message. Anything else is a bug and keeps its stack trace.

export const EXIT = { ok: 0, failed: 1, usage: 2, locked: 3 } as const;

export class FapError extends Error {
  readonly exitCode: number = EXIT.failed;
  constructor(
    message: string,
    /** what to do next, printed under the message; given when the error is made */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Bad deploy.yml or options: nothing was contacted. */
export class ConfigError extends FapError {
  override readonly exitCode = EXIT.usage;
  /** the message without the file:line:col and key path in front */
  readonly detail: string;
  constructor(
    message: string,
    readonly where?: { file?: string; line?: number; col?: number; keyPath?: string },
  ) {
    super(formatWhere(where) + message);
    this.detail = message;
  }
}

/** At most this many configuration errors are printed; the rest are counted ("... and 3 more"). */
export const MAX_CONFIG_ERRORS = 20;

/**
 * Several configuration errors, found in one pass over deploy.yml and --set: each a ConfigError
 * with its own place, in file order (line, column; --set and errors without a line after). The
 * boundary (src/cli/main.ts) prints every one and their count.
 */
export class ConfigErrors extends ConfigError {
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    const sorted = sortConfigErrors(errors);
    super(sorted[0].detail, sorted[0].where);
    this.errors = sorted;
  }
}

/** File order: errors with a line by (file, line, column), then the others as found. Stable. */
function sortConfigErrors(errors: readonly ConfigError[]): ConfigError[] {
  const located = (e: ConfigError) => e.where?.line !== undefined;
  return errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => {
      const la = located(a.e);
      const lb = located(b.e);
      if (la !== lb) return la ? -1 : 1;
      if (!la) return a.i - b.i;
      const wa = a.e.where!;
      const wb = b.e.where!;
      return (wa.file ?? '').localeCompare(wb.file ?? '') || wa.line! - wb.line! || (wa.col ?? 1) - (wb.col ?? 1) || a.i - b.i;
    })
    .map(({ e }) => e);
}

/**
 * Collects configuration errors so one run reports all of them: `take` runs a piece of checking
 * and keeps its ConfigError (or each of a ConfigErrors) instead of stopping; `throwIfAny` ends
 * the pass with one error or the aggregate. The same message found twice (a top-level key seen by
 * every role) is kept once.
 */
export class ConfigErrorCollector {
  private readonly list: ConfigError[] = [];
  private readonly seen = new Set<string>();
  get count(): number {
    return this.list.length;
  }
  add(e: ConfigError): void {
    for (const one of e instanceof ConfigErrors ? e.errors : [e]) {
      if (this.seen.has(one.message)) continue;
      this.seen.add(one.message);
      this.list.push(one);
    }
  }
  /** fn's value, or undefined when it threw a ConfigError (kept); other errors pass through */
  take<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.add(e);
      return undefined;
    }
  }
  async takeAsync<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.add(e);
      return undefined;
    }
  }
  throwIfAny(): void {
    if (this.list.length === 1) throw this.list[0];
    if (this.list.length > 1) throw new ConfigErrors(this.list);
  }
}

export class UsageError extends FapError {
  override readonly exitCode = EXIT.usage;
}

/**
 * The line of a failed program's output that says why: the first `fatal:` / `error:` line (git and
 * most tools write the cause first, then hints: "fatal: detected dubious ownership ...", then "and
 * the repository exists."), else the last non-empty line. Always one whole line of the text, trimmed
 * and never cut short (a cut could split a secret so that redaction no longer recognises it).
 */
export function causeLine(output: string): string | undefined {
  const lines = output
    .split(/\r\n|\n|\r/)
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => CAUSE.test(l)) ?? lines.pop();
}

/** fatal:, error:, ERROR:, Error:, error[E0425]:, also as git relays them from a server (remote: fatal: ...) */
const CAUSE = /^(?:remote:\s*)?(?:fatal|error)(?:\[[^\]]*\])?:/i;

/** A step failed on one host. */
export class HostError extends FapError {
  constructor(
    readonly host: string,
    readonly step: string,
    detail: string,
    readonly stderrTail = '',
    /** the first lines of the failing step's shell text */
    readonly command?: string,
  ) {
    super(`${host}: ${step}: ${detail}`);
  }
}

/** Another run holds the deploy lock. */
export class LockError extends FapError {
  override readonly exitCode = EXIT.locked;
}

/** A host could not be reached, or its connection or session ended. */
export class ConnectError extends FapError {
  constructor(
    readonly host: string,
    /** the message without the host in front */
    readonly detail: string,
    /** the session ended before it ran anything (sudo refused to start it): no script of it ran */
    readonly notStarted = false,
    /** the phase whose script was running when the connection or session ended (see during) */
    readonly step?: string,
  ) {
    super(`${host}: ${detail}`);
  }

  /** The same failure, said to have happened while `step`'s script ran (a lost connection names where it was). */
  during(step: string): ConnectError {
    return this.step === undefined ? new ConnectError(this.host, this.detail, this.notStarted, step) : this;
  }
}

/** The operation failed on one or more hosts; each host's outcome was already reported. */
export class OperationFailed extends FapError {}

/** The run was interrupted (SIGINT/SIGTERM) and stopped at a phase boundary. */
export class Interrupted extends FapError {}

/** A stage of `fap deploy <role>` (every stage with the role) failed; the later stages were not run. */
export class StagesNotRun extends FapError {
  override readonly exitCode: number;
  constructor(failure: FapError, note: string) {
    super(failure.message, [failure.hint, note].filter(Boolean).join('\n  '));
    this.exitCode = failure.exitCode;
  }
}

/** A %(key)s that cannot be interpolated (resolve.ts turns it into a ConfigError with the key's place). */
export class InterpolationError extends Error {
  constructor(
    message: string,
    readonly unknownKey?: string,
  ) {
    super(message);
  }
}

/** An ssh config lookup failed: ssh -G exited non-zero (a syntax error in the config, ...), a ProxyCommand, a ProxyJump loop. */
export class SshConfigError extends Error {}

/** A value written like a command line (curl_options, virtualenv_pip_options) cannot be split into words safely. */
export class WordsError extends Error {}

/** An identity file cannot be used: unreadable, a public key, an unsupported type, a wrong or missing passphrase. */
export class IdentityError extends FapError {}

function formatWhere(where?: { file?: string; line?: number; col?: number; keyPath?: string }): string {
  if (!where) return '';
  let s = '';
  if (where.file) {
    s += where.file;
    if (where.line) s += `:${where.line}:${where.col ?? 1}`;
    s += ': ';
  }
  if (where.keyPath) s += `${where.keyPath}: `;
  return s;
}
