// The layout on a host (CONTRACT.md "What lands on a host"), from the deploy root and a release.
// current, releases/ and shared/ may live elsewhere (Fapistrano's current_path, releases_path,
// shared_path); the lock, journal, mirror and log always stay under the root.
import { posix } from 'node:path';
import type { Places } from '../config/schema.js';

export type { Places };

export interface Paths {
  root: string;
  releases: string;
  release: string;
  current: string;
  shared: string;
  repo: string;
  state: string;
  revisionsLog: string;
}

export function layout(root: string, release: string, places: Places = {}): Paths {
  const r = root.replace(/\/+$/, '') || '/';
  const releases = places.releases_path ?? posix.join(r, 'releases');
  return {
    root: r,
    releases,
    release: posix.join(releases, release),
    current: places.current_path ?? posix.join(r, 'current'),
    shared: places.shared_path ?? posix.join(r, 'shared'),
    repo: posix.join(r, 'repo'),
    state: posix.join(r, '.fap'),
    revisionsLog: posix.join(r, 'revisions.log'),
  };
}

/** Whether `path` is `dir` or inside it (both absolute and normalized). */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : dir + '/');
}

/** The same layout with the run's release bound in. */
export function withReleaseName(p: Paths, release: string): Paths {
  return { ...p, release: posix.join(p.releases, release) };
}
