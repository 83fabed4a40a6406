// Every argument that reaches a remote shell goes through quote(); scripts are plain text built
// from quoted pieces, so --dry-run can print exactly what would run.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX single-quote a word so any shell (sh, bash, zsh, dash) reads it literally. */
export function quote(word: string | number): string {
  const s = String(word);
  if (s === '') return "''";
  if (SAFE.test(s)) return s;
  return "'" + s.replace(/'/g, `'\\''`) + "'";
}

/** Build a command line from words, each quoted. */
export function cmd(...words: (string | number)[]): string {
  return words.map(quote).join(' ');
}

/** A named piece of a remote script; the name is reported when it fails. */
export interface Step {
  name: string;
  script: string;
  /** the script as printed (-v, --dry-run, failures) when it differs: secrets as *** */
  shown?: string;
}

export const FAILED_STEP_MARK = '::fap-failed-step::';
export const OUTPUT_MARK = '::fap-out::';

/**
 * Join steps into one script for one round trip. `set -e` stops at the first failing command;
 * the EXIT trap names the step that was running so the caller can say where it broke.
 */
export function composeScript(steps: Step[], o: { shown?: boolean } = {}): string {
  const lines = [
    'set -e',
    "FAP_STEP='start'",
    `trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\\n${FAILED_STEP_MARK}%s\\n" "$FAP_STEP" >&2; fi' EXIT`,
  ];
  for (const step of steps) {
    lines.push(`FAP_STEP=${quote(step.name)}`);
    lines.push(((o.shown && step.shown) || step.script).trimEnd());
  }
  return lines.join('\n') + '\n';
}

/**
 * Commands of a session without a terminal outlive a dropped SSH connection. This watchdog ends the
 * script (its process group, which sshd made it lead) once sshd's session process is gone, so a
 * killed fap never leaves a script running on, say, to flip current behind the next run's back.
 */
const WATCHDOG =
  'fap_sshd=${1:-$PPID}; (while kill -0 $$ 2>/dev/null; do if ! kill -0 "$fap_sshd" 2>/dev/null && [ ! -d "/proc/$fap_sshd" ]; then kill -TERM -$$ 2>/dev/null || kill -TERM $$; break; fi; sleep 1; done) </dev/null >/dev/null 2>&1 &';

export const RUN_MARK = '::fap-run::';
export const DONE_MARK = '::fap-done::';

/**
 * The command line of a session that runs many scripts, one per phase, over one exec channel:
 * each script arrives on stdin followed by the line `::fap-run::<nonce>`; it runs in a subshell with
 * /dev/null as its stdin, then `::fap-done::<nonce>:<exit code>` closes its stdout and stderr. So
 * a whole deploy costs one session start on each host (sshd, the login shell and its rc files)
 * instead of one per phase. The nonce keeps a config value from ever ending a script early.
 */
export function sessionCommand(nonce: string, sudoUser?: string): string {
  const driver = [
    WATCHDOG,
    `fap_end=${RUN_MARK}${nonce};`,
    'while :; do',
    "fap_chunk=''; fap_eof=1;",
    'while IFS= read -r fap_line; do',
    'if [ "$fap_line" = "$fap_end" ]; then fap_eof=0; break; fi;',
    'fap_chunk="$fap_chunk$fap_line',
    '";',
    'done;',
    'if [ "$fap_eof" = 1 ]; then exit 0; fi;',
    '(eval "$fap_chunk") </dev/null;',
    'fap_rc=$?;',
    `printf '\n${DONE_MARK}${nonce}:%s\n' "$fap_rc";`,
    `printf '\n${DONE_MARK}${nonce}:%s\n' "$fap_rc" >&2;`,
    'done',
  ].join('\n');
  // "$PPID", expanded by the login shell, is sshd's session process: the watchdog's anchor even
  // when sudo stands in between
  const sh = `/bin/sh -c ${quote(driver)} fap-session "$PPID"`;
  return sudoUser ? `sudo -n -u ${quote(sudoUser)} -- ${sh}` : sh;
}

/** A command line run as sudo_user when one is set (sudo -n: never prompts). */
export function asUser(commandLine: string, sudoUser?: string): string {
  return sudoUser ? `sudo -n -u ${quote(sudoUser)} -- ${commandLine}` : commandLine;
}

/** Split a script's stderr into the failed step (if any) and the rest. */
export function parseFailedStep(stderr: string): { step?: string; stderr: string } {
  const i = stderr.lastIndexOf(FAILED_STEP_MARK);
  if (i < 0) return { stderr };
  const rest = stderr.slice(i + FAILED_STEP_MARK.length);
  const step = rest.split('\n')[0];
  return { step, stderr: stderr.slice(0, i).replace(/\n$/, '') };
}

/** Lines a script printed as `::fap-out::key=value` (machine-readable results). */
export function parseOutputs(stdout: string): { outputs: Map<string, string[]>; rest: string } {
  const outputs = new Map<string, string[]>();
  const rest: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith(OUTPUT_MARK)) {
      const body = line.slice(OUTPUT_MARK.length);
      const eq = body.indexOf('=');
      const key = eq < 0 ? body : body.slice(0, eq);
      const value = eq < 0 ? '' : body.slice(eq + 1);
      const list = outputs.get(key) ?? [];
      list.push(value);
      outputs.set(key, list);
    } else {
      rest.push(line);
    }
  }
  return { outputs, rest: rest.join('\n') };
}

/** Output key of a log line a plugin's step prints (see logOutput); the runner turns it into a log event. */
export const LOG_OUTPUT_PREFIX = 'log:';

/** Shell text that reports `message` (literal) as a log line of `plugin` when the script runs. */
export function logOutput(plugin: string, message: string): string {
  return emitOutput(LOG_OUTPUT_PREFIX + plugin.replace(/[^A-Za-z0-9._-]/g, '_'), quote(message.replace(/\n/g, ' ')));
}

/** Shell text that prints one machine-readable output line. */
export function emitOutput(key: string, valueExpr: string): string {
  return `printf '%s\\n' ${quote(OUTPUT_MARK + key + '=')}${valueExpr}`;
}
