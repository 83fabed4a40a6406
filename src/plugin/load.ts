// Plugins load by bundled name (git, or Fapistrano's fapistrano.git / fapistrano.plugins.git),
// ./relative path from the deploy file, or npm package name. A plugin that cannot load is a
// configuration error; for Fapistrano's plugins fap does not port (fis, git2slack) and for Python
// module paths it says what to do instead. Every bundled plugin is known to validation (its keys)
// and to the resolver (what it replaces, what enables it) whether deploy.yml names it or not.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import { ConfigError } from '../errors.js';
import { didYouMean, type KeySpec } from '../config/schema.js';
import { PLUGIN_API_VERSION, type Plugin } from '../signals.js';

const BUNDLED: Record<string, () => Promise<{ default: Plugin }>> = {
  git: () => import('../../plugins/git/index.js'),
  curl: () => import('../../plugins/curl/index.js'),
  virtualenv: () => import('../../plugins/virtualenv/index.js'),
  supervisorctl: () => import('../../plugins/supervisorctl/index.js'),
  localshared: () => import('../../plugins/localshared/index.js'),
  notify: () => import('../../plugins/notify/index.js'),
  virtualenvwrapper: () => import('../../plugins/virtualenvwrapper/index.js'),
  virtualenvtools: () => import('../../plugins/virtualenvtools/index.js'),
  slack: () => import('../../plugins/slack/index.js'),
};

const GUIDE = 'see the README, "Writing a plugin"';

/** Fapistrano plugins fap does not port, and what does their work now (fapistrano-0.9.5 plugins/). */
const REPLACED: Record<string, string> = {
  // plugins/git2slack.py: posted git deltas and "Rollback to ..." through the slack plugin
  git2slack: 'fap does not port it: the slack plugin posts deploys and rollbacks itself; use plugins: [slack] with slack_webhook',
  // plugins/fis.py: ran `fis release` on every host at deploy.updated
  fis: `fap does not port it: build the assets in CI and ship the result as an artifact with fap release --curl-url or --artifact (the curl plugin), or run the build in a local plugin (${GUIDE})`,
};

/** A Python module path as Fapistrano's import_module took it (configuration.py:113-117): dotted identifiers. */
const PYTHON_MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Does a name that is not a bundled plugin, a path or an installed npm package read as a Fapistrano (Python) plugin? */
function looksPython(name: string): boolean {
  return PYTHON_MODULE.test(name) && (/^fapistrano[._]/.test(name) || /[._]/.test(name));
}

/** fis, fapistrano.fis, fapistrano.plugins.git2slack, ...: the name of a plugin fap replaced, if it is one. */
function replacedName(name: string): string | undefined {
  const bare = name.replace(/^fapistrano\.(plugins\.)?/, '');
  return REPLACED[bare] ? bare : undefined;
}

export const BUNDLED_NAMES = Object.keys(BUNDLED);

/** Fapistrano spells bundled plugins fapistrano.<name> or fapistrano.plugins.<name>. */
export function canonicalName(name: string): string {
  const m = /^fapistrano\.(?:plugins\.)?([a-z_]+)$/.exec(name);
  return m && BUNDLED[m[1]] ? m[1] : name;
}

/** Every bundled plugin, by name. */
export async function bundledPlugins(): Promise<Map<string, Plugin>> {
  return new Map(await Promise.all(Object.entries(BUNDLED).map(async ([name, load]) => [name, (await load()).default] as const)));
}

/** Every bundled plugin's keys, each marked with its plugin (for schema, warnings and docs). */
export async function bundledKeys(): Promise<Record<string, KeySpec>> {
  return pluginKeys(await bundledPlugins());
}

export async function loadPlugin(name: string, baseDir: string): Promise<Plugin> {
  const canon = canonicalName(name);
  const bundled = BUNDLED[canon];
  if (bundled) return (await bundled()).default;
  let mod: { default?: unknown };
  const local = canon.startsWith('./') || canon.startsWith('../') || isAbsolute(canon);
  if (local && !existsSync(resolve(baseDir, canon))) {
    throw new ConfigError(`plugin "${name}" could not be loaded: no such file ${resolve(baseDir, canon)} (a ./relative path is relative to the deploy file)`, { keyPath: 'plugins' });
  }
  const bare = canon.replace(/^fapistrano\.(plugins\.)?/, '');
  const hint = `${didYouMean(bare, BUNDLED_NAMES)} (bundled plugins: ${BUNDLED_NAMES.join(', ')})`;
  const replaced = replacedName(canon);
  // Fapistrano's spelling of a replaced plugin is never an npm package; a bare "fis" may be one
  if (replaced && canon !== replaced) throw new ConfigError(`plugin "${name}" (Fapistrano's ${replaced}): ${REPLACED[replaced]}`, { keyPath: 'plugins' });
  let file: string;
  try {
    file = local ? resolve(baseDir, canon) : createRequire(resolve(baseDir, 'deploy.yml')).resolve(canon);
  } catch (e) {
    if (replaced) throw new ConfigError(`plugin "${name}" (Fapistrano's ${replaced}): ${REPLACED[replaced]}`, { keyPath: 'plugins' });
    if (looksPython(canon) && !didYouMean(bare, BUNDLED_NAMES)) {
      throw new ConfigError(
        `plugin "${name}" looks like a Fapistrano (Python) plugin module, and no npm package or file of that name is installed: fap plugins are ES modules (a bundled name, ./path/to/plugin.js, or an npm package); port it as one, ${GUIDE}${hint}`,
        { keyPath: 'plugins' },
      );
    }
    throw new ConfigError(`plugin "${name}" could not be loaded: ${(e as Error).message.split('\n')[0]}${hint}`, { keyPath: 'plugins' });
  }
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
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

/**
 * The schema entries plugins add, each marked with the name the deploy file uses for its plugin
 * (an npm package's name may differ from the plugin's own), so "is it enabled" compares like with like.
 */
export function pluginKeys(plugins: ReadonlyMap<string, Plugin>): Record<string, KeySpec> {
  const keys: Record<string, KeySpec> = {};
  for (const [ref, p] of plugins) for (const [k, spec] of Object.entries(p.keys ?? {})) keys[k] = { ...spec, plugin: ref };
  return keys;
}
