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

/**
 * A failed read of a local file in words, without node's code and without the path (the caller
 * says which file): "no such file", not "ENOENT: no such file or directory, open '/x'".
 */
export function readFailure(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return `permission denied: ${userInfo().username} cannot read it`;
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'ELOOP':
      return 'symbolic links in the path loop';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    default:
      // "CODE: words, open '/path'" -> "words"
      return String(err?.message ?? e).replace(/^[A-Z0-9_]+: /, '').replace(/, \w+ '.*'$/s, '');
  }
}

/** Why fap cannot read `path` as a text file (a deploy file), in words; undefined when it can. */
export function unreadable(path: string): string | undefined {
  try {
    if (statSync(path).isDirectory()) return 'is a directory';
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (e) {
    return readFailure(e);
  }
}
