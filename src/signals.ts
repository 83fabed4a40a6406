// The signal pipeline and the plugin API. Phases emit signals per target (a host in a role);
// plugins subscribe and contribute remote script steps, which the phase sends to the host as one
// script in one round trip. Plugins never touch SSH themselves.
import type { KeySpec } from './config/schema.js';
import type { Paths } from './release/paths.js';

export const PLUGIN_API_VERSION = '1.0.0';

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

export interface SignalContext {
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
  /** this role's resolved configuration */
  config: Readonly<Record<string, unknown>>;
  /** command-line options of this run (e.g. curl_url) */
  options: Readonly<Record<string, unknown>>;
  dryRun: boolean;
  /** Add a named step to this host's script for the current phase. Quote arguments with ctx.quote. */
  script(name: string, shell: string): void;
  quote(word: string | number): string;
  log(message: string): void;
}

export type Handler = (ctx: SignalContext) => void | Promise<void>;

export interface Plugin {
  name: string;
  /** semver range of the plugin API this plugin was written for (checked at load) */
  api?: string;
  /** configuration keys this plugin reads, with defaults; they join the deploy.yml schema */
  keys?: Record<string, KeySpec>;
  /** checks a role's resolved configuration before anything is contacted */
  check?(config: Readonly<Record<string, unknown>>): { key: string; message: string } | undefined;
  on: Partial<Record<SignalName, Handler>>;
  /** set by the loader for a bundled plugin whose remote steps this version does not have */
  unavailable?: boolean;
}
