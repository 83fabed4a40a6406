// What a host says about its releases, and the pure decisions made from it: the next release
// name, what to prune, where to roll back to.
import { RELEASE_NAME, type Journal } from './scripts.js';

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
  /** left by a run that did not finish (killed, connection lost) */
  journal?: Journal;
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
  const lines = outputs.get('journal') ?? [];
  const j = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const hosts = lines.filter((l) => l.startsWith('host=')).map((l) => l.slice(5));
  const journal =
    j.token && RELEASE_NAME.test(j.release ?? '') && ['prepare', 'publish', 'published', 'done'].includes(j.phase)
      ? ({ token: j.token, command: j.command ?? 'deploy', release: j.release, prev: RELEASE_NAME.test(j.prev ?? '') ? j.prev : '', phase: j.phase, hosts } as Journal)
      : undefined;
  return { current: currentName && RELEASE_NAME.test(currentName) ? currentName : undefined, releases, journal };
}

/** What healing a host's leftover journal does, decided across all hosts of the run. */
export interface Heal {
  journal: Journal;
  /** true: the interrupted run finished publishing everywhere, keep its release */
  keep: boolean;
  /** current goes back to this release ('' = remove current) if it points at the journal's release */
  flipBackTo?: string;
  /** the interrupted release: removed (never complete) or marked failed */
  release: 'remove' | 'mark-failed' | 'keep';
}

/**
 * Decide how to heal leftovers of interrupted runs (keyed by Target.key). A run's release is kept
 * only if every host that took part in it and is in this run had finished publishing it (a host
 * without the run's journal never switched, or was already put back); otherwise every host goes back
 * to where the run found it. Returns the heal per host and the states as they will be after healing.
 */
export function planHeal(states: Map<string, HostState>): { heals: Map<string, Heal>; healed: Map<string, HostState> } {
  const heals = new Map<string, Heal>();
  const healed = new Map<string, HostState>();
  const finished = (j: Journal) => j.phase === 'published' || j.phase === 'done';
  const keepRun = (j: Journal) => {
    const participants = j.hosts.length ? j.hosts.filter((h) => states.has(h)) : [...states.keys()];
    return participants.every((h) => {
      const other = states.get(h)!.journal;
      return other?.token === j.token && finished(other);
    });
  };
  for (const [k, s] of states) {
    const j = s.journal;
    if (!j) {
      healed.set(k, s);
      continue;
    }
    const keep = keepRun(j);
    if (keep) {
      heals.set(k, { journal: j, keep, release: 'keep' });
      healed.set(k, { ...s, journal: undefined });
      continue;
    }
    const isDeploy = j.command !== 'rollback';
    const release: Heal['release'] = !isDeploy ? 'keep' : j.phase === 'prepare' ? 'remove' : 'mark-failed';
    const flipBackTo = s.current === j.release && j.prev !== j.release ? j.prev : undefined;
    heals.set(k, { journal: j, keep, flipBackTo, release });
    let releases = s.releases;
    if (release === 'remove') releases = releases.filter((r) => r.name !== j.release);
    if (release === 'mark-failed') releases = releases.map((r) => (r.name === j.release ? { ...r, status: 'failed' as const } : r));
    if (!isDeploy && j.prev) releases = releases.map((r) => (r.name === j.prev ? { ...r, status: 'ok' as const } : r));
    const current = flipBackTo !== undefined ? flipBackTo || undefined : s.current;
    healed.set(k, { current, releases, journal: undefined });
  }
  return { heals, healed };
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

/** Hosts per publish batch: a number, a percentage of the hosts ("25%"), or all at once. */
export function batchSize(total: number, spec: unknown): number {
  if (spec === undefined || spec === null || spec === '') return Math.max(1, total);
  const s = String(spec).trim();
  const m = /^(\d+)(%?)$/.exec(s);
  if (!m || Number(m[1]) === 0) throw new Error(`batch size "${s}" must be a whole number of hosts or a percentage like 25%`);
  const n = m[2] ? Math.ceil((total * Number(m[1])) / 100) : Number(m[1]);
  return Math.max(1, Math.min(total, n));
}
