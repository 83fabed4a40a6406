// Plugins load by bundled name (git, or Fapistrano's fapistrano.git / fapistrano.plugins.git),
// ./relative path from the deploy file, or npm package name. A plugin that cannot load is a
// configuration error. Bundled plugins keep their keys in keys.ts, so validation knows every
// bundled key without importing any plugin's code.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import { ConfigError } from '../errors.js';
import { didYouMean, type KeySpec } from '../config/schema.js';
import { PLUGIN_API_VERSION, type Plugin } from '../signals.js';

type KeysModule = Promise<{ keys: Record<string, KeySpec> }>;

interface Bundled {
  keys: () => KeysModule;
  plugin?: () => Promise<{ default: Plugin }>;
}

const BUNDLED: Record<string, Bundled> = {
  git: { keys: () => import('../../plugins/git/keys.js'), plugin: () => import('../../plugins/git/index.js') },
  curl: { keys: () => import('../../plugins/curl/keys.js'), plugin: () => import('../../plugins/curl/index.js') },
  virtualenv: { keys: () => import('../../plugins/virtualenv/keys.js'), plugin: () => import('../../plugins/virtualenv/index.js') },
  supervisorctl: { keys: () => import('../../plugins/supervisorctl/keys.js'), plugin: () => import('../../plugins/supervisorctl/index.js') },
  localshared: { keys: () => import('../../plugins/localshared/keys.js'), plugin: () => import('../../plugins/localshared/index.js') },
  notify: { keys: () => import('../../plugins/notify/keys.js'), plugin: () => import('../../plugins/notify/index.js') },
  virtualenvwrapper: { keys: () => import('../../plugins/virtualenvwrapper/keys.js'), plugin: () => import('../../plugins/virtualenvwrapper/index.js') },
  virtualenvtools: { keys: () => import('../../plugins/virtualenvtools/keys.js'), plugin: () => import('../../plugins/virtualenvtools/index.js') },
};

export const BUNDLED_NAMES = Object.keys(BUNDLED);

/** Fapistrano spells bundled plugins fapistrano.<name> or fapistrano.plugins.<name>. */
export function canonicalName(name: string): string {
  const m = /^fapistrano\.(?:plugins\.)?([a-z_]+)$/.exec(name);
  return m && BUNDLED[m[1]] ? m[1] : name;
}

/** Every bundled plugin's keys, each marked with its plugin (for schema, warnings and docs). */
export async function bundledKeys(): Promise<Record<string, KeySpec>> {
  const out: Record<string, KeySpec> = {};
  for (const [name, b] of Object.entries(BUNDLED)) {
    for (const [k, spec] of Object.entries((await b.keys()).keys)) out[k] = { ...spec, plugin: name };
  }
  return out;
}

export async function loadPlugin(name: string, baseDir: string): Promise<Plugin> {
  const canon = canonicalName(name);
  const bundled = BUNDLED[canon];
  if (bundled) {
    const keys = (await bundled.keys()).keys;
    if (!bundled.plugin) {
      // Known and configurable (fap config works), but its remote steps are not in this version.
      return { name: canon, keys, on: {}, unavailable: true };
    }
    const plugin = (await bundled.plugin()).default;
    return { ...plugin, keys };
  }
  let mod: { default?: unknown };
  const local = canon.startsWith('./') || canon.startsWith('../') || isAbsolute(canon);
  if (local && !existsSync(resolve(baseDir, canon))) {
    throw new ConfigError(`plugin "${name}" could not be loaded: no such file ${resolve(baseDir, canon)} (a ./relative path is relative to the deploy file)`, { keyPath: 'plugins' });
  }
  try {
    if (local) mod = await import(pathToFileURL(resolve(baseDir, canon)).href);
    else mod = await import(pathToFileURL(createRequire(resolve(baseDir, 'deploy.yml')).resolve(canon)).href);
  } catch (e) {
    const bare = canon.replace(/^fapistrano\.(plugins\.)?/, '');
    const hint = `${didYouMean(bare, BUNDLED_NAMES)} (bundled plugins: ${BUNDLED_NAMES.join(', ')})`;
    throw new ConfigError(`plugin "${name}" could not be loaded: ${(e as Error).message.split('\n')[0]}${hint}`, { keyPath: 'plugins' });
  }
  const plugin = (mod.default ?? mod) as Plugin;
  if (!plugin || typeof plugin !== 'object' || typeof plugin.name !== 'string' || typeof plugin.on !== 'object') {
    throw new ConfigError(`plugin "${name}" does not export a plugin ({ name, on: { ... } }) as its default export`, { keyPath: 'plugins' });
  }
  if (plugin.api && !semver.satisfies(PLUGIN_API_VERSION, plugin.api)) {
    throw new ConfigError(`plugin "${name}" needs plugin API ${plugin.api}, this fap has ${PLUGIN_API_VERSION}`, { keyPath: 'plugins' });
  }
  return plugin;
}

export async function loadPlugins(names: string[], baseDir: string): Promise<Map<string, Plugin>> {
  const out = new Map<string, Plugin>();
  for (const n of names) out.set(canonicalName(n), await loadPlugin(n, baseDir));
  return out;
}

/**
 * The schema entries plugins add, each marked with the name the deploy file uses for its plugin
 * (an npm package's name may differ from the plugin's own), so "is it enabled" compares like with like.
 */
export function pluginKeys(plugins: Map<string, Plugin>): Record<string, KeySpec> {
  const keys: Record<string, KeySpec> = {};
  for (const [ref, p] of plugins) for (const [k, spec] of Object.entries(p.keys ?? {})) keys[k] = { ...spec, plugin: ref };
  return keys;
}
