// A file on the deploying machine that fap will read and send (an artifact): checked before any
// host is contacted, so a wrong path is a configuration error, not a failed upload mid-deploy.
import { accessSync, constants, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';

/**
 * What is wrong with a path fap must read as one regular file (relative paths from the current
 * directory), or undefined. The answer names the absolute path.
 */
export function localFileProblem(path: string): string | undefined {
  if (path.trim() === '') return 'is empty: give the path of a file (e.g. build.tgz)';
  const abs = resolve(path);
  // "build.tgz/" names a directory: resolve() would drop the slash and read the file anyway
  if (path.endsWith('/')) return `${path} ends with "/", so it names a directory: give the file (${abs})`;
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) return `no such file ${abs}`;
  if (st.isDirectory()) return `${abs} is a directory: give the built archive in it (e.g. build.tgz)`;
  // a pipe (<(...)) or a device is read once; every host needs the same whole bytes
  if (!st.isFile()) return `${abs} is not a regular file (a pipe or device cannot be sent to every host): write it to a file first`;
  try {
    accessSync(abs, constants.R_OK);
  } catch {
    return `${abs} cannot be read by ${userInfo().username}`;
  }
  return undefined;
}
