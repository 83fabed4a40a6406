// The signal pipeline and the plugin API. Phases emit signals per target (a host in a role);
// plugins subscribe and contribute remote script steps, which the phase sends to the host as one
// script in one round trip. Plugins never touch SSH themselves.
import type { ConfigOf, CoreConfig, KeySpec } from './config/schema.js';
import type { Paths } from './release/paths.js';

// Plugins import only this module (test/unit/imports.test.ts): what they need of the core is here.
// The error a plugin's word splitting throws; secrets a plugin learns (a password in a URL) are
// registered with addSecret, and what it sends off the machine goes through redact.
export { WordsError } from './errors.js';
export { addSecret, redact } from './redact.js';
/** Since plugin API 1.4.0: what is wrong with a local file a plugin will upload (undefined: nothing). */
export { localFileProblem } from './local-file.js';
export type { KeySpec } from './config/schema.js';
export type { Paths } from './release/paths.js';

export const PLUGIN_API_VERSION = '1.5.0';

export type SignalName =
  | 'deploy.starting'
  | 'deploy.started'
  | 'deploy.updating'
  | 'deploy.updated'
  | 'deploy.publishing'
  | 'deploy.published'
  | 'deploy.finishing'
  | 'deploy.finished'
  | 'deploy.reverting'
  | 'deploy.reverted'
  | 'deploy.finishing_rollback'
  | 'deploy.restarting'
  | 'deploy.restarted'
  | 'deploy.failed';

/** The configuration a plugin reads: fap's core keys and the plugin's own, typed as declared. */
export type PluginConfig<Keys> = CoreConfig & ConfigOf<Keys>;

/** What a plugin reads as configuration when its keys are not declared with definePlugin. */
export type AnyConfig = Readonly<Record<string, unknown>>;

export interface SignalContext<Config = AnyConfig> {
  signal: SignalName;
  /** deploy, release, rollback, ... */
  command: string;
  stage: string;
  role: string;
  /** the host's display name */
  host: string;
  /** this run's release name */
  release: string;
  paths: Paths;
  /** this role's resolved configuration (validated: each key holds its declared type, or is unset) */
  config: Config;
  /** command-line options of this run (e.g. curl_url) */
  options: Readonly<Record<string, unknown>>;
  dryRun: boolean;
  /** Add a named step to this host's script for the current phase. Quote arguments with ctx.quote. */
  script(name: string, shell: string): void;
  /**
   * Send a local file to the host (SFTP, once per host and run) before this phase's script runs;
   * returns the path where the script finds it (under <path>/.fap/uploads/).
   */
  upload(localPath: string): string;
  quote(word: string | number): string;
  /** Report a line now, on the deploying machine (as this plugin, for this host). */
  log(message: string): void;
  /**
   * Shell text for a script step that reports `message` as this plugin's log line when the host
   * runs it (for what only the host knows, e.g. "no requirements.txt, nothing to install").
   * `message` is literal text; it is quoted here.
   */
  remoteLog(message: string): string;
  /**
   * Shell text of a filter (`cmd 2>&1 | <it>`) that reports every non-blank line of its input as
   * this plugin's log line, on the deploying machine (redacted, and as `log` events with --json).
   * Since plugin API 1.2.0.
   */
  remoteLogLines(): string;
}

/**
 * A question fap check asks each host for a plugin, beyond its tools (since plugin API 1.5.0): can
 * the host reach what a deploy would fetch (git: the repository and branch; curl: the artifact URL).
 * `script` is shell text run on the host as the deploy would run it (as sudo_user, stdin closed,
 * ended after 30 s); it exits 0 when all is well and prints one line saying what it found (the row's
 * detail), or exits non-zero and prints why (the first `fatal:`/`error:` line, else the last line,
 * is the detail). It must change nothing on the host.
 */
export interface Probe {
  /** the row's name in fap check's table (git repository, artifact URL) */
  name: string;
  script: string;
}

/** What a plugin's probes get besides the configuration. */
export interface ProbeContext {
  paths: Paths;
  quote(word: string | number): string;
}

/** What a plugin's result hook hears once the command has finished (successfully or not). */
export interface RunSummary {
  command: string;
  stage: string;
  role?: string;
  ok: boolean;
  release?: string;
  summary: string;
  hosts: { host: string; role: string; outcome: string; step?: string; error?: string; revision?: string }[];
  startedAt: string;
  finishedAt: string;
  /** who ran the command: user@machine of the deploying machine (since plugin API 1.3.0) */
  by: string;
}

export type Handler<Config = AnyConfig> = (ctx: SignalContext<Config>) => void | Promise<void>;

/**
 * A plugin that stands in for another one (curl for git): with `command` one of `commands` (any
 * command when unset) and one of the `when` keys set, this plugin takes the other's place in the
 * role's plugin list, and the other's keys stop warning that it is not enabled. Since plugin API 1.3.0.
 */
export interface Replaces<Key extends string = string> {
  plugin: string;
  when: readonly Key[];
  commands?: readonly string[];
}

export interface Plugin<Keys extends Readonly<Record<string, KeySpec>> = Record<string, KeySpec>, Config = AnyConfig> {
  name: string;
  /** semver range of the plugin API this plugin was written for (checked at load) */
  api?: string;
  /** configuration keys this plugin reads, with defaults; they join the deploy.yml schema */
  keys?: Keys;
  /**
   * What the plugin runs on the host, from a role's configuration: program names or command lines
   * as the plugin runs them. fap check finds each one's program (past sudo and env, and sudo too when
   * the line starts with it) and reads its version. Since plugin API 1.3.0.
   */
  tools?(config: Config): readonly (string | undefined)[];
  /** See Replaces (curl: { plugin: 'git', when: ['curl_url', 'curl_artifact'], commands: ['release'] }). */
  replaces?: Replaces<keyof Keys & string>;
  /**
   * With no plugin list in deploy.yml, setting this key enables the plugin (git: repo); Fapistrano
   * enabled none by default. Since plugin API 1.3.0.
   */
  enabledBy?: keyof Keys & string;
  /**
   * Dry runs: add read-only steps (ctx.script) whose output's last line is the revision a release
   * would be made from now (git: the commit `branch` points at in `repo`), so `fap --dry-run deploy`
   * can say what it would deploy. The steps must write nothing on the host. Since plugin API 1.5.0.
   */
  revision?(ctx: SignalContext<Config>): void | Promise<void>;
  /** fap check's questions to each host for this plugin (see Probe). Since plugin API 1.5.0. */
  probes?(config: Config, ctx: ProbeContext): readonly Probe[];
  /** checks a role's resolved configuration before anything is contacted */
  check?(config: Config): { key: string; message: string } | undefined;
  on: Partial<Record<SignalName, Handler<Config>>>;
  /**
   * Runs on the deploying machine once the command is over, once per distinct configuration of the
   * roles that enable the plugin (e.g. to notify a webhook). Its failure is a warning, never a
   * failed deploy.
   */
  result?(summary: RunSummary, config: Config): void | Promise<void>;
}

/**
 * A plugin whose handlers read its configuration typed from its key specs: `keys` is declared
 * `as const satisfies Record<string, KeySpec>` (or written in place), and a key name that is not
 * declared (core or the plugin's) is a compile error in every hook. Since plugin API 1.3.0.
 */
export function definePlugin<const Keys extends Readonly<Record<string, KeySpec>>>(plugin: Plugin<Keys, PluginConfig<Keys>> & { keys: Keys }): Plugin {
  // the resolver validated every key against these specs before any hook runs (config/resolve.ts
  // validateTypes), so the hooks' typed view of the configuration holds at run time
  return plugin as unknown as Plugin;
}
