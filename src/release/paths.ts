// The layout on a host (CONTRACT.md "What lands on a host"), from the deploy root and a release.
import { posix } from 'node:path';

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

export function layout(root: string, release: string): Paths {
  const r = root.replace(/\/+$/, '') || '/';
  return {
    root: r,
    releases: posix.join(r, 'releases'),
    release: posix.join(r, 'releases', release),
    current: posix.join(r, 'current'),
    shared: posix.join(r, 'shared'),
    repo: posix.join(r, 'repo'),
    state: posix.join(r, '.fap'),
    revisionsLog: posix.join(r, 'revisions.log'),
  };
}
