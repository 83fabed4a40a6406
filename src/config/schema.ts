// Every key deploy.yml understands. Plugins add their own (Plugin.keys); the README's reference
// is generated from these specs so documentation and validation cannot drift apart.

export type KeyType = 'string' | 'integer' | 'boolean' | 'list' | 'map' | 'hosts' | 'env';

export interface KeySpec {
  type: KeyType;
  description: string;
  default?: unknown;
  /** allowed values for a string */
  enum?: readonly string[];
  min?: number;
  /** for an integer: what true and false stand for (Fapistrano accepted booleans for some numbers) */
  booleans?: { true: number; false: number };
  /** for maps with a fixed set of sub-keys */
  keys?: Readonly<Record<string, KeySpec>>;
  /** for maps with free-form sub-keys: the spec every entry's value must meet */
  values?: KeySpec;
  /** for maps with free-form sub-keys: what a sub-key must look like, and what to call it in an error */
  keyPattern?: { re: RegExp; what: string };
  /** a string that must be a semver range (>=2.20, ^3.8, *) */
  semverRange?: boolean;
  /** values are redacted in every output */
  secret?: boolean;
  /** set for keys that come from a plugin */
  plugin?: string;
  /** other spellings accepted; using one prints a notice naming fap's spelling */
  aliases?: readonly string[];
  /** whose spelling the aliases are (default Fapistrano), for that notice */
  aliasesFrom?: string;
  /** roles that share a host and deploy root must agree on this key (it shapes the release itself) */
  sameAcrossRoles?: boolean;
  /** a URL whose user:password part, and query parameters named like a credential, are secrets (redact.ts addUrlSecrets) */
  urlSecret?: boolean;
  /** user:password (curl's --user): the password is a secret on its own too, wherever it is printed */
  userPasswordSecret?: boolean;
}

/** Fapistrano's sudo_prefix is 'sudo -i ' (configuration.py:71). */
export const SUDO_PREFIX_DEFAULT = 'sudo -i';

export const CORE_KEYS = {
  app_name: { type: 'string', description: 'Name of the application; used in paths and messages. Required.' },
  project_name: { type: 'string', default: '%(app_name)s', description: 'Fapistrano\'s project name; defaults to app_name.' },
  path: {
    type: 'string',
    // fapistrano-0.9.5 configuration.py:73
    default: '/home/%(sudo_user)s/www/%(app_name)s',
    description: 'Deploy root on each host (releases/, shared/, current live here).',
    aliases: ['deploy_to'],
    aliasesFrom: 'Capistrano',
  },
  // fapistrano-0.9.5 configuration.py:67
  user: { type: 'string', default: 'deploy', description: 'SSH user, unless a host says user@host or the ssh config names a User (Fapistrano\'s default, deploy).' },
  // fapistrano-0.9.5 configuration.py:82
  keep_releases: { type: 'integer', default: 5, min: 1, description: 'Good releases to keep on each host; older ones are pruned.' },
  plugins: {
    type: 'list',
    description: 'Plugins to load, in order: bundled names (git), ./relative/path.js, or an npm package. Default, as in Fapistrano: none, or [git] when repo is set.',
  },
  deploy_plugins: { type: 'list', description: 'Plugins for fap deploy only, instead of plugins.' },
  release_plugins: { type: 'list', description: 'Plugins for fap release only, instead of plugins (Fapistrano). With --curl-url or --artifact, curl replaces git.' },
  rollback_plugins: { type: 'list', description: 'Plugins for fap rollback only, instead of plugins.' },
  restart_plugins: { type: 'list', description: 'Plugins for fap restart only, instead of plugins.' },
  once_plugins: { type: 'list', description: 'Plugins for fap once only, instead of plugins (Fapistrano).' },
  shell_plugins: { type: 'list', description: 'Plugins for fap shell only, instead of plugins (Fapistrano).' },
  run_plugins: { type: 'list', description: 'Plugins for fap run only, instead of plugins.' },
  linked_files: { type: 'list', default: [], description: 'Files under shared/ symlinked into every release; each must exist in shared/.' },
  linked_dirs: { type: 'list', default: [], description: 'Directories under shared/ symlinked into every release (created when missing).' },
  environment: {
    type: 'env',
    default: {},
    description: 'Variables written to <release>/.env (mode 0600). Use ${VAR}, ${VAR:-default}, ${VAR:?message}.',
  },
  shared_writable: { type: 'boolean', default: true, description: 'Each deploy creates shared/log and makes shared/ group-writable (Fapistrano); symlinks are not followed and files of other owners are left as they are.' },
  environment_format: {
    type: 'string',
    default: 'plain',
    enum: ['plain', 'export'],
    description: "How <release>/.env is written: plain K='V' lines (docker, systemd EnvironmentFile, dotenv), or export K='V' for a shell to source (Fapistrano wrote export lines). Values are shell-quoted either way.",
  },
  rollback_on_failure: { type: 'boolean', default: true, description: 'A failed publish, restart or health check puts every published host back on its previous release.' },
  batch_size: { type: 'string', description: 'Publish this many hosts at a time (a number, or a percentage like 25%); --batch overrides. Default: all at once.' },
  health_check: { type: 'string', description: 'Command run in current on each host after its publish; retried until it succeeds or health_check_timeout passes.' },
  health_check_timeout: { type: 'integer', default: 30, min: 1, description: 'Seconds a health check may keep failing before the deploy fails.' },
  health_check_interval: { type: 'integer', default: 2, min: 1, description: 'Seconds between health check attempts.' },
  lock_wait: { type: 'string', description: 'How long to wait for a lock held by another run (e.g. 30s, 5m); --lock-wait overrides. Default: do not wait.' },
  // fapistrano-0.9.5 configuration.py:70
  sudo_user: {
    type: 'string',
    default: 'deploy',
    description: 'Remote work runs as this user, through sudo -n -u when it differs from the user logged in as (a host\'s user@, the ssh config\'s User, or user); that user needs a NOPASSWD sudoers rule for it. Default, as in Fapistrano: deploy.',
  },
  // fapistrano-0.9.5 configuration.py:71
  sudo_prefix: {
    type: 'string',
    default: SUDO_PREFIX_DEFAULT,
    description: 'How sudo is run when sudo_user differs from the login user: sudo with any of -i (sudo_user\'s login environment: its profile, PATH and home), -H, -E. fap always adds -n (never prompt) and -u sudo_user.',
  },
  // fapistrano-0.9.5 configuration.py:66
  show_output: { type: 'boolean', default: false, description: 'Print every remote script, like -v (Fapistrano).' },
  // fapistrano-0.9.5 configuration.py:84
  dry_run: { type: 'boolean', default: false, description: 'true acts as --dry-run (Fapistrano\'s env.dry_run).' },
  // fapistrano-0.9.5 configuration.py:81
  env_role_configs: { type: 'map', description: 'Fapistrano\'s key, accepted for compatibility; it has no effect in Fapistrano or fap.' },
  new_release: { type: 'string', description: 'The name of the release this run builds (read-only: %(new_release)s, as in Fapistrano).' },
  // fapistrano-0.9.5 configuration.py:68
  use_ssh_config: { type: 'boolean', default: true, description: 'Resolve hosts through ssh.config_file (Fapistrano); false reaches them exactly as deploy.yml writes them.' },
  requires: {
    type: 'map',
    default: {},
    description:
      'Tools each host needs, name: semver range (git: ">=2.20", supervisorctl: "*"); fap check verifies them. Enabled plugins add theirs (git: git, tar; curl: curl, tar, sha256sum; virtualenv: its python; supervisorctl: supervisorctl).',
    values: { type: 'string', semverRange: true, description: 'A semver range; * means present in any version.' },
    keyPattern: { re: /^[A-Za-z0-9_][A-Za-z0-9_.+\/-]*$/, what: 'a command name (or path)' },
  },
  check_min_free_mb: { type: 'integer', default: 100, min: 0, description: 'fap check fails a host with less free space than this (MB) where the deploy root is.' },
  hosts: { type: 'hosts', default: [], description: 'Hosts of a role: host, user@host, user@host:port, [v6]:port, or {host, user, port}.' },
  ssh: {
    type: 'map',
    default: {},
    description: 'How to reach and trust hosts.',
    keys: {
      config_file: { type: 'string', default: '~/.ssh/config', description: 'OpenSSH client config, read with `ssh -G`: HostName, Port, User, IdentityFile, ProxyJump, UserKnownHostsFile, ConnectTimeout, ServerAliveInterval. Skipped when the file does not exist. The host string\'s user@ and :port, and ssh keys set here, win over it; it wins over `user`.' },
      identity_file: {
        type: 'string',
        description:
          'Private key (ed25519, ecdsa or rsa), tried first, then the ssh agent (SSH_AUTH_SOCK). Unset: the ssh config\'s IdentityFile, the agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa. An encrypted key takes its passphrase from FAP_SSH_PASSPHRASE, or asks on a terminal. Also used for jump hosts without an IdentityFile of their own.',
      },
      forward_agent: {
        type: 'boolean',
        default: false,
        description: 'Forward the ssh agent (SSH_AUTH_SOCK) to the hosts, so git on a host can fetch `repo` with the deployer\'s keys.',
      },
      known_hosts_file: { type: 'string', default: '~/.ssh/known_hosts', description: 'Known host keys, for deploy hosts and jump hosts alike (the file accept-new writes). When not set here, every UserKnownHostsFile of the ssh config is read and the first is written; the GlobalKnownHostsFile files are always read.' },
      host_key_checking: {
        type: 'string',
        default: 'strict',
        enum: ['strict', 'accept-new', 'off'],
        description: 'strict refuses unknown and changed keys; accept-new trusts on first use; off warns loudly.',
      },
      connect_timeout: { type: 'integer', default: 20, min: 1, description: 'Seconds to wait for a connection (each hop). When not set here, the ssh config\'s ConnectTimeout applies.' },
      connect_retries: { type: 'integer', default: 2, min: 0, description: 'Retries, with backoff (0.5 s, 1 s, ...), when a connection is refused or reset or the network is unreachable; not for authentication or host-key refusals.' },
    },
  },
} as const satisfies Record<string, KeySpec>;

/** The value a key of this spec holds once validated (resolve.ts validateTypes normalises to it). */
export type ValueOf<S> = S extends { type: 'string'; enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'string' }
    ? string
    : S extends { type: 'integer' }
      ? number
      : S extends { type: 'boolean' }
        ? boolean
        : S extends { type: 'list' }
          ? string[]
          : S extends { type: 'env' }
            ? Record<string, string | number | boolean | null>
            : S extends { type: 'map'; keys: infer K }
              ? ConfigOf<K>
              : S extends { type: 'map'; values: infer V }
                ? Record<string, ValueOf<V>>
                : S extends { type: 'map' }
                  ? Record<string, unknown>
                  : unknown;

type WithDefault<Specs> = { [K in keyof Specs]: Specs[K] extends { default: unknown } ? K : never }[keyof Specs];

/**
 * The configuration a set of key specs declares: a key with a default is always there, any other
 * may be missing. A key name that is not declared is a compile error.
 */
export type ConfigOf<Specs> = { readonly [K in WithDefault<Specs>]: ValueOf<Specs[K]> } & { readonly [K in Exclude<keyof Specs, WithDefault<Specs>>]?: ValueOf<Specs[K]> };

/**
 * Places deploy.yml may move (Fapistrano's layout keys: absolute, normalized by the resolver). A type,
 * not an interface, so a configuration type built on it is still a record of its keys.
 */
export type Places = {
  readonly current_path?: string;
  readonly releases_path?: string;
  readonly shared_path?: string;
};

/** A role's core configuration, as fap's own code reads it (plugins read their keys through the plugin API). */
export type CoreConfig = ConfigOf<typeof CORE_KEYS> & Places;

/** The ssh: map (sub-key defaults filled in by the resolver). */
export type SshSettings = CoreConfig['ssh'];

/** A role's whole configuration: the core keys typed, plugin keys (declared by plugins) unknown until a plugin reads them. */
export type RoleValues = CoreConfig & { readonly [pluginKey: string]: unknown };

/** Keys of the file's top level that are structure, not configuration. */
export const STRUCTURE_KEYS = new Set(['stage_role_configs']);

// did-you-mean lives in one place for every name fap checks
export { didYouMean, distance, nearest } from '../suggest.js';
