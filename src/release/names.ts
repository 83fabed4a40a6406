// The release model: which directory names are releases, who made them, and how old they are.
// fap names releases YYYYMMDDHHMMSS in UTC. Fapistrano named them %y%m%d-%H%M%S in the deploying
// machine's local time (fapistrano-0.9.5 configuration.py:64 RELEASE_PATH_FORMAT, :77
// datetime.now()). Hosts Fapistrano deployed carry its names, so every comparison of releases
// (which is older, which to prune, where to roll back) goes by age here, never by the string.

export type Maker = 'fap' | 'fapistrano';

const FAP = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/;
const FAPISTRANO = /^(\d{2})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/;

/** Syntax only (safe to pass to rm): the two name forms. */
export const RELEASE_NAME = /^(\d{14}|\d{6}-\d{6})$/;

/** What a release name is, for messages. */
export const RELEASE_NAME_FORMS = 'YYYYMMDDHHMMSS, or YYMMDD-HHMMSS for a release Fapistrano made';

export function makerOf(name: string): Maker {
  return FAPISTRANO.test(name) ? 'fapistrano' : 'fap';
}

/**
 * When the release was made (ms since the epoch), or undefined for a name that is no valid date:
 * fap's names are UTC; Fapistrano's are this machine's local time, as Fapistrano wrote them.
 */
export function releaseTime(name: string): number | undefined {
  const fap = FAP.exec(name);
  const m = fap ?? FAPISTRANO.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  const want = [fap ? y : 2000 + y, mo, d, h, mi, s];
  const date = fap ? new Date(Date.UTC(want[0], mo - 1, d, h, mi, s)) : new Date(want[0], mo - 1, d, h, mi, s);
  const back = fap
    ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
  // a name like 20241399... or 261340-... is not a date: not a release
  if (back.every((v, i) => v === want[i])) return date.getTime();
  // a local time skipped by a DST change still names a real Fapistrano release: keep its instant
  const sameDay = back.slice(0, 3).every((v, i) => v === want[i]);
  return !fap && sameDay ? date.getTime() : undefined;
}

export function isReleaseName(name: string): boolean {
  return RELEASE_NAME.test(name) && releaseTime(name) !== undefined;
}

/** Oldest first; equal instants (a Fapistrano and a fap name of the same second) by name. */
export function compareReleases(a: string, b: string): number {
  const d = (releaseTime(a) ?? 0) - (releaseTime(b) ?? 0);
  return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
}

export function formatReleaseName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function parseReleaseName(name: string): Date {
  const t = releaseTime(name);
  if (t === undefined) throw new Error(`"${name}" is not a release name (${RELEASE_NAME_FORMS})`);
  return new Date(t);
}
