// Signals and closed output, from fap's first line to its last. bin/fap.js installs these before it
// loads anything else, so a Ctrl-C is never node's default (death at an arbitrary point) and a
// closed pipe is never an unhandled EPIPE. This module imports nothing: it must load in no time.
//
// No transaction running (config loading, plan building, read-only commands): fap ends at once,
// exit 130 (a signal) or 141 (output closed, as a Unix tool killed by SIGPIPE). A transaction
// running: the first signal, or closed output, asks it to stop at the next phase boundary and clean
// up; a second signal releases this run's locks (bounded) and exits 130.

export const EXIT_INTERRUPTED = 130;
export const EXIT_OUTPUT_CLOSED = 141;
/** how long a second signal waits for the locks to be released before quitting anyway */
export const QUIT_CLEANUP_MS = 10_000;

export interface ActiveTransaction {
  /** stop at the next phase boundary and clean up (Run.abort) */
  stop(reason: string): void;
  /** best-effort last cleanup before exiting at once (release this run's locks) */
  quit(): Promise<void>;
}

let installed = false;
let active: ActiveTransaction | undefined;
let foreground: { stop(): void } | undefined;
let signals = 0;
let quitting = false;
let outputClosed = false;
let hostsContacted = false;
/** --json: writes the `result` line when fap exits before its command wrote one (set by main) */
let lastWords: ((exitCode: number, error: string) => void) | undefined;

export function setLastWords(fn: (exitCode: number, error: string) => void): void {
  lastWords = fn;
}

function exit(code: number, why: string): never {
  try {
    lastWords?.(code, why);
  } catch {
    /* stdout is gone */
  }
  process.exit(code);
}

/** --json among fap's own arguments (before a `--` that starts a remote command) */
export function jsonWanted(argv: string[]): boolean {
  const own = argv.slice(2);
  const end = own.indexOf('--');
  return (end < 0 ? own : own.slice(0, end)).includes('--json');
}

export function installInterrupts(): void {
  if (installed) return;
  installed = true;
  // a signal before the commands have loaded: the stream's one line is still a result (main sets
  // the full version, which knows the command and whether a result was written, once loaded)
  if (jsonWanted(process.argv)) {
    lastWords = (exitCode, error) => process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), event: 'result', ok: false, command: 'fap', exitCode, hosts: [], error }) + '\n');
  }
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // the terminal went away (ssh to a jump box dropped, the window closed): as SIGTERM, not death mid-phase
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  guard(process.stdout, 'standard output');
  guard(process.stderr, 'standard error');
}

/** A transaction (deploy, rollback, ...) is running until the returned function is called. */
export function beginTransaction(t: ActiveTransaction): () => void {
  active = t;
  return () => {
    if (active === t) active = undefined;
  };
}

/**
 * A command on this machine has fap's own terminal until the returned function is called (fap
 * shell, fap run -i on a local host). What is typed there (Ctrl-C, Ctrl-\\) reaches the command as
 * well as fap, and is the command's, as with ssh -t: fap does not end under it, it waits for the
 * command's exit code. Any other signal asks the command to end (stop), and fap then ends with it.
 */
export function beginForeground(stop: () => void): () => void {
  const ignore = () => {};
  const mine = { stop };
  foreground = mine;
  process.on('SIGQUIT', ignore);
  return () => {
    process.off('SIGQUIT', ignore);
    if (foreground === mine) foreground = undefined;
  };
}

/** From now on fap may have contacted hosts (for the message a signal prints). */
export function markHostsContacted(): void {
  hostsContacted = true;
}

/** The exit code fap ends with: 141 once an output stream has closed, else the command's. */
/** true once stdout or stderr has failed (the reader went away) */
export function outputWasClosed(): boolean {
  return outputClosed;
}

export function finalExitCode(code: number): number {
  return outputClosed && code !== EXIT_INTERRUPTED ? EXIT_OUTPUT_CLOSED : code;
}

function say(line: string): void {
  try {
    process.stderr.write(line + '\n');
  } catch {
    /* stderr is gone too */
  }
}

function onSignal(sig: NodeJS.Signals): void {
  if (foreground) {
    if (sig !== 'SIGINT') foreground.stop();
    return;
  }
  signals++;
  if (!active) {
    const line = hostsContacted ? `interrupted by ${sig}` : `interrupted by ${sig} before any host was contacted: nothing was changed`;
    say(`fap: ${line}`);
    exit(EXIT_INTERRUPTED, line);
  }
  if (signals === 1) {
    say(`\nfap: ${sig}: stopping at the next phase boundary and cleaning up (again to quit at once)`);
    active.stop(`interrupted by ${sig}`);
    return;
  }
  const why = `${sig} again: quit at once; the next run heals what was left`;
  if (quitting) exit(EXIT_INTERRUPTED, why);
  quitting = true;
  say(`fap: ${sig} again: releasing this run's locks and quitting (the next run heals what was left)`);
  const timer = setTimeout(() => exit(EXIT_INTERRUPTED, why), QUIT_CLEANUP_MS);
  active
    .quit()
    .catch(() => {})
    .finally(() => {
      clearTimeout(timer);
      exit(EXIT_INTERRUPTED, why);
    });
}

/**
 * An output stream that fails (EPIPE: the reader went away; EIO: the terminal did) is written to no
 * more; a run stops as on a first Ctrl-C (saying so on stderr) and fap exits 141.
 */
function guard(stream: NodeJS.WriteStream, name: string): void {
  stream.on('error', () => {
    if ((stream.write as unknown) === noWrite) return;
    stream.write = noWrite as typeof stream.write;
    outputClosed = true;
    // nothing running (help, a table read into `head`): end quietly, as a Unix tool killed by SIGPIPE
    if (!active) exit(EXIT_OUTPUT_CLOSED, `${name} closed`);
    if (stream !== process.stderr) say(`fap: ${name} closed: stopping`);
    active.stop(`${name} closed`);
  });
}

function noWrite(this: unknown, _chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  const done = typeof encoding === 'function' ? encoding : cb;
  if (typeof done === 'function') process.nextTick(done as () => void);
  return true;
}
