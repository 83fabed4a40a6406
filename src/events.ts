// One event stream feeds every reporter (TTY, plain lines, JSON lines). Text is redacted here,
// once, so no reporter can leak a secret: each string of the event, not its JSON text, so every
// form of a secret is found and the event stays valid JSON whatever the secret holds.
//
// The union below IS the --json contract: every interface's doc comment and every field's comment
// become docs/events.md (npm run docs, scripts/events-reference.ts), and a test keeps them equal.
// Only the shapes are declared here; what fap does is elsewhere.
import { redactDeep } from './redact.js';
import type { JournalPhase } from './release/state.js';
import type { SignalName } from './signals.js';

/** Outcome of one host in a run, reported in the final `result` event. */
export type HostOutcome = 'deployed' | 'rolled-back' | 'unchanged' | 'failed' | 'reverted' | 'ok';

/** First line of every run. */
export interface RunStarted {
  event: 'run.started';
  /** the command: deploy, release, rollback, restart, cleanup, unlock, releases, check, run */
  command: string;
  /** the stage named on the command line */
  stage: string;
  /** the role named on the command line, when one was */
  role?: string;
  /** every host the command works on */
  hosts: string[];
  /** true with --dry-run: nothing will be changed */
  dryRun: boolean;
}

/** Something the operator should know that does not fail the run; any time. */
export interface Warning {
  event: 'warning';
  /** the host it is about, when it is about one */
  host?: string;
  /** what happened */
  message: string;
}

/**
 * Another run holds the deploy lock; this run waits for it (`--lock-wait`). Sent at the first sight
 * of the held lock, then every 20 s while waiting.
 */
export interface LockWaiting {
  event: 'lock.waiting';
  /** the first host whose lock is held */
  host: string;
  /** every host whose lock is held by a live run */
  hosts: string[];
  /** who holds it: user@machine (pid, "command") since time */
  holder: string;
  /** how long this run has waited so far */
  waitedMs: number;
  /** how long it waits at most (--lock-wait) */
  timeoutMs: number;
  /** who holds it and why it is not taken over, in words */
  message: string;
}

/** fap unlock removed a host's lock. */
export interface LockRemoved {
  event: 'lock.removed';
  /** the host */
  host: string;
  /** the removed lock's owner record, or null when it had none */
  owner: LockOwnerRecord | null;
  /** whose lock was removed, in words */
  message: string;
}

/** A lock's owner record, as fap wrote it (any field may be missing from an old or damaged lock). */
export interface LockOwnerRecord {
  /** the user who ran fap */
  user?: string;
  /** the machine that ran fap */
  origin?: string;
  /** fap's process id there */
  pid?: number;
  /** the command that took the lock */
  command?: string;
  /** when it was taken (ISO 8601) */
  started_at?: string;
  /** the run's token */
  token?: string;
  /** the lock-taking machine's boot id */
  boot_id?: string;
  /** the lock-taking process's PID namespace */
  pid_ns?: string;
}

/** While locking: a run that was interrupted left this host half done, and this run puts it right first. */
export interface HealEvent {
  event: 'heal';
  /** the host */
  host: string;
  /** the interrupted run's journal */
  interrupted: JournalRecord;
  /** what was done about it, in words */
  action: string;
}

/** A run's journal on a host: what it was doing and how far it got. */
export interface JournalRecord {
  /** the run's token */
  token: string;
  /** its command */
  command: string;
  /** the release it was making or moving to */
  release: string;
  /** what current pointed at before it ('' for none) */
  prev: string;
  /** how far it got */
  phase: JournalPhase;
  /** when it started (ISO 8601) */
  at: string;
  /** every target of the run (user@host:port/path) */
  hosts: string[];
}

/** A host's SSH connection is open. */
export interface HostConnected {
  event: 'host.connected';
  /** the host */
  host: string;
  /** milliseconds the connection took */
  ms: number;
  /** the jump hosts it went through, in order, when any */
  via?: string[];
}

/** After locking: the name of the release this run makes. */
export interface ReleasePlanned {
  event: 'release.planned';
  /** the release name (a timestamp) */
  release: string;
  /** the hosts it is made on */
  hosts: string[];
}

/** A phase begins on its hosts (`lock`, `prepare`, `publish`, `publish 1/3`, `revert`, `finish`, `rollback`, `check`, ...). */
export interface PhaseStarted {
  event: 'phase.started';
  /** the phase */
  phase: string;
  /** how many hosts it runs on */
  hosts: number;
}

/** A phase has ended on all its hosts. */
export interface PhaseFinished {
  event: 'phase.finished';
  /** the phase */
  phase: string;
  /** how long it took, in milliseconds */
  ms: number;
  /** hosts it succeeded on */
  ok: number;
  /** hosts it failed on */
  failed: number;
}

/** Per host, as its phase script is built: the signal plugins hook into. */
export interface SignalEvent {
  event: SignalName;
  /** the host */
  host: string;
  /** its role */
  role: string;
}

/** A release is abandoned (besides the per-host `deploy.failed` signal). */
export interface DeployFailed {
  event: 'deploy.failed';
  /** the abandoned release */
  release: string;
  /** the phase it got to */
  phase: string;
  /** why it stopped, when it was stopped rather than failed (a signal, a closed output) */
  reason?: string;
}

/** The run puts back the hosts it changed (besides the per-host `deploy.reverting` signal). */
export interface DeployReverting {
  event: 'deploy.reverting';
  /** the release being undone (for rollback: the releases moved to, comma-separated) */
  release: string;
}

/** The hosts are back where they were (besides the per-host `deploy.reverted` signal). */
export interface DeployReverted {
  event: 'deploy.reverted';
  /** the release that was undone */
  release: string;
}

/** A script sent to a host: with -v, or with --dry-run instead of sending it. */
export interface ScriptEvent {
  event: 'script';
  /** the host */
  host: string;
  /** the phase the script belongs to */
  phase: string;
  /** the script's text, secrets shown as *** */
  script: string;
  /** true when -v asked for scripts (--json prints script events only then or with --dry-run) */
  verbose: boolean;
  /** true when the script was not sent (--dry-run) */
  dryRun?: boolean;
}

/** A local file sent to a host (`--artifact`). */
export interface UploadEvent {
  event: 'upload';
  /** the host */
  host: string;
  /** the local file */
  local: string;
  /** where it is on the host */
  remote: string;
}

/** A host failed. */
export interface HostFailed {
  event: 'host.failed';
  /** the host */
  host: string;
  /** its role */
  role?: string;
  /** the step that failed */
  step?: string;
  /** what went wrong */
  message: string;
  /** the command the step ran */
  command?: string;
  /** the last of its stderr */
  stderr?: string;
  /** what would fix it */
  hint?: string;
  /** fap refused before changing anything there (a rollback with nowhere to go): the result's summary says why */
  refused?: boolean;
}

/** A host has run its script of a phase. */
export interface HostDone {
  event: 'host.done';
  /** the host */
  host: string;
  /** the phase */
  phase: string;
}

/** A plugin's message (also what a host's script reported as the plugin's output). */
export interface LogEvent {
  event: 'log';
  /** the host */
  host: string;
  /** the plugin (or the command, for cleanup) */
  plugin: string;
  /** the line */
  message: string;
}

/** fap run / fap shell: the command starts on a host. */
export interface RunCommand {
  event: 'run.command';
  /** the host */
  host: string;
  /** the command line (`shell` for fap shell), secrets shown as *** */
  command: string;
}

/** fap run with --json: a line the command wrote (stdout carries only JSON lines), secrets shown as ***. */
export interface RunOutput {
  event: 'run.output';
  /** the host */
  host: string;
  /** which of the command's streams */
  stream: 'stdout' | 'stderr';
  /** the line, without its newline */
  line: string;
}

/** fap run / fap shell: the command ended on a host. */
export interface RunExit {
  event: 'run.exit';
  /** the host */
  host: string;
  /** its exit status */
  code: number;
}

/** fap config --json: one line per role, instead of the run events. */
export interface ConfigEvent {
  event: 'config';
  /** the stage */
  stage: string;
  /** the role */
  role: string;
  /** the role's hosts */
  hosts: string[];
  /** every key's value, secrets shown as *** */
  values: Record<string, unknown>;
  /** where each key's value came from */
  origins: Record<string, ConfigOrigin>;
  /** what the configuration's check warned of */
  warnings: string[];
}

/** Where a configuration value came from. */
export interface ConfigOrigin {
  /** the layer that set it */
  layer: 'default' | 'plugin' | 'top' | 'stage' | 'role' | '--set';
  /** its line in deploy.yml, when it came from there */
  line?: number;
  /** its column there */
  col?: number;
}

/** Last line, always: how the command ended (also for an error before any run, a signal, or `fap config`; `command` is `fap` when fap was stopped before it read its command). Which `hosts[]` fields a host has depends on the command. */
export interface ResultEvent {
  event: 'result';
  /** true when the command succeeded */
  ok: boolean;
  /** the command */
  command: string;
  /** fap's exit code */
  exitCode: number;
  /** each host's part */
  hosts: ResultHost[];
  /** the release made or moved to (deploy, release, rollback) */
  release?: string;
  /** the error that ended the command early */
  error?: string;
  /** SSH channels opened per connection (user@host:port), for the transactional commands */
  channels?: Record<string, number>;
  /** peak resident memory of fap, in KiB, for the transactional commands */
  maxRssKb?: number;
  /** how long the command ran, in milliseconds (transactional commands) */
  durationMs?: number;
  /** fap releases: whether every host has the same current (false when a host could not be read) */
  agree?: boolean;
  /** the line a person reads (deploy, rollback, ...: what happened, or why nothing did); fap check: its summary line; fap run: the hosts that did not exit 0, when some did not */
  summary?: string;
  /** --dry-run: nothing was changed; hosts' outcomes are what a real run would do */
  dryRun?: boolean;
  /** a configuration error (exit 2): every one found, in file order */
  errors?: ConfigErrorEntry[];
}

/** One configuration error of a `result`: where it is and what is wrong. */
export interface ConfigErrorEntry {
  /** what is wrong, without the place */
  message: string;
  /** the deploy file, or `--set` */
  file?: string;
  /** its line there */
  line?: number;
  /** its column there */
  col?: number;
  /** the key path (stage_role_configs.production.web.branch) */
  keyPath?: string;
}

/** One host's part of a `result`. */
export interface ResultHost {
  /** the host */
  host: string;
  /** its role (all commands but run) */
  role?: string;
  /** what the command did to it (deploy, release, rollback, restart, cleanup, unlock) */
  outcome?: HostOutcome;
  /** the step that failed */
  step?: string;
  /** why it failed */
  error?: string;
  /** the revision deployed (deploy, release) */
  revision?: string;
  /** fap run: the command's exit status, null when it could not run */
  code?: number | null;
  /** fap releases: the release current points at */
  current?: string;
  /** fap releases: the link text when current does not lead to a release */
  foreign_current?: string;
  /** fap releases: the releases, oldest first */
  releases?: ReleaseEntry[];
  /** fap releases: journals of runs that were interrupted and not healed yet */
  interrupted?: JournalRecord[];
  /** fap check: the deploy path checked */
  path?: string;
  /** fap check: one row per check */
  checks?: CheckEntry[];
}

/** A release on a host (fap releases). */
export interface ReleaseEntry {
  /** its name */
  name: string;
  /** what became of it (unverified: a Fapistrano release fap cannot date; unknown: no record) */
  status: 'building' | 'ok' | 'failed' | 'rolled-back' | 'unverified' | 'unknown';
  /** the revision deployed */
  revision?: string;
  /** when it was deployed (ISO 8601) */
  deployed_at?: string;
  /** who deployed it */
  deployed_by?: string;
  /** fap, or fapistrano for a release Fapistrano made */
  made_by?: 'fap' | 'fapistrano';
  /** a Fapistrano release newer than current that fap has no record of: a failed Fapistrano deploy */
  dirty?: true;
  /** a Fapistrano release found with no current to date it */
  unverified?: true;
}

/** One row of fap check. */
export interface CheckEntry {
  /** what was checked */
  name: string;
  /** false when it failed */
  ok: boolean;
  /** FAIL fails fap check; warn does not */
  status: 'ok' | 'warn' | 'FAIL';
  /** what was found */
  detail: string;
}

/** Every event fap emits, discriminated by `event`. */
export type FapEvent =
  | RunStarted
  | Warning
  | LockWaiting
  | LockRemoved
  | HealEvent
  | HostConnected
  | ReleasePlanned
  | PhaseStarted
  | PhaseFinished
  | SignalEvent
  | DeployFailed
  | DeployReverting
  | DeployReverted
  | ScriptEvent
  | UploadEvent
  | HostFailed
  | HostDone
  | LogEvent
  | RunCommand
  | RunOutput
  | RunExit
  | ResultEvent
  | ConfigEvent;

/** An event as listeners and --json see it: every line also has `ts`, when it happened (ISO 8601). */
export type StampedEvent = FapEvent & { ts: string };

export type Listener = (e: StampedEvent) => void;

export class EventBus {
  private readonly listeners: Listener[] = [];

  on(listener: Listener): void {
    this.listeners.push(listener);
  }

  emit(e: FapEvent): void {
    // the JSON round trip gives listeners a plain copy (no Maps, no undefined) they cannot share
    const stamped: StampedEvent = redactDeep(JSON.parse(JSON.stringify({ ts: new Date().toISOString(), ...e })));
    for (const l of this.listeners) l(stamped);
  }
}
