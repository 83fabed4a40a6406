// Which deploy file a command reads: -f, else FAP_DEPLOYFILE, else Fapistrano's FAP_APP +
// <APP>_DEPLOYFILE, else deploy.yml or deploy.yaml in the current directory or the nearest parent
// that has one (as git finds .git), so fap works from anywhere inside the project. Paths written
// in the file (./plugins) are relative to the file, wherever fap was started.
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { unreadable } from '../local-file.js';

/** The names looked for in each directory, in this order. */
export const DEPLOY_FILE_NAMES = ['deploy.yml', 'deploy.yaml'] as const;

/**
 * The deploy file named on the command line or in the environment, and which named it: `from` is
 * -f or the variable; `said` is how a message names that (from FAP_DEPLOYFILE).
 */
export function namedDeployfile(given: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; from: string; said: string } | undefined {
  if (given !== undefined) return { path: given, from: '-f', said: '' };
  if (env.FAP_DEPLOYFILE) return { path: env.FAP_DEPLOYFILE, from: 'FAP_DEPLOYFILE', said: ' (from FAP_DEPLOYFILE)' };
  const app = env.FAP_APP;
  const variable = `${app}_DEPLOYFILE`;
  if (app && env[variable]) return { path: env[variable]!, from: variable, said: ` (from ${variable}, as FAP_APP=${app})` };
  return undefined;
}

/** The file the environment names, if any. */
export function deployfileFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return namedDeployfile(undefined, env)?.path;
}

/** a regular file (or a link to one): a directory named deploy.yml is not a deploy file */
const isFile = (path: string): boolean => !!statSync(path, { throwIfNoEntry: false })?.isFile();

/**
 * The first deploy.yml / deploy.yaml from `start` up to the root (`also`: the other name, when
 * that directory has both), or every directory looked in.
 */
export function findDeployfile(start: string, exists: (path: string) => boolean = isFile): { file: string; also?: string } | { searched: string[] } {
  const searched: string[] = [];
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    searched.push(dir);
    const here = DEPLOY_FILE_NAMES.map((name) => join(dir, name)).filter(exists);
    if (here.length) return here.length > 1 ? { file: here[0], also: here[1] } : { file: here[0] };
    if (dirname(dir) === dir) return { searched };
  }
}

/** The deploy file named by -f or the environment, or found; undefined when there is none. */
export function deployfileIfAny(given: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  const named = namedDeployfile(given, env);
  if (named !== undefined) return named.path;
  const found = findDeployfile(cwd);
  return 'file' in found ? found.file : undefined;
}

const warned = new Set<string>();

/**
 * The deploy file a command reads. A named one that cannot be read, and none found, are usage
 * errors: the first says which of -f, FAP_DEPLOYFILE, <APP>_DEPLOYFILE named it, the second where
 * fap looked. Both names in one directory: the .yml is read, and a warning (once, on stderr: never
 * in a --json stream) names both.
 */
export function deployfile(given: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), warn: (line: string) => void = (l) => process.stderr.write(l + '\n')): string {
  const named = namedDeployfile(given, env);
  if (named !== undefined) {
    if (named.path.trim() === '') throw new UsageError(`${named.from} is empty: give the deploy file's path`, `or leave ${named.from} out: fap then looks for ${DEPLOY_FILE_NAMES.join(' or ')} here and in the parent directories`);
    const abs = resolve(cwd, named.path);
    const problem = unreadable(abs);
    if (problem) {
      const hint =
        problem === 'is a directory'
          ? `give the deploy file in it, e.g. ${named.from === '-f' ? '-f ' : ''}${join(named.path, DEPLOY_FILE_NAMES[0])}`
          : problem === 'no such file'
            ? named.from === '-f'
              ? 'run fap -f PATH init to write one there, or give another path'
              : `set ${named.from} to the deploy file, or unset it: fap then looks for ${DEPLOY_FILE_NAMES.join(' or ')} here and in the parent directories`
            : undefined;
      throw new UsageError(`${abs}${named.said}: ${problem}`, hint);
    }
    return named.path;
  }
  const found = findDeployfile(cwd);
  if ('file' in found) {
    if (found.also && !warned.has(found.file)) {
      warned.add(found.file);
      warn(`warning: ${dirname(found.file)} has both ${DEPLOY_FILE_NAMES.join(' and ')}: reading ${found.file} (remove or rename the other, or pass -f)`);
    }
    return found.file;
  }
  throw new UsageError(
    `no ${DEPLOY_FILE_NAMES.join(' or ')} here or in a parent directory (looked in ${found.searched.join(', ')})`,
    'run fap init to write one here, or pass -f PATH (or set FAP_DEPLOYFILE)',
  );
}
