// The release model: what a host says about its releases and runs (statuses, journals), and the
// pure decisions made from it: the next release name, how to heal, what to prune, where to roll back to.
import { compareReleases, formatReleaseName, isReleaseName, makerOf, parseReleaseName, releaseTime, type Maker } from './names.js';

export { formatReleaseName, parseReleaseName } from './names.js';

export type JournalPhase = 'prepare' | 'publish' | 'published' | 'done' | 'reverted';

/**
 * What a run is doing on a host, one file per run in .fap/journal/<token>, so that a run that dies
 * (kill -9, lost connection) can be healed by the next one. prepare: building; publish: switching;
 * published: this host switched and finished publishing. done and reverted are final: the run's
 * outcome on this host was decided with every host in view.
 */
export interface Journal {
  token: string;
  command: string;
  release: string;
  /** what current pointed at before the run ('' for none) */
  prev: string;
  phase: JournalPhase;
  /** when the run started (orders several leftovers) */
  at: string;
  /** every target (Target.key) of the run, so the next run knows who took part */
  hosts: string[];
}

export const FINAL_PHASES: JournalPhase[] = ['done', 'reverted'];

export type ReleaseStatus = 'building' | 'ok' | 'failed' | 'rolled-back' | 'unverified' | 'unknown';

export interface ReleaseInfo {
  name: string;
  status: ReleaseStatus;
  revision?: string;
  deployed_at?: string;
  deployed_by?: string;
  /** who made it: fap, or Fapistrano before fap took over the host (no record in .fap/) */
  made_by?: Maker;
  /** a Fapistrano release newer than current with no record of fap's: a failed Fapistrano deploy */
  dirty?: true;
  /** a Fapistrano release found with no current to date it: it may never have been published */
  unverified?: true;
}

export interface HostState {
  /** release name current points at, if any */
  current?: string;
  /** current exists but does not lead to a release in releases/ (its link text, or why not) */
  foreignCurrent?: string;
  /** release directories, oldest first */
  releases: ReleaseInfo[];
  /** journals of runs on this host (unfinished ones are left by runs that were killed) */
  journals?: Journal[];
}

/** What a host's current is, for saying so: the release, a foreign link's text, or '(none)'. */
export function currentShown(s: HostState): string {
  return s.current ?? s.foreignCurrent ?? '(none)';
}

export const EMPTY_STATE: HostState = { releases: [], journals: [] };

export function parseState(outputs: Map<string, string[]>): HostState {
  const link = outputs.get('current')?.[0] ?? '';
  // relative (fap) or absolute (fapistrano-0.9.5 deploy.py:178 `ln -nfs %(release_path)s %(current_path)s`)
  const currentName = link ? link.replace(/\/+$/, '').split('/').pop() : undefined;
  const records = new Map<string, Record<string, string>>();
  for (const line of outputs.get('st') ?? []) {
    const m = /^(\d{14}|\d{6}-\d{6})\.(status|meta):(.*)$/.exec(line);
    if (!m) continue;
    const rec = records.get(m[1]) ?? {};
    if (m[2] === 'status') rec.status = m[3].trim();
    else {
      const eq = m[3].indexOf('=');
      if (eq > 0) rec[m[3].slice(0, eq)] = m[3].slice(eq + 1);
    }
    records.set(m[1], rec);
  }
  for (const line of outputs.get('frev') ?? []) {
    const m = /^(\d{6}-\d{6}):([0-9a-f]{7,40})\s*$/.exec(line);
    if (m && !records.get(m[1])?.revision) records.set(m[1], { ...records.get(m[1]), revision: m[2] });
  }
  const where = outputs.get('current-in')?.[0];
  const foreignCurrent = where === 'not-a-link' ? '(a directory or file, not a symlink)' : link && (where === 'elsewhere' || !isReleaseName(currentName ?? '')) ? link : undefined;
  const current = currentName && !foreignCurrent ? currentName : undefined;
  // Fapistrano's dirty releases are newer than its last current; once fap has recorded releases
  // (a rollback --to an older one moves current back), only what is newer than those is dirty
  const recorded = [...records.keys()].filter((n) => isReleaseName(n) && records.get(n)!.status);
  const newestKnown = [current, ...recorded].filter((n): n is string => !!n).sort(compareReleases).pop();
  const releases = (outputs.get('rel') ?? [])
    .filter(isReleaseName)
    .sort(compareReleases)
    .map((name): ReleaseInfo => {
      const rec = records.get(name) ?? {};
      let status = (['building', 'ok', 'failed', 'rolled-back', 'unverified'].includes(rec.status) ? rec.status : 'unknown') as ReleaseStatus;
      const made_by = makerOf(name);
      const untracked = made_by === 'fapistrano' && !rec.status && (!newestKnown || compareReleases(name, newestKnown) > 0);
      // Fapistrano's "dirty" releases (fapistrano-0.9.5 directory.py:71-78): newer than current,
      // i.e. deploys that failed before their publish. Never good; the first fap deploy records them failed.
      const dirty = untracked && !!current;
      // With no current to date them (none, or one fap cannot read) such releases may never have
      // run: kept and choosable by --to, but never a plain rollback's pick
      const unverified = untracked && !current;
      if (dirty) status = 'failed';
      if (unverified) status = 'unverified';
      const deployed_at = rec.deployed_at ?? (made_by === 'fapistrano' ? new Date(releaseTime(name)!).toISOString() : undefined);
      return { name, status, revision: rec.revision || undefined, deployed_at, deployed_by: rec.deployed_by, made_by, ...(dirty ? { dirty: true as const } : {}), ...(unverified ? { unverified: true as const } : {}) };
    });
  const files = new Map<string, Record<string, string> & { hosts?: string }>();
  for (const line of outputs.get('journal') ?? []) {
    const m = /^([A-Za-z0-9]+):([a-z]+)=(.*)$/.exec(line);
    if (!m) continue;
    const rec = files.get(m[1]) ?? {};
    if (m[2] === 'host') rec.hosts = (rec.hosts ? rec.hosts + '\n' : '') + m[3];
    else rec[m[2]] = m[3];
    files.set(m[1], rec);
  }
  const journals: Journal[] = [];
  for (const j of files.values()) {
    if (!j.token || !isReleaseName(j.release ?? '') || !['prepare', 'publish', 'published', 'done', 'reverted'].includes(j.phase)) continue;
    // prev may be a Fapistrano release (the first fap deploy on its host): the heal flips back to it
    journals.push({ token: j.token, command: j.command ?? 'deploy', release: j.release, prev: isReleaseName(j.prev ?? '') ? j.prev : '', phase: j.phase as JournalPhase, at: j.at ?? '', hosts: j.hosts ? j.hosts.split('\n') : [] });
  }
  journals.sort((x, y) => x.at.localeCompare(y.at));
  return { current, ...(foreignCurrent ? { foreignCurrent } : {}), releases, journals };
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

export function unfinished(s: HostState): Journal[] {
  return (s.journals ?? []).filter((j) => !FINAL_PHASES.includes(j.phase));
}

/** An interrupted run that cannot be healed from this run's view of the hosts. */
export interface HealProblem {
  journal: Journal;
  /** participants (Target.key) whose record of the run is needed but not in view */
  missing: string[];
  message: string;
}

/**
 * The outcome of an interrupted run, decided from every participant's journal of it. `done` or
 * `reverted` anywhere is decisive: those are written only once the outcome was settled with every
 * host in view. Otherwise every participant must be in view: the release is kept when all of them
 * finished publishing, else the run is undone everywhere. A run whose participants are partly out
 * of view (--hosts, one role) cannot be judged: healing one host from a partial view could keep a
 * release there and revert it on another.
 */
export function decideRun(states: Map<string, HostState>, j: Journal): 'keep' | 'revert' | { missing: string[] } {
  const journalOf = (host: string) => states.get(host)?.journals?.find((x) => x.token === j.token);
  const participants = j.hosts.length ? j.hosts : [...states.keys()];
  const seen = participants.filter((h) => states.has(h)).map(journalOf);
  if (seen.some((o) => o?.phase === 'reverted')) return 'revert';
  if (seen.some((o) => o?.phase === 'done')) return 'keep';
  const missing = participants.filter((h) => !states.has(h));
  if (missing.length) return { missing };
  const present = seen.filter((o): o is Journal => !!o);
  if (present.length < seen.length) {
    // A participant in view without a record of the run: the run never reached it, so it never
    // passed the prepare barrier and nothing was published anywhere. Unless some host had started
    // publishing: then that record was lost and the outcome cannot be known.
    // A rollback has no prepare barrier: its script on a host journals before it moves current, so
    // a participant without a record was never moved, and the hosts that were are put back.
    const lacking = participants.filter((h) => !journalOf(h));
    return j.command === 'rollback' || present.every((o) => o.phase === 'prepare') ? 'revert' : { missing: lacking };
  }
  return present.every((o) => o.phase === 'published') ? 'keep' : 'revert';
}

/**
 * Decide how to heal leftovers of interrupted runs (states keyed by Target.key; see decideRun).
 * Returns the heal per host, the states as they will be after healing, and the runs that cannot
 * be healed from this view (their hosts are left as they are).
 */
export function planHeal(states: Map<string, HostState>): { heals: Map<string, Heal>; healed: Map<string, HostState>; problems: HealProblem[] } {
  const heals = new Map<string, Heal>();
  const healed = new Map<string, HostState>();
  const problems = new Map<string, HealProblem>();
  for (const [k, s] of states) {
    // the oldest unfinished run on a host is the one to heal; runs after it were stopped by its lock
    const j = unfinished(s)[0];
    if (!j) {
      healed.set(k, s);
      continue;
    }
    const outcome = decideRun(states, j);
    if (typeof outcome === 'object') {
      if (!problems.has(j.token)) {
        const message = `an interrupted ${j.command} of ${j.release} also involved ${outcome.missing.join(', ')}, whose record of it this run cannot see`;
        problems.set(j.token, { journal: j, missing: outcome.missing, message });
      }
      healed.set(k, s);
      continue;
    }
    if (outcome === 'keep') {
      heals.set(k, { journal: j, keep: true, release: 'keep' });
      healed.set(k, { ...s, journals: (s.journals ?? []).filter((x) => x !== j) });
      continue;
    }
    const isDeploy = j.command !== 'rollback';
    const release: Heal['release'] = !isDeploy ? 'keep' : j.phase === 'prepare' ? 'remove' : 'mark-failed';
    const flipBackTo = s.current === j.release && j.prev !== j.release ? j.prev : undefined;
    heals.set(k, { journal: j, keep: false, flipBackTo, release });
    let releases = s.releases;
    if (release === 'remove') releases = releases.filter((r) => r.name !== j.release);
    if (release === 'mark-failed') releases = releases.map((r) => (r.name === j.release ? { ...r, status: 'failed' as const } : r));
    if (!isDeploy && j.prev) releases = releases.map((r) => (r.name === j.prev ? { ...r, status: 'ok' as const } : r));
    const current = flipBackTo !== undefined ? flipBackTo || undefined : s.current;
    healed.set(k, { current, releases, journals: (s.journals ?? []).filter((x) => x !== j) });
  }
  return { heals, healed, problems: [...problems.values()] };
}

/** A release that may be kept and rolled back to: finished, not failed. Unknown = made before fap tracked it. */
export function isGood(r: ReleaseInfo): boolean {
  return r.status === 'ok' || r.status === 'rolled-back' || r.status === 'unverified' || r.status === 'unknown';
}

/** The run's release name: now (UTC), or one second after the newest release any host has. */
export function nextReleaseName(now: Date, states: HostState[]): string {
  let name = formatReleaseName(now);
  const newest = states.flatMap((s) => s.releases.map((r) => r.name)).sort(compareReleases).pop();
  if (newest && compareReleases(newest, name) >= 0) name = formatReleaseName(new Date(parseReleaseName(newest).getTime() + 1000));
  return name;
}

/**
 * The good release before current: what a plain rollback chooses. A release that was rolled back
 * from is not a candidate (it was left for a reason), nor an unverified one (it may never have
 * run); only --to may choose them.
 */
export function rollbackTarget(state: HostState): string | undefined {
  return rollbackCandidates(state).pop();
}

/** The releases a rollback of this host may land on, oldest first: good ones before current. */
function rollbackCandidates(state: HostState): string[] {
  const good = state.releases.filter((r) => isGood(r) && r.status !== 'rolled-back' && r.status !== 'unverified').map((r) => r.name).sort(compareReleases);
  return state.current ? good.filter((n) => compareReleases(n, state.current!) < 0) : good;
}

/**
 * Where a plain `fap rollback` takes every host: the newest earlier good release that every host
 * has, so hosts that agree keep agreeing (found by the attack pass: after a --hosts deploy, each
 * host's own previous release differed and the rollback split the fleet). undefined: none common.
 */
/** The good releases every host has (current included), newest first: what --to can name. */
export function commonGoodReleases(states: readonly HostState[]): string[] {
  const [first, ...rest] = states.map((s) => s.releases.filter(isGood).map((r) => r.name));
  return (first ?? []).filter((n) => rest.every((c) => c.includes(n))).sort(compareReleases).reverse();
}

export function commonRollbackTarget(states: HostState[]): string | undefined {
  const [first, ...rest] = states.map((s) => rollbackCandidates(s));
  return (first ?? []).filter((n) => rest.every((c) => c.includes(n))).pop();
}

/**
 * Fapistrano's dirty releases on a host fap has not recorded yet (see parseState): the first fap
 * deploy records them failed, so they stay out of rollback and go first in a prune once current
 * has moved past them.
 */
export function unrecordedDirty(state: HostState): string[] {
  return state.releases.filter((r) => r.dirty).map((r) => r.name);
}

/** Fapistrano releases no current dated (see parseState): the first fap deploy records them unverified. */
export function unrecordedUnverified(state: HostState): string[] {
  return state.releases.filter((r) => r.unverified).map((r) => r.name);
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
  // by age: Fapistrano's names and fap's side by side (fapistrano-0.9.5 directory.py:90-98 kept the newest keep_releases)
  const good = state.releases.filter(isGood).map((r) => r.name).sort(compareReleases);
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

export interface RollbackOptions {
  to?: string;
  force?: boolean;
}

/** Where each host would go, or why it cannot. Pure: decided from the hosts' states. */
export function chooseRollback(targets: { key: string; host: { name: string } }[], states: Map<string, HostState>, o: RollbackOptions): { choice: Map<string, { from?: string; to: string }>; problems: { host: string; message: string }[] } {
  const problems: { host: string; message: string }[] = [];
  const choice = new Map<string, { from?: string; to: string }>();
  const currents = new Map(targets.map((t) => [t.host.name, states.get(t.key)?.current ?? '(none)']));
  if (new Set(currents.values()).size > 1 && !o.force) {
    const where = [...currents].map(([h, c]) => `${h}=${c}`).join(', ');
    return { choice, problems: [{ host: targets[0].host.name, message: `hosts disagree about current (${where}); fix it with fap rollback --to RELEASE --force, or fap deploy` }] };
  }
  // --force (hosts that disagree, drift being mended): each host from where it is, as before
  const common = o.to ?? (o.force ? undefined : commonRollbackTarget(targets.map((t) => states.get(t.key) ?? EMPTY_STATE)));
  if (!common && !o.force && targets.length > 1) {
    const own = targets.map((t) => `${t.host.name}=${rollbackTarget(states.get(t.key) ?? EMPTY_STATE) ?? '(none)'}`);
    if (own.some((o) => !o.endsWith('=(none)'))) {
      return { choice, problems: [{ host: targets[0].host.name, message: `no earlier good release is on every host (each host's own: ${own.join(', ')}); choose one with fap rollback --to RELEASE` }] };
    }
  }
  for (const t of targets) {
    const st = states.get(t.key) ?? EMPTY_STATE;
    const dest = common ?? rollbackTarget(st);
    const info = st.releases.find((r) => r.name === dest);
    const host = t.host.name;
    if (!dest) problems.push({ host, message: `${host}: no earlier good release to roll back to` });
    else if (!info) problems.push({ host, message: `${host}: release ${dest} does not exist there` });
    else if (!isGood(info)) problems.push({ host, message: `${host}: release ${dest} is ${info.status}, not a good release` });
    else if (dest === st.current) {
      // --to a release a host is already on leaves that host as it is (how drift is mended)
      if (!o.to) problems.push({ host, message: `${host}: ${dest} is already current` });
    } else choice.set(t.key, { from: st.current, to: dest });
  }
  return { choice, problems };
}
