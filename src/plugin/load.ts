// Plugins load by bundled name (git, or Fapistrano's fapistrano.git), ./relative path from the
// deploy file, or npm package name. A plugin that cannot load is a configuration error.
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import { ConfigError } from '../errors.js';
import type { KeySpec } from '../config/schema.js';
import { PLUGIN_API_VERSION, type Plugin } from '../signals.js';

/** Bundled plugins, imported only when a deploy file names them. */
const BUNDLED: Record<string, () => Promise<{ default: Plugin }>> = {
  git: () => import('../../plugins/git/index.js'),
};

export const BUNDLED_NAMES = Object.keys(BUNDLED);

/** Fapistrano spells bundled plugins as fapistrano.<name>. */
export function canonicalName(name: string): string {
  return name.startsWith('fapistrano.') && BUNDLED[name.slice('fapistrano.'.length)] ? name.slice('fapistrano.'.length) : name;
}

export async function loadPlugin(name: string, baseDir: string): Promise<Plugin> {
  const canon = canonicalName(name);
  let mod: { default?: unknown };
  try {
    if (BUNDLED[canon]) mod = await BUNDLED[canon]();
    else if (canon.startsWith('./') || canon.startsWith('../') || isAbsolute(canon)) mod = await import(pathToFileURL(resolve(baseDir, canon)).href);
    else mod = await import(pathToFileURL(createRequire(resolve(baseDir, 'deploy.yml')).resolve(canon)).href);
  } catch (e) {
    const known = BUNDLED_NAMES.join(', ');
    throw new ConfigError(`plugin "${name}" could not be loaded: ${(e as Error).message.split('\n')[0]} (bundled plugins: ${known})`, { keyPath: 'plugins' });
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

/** The schema entries plugins add, each marked with its plugin. */
export function pluginKeys(plugins: Iterable<Plugin>): Record<string, KeySpec> {
  const keys: Record<string, KeySpec> = {};
  for (const p of plugins) for (const [k, spec] of Object.entries(p.keys ?? {})) keys[k] = { ...spec, plugin: p.name };
  return keys;
}
