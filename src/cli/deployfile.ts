// Which deploy file a command reads: -f, else FAP_DEPLOYFILE, else Fapistrano's FAP_APP +
// <APP>_DEPLOYFILE, else deploy.yml or deploy.yaml in the current directory or the nearest parent
// that has one (as git finds .git), so fap works from anywhere inside the project. Paths written
// in the file (./plugins) are relative to the file, wherever fap was started.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';

/** The names looked for in each directory, in this order. */
export const DEPLOY_FILE_NAMES = ['deploy.yml', 'deploy.yaml'] as const;

/** The file the environment names, if any. */
export function deployfileFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.FAP_DEPLOYFILE) return env.FAP_DEPLOYFILE;
  const app = env.FAP_APP;
  if (app && env[`${app}_DEPLOYFILE`]) return env[`${app}_DEPLOYFILE`]!;
  return undefined;
}

/** The first deploy.yml / deploy.yaml from `start` up to the root, or every directory looked in. */
export function findDeployfile(start: string, exists: (path: string) => boolean = existsSync): { file: string } | { searched: string[] } {
  const searched: string[] = [];
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    searched.push(dir);
    for (const name of DEPLOY_FILE_NAMES) if (exists(join(dir, name))) return { file: join(dir, name) };
    if (dirname(dir) === dir) return { searched };
  }
}

/** The deploy file named by -f or the environment, or found; undefined when there is none. */
export function deployfileIfAny(given: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  const named = given ?? deployfileFromEnv(env);
  if (named !== undefined) return named;
  const found = findDeployfile(cwd);
  return 'file' in found ? found.file : undefined;
}

/** The deploy file a command reads; none found is a usage error naming where fap looked. */
export function deployfile(given: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const named = given ?? deployfileFromEnv(env);
  if (named !== undefined) return named;
  const found = findDeployfile(cwd);
  if ('file' in found) return found.file;
  throw new UsageError(
    `no ${DEPLOY_FILE_NAMES.join(' or ')} here or in a parent directory (looked in ${found.searched.join(', ')})`,
    'run fap init to write one here, or pass -f PATH (or set FAP_DEPLOYFILE)',
  );
}
