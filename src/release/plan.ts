// From deploy.yml and the command line to the targets of a run: (host, role) pairs with their
// resolved configuration, plugins and layout. Everything here happens before any host is contacted.
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import type { HostSpec } from '../config/hosts.js';
import { loadDeployFile, type LoadedFile } from '../config/load.js';
import { allKeys, bindRelease, pluginNamesFor, resolveRole, selectRoles, type RoleConfig } from '../config/resolve.js';
import { canonicalName, loadPlugins, pluginKeys } from '../plugin/load.js';
import type { Plugin } from '../signals.js';
import { layout, type Paths } from './paths.js';

export interface Target {
  /** unique per (host, deploy root) */
  key: string;
  host: HostSpec;
  /** user@hostname:port: one connection per distinct value */
  connKey: string;
  user: string;
  stage: string;
  role: string;
  config: Record<string, unknown>;
  plugins: Plugin[];
  paths: Paths;
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
}

export interface Plan {
  loaded: LoadedFile;
  roles: RoleConfig[];
  targets: Target[];
}

export function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'deploy';
  }
}

export async function buildPlan(input: PlanInput): Promise<Plan> {
  const loaded = loadDeployFile(input.deployfile);
  const names = pluginNamesFor(loaded, input.stage);
  const plugins = await loadPlugins(names, dirname(input.deployfile));
  const keys = pluginKeys(plugins.values());
  const roleNames = selectRoles(loaded, input.stage, input.role, allKeys(keys));
  const roles = roleNames.map((r) => resolveRole({ loaded, stage: input.stage, role: r, sets: input.sets, env: input.env, pluginKeys: keys, localUser: localUser() }, r));

  const targets: Target[] = [];
  const seen = new Map<string, Target>();
  for (const rc of roles) {
    if (input.needsEnvironment && rc.envProblems.length) throw rc.envProblems[0].where;
    const rolePlugins = ((rc.values.plugins as string[]) ?? []).map((n) => plugins.get(canonicalName(n))!);
    for (const p of rolePlugins) {
      const problem = p.check?.(rc.values);
      if (problem) throw originError(loaded, rc, problem.key, problem.message);
    }
    for (const host of rc.hosts) {
      const user = host.user ?? String(rc.values.user);
      const port = host.port ?? 22;
      const root = String(rc.values.path);
      if (!root.startsWith('/')) throw originError(loaded, rc, 'path', `path must be absolute, got "${root}"`);
      const key = `${user}@${host.hostname}:${port}:${root}`;
      const prev = seen.get(key);
      if (prev) {
        throw originError(loaded, rc, 'hosts', `${host.name} deploys to ${root} for both roles "${prev.role}" and "${rc.role}"; give one of them its own path`);
      }
      const t: Target = {
        key,
        host,
        connKey: `${user}@${host.hostname}:${port}`,
        user,
        stage: input.stage,
        role: rc.role,
        config: rc.values,
        plugins: rolePlugins,
        paths: layout(root, '<release>'),
      };
      seen.set(key, t);
      targets.push(t);
    }
  }
  const filtered = input.hosts?.length ? targets.filter((t) => input.hosts!.some((h) => h === t.host.name || h === t.host.hostname)) : targets;
  if (input.hosts?.length) {
    for (const h of input.hosts) {
      if (!targets.some((t) => h === t.host.name || h === t.host.hostname)) {
        throw new ConfigError(`--hosts: "${h}" is not a host of ${input.stage}${input.role ? ' ' + input.role : ''} (hosts: ${[...new Set(targets.map((t) => t.host.name))].join(', ')})`);
      }
    }
  }
  if (!filtered.length) throw new ConfigError(`no hosts selected for ${input.stage}${input.role ? ' ' + input.role : ''}`, { file: input.deployfile });
  return { loaded, roles, targets: filtered };
}

/** Bind the run's release name into a target's configuration and layout. */
export function withRelease(t: Target, release: string): Target {
  return { ...t, config: bindRelease(t.config, release), paths: layout(t.paths.root, release) };
}

function originError(loaded: LoadedFile, rc: RoleConfig, key: string, message: string): ConfigError {
  const o = rc.origins[key];
  if (o?.path) return loaded.error(o.path, message);
  return new ConfigError(message, { file: loaded.file, keyPath: `stage_role_configs.${rc.stage}.${rc.role}.${key}` });
}
