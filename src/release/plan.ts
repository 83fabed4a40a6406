// From deploy.yml and the command line to the targets of a run: (host, role) pairs with their
// resolved configuration, plugins and layout. Everything here happens before any host is contacted.
import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import { dirname, isAbsolute, posix, resolve as resolvePath } from 'node:path';
import { ConfigError, ConfigErrorCollector } from '../errors.js';
import type { HostSpec } from '../config/hosts.js';
import { loadDeployFile, type LoadedFile } from '../config/load.js';
import { allKeys, bindRelease, PLACE_KEYS, pluginNamesInSets, pluginRefs, resolveRole, selectRoles, type RoleConfig } from '../config/resolve.js';
import { bundledPlugins, canonicalName, loadPlugin, pluginKeys } from '../plugin/load.js';
import type { CoreConfig, KeySpec, RoleValues } from '../config/schema.js';
import type { Plugin, SignalName } from '../signals.js';
import { isWithin, layout, withReleaseName, type Paths, type Places } from './paths.js';
import { batchSize } from './state.js';
import { count } from '../words.js';

/** One role's share of the work on a target: its configuration and plugins. */
export interface RoleWork {
  role: string;
  /** the role's configuration: core keys typed, plugin keys as the plugins declare them */
  config: RoleValues;
  /** the plugins this command runs */
  plugins: Plugin[];
  /** the plugins any command of the role runs (plugins, deploy_plugins, ...): fap check looks for all their tools */
  allPlugins: Plugin[];
}

export interface Target {
  /** unique per (host, deploy root) */
  key: string;
  host: HostSpec;
  /** user@hostname:port plus every setting that shapes the connection (connectionKey): one connection per distinct value */
  connKey: string;
  user: string;
  /** sudo_user is Fapistrano's default (deploy), not set in deploy.yml: failures say so */
  sudoUserDefault?: boolean;
  /** ssh: sub-keys set in deploy.yml or by --set (not defaults): these beat the ssh config */
  sshExplicit: string[];
  stage: string;
  /** the role, or roles joined with + when several deploy to the same host and path */
  role: string;
  /** the configuration of the release itself (the first role's, with linked files of all) */
  config: CoreConfig;
  /** every role deployed here; plugins run for each, identical steps once */
  roles: RoleWork[];
  paths: Paths;
}

/** The per-command plugin lists whose plugins' tools fap check looks for, beside plugins. */
const CHECKED_PLUGIN_LISTS = ['deploy_plugins', 'release_plugins', 'rollback_plugins', 'restart_plugins'];

/** The commands that build a new release; plugins' check() applies to these (and to fap check: buildingPlugins). */
export const BUILDING_COMMANDS: ReadonlySet<string> = new Set(['deploy', 'release']);

/**
 * The plugins some building command of the role runs (what fap check holds to their check()): each
 * building command's own list (release_plugins, ...) or else plugins, and a plugin standing in for
 * another in a building command (curl, given curl_url). Picked from the plugins the role names.
 */
function buildingPlugins(values: RoleValues, named: readonly Plugin[]): Plugin[] {
  const listed = (v: unknown) => (Array.isArray(v) ? v : typeof v === 'string' ? [v] : undefined);
  const names = new Set<string>();
  for (const c of BUILDING_COMMANDS) for (const n of listed(values[`${c}_plugins`]) ?? values.plugins ?? []) names.add(canonicalName(String(n)));
  return named.filter((p) => {
    const r = p.replaces;
    const standsIn = !!r && r.when.some((k) => values[k as keyof typeof values]) && (!r.commands || r.commands.some((c) => BUILDING_COMMANDS.has(c)));
    return names.has(canonicalName(p.name)) || standsIn;
  });
}

export interface PlanInput {
  deployfile: string;
  stage: string;
  role?: string;
  sets?: string[];
  hosts?: string[];
  env?: NodeJS.ProcessEnv;
  /** commands that write the release's environment need every ${VAR} set */
  needsEnvironment?: boolean;
  /** the command (deploy, release, ...): picks <command>_plugins */
  command?: string;
}

export interface Plan {
  loaded: LoadedFile;
  roles: RoleConfig[];
  targets: Target[];
  warnings: string[];
  /** keys of the plugins loaded for this file (third-party ones included) */
  pluginKeys: Record<string, KeySpec>;
}

export function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'deploy';
  }
}

/** Every plugin named for the stage, in the file then by --set, each with how to point at where it is written. */
function pluginMentions(loaded: LoadedFile, input: PlanInput): { name: string; where: (detail: string) => ConfigError }[] {
  const fromFile = [...pluginRefs(loaded, input.stage)].map(([name, path]) => ({
    name,
    where: (detail: string) => (path ? loaded.error(path, detail) : new ConfigError(detail, { file: loaded.file, keyPath: 'plugins' })),
  }));
  const fromSets = pluginNamesInSets(input.sets).map(({ name, key }) => ({
    name,
    where: (detail: string) => new ConfigError(detail, { file: '--set', keyPath: key }),
  }));
  return [...fromFile, ...fromSets];
}

/** Keys naming a file on this machine: relative in the deploy file means relative to the file. */
const LOCAL_SSH_FILES = ['identity_file', 'known_hosts_file', 'config_file'] as const;
const FILE_LAYERS: readonly string[] = ['top', 'stage', 'role'];

/**
 * The deploy file's relative local paths made absolute against its directory, so they mean the
 * same wherever fap runs (it finds the file in a parent directory); a --set path stays relative
 * to where fap runs, ~ to the home directory.
 */
export function filePathsFrom(dir: string, rc: RoleConfig): RoleConfig {
  const relative = (p: unknown): p is string => typeof p === 'string' && p !== '' && !isAbsolute(p) && !p.startsWith('~');
  const ssh: Record<string, unknown> = { ...rc.values.ssh };
  let changed = false;
  for (const k of LOCAL_SSH_FILES) {
    if (relative(ssh[k]) && FILE_LAYERS.includes(rc.subOrigins.ssh?.[k]?.layer ?? '')) {
      ssh[k] = resolvePath(dir, ssh[k] as string);
      changed = true;
    }
  }
  return changed ? { ...rc, values: { ...rc.values, ssh: ssh as RoleValues['ssh'] } } : rc;
}

export async function buildPlan(input: PlanInput): Promise<Plan> {
  const loaded = loadDeployFile(input.deployfile);
  // every configuration error is collected (each plugin, each role, each key) and reported together
  const errors = new ConfigErrorCollector();
  const plugins = new Map<string, Plugin>();
  /** plugins that could not be loaded: reported once, where first named */
  const unloadable = new Set<string>();
  for (const { name, where } of pluginMentions(loaded, input)) {
    if (plugins.has(canonicalName(name)) || unloadable.has(canonicalName(name))) continue;
    try {
      plugins.set(canonicalName(name), await loadPlugin(name, dirname(input.deployfile)));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      unloadable.add(canonicalName(name));
      errors.add(where(e.detail));
    }
  }
  const bundled = await bundledPlugins();
  const keys = { ...pluginKeys(bundled), ...pluginKeys(plugins) };
  const known = new Map([...bundled, ...plugins]);
  const roleNames = selectRoles(loaded, input.stage, input.role, allKeys(keys));
  const roles = roleNames.flatMap((r) => errors.take(() => [filePathsFrom(dirname(input.deployfile), resolveRole({ loaded, stage: input.stage, role: r, sets: input.sets, env: input.env, pluginKeys: keys, plugins: known, command: input.command, requireEnvironment: input.needsEnvironment }, r))]) ?? []);

  const targets: Target[] = [];
  const rcOf = new Map<Target, RoleConfig>();
  const byKey = new Map<string, Target>();
  for (const rc of roles) {
    const before = errors.count;
    const pluginNamed = async (n: string, key: string): Promise<Plugin | undefined> => {
      let p = plugins.get(canonicalName(n));
      if (!p) {
        if (unloadable.has(canonicalName(n))) return undefined;
        // named only by --set plugins=[...], or enabled by a key (git) or standing in (curl)
        try {
          p = await loadPlugin(n, dirname(input.deployfile));
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          unloadable.add(canonicalName(n));
          errors.add(originError(loaded, rc, key, e.detail));
          return undefined;
        }
        plugins.set(canonicalName(n), p);
      }
      return p;
    };
    const rolePlugins: Plugin[] = [];
    for (const n of rc.values.plugins ?? []) {
      const p = await pluginNamed(n, 'plugins');
      if (p) rolePlugins.push(p);
    }
    const allPlugins = [...rolePlugins];
    for (const key of CHECKED_PLUGIN_LISTS) {
      const list = rc.values[key];
      if (!Array.isArray(list)) continue;
      for (const n of list) {
        const p = await pluginNamed(String(n), key);
        if (p && !allPlugins.includes(p)) allPlugins.push(p);
      }
    }
    // a plugin that some command runs because its keys are set (curl in fap release, given
    // curl_url: in git's place, or first when there is no git) runs there too: fap check looks
    // for its tools as well (the resolver's rule: config/resolve.ts, Plugin.replaces)
    for (const p of known.values()) {
      const r = p.replaces;
      if (r && !allPlugins.includes(p) && r.when.some((k) => rc.values[k as keyof typeof rc.values])) allPlugins.push(p);
    }
    // a bad deploy root is named as such, before any plugin's check of a path derived from it
    const rootProblem = pathProblem(rc.values.path);
    if (rootProblem) errors.add(originError(loaded, rc, 'path', rootProblem));
    else {
      // a plugin's own checks are requirements of building a release (curl's artifact, git's repo):
      // deploy and release refuse without them, and so does fap check, the doctor that answers "can
      // this be deployed?" (found by the attack pass: check passed a branch "-x" that deploy refused);
      // rollback, restart, run and the other read-only commands act on what is deployed and never refuse
      const checked = input.command === 'check' ? buildingPlugins(rc.values, allPlugins) : input.command !== undefined && BUILDING_COMMANDS.has(input.command) ? rolePlugins : [];
      for (const p of checked) {
        const problem = p.check?.(rc.values);
        if (problem) errors.add(originError(loaded, rc, problem.key, problem.message));
      }
    }
    if (!rc.hosts.length) errors.add(originError(loaded, rc, 'hosts', `role "${rc.role}" of ${rc.stage} has no hosts`));
    validateLinkedPaths(loaded, rc, errors);
    if (rc.values.batch_size !== undefined) {
      try {
        batchSize(100, rc.values.batch_size);
      } catch (e) {
        errors.add(originError(loaded, rc, 'batch_size', (e as Error).message));
      }
    }
    // targets only from a role without errors: the checks between roles need sound ones
    if (errors.count > before) continue;
    for (const host of rc.hosts) {
      // the local host: whoever runs fap (`user` names an SSH login)
      const user = host.local ? localUser() : (host.user ?? rc.values.user);
      const port = host.port ?? 22;
      const root = rc.values.path;
      const key = `${user}@${host.hostname}:${port}:${root}`;
      const work: RoleWork = { role: rc.role, config: rc.values, plugins: rolePlugins, allPlugins };
      const prev = byKey.get(key);
      if (prev) {
        // Two roles on the same host and deploy root share one release: both roles' plugins run.
        mergeRole(loaded, rc, prev, work, allKeys(keys));
        continue;
      }
      const sshExplicit = Object.entries(rc.subOrigins.ssh ?? {})
        .filter(([, o]) => o.layer !== 'default' && o.layer !== 'plugin')
        .map(([k]) => k);
      const t: Target = {
        key,
        host,
        connKey: connectionKey(host, user, rc.values, sshExplicit),
        user,
        sudoUserDefault: rc.origins.sudo_user?.layer === 'default',
        sshExplicit,
        stage: input.stage,
        role: rc.role,
        config: rc.values,
        roles: [work],
        paths: layout(root, '<release>', placesOf(rc.values)),
      };
      byKey.set(key, t);
      targets.push(t);
      rcOf.set(t, rc);
    }
  }
  errors.throwIfAny();
  checkPlacesApart(loaded, targets, rcOf);
  // a list given narrows, even an empty one (it selects nothing): it never means every host
  const selectors = (input.hosts ?? []).map((h) => ({ h, picks: hostSelector(h) }));
  const picked = (t: Target, picks: (name: string) => boolean) => picks(t.host.name) || picks(t.host.hostname);
  const filtered = input.hosts ? targets.filter((t) => selectors.some((s) => picked(t, s.picks))) : targets;
  if (input.hosts) {
    for (const { h, picks } of selectors) {
      if (!targets.some((t) => picked(t, picks))) {
        throw new ConfigError(`--hosts: "${h}" is not a host of ${input.stage}${input.role ? ' ' + input.role : ''} (hosts: ${[...new Set(targets.map((t) => t.host.name))].join(', ')})`);
      }
    }
  }
  if (!filtered.length) throw new ConfigError(`no hosts selected for ${input.stage}${input.role ? ' ' + input.role : ''}`, { file: input.deployfile });
  const warnings = [...new Set([...roles.flatMap((r) => r.warnings), ...emptyReleaseWarnings(input, targets, known)])];
  return { loaded, roles, targets: filtered, warnings, pluginKeys: keys };
}

/**
 * A --hosts word as a test of a host's name: the name itself, or a shell-style glob (`web*`,
 * `app-web0?`, `10.0.0.[12]`, `*:2222`) matched against the whole name, as Kamal's and Capistrano's
 * host filters do. A word without glob characters matches only itself.
 */
export function hostSelector(word: string): (name: string) => boolean {
  if (!/[*?[]/.test(word)) return (name) => name === word;
  let re = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[' && word.indexOf(']', i + 2) > i) {
      const end = word.indexOf(']', i + 2);
      const body = word.slice(i + 1, end);
      re += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`.replace(/\\/g, '\\\\');
      i = end;
    } else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const compiled = new RegExp(`^${re}$`);
  return (name) => compiled.test(name);
}

/**
 * The identity of a connection: roles on one host share it only when nothing that shapes it differs
 * (every ssh: key, which of them deploy.yml set explicitly, sudo_user, use_ssh_config, the port as
 * written), so a role never runs with another role's sudo_user, key or host-key policy.
 */
export function connectionKey(host: HostSpec, user: string, config: Record<string, unknown>, sshExplicit: readonly string[]): string {
  const settings = canonical({
    port: host.port ?? null,
    sudo_user: config.sudo_user ?? null,
    sudo_prefix: config.sudo_prefix ?? null,
    use_ssh_config: config.use_ssh_config ?? null,
    ssh: config.ssh ?? {},
    explicit: [...sshExplicit].sort(),
  });
  // the local host has no port: it is shown as user@local (result.channels, the bench)
  const base = host.local ? `${user}@${host.hostname}` : `${user}@${host.hostname}:${host.port ?? 22}`;
  return `${base}#${createHash('sha256').update(settings).digest('hex').slice(0, 12)}`;
}

/** JSON with object keys sorted, so equal settings give equal text whatever their order */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return '{' + Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => JSON.stringify(k) + ':' + canonical(o[k])).join(',') + '}';
  }
  return JSON.stringify(v ?? null);
}

/** Keys that may differ between roles sharing a release: their own hosts and links, what fap check asks of the host. */
const PER_ROLE = new Set(['hosts', 'linked_files', 'linked_dirs', 'plugins', 'requires', 'check_min_free_mb']);

/** current_path, releases_path, shared_path as deploy.yml set them (the resolver checked them). */
function placesOf(values: Record<string, unknown>): Places {
  return Object.fromEntries(PLACE_KEYS.filter((k) => typeof values[k] === 'string').map((k) => [k, values[k] as string]));
}

/**
 * Two deploy roots on one host each have their own lock: their releases, shared files and current
 * must not meet, or two runs could change one place at once.
 */
function checkPlacesApart(loaded: LoadedFile, targets: Target[], rcOf: Map<Target, RoleConfig>): void {
  // everything a deploy root writes: its places and fap's own files under it
  const placesIn = (t: Target) => [t.paths.releases, t.paths.shared, t.paths.current, t.paths.state, t.paths.repo, t.paths.revisionsLog];
  // a place of one overlapping a place of the other, or holding the other's whole root (a root
  // nested in another's root, apart from its places, is fine)
  const meets = (x: Target, y: Target) => placesIn(x).find((p) => placesIn(y).some((q) => isWithin(p, q) || isWithin(q, p)) || isWithin(y.paths.root, p));
  for (const [i, a] of targets.entries()) {
    for (const b of targets.slice(i + 1)) {
      if (a.host.hostname !== b.host.hostname || (a.host.port ?? 22) !== (b.host.port ?? 22) || a.paths.root === b.paths.root) continue;
      // both ways (found by the attack pass: worker's current_path on web's revisions.log passed)
      const clash = meets(a, b) ?? meets(b, a);
      if (clash) {
        const rc = rcOf.get(b)!;
        const key = PLACE_KEYS.find((k) => rc.values[k] !== undefined) ?? 'path';
        throw originError(loaded, rc, key, `roles "${a.role}" (path ${a.paths.root}) and "${b.role}" (path ${b.paths.root}) on ${b.host.name} would both use ${clash}, under two locks; give each deploy root its own current_path, releases_path and shared_path`);
      }
    }
  }
}

function mergeRole(loaded: LoadedFile, rc: RoleConfig, t: Target, work: RoleWork, keys: Record<string, KeySpec>): void {
  for (const k of PLACE_KEYS) {
    if (t.config[k] !== work.config[k]) throw originError(loaded, rc, k, `roles "${t.role}" and "${rc.role}" both deploy to ${t.host.name}:${t.paths.root} (one release) but disagree on ${k}; make them agree or give one its own path`);
  }
  const first = t.roles[0].config;
  for (const [k, spec] of Object.entries(keys)) {
    if (PER_ROLE.has(k) || (spec.plugin && !spec.sameAcrossRoles)) continue;
    const a = JSON.stringify(first[k]);
    const b = JSON.stringify(work.config[k]);
    if (a !== b) {
      throw originError(loaded, rc, k, `roles "${t.role}" and "${rc.role}" both deploy to ${t.host.name}:${t.paths.root} (one release) but disagree on ${k}; make them agree or give one its own path`);
    }
  }
  const union = (k: 'linked_files' | 'linked_dirs') => [...new Set([...t.config[k], ...work.config[k]])];
  t.config = { ...t.config, linked_files: union('linked_files'), linked_dirs: union('linked_dirs') };
  t.roles.push(work);
  t.role = t.roles.map((r) => r.role).join('+');
}

/** linked_files / linked_dirs stay inside shared/ and the release: relative, no .. */
function validateLinkedPaths(loaded: LoadedFile, rc: RoleConfig, errors: ConfigErrorCollector): void {
  for (const k of ['linked_files', 'linked_dirs']) {
    for (const [i, p] of ((rc.values[k] as string[]) ?? []).entries()) {
      const bad = !p || p.startsWith('/') || p.split('/').some((seg) => seg === '..' || seg === '.' || seg === '') || /[\n\r\0]/.test(p);
      if (bad) {
        const o = rc.origins[k];
        const msg = /[\n\r\0]/.test(p)
          ? `${JSON.stringify(p)} holds a line break or NUL byte: a linked path is one line`
          : `"${p}" must be a relative path inside shared/ (no leading /, no . or .. segments, no empty segments)`;
        errors.add(o?.path ? loaded.error([...o.path, i], msg) : new ConfigError(msg, { file: o?.layer === '--set' ? '--set' : loaded.file, keyPath: `${k}[${i}]` }));
      }
    }
  }
}

/** Why a deploy root is refused: fap creates, prunes and links under it, so never / or a path with .. */
function pathProblem(root: string): string | undefined {
  // JSON.stringify: a line break in the value shows as \n, and the message stays one line
  if (/[\n\r\0]/.test(root)) return `path holds a line break or NUL byte, got ${JSON.stringify(root)}`;
  if (!root.startsWith('/')) return `path must be absolute, got "${root}"`;
  if (root.split('/').includes('..')) return `path may not contain "..", got "${root}"`;
  if (posix.normalize(root).replace(/\/+$/, '') === '') return `path must be a directory below /, got "${root}"`;
  return undefined;
}

/** "N hosts" for a summary: hosts, not targets (one host with two deploy paths is one host, two paths). */
export function hostsText(targets: readonly Target[]): string {
  const hosts = new Set(targets.map((t) => t.host.name)).size;
  return `${count(hosts, 'host')}${targets.length > hosts ? ` (${targets.length} deploy paths)` : ''}`;
}

/**
 * A release nothing puts code into (no plugin of the role handles deploy.updating: no git, no
 * curl) holds only linked files and .env; publishing it replaces the app with an empty directory.
 * Said before a deploy (a Capistrano user's repo_url read as a variable of their own did exactly
 * that, found by the attack pass); a warning, not a refusal: releases of linked files alone are a
 * choice some make.
 */
function emptyReleaseWarnings(input: PlanInput, targets: Target[], known: ReadonlyMap<string, Plugin>): string[] {
  if (input.command === undefined || (!BUILDING_COMMANDS.has(input.command) && input.command !== 'check')) return [];
  const sources = [...known.values()].filter((p) => handlesAny(p, ['deploy.updating']));
  const empty = [...new Set(targets.flatMap((t) => t.roles.filter((r) => !r.plugins.some((p) => handlesAny(p, ['deploy.updating']))).map((r) => `${t.stage} ${r.role}`)))];
  return empty.map(
    (where) =>
      `${where}: no plugin puts the application into the release (none of its plugins handles deploy.updating), so a deploy publishes a release of linked files alone` +
      (sources.length ? `; the plugins that do: ${sources.map((p) => (p.enabledBy ? `${p.name} (${p.enabledBy})` : p.name)).join(', ')}` : ''),
  );
}

/** The signals a restart is made of: a plugin restarts something when it handles one of them. */
export const RESTART_SIGNALS = ['deploy.restarting', 'deploy.restarted'] as const satisfies readonly SignalName[];

/** Whether a plugin handles any of these signals (restarts, puts code into the release, ...). */
export function handlesAny(plugin: Plugin, signals: readonly SignalName[]): boolean {
  return signals.some((s) => plugin.on[s]);
}

/** Whether any plugin of a target's roles handles any of these signals. */
export function targetHandles(t: Target, signals: readonly SignalName[]): boolean {
  return t.roles.some((w) => w.plugins.some((p) => handlesAny(p, signals)));
}

/** Bind the run's release name into a target's configuration and layout. */
export function withRelease(t: Target, release: string): Target {
  return {
    ...t,
    config: bindRelease(t.config, release),
    roles: t.roles.map((r) => ({ ...r, config: bindRelease(r.config, release) })),
    paths: withReleaseName(t.paths, release),
  };
}

function originError(loaded: LoadedFile, rc: RoleConfig, key: string, message: string): ConfigError {
  const o = rc.origins[key];
  if (o?.path) return loaded.error(o.path, message);
  if (o?.layer === '--set') return new ConfigError(message, { file: '--set', keyPath: key });
  // not set anywhere in the file (a default or missing): point at the role that needs it
  const p = loaded.pos(['stage_role_configs', rc.stage, rc.role]);
  return new ConfigError(message, { file: loaded.file, line: p?.line, col: p?.col, keyPath: `stage_role_configs.${rc.stage}.${rc.role}.${key}` });
}
