// Words for the one line a command ends with: what was deployed, from where, to how many hosts.
// Pure, so each wording is tested on its own.

/** A git commit id (sha1; an artifact's sha256 is 64 digits and is not one). */
const COMMIT = /^[0-9a-f]{40}$/;

/**
 * What a release was made from, as people name it: "main@3f2a9c1" (git with a branch), "3f2a9c1"
 * (git, the repository's default branch), "revision 1a2b3c4d5e6f" (an artifact's sha256 or any
 * other revision a plugin wrote), or undefined when no host reported one. Hosts that report
 * different revisions (the branch moved between their fetches) are all named.
 */
export function sourceText(revisions: readonly (string | undefined)[], branch?: string): string | undefined {
  const known = [...new Set(revisions.filter((r): r is string => !!r && r !== 'none'))];
  if (!known.length) return undefined;
  // a branch that is the commit itself (branch: 656aec9) is not said twice
  const given = branch;
  if (given && /^[0-9a-f]{7,40}$/.test(given) && known.every((r) => r.startsWith(given) || given.startsWith(r))) {
    branch = undefined;
    if (known.length === 1 && known[0].length < 40) return known[0].slice(0, 7);
  }
  const one = (r: string) => (COMMIT.test(r) && known.length === 1 ? (branch ? `${branch}@${r.slice(0, 7)}` : r.slice(0, 7)) : COMMIT.test(r) ? r.slice(0, 7) : r.slice(0, 12));
  if (known.length > 1) return `${branch ? `${branch} at ` : ''}different revisions (${known.map(one).join(', ')})`;
  const r = known[0];
  return COMMIT.test(r) ? one(r) : `revision ${one(r)}`;
}

/** "deployed main@3f2a9c1 as 20261130211140" (or "deployed 20261130211140" when the source is unknown). */
export function deployedText(release: string, source: string | undefined, verb = 'deployed'): string {
  return source ? `${verb} ${source} as ${release}` : `${verb} ${release}`;
}

/**
 * What a deploy would prune: "would prune nothing", "would prune A, B on every host", or per host
 * when they differ ("would prune A on web1; B on web2").
 */
export function pruneText(prunes: readonly { host: string; names: readonly string[] }[]): string {
  const byList = new Map<string, string[]>();
  for (const p of prunes) if (p.names.length) byList.set(p.names.join(', '), [...(byList.get(p.names.join(', ')) ?? []), p.host]);
  if (!byList.size) return 'would prune nothing';
  const hosts = new Set(prunes.map((p) => p.host)).size;
  if (byList.size === 1) {
    const [[names, on]] = byList;
    return `would prune ${names} ${new Set(on).size === hosts && hosts > 1 ? 'on every host' : `on ${[...new Set(on)].join(', ')}`}`;
  }
  return `would prune ${[...byList].map(([names, on]) => `${names} on ${[...new Set(on)].join(', ')}`).join('; ')}`;
}
