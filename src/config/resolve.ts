// Resolution in CONTRACT.md's order: built-in defaults, plugin defaults, top level, stage-wide
// keys, role keys, --set. Then ${VAR} expansion (already per layer) and %(key)s interpolation.
import { posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import semver from 'semver';
import { ConfigError, ConfigErrorCollector, InterpolationError } from '../errors.js';
import { addSecret, addUrlSecrets, SECRET_NAME } from '../redact.js';
import { parseHost, type HostSpec } from './hosts.js';
import { expandEnv, interpolatePercent, type EnvResult } from './interpolate.js';
import { formatPath, type LoadedFile, type SourcePos } from './load.js';
import { canonicalName } from '../plugin/load.js';
import type { Plugin } from '../signals.js';
import { CORE_KEYS, didYouMean, nearest, STRUCTURE_KEYS, type KeySpec, type RoleValues } from './schema.js';
import { parseSudoPrefix } from '../remote/shell.js';
import { isWithin } from '../release/paths.js';

export type Layer = 'default' | 'plugin' | 'top' | 'stage' | 'role' | '--set';

/** A key fap does not know and that is no near miss of one: Fapistrano's user variable, for %(key)s. */
export type UserVariables = Record<string, unknown>;

export interface Origin {
  layer: Layer;
  /** key path in the file, for messages */
  path?: (string | number)[];
  pos?: SourcePos;
  /** a default because this layer wrote ~ (null) for the key */
  resetBy?: Omit<Origin, 'resetBy'>;
}

export interface EnvProblem {
  key: string;
  message: string;
  where: ConfigError;
}

export interface RoleConfig {
  stage: string;
  role: string;
  values: RoleValues;
  /** user variables (unknown keys, not near misses): interpolated, shown by fap config, never given to plugins as keys */
  variables: UserVariables;
  /** where each value and each user variable came from */
  origins: Record<string, Origin>;
  /** for maps (environment, ssh): where each entry came from */
  subOrigins: Record<string, Record<string, Origin>>;
  hosts: HostSpec[];
  /** key paths (environment.SECRET_KEY) whose value holds a value read from the environment: shown as *** */
  envPaths: Set<string>;
  /** non-fatal findings, e.g. a key of a plugin that is not enabled */
  warnings: string[];
  /** canonical names of the plugins this role runs */
  enabledPlugins: string[];
  /** unset ${VAR}s: fatal for commands that write the release environment */
  envProblems: EnvProblem[];
  /** keys whose value came from ${...} */
  envKeys: Set<string>;
}

export interface ResolveInput {
  loaded: LoadedFile;
  stage: string;
  role?: string;
  sets?: string[];
  env?: NodeJS.ProcessEnv;
  /** keys declared by loaded plugins (with their plugin name) */
  pluginKeys?: Record<string, KeySpec>;
  /**
   * The plugins a role may enable, bundled and loaded, by the name deploy.yml gives them: what
   * enables one without a plugin list (Plugin.enabledBy) and what one stands in for (Plugin.replaces).
   */
  plugins?: ReadonlyMap<string, Plugin>;
  /** the command being run: <command>_plugins, when set, replaces plugins */
  command?: string;
  /** the command writes the release's environment: every unset ${VAR:?} is an error (reported with the others) */
  requireEnvironment?: boolean;
}

/** Commands with their own plugin list (Fapistrano's release_plugins, ...). */
export const COMMAND_PLUGIN_LISTS = ['deploy', 'release', 'rollback', 'restart', 'once', 'shell', 'run'];

/** The <command>_plugins keys a command reads, first found wins (fap once is fap run's Fapistrano name). */
function commandListKeys(command: string | undefined): string[] {
  if (!command || !COMMAND_PLUGIN_LISTS.includes(command)) return [];
  if (command === 'run' || command === 'once') return [`${command}_plugins`, `${command === 'run' ? 'once' : 'run'}_plugins`];
  return [`${command}_plugins`];
}

/** Known keys and their aliases: an unknown key this close to one is a typo, not a user variable. */
function nearMiss(key: string, keys: Record<string, KeySpec>, aliases: Map<string, string>): string | undefined {
  if (key in LAYOUT_KEYS) return undefined;
  // by spelling alone (src/suggest.ts): a short name gets one edit, a swap of two letters counting
  // one (paht), so auth is a variable of the user's own, not a misspelt path
  return nearest(key, [...Object.keys(keys), ...aliases.keys()]);
}

/** Marker replaced by the release name once it is known (see bindRelease). */
export const RELEASE_TOKEN = '\u0000release\u0000';

const PATH_KEYS = ['release_path', 'current_path', 'shared_path', 'releases_path', 'environment_file', 'revision_file'];

/**
 * Fapistrano's layout keys (configuration.py:72-78, git.py:13), each computed from the others by
 * default. current_path, releases_path and shared_path may name other places on the host (they are
 * checked to stay apart: see layoutProblem); the rest follow fap's fixed shape — a release is
 * releases_path/<release>, its .env and REVISION sit in it — so another value is refused by name
 * rather than silently ignored. The lock, journal and mirror stay under `path`.
 */
const LAYOUT_KEYS: Record<string, (get: (key: string) => string, root: string) => string> = {
  current_path: (_, r) => `${r}/current`,
  releases_path: (_, r) => `${r}/releases`,
  shared_path: (_, r) => `${r}/shared`,
  release_path: (get) => `${get('releases_path')}/${RELEASE_TOKEN}`,
  environment_file: (get) => `${get('release_path')}/.env`,
  revision_file: () => 'REVISION',
};

/** The layout keys a deploy.yml may point elsewhere. */
export const PLACE_KEYS = ['current_path', 'releases_path', 'shared_path'] as const;

const norm = (p: string) => posix.normalize(p).replace(/(.)\/+$/, '$1');

/** Why the places (absolute, normalized) cannot hold a deploy, or undefined. */
export function layoutProblem(key: string, place: string, places: Record<string, string>, root: string): string | undefined {
  if (!place.startsWith('/')) return `${key} must be an absolute path on the host, got "${place}"`;
  if (place.includes(RELEASE_TOKEN)) return `${key} cannot depend on the release (%(new_release)s): it is the same for every release`;
  const others: [string, string][] = [
    ...Object.entries(places).filter(([k]) => k !== key),
    ['the lock and journal directory', `${root}/.fap`],
    ["fap's log", `${root}/revisions.log`],
    ['the git mirror', `${root}/repo`],
  ];
  if (place === '/' || isWithin(root, place)) return `${key} ${place} would hold the deploy root ${root}; give it a directory of its own`;
  for (const [k, other] of others) {
    if (isWithin(place, other) || isWithin(other, place)) return `${key} ${place} overlaps ${k} ${other}; releases, shared files and current each need a place of their own`;
  }
  return undefined;
}

function checkLayoutKeys(variables: Record<string, unknown>, root: string, all: Record<string, unknown>, origins: Record<string, Origin>, loaded: LoadedFile, errors: ConfigErrorCollector): Record<string, string> {
  const shown = (v: string) => v.split(RELEASE_TOKEN).join('<release>');
  const fail = (key: string, message: string): void => {
    const o = origins[key];
    errors.add(o?.path ? loaded.error(o.path, message) : new ConfigError(`--set ${key}: ${message}`));
  };
  const value = (key: string): string => (key in variables ? norm(String(all[key] ?? '')) : LAYOUT_KEYS[key](value, root));
  const places = Object.fromEntries(PLACE_KEYS.map((k) => [k, value(k)]));
  for (const key of PLACE_KEYS) {
    if (!(key in variables)) continue;
    const bad = layoutProblem(key, places[key], places, root);
    if (bad) fail(key, bad);
  }
  for (const key of ['release_path', 'environment_file', 'revision_file']) {
    if (!(key in variables)) continue;
    const want = LAYOUT_KEYS[key](value, root);
    if (value(key) === want) continue;
    fail(
      key,
      key === 'revision_file'
        ? `fap writes the revision to REVISION in each release (Fapistrano's default); another name (${value(key)}) is not supported`
        : `fap keeps this at ${shown(want)}; another place (${shown(value(key))}) is not supported${key === 'release_path' ? ': set releases_path to move the releases' : ''}`,
    );
  }
  // the places set in deploy.yml, for the plan's layout (and %(current_path)s)
  return Object.fromEntries(PLACE_KEYS.filter((k) => k in variables).map((k) => [k, places[k]]));
}
/** Keys whose value fap computes; %(new_release)s is the run's release name (Fapistrano configuration.py:79). */
const COMPUTED_KEYS = new Set(['new_release']);

export function allKeys(pluginKeys: Record<string, KeySpec> = {}): Record<string, KeySpec> {
  return { ...CORE_KEYS, ...pluginKeys };
}

function aliasMap(keys: Record<string, KeySpec>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, spec] of Object.entries(keys)) for (const a of spec.aliases ?? []) m.set(a, k);
  return m;
}

/** The stage map: role entries are maps whose name is not a configuration key. */
function splitStage(stageMap: Record<string, unknown>, keys: Record<string, KeySpec>, aliases: Map<string, string>, loaded?: LoadedFile, stage?: string, errors?: ConfigErrorCollector) {
  const roles: Record<string, Record<string, unknown>> = {};
  const wide: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(stageMap)) {
    if (keys[k] || aliases.has(k) || k.startsWith('x-')) wide[k] = v;
    else if (v === null || isPlainMap(v)) roles[k] = (v ?? {}) as Record<string, unknown>;
    else {
      // a scalar or a list: a stage-wide user variable, unless it is a typo of a key
      const near = nearMiss(k, keys, aliases);
      if (near && loaded) {
        const e = loaded.error(['stage_role_configs', stage!, k], `unknown key "${k}" (did you mean "${near}"?); a role must be a map (hosts: [...])`);
        if (!errors) throw e;
        errors.add(e);
        continue;
      }
      wide[k] = v;
    }
  }
  return { roles, wide };
}

/**
 * Every key name the file sets, at the top, stage-wide or in a role, read as resolveRole reads it
 * (a map in a stage that is not a key is a role): what a `--key=value` option may name.
 */
export function keyNamesIn(loaded: LoadedFile, keys: Record<string, KeySpec>): string[] {
  const aliases = aliasMap(keys);
  const out = Object.keys(loaded.data).filter((k) => !STRUCTURE_KEYS.has(k));
  const stages = loaded.data.stage_role_configs;
  for (const st of isPlainMap(stages) ? Object.values(stages) : []) {
    if (!isPlainMap(st)) continue;
    const { roles, wide } = splitStage(st, keys, aliases);
    out.push(...Object.keys(wide), ...Object.values(roles).flatMap((r) => Object.keys(r)));
  }
  return out.filter((k) => !k.startsWith('x-'));
}

export function stagesOf(loaded: LoadedFile): Record<string, Record<string, unknown>> {
  const src = loaded.data.stage_role_configs;
  if (src === undefined) throw loaded.error([], 'missing "stage_role_configs" (stage -> role -> hosts)');
  if (!src || typeof src !== 'object' || Array.isArray(src)) throw loaded.error(['stage_role_configs'], 'must be a map of stages');
  for (const [name, v] of Object.entries(src)) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw loaded.error(['stage_role_configs', name], 'a stage must be a map of roles');
  }
  return src as Record<string, Record<string, unknown>>;
}

/** Plugin names mentioned anywhere for the selected stage, so they can be loaded before resolving. */
export function pluginNamesFor(loaded: LoadedFile, stage: string): string[] {
  return [...pluginRefs(loaded, stage).keys()];
}

/** Each plugin name mentioned for the stage with where it is first written (none for the default). */
export function pluginRefs(loaded: LoadedFile, stage: string): Map<string, (string | number)[] | undefined> {
  const refs = new Map<string, (string | number)[] | undefined>();
  const add = (v: unknown, base?: (string | number)[]) => {
    if (Array.isArray(v)) v.forEach((n, i) => typeof n === 'string' && !refs.has(n) && refs.set(n, base && [...base, i]));
  };
  const lists = (m: Record<string, unknown>, base: (string | number)[]) => {
    for (const key of ['plugins', ...COMMAND_PLUGIN_LISTS.map((c) => `${c}_plugins`)]) add(typeof m[key] === 'string' ? [m[key]] : m[key], [...base, key]);
  };
  lists(loaded.data, []);
  const st = (loaded.data.stage_role_configs as Record<string, Record<string, unknown>> | undefined)?.[stage];
  if (st && typeof st === 'object') {
    const base = ['stage_role_configs', stage];
    lists(st, base);
    for (const [k, v] of Object.entries(st)) if (v && typeof v === 'object' && !Array.isArray(v)) lists(v as Record<string, unknown>, [...base, k]);
  }
  return refs;
}

/**
 * Plugin names given with --set plugins=[...] (or a <command>_plugins list): loaded with those of
 * the file, so their keys and defaults are known as if the file named them.
 */
export function pluginNamesInSets(sets: readonly string[] = []): { name: string; key: string }[] {
  const lists = new Set(['plugins', ...COMMAND_PLUGIN_LISTS.map((c) => `${c}_plugins`)]);
  const names: { name: string; key: string }[] = [];
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0 || !lists.has(set.slice(0, eq))) continue;
    let v: unknown;
    try {
      v = parseYaml(set.slice(eq + 1), { logLevel: 'error' });
    } catch {
      continue; // reported when the value is resolved
    }
    for (const n of Array.isArray(v) ? v : [v]) if (typeof n === 'string' && n) names.push({ name: n, key: set.slice(0, eq) });
  }
  return names;
}

export function selectRoles(loaded: LoadedFile, stage: string, role: string | undefined, keys: Record<string, KeySpec>): string[] {
  const stages = stagesOf(loaded);
  const st = stages[stage];
  if (!st) {
    throw loaded.error(['stage_role_configs'], `unknown stage "${stage}"${didYouMean(stage, Object.keys(stages))}; known stages: ${Object.keys(stages).join(', ') || '(none)'}`);
  }
  const aliases = aliasMap(keys);
  const { roles } = splitStage(st, keys, aliases, loaded, stage);
  const names = Object.keys(roles);
  // asked for by name but written as a value: a stage-wide user variable, not a role
  if (role !== undefined && !roles[role] && role in st && !keys[role] && !aliases.has(role)) {
    throw loaded.error(['stage_role_configs', stage, role], `unknown key "${role}"; a role must be a map (hosts: [...])`);
  }
  if (role === undefined) {
    if (!names.length) throw loaded.error(['stage_role_configs', stage], `stage "${stage}" has no roles`);
    return names;
  }
  if (!roles[role]) {
    throw loaded.error(['stage_role_configs', stage], `unknown role "${role}"${didYouMean(role, names)}; roles of ${stage}: ${names.join(', ') || '(none)'}`);
  }
  return [role];
}

export function resolveRole(input: ResolveInput, role: string): RoleConfig {
  const { loaded, stage } = input;
  const env = input.env ?? process.env;
  const keys = allKeys(input.pluginKeys);
  const aliases = aliasMap(keys);
  const stages = stagesOf(loaded);
  // every error of the role is collected and reported together (file order) at the end
  const errors = new ConfigErrorCollector();
  const { roles, wide } = splitStage(stages[stage], keys, aliases, loaded, stage, errors);

  const values: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  const subOrigins: Record<string, Record<string, Origin>> = {};
  const envProblems: EnvProblem[] = [];
  const envKeys = new Set<string>();
  const envPaths = new Set<string>();
  const warnings: string[] = [];
  const variables: Record<string, unknown> = {};
  const at = (path?: (string | number)[]) => (path ? `${loaded.file}:${loaded.pos(path)?.line ?? 1}: ` : '--set: ');

  // 1. What each layer sets, key names checked against every key fap knows; any other name that is
  // no near miss of one is a user variable (Fapistrano interpolates every key of its env).
  const entries: { layer: Layer; key: string; value: unknown; path?: (string | number)[]; variable?: boolean }[] = [];
  const layerSources: [Layer, Record<string, unknown>, (string | number)[]][] = [
    ['top', loaded.data, []],
    ['stage', wide, ['stage_role_configs', stage]],
    ['role', roles[role] ?? {}, ['stage_role_configs', stage, role]],
  ];
  for (const [layer, src, base] of layerSources) {
    // the first spelling of each key in this mapping: a second one (repo and repo_url) is the same
    // key written twice, which YAML's duplicate-key check cannot see
    const spelt = new Map<string, { rawKey: string; path: (string | number)[] }>();
    for (const [rawKey, rawValue] of Object.entries(src)) {
      if (layer === 'top' && STRUCTURE_KEYS.has(rawKey)) continue;
      if (rawKey.startsWith('x-')) continue;
      const path = [...base, rawKey];
      const key = aliases.get(rawKey) ?? rawKey;
      const first = keys[key] ? spelt.get(key) : undefined;
      if (first) {
        // the same value twice is harmless; two values would leave one silently ignored
        if (!isDeepStrictEqual(src[first.rawKey], rawValue)) errors.add(twoSpellings(loaded, keys[key], key, first, { rawKey, path }));
        continue;
      }
      if (keys[key]) spelt.set(key, { rawKey, path });
      let variable = false;
      if (!keys[key]) {
        const near = nearMiss(rawKey, keys, aliases);
        if (near) {
          errors.add(loaded.error(path, `unknown key "${rawKey}" (did you mean "${near}"?)`));
          continue;
        }
        variable = true;
      } else if (key !== rawKey) {
        warnings.push(`${at(path)}${rawKey} is ${keys[key].aliasesFrom ?? 'Fapistrano'}'s name for ${key}; fap reads it`);
      }
      if (COMPUTED_KEYS.has(key)) {
        errors.add(loaded.error(path, `${key} is the name fap gives this run's release; it cannot be set`));
        continue;
      }
      const expanded = expandValue(rawValue, env, path, (r, at) => {
        if (r.fromEnv) envKeys.add(key);
        if (r.fromVariables.length) envPaths.add(formatPath(at.slice(base.length)));
        for (const v of r.fromVariables) addSecret(v);
        for (const p of r.missing) envProblems.push({ key, message: p.message, where: loaded.error(at, p.message) });
      });
      entries.push({ layer, key, value: asWritten(keys[key], expanded, (sub) => loaded.numberText([...path, ...sub])), path, variable });
    }
  }
  for (const set of input.sets ?? []) {
    const e = errors.take(() => parseSet(set, keys, aliases));
    if (e) entries.push(e);
  }
  for (const e of entries) {
    // Fapistrano's guide writes `linked_files: app/settings/production.py`: one item
    if (!e.variable && keys[e.key].type === 'list' && typeof e.value === 'string') {
      warnings.push(`${at(e.path)}${e.key} is a single string; fap reads it as a one-item list [${e.value}]`);
      e.value = [e.value];
    }
    if (e.key === 'env_role_configs') warnings.push(`${at(e.path)}env_role_configs has no effect (Fapistrano accepted it and never read it either)`);
  }

  // 2. The plugins this role enables decide which plugin defaults apply.
  const last = (key: string) => [...entries].reverse().find((e) => e.key === key && !e.variable);
  const pluginsEntry = commandListKeys(input.command).map(last).find(Boolean) || last('plugins');
  // fapistrano-0.9.5 configuration.py:109: no plugins unless listed; fap adds a plugin whose
  // enabling key is set (git: repo)
  const known = [...(input.plugins ?? new Map<string, Plugin>())];
  let pluginList: unknown = pluginsEntry && pluginsEntry.value !== null ? pluginsEntry.value : known.filter(([, p]) => p.enabledBy && last(p.enabledBy)?.value).map(([name]) => name);
  // a plugin standing in for another (curl for git, given an artifact): it takes the other's place,
  // and the other's keys stay quiet
  const quiet = new Set<string>();
  for (const [name, { replaces: r }] of known) {
    if (!r || !entries.some((e) => r.when.includes(e.key) && e.value)) continue;
    // its keys are set for the commands it stands in for (fap release): they do not warn in the others
    quiet.add(name);
    if (r.commands && !r.commands.includes(input.command ?? '')) continue;
    quiet.add(r.plugin);
    if (!Array.isArray(pluginList)) continue;
    const names = pluginList.map((n) => canonicalName(String(n)));
    pluginList = names.includes(name) ? names.filter((n) => n !== r.plugin) : names.map((n) => (n === r.plugin ? name : n));
    if (!(pluginList as string[]).includes(name)) pluginList = [name, ...(pluginList as string[])];
  }
  const enabled = new Set(Array.isArray(pluginList) ? pluginList.map((n) => canonicalName(String(n))) : []);
  // every plugin some command of this role runs (plugins, deploy_plugins, ...): its keys never warn,
  // and fap check and fap config see its defaults (check looks for the tools they name)
  const anyCommand = new Set(enabled);
  for (const key of ['plugins', ...COMMAND_PLUGIN_LISTS.map((c) => `${c}_plugins`)]) {
    const v = last(key)?.value;
    for (const n of Array.isArray(v) ? v : typeof v === 'string' ? [v] : []) anyCommand.add(canonicalName(String(n)));
  }
  const defaultsFor = input.command === 'check' || input.command === 'config' ? anyCommand : enabled;

  // `~` (null) resets a key, or a sub-key of a map with declared keys, to its default (unset when
  // it has none) at the layer that writes it: never a null read as 0, "null" or "no plugins", and
  // interpolated like any default (found by the attack pass: keep_releases: ~ pruned to one release)
  const defaultOf = (spec: KeySpec | undefined): unknown =>
    spec?.type === 'map' && spec.keys ? Object.fromEntries(Object.entries(spec.keys).filter(([, s]) => s.default !== undefined).map(([k, s]) => [k, structuredClone(s.default)])) : structuredClone(spec?.default);
  const apply = (layer: Layer, key: string, value: unknown, path?: (string | number)[]) => {
    const spec = keys[key];
    const origin: Origin = { layer, path, pos: path ? loaded.pos(path) : undefined };
    if (value === null && spec) {
      const d = defaultOf(spec);
      if (d === undefined) delete values[key];
      else values[key] = d;
      origins[key] = { layer: 'default', resetBy: origin };
      return;
    }
    if (spec?.type === 'map' && spec.keys && isPlainMap(value)) {
      const subs = spec.keys;
      value = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === null && subs[k] ? defaultOf(subs[k]) : v]).filter(([, v]) => v !== undefined));
    }
    if ((spec?.type === 'map' || spec?.type === 'env') && isPlainMap(value)) {
      const merged = isPlainMap(values[key]) ? { ...(values[key] as object) } : {};
      values[key] = mergeDotted(merged, value);
      subOrigins[key] ??= {};
      for (const sub of Object.keys(value)) subOrigins[key][sub] = { ...origin, path: path ? [...path, sub] : undefined, pos: path ? loaded.pos([...path, sub]) : undefined };
    } else {
      values[key] = value;
    }
    origins[key] = origin;
  };

  for (const [k, spec] of Object.entries(keys)) {
    if (spec.plugin && !defaultsFor.has(spec.plugin)) continue;
    if (spec.type === 'map' && spec.keys) {
      const d = Object.fromEntries(Object.entries(spec.keys).filter(([, s]) => s.default !== undefined).map(([sk, s]) => [sk, structuredClone(s.default)]));
      apply('default', k, d);
      continue;
    }
    if (spec.default === undefined) continue;
    apply(spec.plugin ? 'plugin' : 'default', k, structuredClone(spec.default));
  }
  for (const e of entries) {
    if (e.variable) {
      variables[e.key] = e.value;
      origins[e.key] = { layer: e.layer, path: e.path, pos: e.path ? loaded.pos(e.path) : undefined };
      continue;
    }
    if (e.key === 'plugins' && pluginsEntry !== e) continue;
    if (e === pluginsEntry) {
      apply(e.layer, 'plugins', pluginList, e.path);
      if (e.key === 'plugins') continue;
    }
    apply(e.layer, e.key, e.value, e.path);
    const owner = keys[e.key].plugin;
    if (owner && !anyCommand.has(owner) && !quiet.has(owner)) {
      warnings.push(`${at(e.path)}${e.key} belongs to the ${owner} plugin, which is not enabled for ${stage}/${role} (plugins: ${[...enabled].join(', ') || 'none'})`);
    }
  }
  if (!pluginsEntry) apply('default', 'plugins', pluginList);


  if (typeof values.app_name !== 'string' || !values.app_name) {
    const msg = 'app_name is required (the application name, used in paths and messages)';
    errors.add(origins.app_name?.path ? loaded.error(origins.app_name.path, msg) : new ConfigError(msg, { file: loaded.file, line: 1, col: 1, keyPath: 'app_name' }));
    // go on with a stand-in, so the other errors are found (and %(app_name)s is not one more)
    values.app_name = 'app';
  }
  const hosts = parseHosts(values.hosts, origins.hosts, loaded, errors);
  const layoutSet = Object.fromEntries(Object.keys(LAYOUT_KEYS).filter((k) => k in variables).map((k) => [k, variables[k]]));
  for (const k of Object.keys(layoutSet)) delete variables[k];
  const all = interpolateAll({ ...variables, ...layoutSet, ...values }, origins, { stage, role }, loaded, errors);
  const places = checkLayoutKeys(layoutSet, String(all.path).replace(/\/+$/, ''), all, origins, loaded, errors);
  const resolved = { ...Object.fromEntries(Object.keys(values).map((k) => [k, all[k]])), ...places };
  const resolvedVariables = Object.fromEntries(Object.keys(variables).filter((k) => !(k in values)).map((k) => [k, all[k]]));
  // a user variable named like a secret (db_password, api_key) is one: redacted wherever it goes
  for (const [k, v] of Object.entries(resolvedVariables)) if (SECRET_NAME.test(k) && (typeof v === 'string' || typeof v === 'number')) addSecret(String(v));
  validateTypes(resolved, origins, subOrigins, keys, loaded, errors, input.sets ?? []);
  // (checks only shapes it can read: safe whatever validateTypes found)
  envShadowedByLinkedFile(resolved, origins, loaded, envProblems, warnings);
  if (input.requireEnvironment) for (const p of envProblems) errors.add(p.where);
  errors.throwIfAny();
  registerSecrets(resolved, keys);
  return { stage, role, values: resolved, variables: resolvedVariables, origins, subOrigins, hosts, envProblems, envKeys, envPaths, warnings, enabledPlugins: [...enabled] };
}

/**
 * One key written under two of its spellings in one mapping (path: and deploy_to:) with different
 * values: an error at the second, naming where the first is. Which one fap should read is not
 * for fap to guess (found by the attack pass: the later silently won).
 */
function twoSpellings(loaded: LoadedFile, spec: KeySpec, key: string, a: { rawKey: string; path: (string | number)[] }, b: { rawKey: string; path: (string | number)[] }): ConfigError {
  const at = loaded.pos(a.path);
  const alias = a.rawKey === key ? b.rawKey : a.rawKey;
  return loaded.error(
    b.path,
    `also set as ${a.rawKey} at ${loaded.file}${at ? `:${at.line}:${at.col}` : ''}, with another value (${alias} is ${spec.aliasesFrom ?? 'Fapistrano'}'s name for ${key}); keep one of them`,
  );
}

/** --set a.b.c=value becomes a nested value for key a. */
function mergeDotted(into: Record<string, unknown>, value: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(value)) {
    if (isPlainMap(v) && isPlainMap(into[k])) into[k] = mergeDotted({ ...(into[k] as Record<string, unknown>) }, v);
    else into[k] = v;
  }
  return into;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

type EnvNote = (r: EnvResult, path: (string | number)[]) => void;

function expandValue(v: unknown, env: NodeJS.ProcessEnv, path: (string | number)[], note: EnvNote): unknown {
  if (typeof v === 'string') {
    const r = expandEnv(v, env, true);
    note(r, path);
    return r.value;
  }
  if (Array.isArray(v)) return v.map((x, i) => expandValue(x, env, [...path, i], note));
  if (isPlainMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expandValue(x, env, [...path, k], note)]));
  return v;
}


/**
 * A value as written where a string is meant: YAML reads `branch: 1.10` as the number 1.1 and
 * `2.0` as 2; a string key (or a string inside a list, env or map, or a user variable, which is
 * only ever interpolated) takes the text written instead. textAt(sub): the text written for a
 * number at that path under the key, when it does not read back as the number.
 */
function asWritten(spec: KeySpec | undefined, value: unknown, textAt: (sub: (string | number)[]) => string | undefined, sub: (string | number)[] = []): unknown {
  if (typeof value === 'number') return !spec || spec.type === 'string' ? (textAt(sub) ?? String(value)) : value;
  if (Array.isArray(value) && (!spec || spec.type === 'list')) return value.map((v, i) => asWritten(undefined, v, textAt, [...sub, i]));
  if (isPlainMap(value) && (!spec || spec.type === 'env' || spec.type === 'map')) {
    const subSpec = (k: string): KeySpec | undefined => (spec?.type === 'map' && spec.keys ? (spec.keys[k] ?? STRING) : spec?.type === 'env' ? STRING : undefined);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asWritten(subSpec(k), v, textAt, [...sub, k])]));
  }
  return value;
}

const STRING: KeySpec = { type: 'string', description: '' };
function parseSet(set: string, keys: Record<string, KeySpec>, aliases: Map<string, string>): { layer: Layer; key: string; value: unknown; variable?: boolean } {
  const eq = set.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set ${set}: expected KEY=VALUE`);
  const dotted = set.slice(0, eq).split('.');
  const key = aliases.get(dotted[0]) ?? dotted[0];
  if (dotted.some((d) => !d)) throw new ConfigError(`--set ${set}: empty segment in the key path`);
  if (COMPUTED_KEYS.has(key)) throw new ConfigError(`--set ${set}: ${key} is the name fap gives this run's release; it cannot be set`);
  // the stages and their roles are deploy.yml's structure, not a value (a near miss would be a wrong guess)
  if (STRUCTURE_KEYS.has(key)) throw new ConfigError(`--set ${set}: stages, roles and their hosts cannot be set with --set; narrow the hosts with --hosts (e.g. --hosts web1,web2), or edit deploy.yml`);
  if (!keys[key]) {
    const near = nearMiss(dotted[0], keys, aliases);
    if (near || dotted.length > 1) throw new ConfigError(`--set ${set}: unknown key "${dotted[0]}"${near ? ` (did you mean "${near}"?)` : ''}`);
  }
  let value: unknown;
  const text = set.slice(eq + 1);
  try {
    value = parseYaml(text, { logLevel: 'error' });
  } catch {
    value = text;
  }
  if (value === null && text === '') value = '';
  // --set branch=1.10: the text given, not the number YAML reads (1.1), where a string is meant
  const spec = dotted.slice(1).reduce<KeySpec | undefined>((s, seg) => (s?.type === 'map' ? s.keys?.[seg] : s?.type === 'env' ? { type: 'string', description: '' } : undefined), keys[key]);
  if (typeof value === 'number' && (!spec || spec.type === 'string')) value = text.trim();
  if (!keys[key]) return { layer: '--set', key, value, variable: true };
  for (const seg of dotted.slice(1).reverse()) value = { [seg]: value };
  if (dotted.length > 1 && keys[key].type !== 'map' && keys[key].type !== 'env') {
    throw new ConfigError(`--set ${set}: "${key}" is not a map, so "${dotted.slice(1).join('.')}" cannot be set in it`);
  }
  return { layer: '--set', key, value };
}

function parseHosts(v: unknown, origin: Origin | undefined, loaded: LoadedFile, errors: ConfigErrorCollector): HostSpec[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  // every bad host is named; the good ones are kept, so the role's other checks still run
  return list.flatMap((h, i) => {
    try {
      return [parseHost(h)];
    } catch (e) {
      const path = origin?.path ? [...origin.path, ...(Array.isArray(v) ? [i] : [])] : undefined;
      errors.add(path ? loaded.error(path, (e as Error).message) : new ConfigError(`${origin?.layer === '--set' ? '--set: ' : ''}hosts: ${(e as Error).message}`));
      return [];
    }
  });
}

function interpolateAll(values: Record<string, unknown>, origins: Record<string, Origin>, ctx: { stage: string; role: string }, loaded: LoadedFile, errors: ConfigErrorCollector) {
  const done = new Map<string, unknown>();
  const stack: string[] = [];

  const fail = (key: string, message: string): never => {
    const o = origins[key];
    if (o?.path) throw loaded.error(o.path, message);
    throw new ConfigError(`${key}: ${message}`, { file: loaded.file });
  };

  const get = (key: string): unknown => {
    if (done.has(key)) return done.get(key);
    if (key === 'stage') return ctx.stage;
    if (key === 'role') return ctx.role;
    if (key === 'new_release') return RELEASE_TOKEN;
    if (PATH_KEYS.includes(key) && !(key in values)) return LAYOUT_KEYS[key]((k) => String(get(k)), String(get('path')).replace(/\/+$/, ''));
    if (!(key in values)) return undefined;
    if (stack.includes(key)) fail(key, `interpolation cycle: ${[...stack.slice(stack.indexOf(key)), key].join(' -> ')}`);
    stack.push(key);
    try {
      const out = deep(values[key], key);
      done.set(key, out);
      return out;
    } catch (e) {
      // reported once (where it fails), not again by every key that uses it
      done.set(key, values[key]);
      throw e;
    } finally {
      stack.pop();
    }
  };

  const deep = (v: unknown, key: string): unknown => {
    if (typeof v === 'string') {
      try {
        return interpolatePercent(v, get);
      } catch (e) {
        if (!(e instanceof InterpolationError)) throw e;
        const known = [...Object.keys(values), 'stage', 'role', ...PATH_KEYS, ...COMPUTED_KEYS];
        fail(key, e.unknownKey !== undefined ? `${e.message}${didYouMean(e.unknownKey, known)}` : e.message);
      }
    }
    if (Array.isArray(v)) return v.map((x) => deep(x, key));
    if (isPlainMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x, key)]));
    return v;
  };

  const out: Record<string, unknown> = {};
  // a key that cannot be interpolated is reported, and keeps its text, so the others still are
  for (const key of Object.keys(values)) out[key] = errors.take(() => get(key)) ?? values[key];
  return out;
}

/** The text after `KEY=` of the last --set for a key (its alias or a dotted sub-key too), as the user typed it. */
function setText(sets: readonly string[], key: string, sub: string | number | undefined, aliases: Map<string, string>): { option: string; text: string } | undefined {
  for (const set of [...sets].reverse()) {
    const eq = set.indexOf('=');
    if (eq <= 0) continue;
    const dotted = set.slice(0, eq).split('.');
    if ((aliases.get(dotted[0]) ?? dotted[0]) !== key) continue;
    if (sub !== undefined && typeof sub === 'string' && dotted.length > 1 && dotted[1] !== sub) continue;
    return { option: set.slice(0, eq), text: set.slice(eq + 1) };
  }
  return undefined;
}

function validateTypes(values: Record<string, unknown>, origins: Record<string, Origin>, subOrigins: Record<string, Record<string, Origin>>, keys: Record<string, KeySpec>, loaded: LoadedFile, errors: ConfigErrorCollector, sets: readonly string[]): asserts values is RoleValues {
  const aliases = aliasMap(keys);
  /** the error for a key (sub: an entry of it), with how to quote a value YAML read as a boolean (or, from --set, as a map or list) */
  const fail = (key: string, sub: string | number | undefined, message: string, quote?: Quote): never => {
    // an entry of a merged map: blame the layer that set that entry
    const so = sub !== undefined ? subOrigins[key]?.[String(sub)] : undefined;
    const o = origins[key];
    const path = so?.path ?? (so?.layer !== '--set' && o?.path ? (sub !== undefined ? [...o.path, sub] : o.path) : undefined);
    if (path) throw loaded.error(path, message + (quote === true ? quoteInFile(loaded.scalarSource(path)) : ''));
    const set = so?.layer === '--set' || o?.layer === '--set';
    const given = setText(sets, key, sub, aliases);
    // a map or list is text to quote only when that --set gave this very key (not its whole map)
    const named = quote === true || given?.option.split('.').length === (sub === undefined ? 1 : 2);
    const hint = quote && set && named ? quoteInSet(given) : '';
    throw new ConfigError(message + hint, { keyPath: formatPath(sub !== undefined ? [key, sub] : [key]), file: set ? '--set' : loaded.file });
  };
  for (const [key, value] of Object.entries(values)) {
    const spec = keys[key];
    if (!spec) continue;
    // every problem of every key is reported (an item of a list, an entry of a map, each on its own)
    const before = errors.count;
    errors.take(() => checkValue(spec, value, (m, sub, quote) => fail(key, sub, m, quote), key, (check) => void errors.take(check)));
    if (errors.count === before) values[key] = normalise(spec, value);
  }
  if (typeof values.sudo_prefix === 'string') {
    try {
      parseSudoPrefix(values.sudo_prefix);
    } catch (e) {
      errors.take(() => fail('sudo_prefix', undefined, (e as Error).message));
    }
  }
}

/** YAML reads true/false (any case) as a boolean: where text is meant, say how to write it as text. */
function quoteInFile(source: string | undefined): string {
  return source ? `; quote it for the text: "${source}"` : '; quote it for the text';
}

/**
 * The --set that gives the text typed as a string: the value as a YAML double-quoted scalar (JSON's
 * escapes: a " or \\ in it stays the text), the whole option single-quoted for the shell.
 */
export function quoteInSet(set: { option: string; text: string } | undefined): string {
  return set ? `; quote it for the text: --set '${`${set.option}=${JSON.stringify(set.text)}`.replace(/'/g, "'\\''")}'` : '; quote the value for the text';
}

/**
 * How to say "write it as text" for a value of the wrong type where a string is meant: true, a
 * boolean (in deploy.yml and --set); 'set', a map or list, which only --set makes of text by
 * accident (`--set 'health_check=curl -H "Authorization: Bearer x" ...'` reads as a map).
 */
type Quote = boolean | 'set';

/** A checked value in its declared type (schema.ts ValueOf): what the code reading it may rely on. */
function normalise(spec: KeySpec, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (spec.type === 'string' && typeof value === 'number') return String(value);
  if (spec.type === 'integer') return spec.booleans && typeof value === 'boolean' ? spec.booleans[`${value}`] : Number(value);
  if (spec.type === 'map' && spec.keys && isPlainMap(value)) {
    const keys = spec.keys;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, keys[k] ? normalise(keys[k], v) : v]));
  }
  return value;
}

/**
 * fail reports one problem (sub: the entry it is in; quote: a boolean where text is meant) and
 * stops this check; each runs one entry's check so that the other entries are still checked.
 */
function checkValue(spec: KeySpec, value: unknown, fail: (m: string, sub?: string | number, quote?: Quote) => never, key: string, each: (check: () => void) => void = (c) => c()): void {
  if (value === undefined || value === null) return;
  const t = describe(value);
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string' && typeof value !== 'number') fail(`expected a string, got ${t}`, undefined, typeof value === 'boolean' || (typeof value === 'object' && 'set'));
      if (spec.enum && !spec.enum.includes(String(value))) fail(`"${value}" is not one of ${spec.enum.join(', ')}${didYouMean(String(value), spec.enum)}`);
      if (spec.semverRange && semver.validRange(String(value)) === null) fail(`"${value}" is not a semver range (e.g. ">=2.20", "^3.8", "*")`);
      return;
    case 'integer': {
      if (spec.booleans && typeof value === 'boolean') return;
      const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) fail(`expected a whole number${spec.booleans ? ', true or false' : ''}, got ${t} ${JSON.stringify(value)}`);
      if (spec.min !== undefined && (n as number) < spec.min) fail(`must be at least ${spec.min}, got ${n}`);
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail(`expected true or false, got ${t} ${JSON.stringify(value)}`);
      return;
    case 'list':
      if (!Array.isArray(value)) fail(`expected a list, got ${t}`);
      (value as unknown[]).forEach((x, i) =>
        each(() => {
          if (typeof x !== 'string') fail(`expected a list of strings, got an item that is ${describe(x)}`, i, typeof x === 'boolean');
        }),
      );
      return;
    case 'hosts':
      if (!Array.isArray(value) && typeof value !== 'string') fail(`expected a list of hosts, got ${t}`);
      return;
    case 'env':
      if (!isPlainMap(value)) fail(`expected a map of NAME: value, got ${t}`);
      for (const [k, v] of Object.entries(value as object)) {
        each(() => {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) fail(`"${k}" is not a valid environment variable name`, k);
          if (v !== null && typeof v === 'object') fail(`expected a scalar value, got ${describe(v)}`, k);
        });
      }
      return;
    case 'map':
      if (!isPlainMap(value)) fail(`expected a map, got ${t}`);
      if (spec.keys) {
        const subs = spec.keys;
        for (const [k, v] of Object.entries(value as object)) {
          each(() => {
            const sub = subs[k];
            if (!sub) fail(`unknown key "${key}.${k}"${didYouMean(k, Object.keys(subs))}`, k);
            checkValue(sub, v, (m, _, quote) => fail(m, k, quote), `${key}.${k}`);
          });
        }
      } else if (spec.values) {
        const values = spec.values;
        for (const [k, v] of Object.entries(value as object)) {
          each(() => {
            if (spec.keyPattern && !spec.keyPattern.re.test(k)) fail(`"${k}" is not ${spec.keyPattern.what}`, k);
            checkValue(values, v, (m, _, quote) => fail(m, k, quote), `${key}.${k}`);
          });
        }
      }
      return;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `a ${typeof v}`;
}

/**
 * Which values are secret (redacted in all output), decided here and nowhere else:
 * - a value read from the deploying environment by ${VAR} (registered as it is expanded), but not a
 *   ${VAR:-default} default written in the file: that is configuration, shown as written;
 * - the whole value of an environment entry named like a secret (SECRET_NAME), default or not, and
 *   the userinfo password (and credential query parameters) of any environment value that is a URL;
 * - the whole value of a key the schema marks secret, and the userinfo and credential query
 *   parameters (?token=, X-Amz-Signature=) of a URL key marked urlSecret.
 */
function registerSecrets(values: Record<string, unknown>, keys: Record<string, KeySpec>) {
  for (const [k, v] of Object.entries(values)) {
    if (keys[k]?.secret) addSecret(v);
    if (keys[k]?.urlSecret && typeof v === 'string') addUrlSecrets(v);
    if (keys[k]?.userPasswordSecret && typeof v === 'string' && v.includes(':')) addSecret(v.slice(v.indexOf(':') + 1));
  }
  const envMap = values.environment;
  if (!isPlainMap(envMap)) return;
  for (const [k, v] of Object.entries(envMap)) {
    if (SECRET_NAME.test(k)) addSecret(v);
    // DATABASE_URL: postgres://app:pw@db/shop — the password (and ?token=) of any URL-shaped value
    if (typeof v === 'string') addUrlSecrets(v);
  }
}

/**
 * `environment:` is written to <release>/.env, and a linked `.env` replaces that file with shared/.env,
 * so the values would silently never reach the app. Commands that write .env (deploy, release)
 * refuse; the others (rollback, run, config, ...) warn, so an emergency rollback still works.
 */
function envShadowedByLinkedFile(values: Record<string, unknown>, origins: Record<string, Origin>, loaded: LoadedFile, envProblems: EnvProblem[], warnings: string[]) {
  const env = values.environment;
  const linked = Array.isArray(values.linked_files) ? values.linked_files : [];
  if (!isPlainMap(env) || !Object.keys(env).length || !linked.some((f) => typeof f === 'string' && posix.normalize(f) === '.env')) return;
  const message = `its variables (${Object.keys(env).join(', ')}) would be written to .env, but linked_files links .env from shared/, which replaces it; put them in shared/.env, or take .env out of linked_files`;
  const o = origins.environment?.path ? origins.environment : origins.linked_files;
  const where = o?.path ? loaded.error(o.path, message) : new ConfigError(message, { keyPath: 'environment', file: loaded.file });
  envProblems.push({ key: 'environment', message, where });
  warnings.push(`${o?.path ? `${loaded.file}:${o.pos?.line ?? 1}: ` : ''}environment: ${message}`);
}

/** Replace the release placeholder now that the release name is known. */
export function bindRelease<T>(v: T, release: string): T {
  if (typeof v === 'string') return v.split(RELEASE_TOKEN).join(release) as T;
  if (Array.isArray(v)) return v.map((x) => bindRelease(x, release)) as T;
  if (isPlainMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bindRelease(x, release)])) as T;
  return v;
}

export { formatPath };
