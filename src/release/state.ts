// What a host says about its releases, and the pure decisions made from it: the next release
// name, what to prune, where to roll back to.
import { RELEASE_NAME } from './scripts.js';

export type ReleaseStatus = 'building' | 'ok' | 'failed' | 'rolled-back' | 'unknown';

export interface ReleaseInfo {
  name: string;
  status: ReleaseStatus;
  revision?: string;
  deployed_at?: string;
  deployed_by?: string;
}

export interface HostState {
  /** release name current points at, if any */
  current?: string;
  /** release directories, oldest first */
  releases: ReleaseInfo[];
}

export function parseState(outputs: Map<string, string[]>): HostState {
  const link = outputs.get('current')?.[0] ?? '';
  const currentName = link ? link.replace(/\/+$/, '').split('/').pop() : undefined;
  const records = new Map<string, Record<string, string>>();
  for (const line of outputs.get('st') ?? []) {
    const m = /^(\d{14})\.(status|meta):(.*)$/.exec(line);
    if (!m) continue;
    const rec = records.get(m[1]) ?? {};
    if (m[2] === 'status') rec.status = m[3].trim();
    else {
      const eq = m[3].indexOf('=');
      if (eq > 0) rec[m[3].slice(0, eq)] = m[3].slice(eq + 1);
    }
    records.set(m[1], rec);
  }
  const releases = (outputs.get('rel') ?? [])
    .filter((n) => RELEASE_NAME.test(n))
    .sort()
    .map((name): ReleaseInfo => {
      const rec = records.get(name) ?? {};
      const status = (['building', 'ok', 'failed', 'rolled-back'].includes(rec.status) ? rec.status : 'unknown') as ReleaseStatus;
      return { name, status, revision: rec.revision || undefined, deployed_at: rec.deployed_at, deployed_by: rec.deployed_by };
    });
  return { current: currentName && RELEASE_NAME.test(currentName) ? currentName : undefined, releases };
}

/** A release that may be kept and rolled back to: finished, not failed. Unknown = made before fap tracked it. */
export function isGood(r: ReleaseInfo): boolean {
  return r.status === 'ok' || r.status === 'rolled-back' || r.status === 'unknown';
}

export function formatReleaseName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function parseReleaseName(name: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(name);
  if (!m) throw new Error(`"${name}" is not a release name (YYYYMMDDHHMMSS)`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/** The run's release name: now (UTC), or one second after the newest release any host has. */
export function nextReleaseName(now: Date, states: HostState[]): string {
  let name = formatReleaseName(now);
  const newest = states.flatMap((s) => s.releases.map((r) => r.name)).sort().pop();
  if (newest && newest >= name) name = formatReleaseName(new Date(parseReleaseName(newest).getTime() + 1000));
  return name;
}

/** The good release before current: what rollback chooses. */
export function rollbackTarget(state: HostState): string | undefined {
  const good = state.releases.filter(isGood).map((r) => r.name);
  if (!state.current) return good.pop();
  return good.filter((n) => n < state.current!).pop();
}

/**
 * Releases to delete after `current` moved to `current`: keep the newest `keep` good releases,
 * always keep current and the rollback target, drop failed and abandoned builds.
 * `inFlight` (a release being built by this run) is never touched.
 */
export function pruneList(state: HostState, keep: number, inFlight?: string): string[] {
  const protect = new Set<string>();
  if (state.current) protect.add(state.current);
  const target = rollbackTarget(state);
  if (target) protect.add(target);
  if (inFlight) protect.add(inFlight);
  const good = state.releases.filter(isGood).map((r) => r.name);
  for (const n of keep > 0 ? good.slice(-keep) : []) protect.add(n);
  return state.releases.map((r) => r.name).filter((n) => !protect.has(n));
}
