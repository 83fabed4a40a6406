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
  /** the command quoted when the step fails, when the script only wraps it (the health check's retry loop) */
  command?: string;
  /**
   * said after the exit status when the step reports its command's failure itself (FAILURE_OUTPUT,
   * FAILURE_STATUS): the health check's "still failing after 30s"
   */
  failureNote?: string;
}

/**
 * Output keys of a step that wraps the user's command (the health check): that command's own
 * output and exit status, printed just before the step fails. The failure quotes them instead of
 * what the whole script wrote (earlier steps' lines, the wrapper's own words).
 */
export const FAILURE_OUTPUT = 'failed-output';
export const FAILURE_STATUS = 'failed-status';

export const FAILED_STEP_MARK = '::fap-failed-step::';
export const OUTPUT_MARK = '::fap-out::';

/**
 * Join steps into one script for one round trip. `set -e` stops at the first failing command;
 * the EXIT trap names the step that was running so the caller can say where it broke. In a
 * session, the marks carry the session's key (FAP_FM / FAP_OM, set by the driver, not exported),
 * so no program a step runs can forge a failed step or a result line.
 */
export function composeScript(steps: Step[], o: { shown?: boolean } = {}): string {
  const lines = [
    'set -e',
    "FAP_STEP='start'",
    `trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\\n%s%s\\n" "\${FAP_FM-${FAILED_STEP_MARK}}" "$FAP_STEP" >&2; fi' EXIT`,
  ];
  for (const step of steps) {
    lines.push(`FAP_STEP=${quote(step.name)}`);
    lines.push(((o.shown && step.shown) || step.script).trimEnd());
  }
  return lines.join('\n') + '\n';
}

/** The pgid of process $1 (field 5 of /proc/PID/stat; the command name before it may hold spaces). */
const PGID_OF = (pid: string) => `sed -n 's/^.*) . [0-9-]* \\([0-9-]*\\) .*$/\\1/p' /proc/${pid}/stat 2>/dev/null`;

/**
 * Commands of a session without a terminal outlive a dropped SSH connection. This watchdog ends the
 * script's whole process group (which the launcher made the driver lead) once sshd's session
 * process ($1) is gone: once a second it checks `kill -0` (true for a live or zombie process we may
 * signal) and /proc/PID (present until the process is reaped, whoever owns it), so an unreaped sshd
 * still counts as alive. TERM first, KILL two seconds later for what ignored it. The watchdog
 * ignores TERM itself so it can follow up.
 */
const WATCHDOG = [
  'fap_sshd=${1:-$PPID};',
  `fap_pg=$(${PGID_OF('$$')}); fap_pg=\${fap_pg:-$$};`,
  '(trap "" TERM; while kill -0 $$ 2>/dev/null; do if ! kill -0 "$fap_sshd" 2>/dev/null && [ ! -d "/proc/$fap_sshd" ]; then',
  'kill -TERM -"$fap_pg" 2>/dev/null || kill -TERM $$; sleep 2; kill -KILL -"$fap_pg" 2>/dev/null || kill -KILL $$; break; fi; sleep 1; done) </dev/null >/dev/null 2>&1 &',
].join(' ');

/**
 * Run a driver script so that it leads its own process group: under sudo (and a login shell that
 * forks) it does not, and the watchdog's `kill -TERM -PGID` would miss the script. In order:
 * already the leader: run as is; setsid(1) (util-linux, busybox; it execs in place when the caller
 * is not a group leader, which we checked, so sshd still waits for this pid); perl's setpgrp;
 * otherwise the watchdog kills the group the driver is in. The driver gets $1 = sshd's session
 * process ("$PPID" as the login shell sees it: the anchor even when sudo stands in between).
 */
function launch(label: string, driver: string, sudoUser?: SudoAs): string {
  const launcher = [
    `fap_p=$(${PGID_OF('$$')});`,
    'if [ "$fap_p" = "$$" ]; then exec /bin/sh -c "$2" "$0" "$1";',
    'elif [ -n "$fap_p" ] && command -v setsid >/dev/null 2>&1; then exec setsid /bin/sh -c "$2" "$0" "$1";',
    `elif command -v perl >/dev/null 2>&1; then exec perl -e 'setpgrp(0, 0); exec @ARGV or exit 127' /bin/sh -c "$2" "$0" "$1";`,
    'else exec /bin/sh -c "$2" "$0" "$1"; fi',
  ].join(' ');
  // FAP_SSHD: the sshd session's pid, when sudo -i stands between (see asUser)
  return asUser(`/bin/sh -c ${quote(launcher)} ${label} "\${FAP_SSHD:-$PPID}" ${quote(driver)}`, sudoUser);
}

export const RUN_MARK = '::fap-run::';
export const DONE_MARK = '::fap-done::';

/**
 * The command line of a session that runs many scripts, one per phase, over one exec channel.
 * stdin starts with one line: the session key (never on a command line, so no process on the
 * host can read it). Then each script arrives followed by the line `::fap-run::<nonce>`; it runs
 * in a subshell with /dev/null as its stdin, then `::fap-done::<key>:<exit code>` closes its
 * stdout and stderr. So a whole deploy costs one session start on each host (sshd, the login
 * shell and its rc files) instead of one per phase. The nonce keeps a config value from ever
 * ending a script early, and names the session in the process list.
 */
export function sessionCommand(nonce: string, sudoUser?: SudoAs): string {
  const driver = [
    WATCHDOG,
    `fap_end=${RUN_MARK}${nonce};`,
    'IFS= read -r fap_key || exit 0;',
    `FAP_OM="${OUTPUT_MARK}$fap_key:"; FAP_FM="${FAILED_STEP_MARK}$fap_key:";`,
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
    `printf '\\n%s%s:%s\\n' '${DONE_MARK}' "$fap_key" "$fap_rc";`,
    `printf '\\n%s%s:%s\\n' '${DONE_MARK}' "$fap_key" "$fap_rc" >&2;`,
    'done',
  ].join('\n');
  return launch('fap-session', driver, sudoUser);
}

/** The marks of a session whose key is `key`: what its scripts print, what the caller accepts. */
export function sessionMarks(key: string): { output: string; failed: string; done: string } {
  return { output: `${OUTPUT_MARK}${key}:`, failed: `${FAILED_STEP_MARK}${key}:`, done: `${DONE_MARK}${key}:` };
}

/**
 * A one-off command line (fap run) under the same watchdog as a session: when the SSH session
 * ends, the command's whole process group is ended with it.
 */
export function guardedCommand(commandLine: string, sudoUser?: SudoAs): string {
  return launch('fap-run', `${WATCHDOG}\n/bin/sh -c ${quote(commandLine)}`, sudoUser);
}


/** Who remote work runs as through sudo, and sudo_prefix's flags (-i, -H, -E). */
export interface SudoAs {
  user: string;
  flags?: readonly string[];
}

const SUDO_FLAGS: Record<string, string> = { i: '-i', H: '-H', E: '-E', n: '-n', login: '-i', 'set-home': '-H', 'preserve-env': '-E', 'non-interactive': '-n' };

/**
 * sudo_prefix (Fapistrano's 'sudo -i '): sudo, then flags among -i, -H, -E, -n (bundled like -iH, or
 * spelt long). Anything that could prompt, read stdin or pick another user (-S, -A, -u, -s, ...) is
 * refused: fap adds -n and -u sudo_user itself. Returns the flags, -n left out.
 */
export function parseSudoPrefix(prefix: string): string[] {
  const words = prefix.trim().split(/\s+/);
  if (!/^(\/[^\s]*\/)?sudo$/.test(words[0] ?? '')) throw new Error(`sudo_prefix must start with sudo, got "${prefix.trim()}"`);
  const flags = new Set<string>();
  for (const w of words.slice(1)) {
    const names = w.startsWith('--') ? [w.slice(2)] : /^-[A-Za-z]+$/.test(w) ? [...w.slice(1)] : [];
    if (!names.length || names.some((n) => !SUDO_FLAGS[n])) {
      throw new Error(`sudo_prefix: "${w}" is not supported (fap runs sudo -n -u sudo_user and accepts -i, -H, -E)`);
    }
    for (const n of names) if (SUDO_FLAGS[n] !== '-n') flags.add(SUDO_FLAGS[n]);
  }
  return [...flags];
}

/** sudo only when sudo_user is not the user logged in as (fapistrano-0.9.5 utils.py:29). */
export function effectiveSudo(sudoUser: string | undefined, loginUser: string, prefix?: string): SudoAs | undefined {
  if (!sudoUser || sudoUser === loginUser) return undefined;
  return { user: sudoUser, flags: prefix === undefined ? [] : parseSudoPrefix(prefix) };
}

/**
 * A command line run as sudo_user when one is set (sudo -n: never prompts). With -i sudo hands its
 * words to sudo_user's login shell as one `-c` string, backslash-escaping every character but
 * letters, digits, _, - and $, so that shell would expand $name and drop escaped newlines. So the
 * command line goes through it as printf %b octal escapes (no $, \ or newline left), with the
 * sshd session's pid (the watchdog's anchor) beside it; /bin/sh decodes and runs it.
 */
export function asUser(commandLine: string, sudoUser?: SudoAs): string {
  if (!sudoUser) return commandLine;
  const flags = (sudoUser.flags ?? []).filter((f) => f !== '-n');
  const head = `sudo -n ${flags.map((f) => f + ' ').join('')}-u ${quote(sudoUser.user)} --`;
  if (!flags.includes('-i')) return `${head} ${commandLine}`;
  return `${head} /bin/sh -c ${quote(LOGIN_DECODER)} fap-login "$PPID" ${quote(octalEscape(commandLine))}`;
}

/** Written without $name (which the login shell would expand): only ${...} and $(...). */
const LOGIN_DECODER = 'FAP_SSHD=${1}; export FAP_SSHD; fap_s=$(printf %bx "${2}"); exec /bin/sh -c "${fap_s%x}"';

/** Text for printf %b: \, $, control characters and non-ASCII bytes as \0ooo. */
export function octalEscape(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(b);
    out += b < 0x20 || b > 0x7e || c === '\\' || c === '$' ? '\\0' + b.toString(8).padStart(3, '0') : c;
  }
  return out;
}

/** Split a script's stderr into the failed step (if any) and the rest. */
export function parseFailedStep(stderr: string, mark = FAILED_STEP_MARK): { step?: string; stderr: string } {
  const i = stderr.lastIndexOf(mark);
  if (i < 0) return { stderr };
  const rest = stderr.slice(i + mark.length);
  const step = rest.split('\n')[0];
  return { step, stderr: stderr.slice(0, i).replace(/\n$/, '') };
}

/** Lines a script printed as `<mark>key=value` (machine-readable results); in a session the mark holds its key. */
export function parseOutputs(stdout: string, mark = OUTPUT_MARK): { outputs: Map<string, string[]>; rest: string } {
  const outputs = new Map<string, string[]>();
  const rest: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith(mark)) {
      const body = line.slice(mark.length);
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

/**
 * A filter (`cmd | logLines(plugin)`) that reports every non-blank line of its input as a log line
 * of `plugin`. awk ends every line it prints with a newline: a last line without one (printf,
 * a progress bar) must not run into the script's next output line.
 */
export function logLines(plugin: string): string {
  return `awk -v fap_p="\${FAP_OM-${OUTPUT_MARK}}${LOG_OUTPUT_PREFIX}${plugin.replace(/[^A-Za-z0-9._-]/g, '_')}=" 'NF { print fap_p $0 }'`;
}

/** A filter (`cmd | outputLines(key)`) that turns every line of its input into an output line of `key`. */
export function outputLines(key: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new Error(`outputLines: bad key ${key}`);
  return `sed "s/^/\${FAP_OM-${OUTPUT_MARK}}${key}=/"`;
}

/** Shell text that prints one machine-readable output line. */
export function emitOutput(key: string, valueExpr: string): string {
  return `printf '%s\\n' "\${FAP_OM-${OUTPUT_MARK}}"${quote(key + '=')}${valueExpr}`;
}

/**
 * The upload as sudo_user (\$1: the path on the host): the file is created under umask 077 by
 * that user, from stdin, and its size as it landed is printed (the caller compares it).
 */
export const UPLOAD_SCRIPT = 'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && wc -c < "$1"';

/**
 * A last stderr line that says sudo did not start what it was asked to: sudo's own refusal, or the
 * shell's "sudo: not found" on a host without sudo. Nothing behind it ever ran.
 */
export const SUDO_DID_NOT_START = /(^|\n)(sudo: |[^\n]*: sudo: (command )?not found)[^\n]*\n?$/;
