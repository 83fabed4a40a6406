// Did-you-mean, one rule for every name fap checks: commands, options, stages, roles,
// configuration keys, enum values, plugin names. A suggestion is only ever shown, never acted on.
//
// The rule: a word that begins exactly one candidate suggests it (prod -> production); otherwise
// the closest candidate within a few edits (one up to 5 letters, then a third of the word), which
// change less than half of the longer of the two: two edits turn "qa" into any 2-letter name, and
// one into "qb" or "a", but "sh" is still one letter short of "ssh". Case does not count.

/**
 * Edits between a and b: insertions, deletions, substitutions, and a swap of two neighbouring
 * letters as one edit (paht -> path), the commonest typo (optimal string alignment distance).
 */
export function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The edits a word of this length may be away from what it suggests: none for 1 letter, 1 up to 5, then a third of it. */
export function maxEdits(length: number): number {
  return length < 2 ? 0 : Math.max(1, Math.floor(length / 3));
}

/** Whether `d` edits between a word and a candidate leave them related: within maxEdits, and changing less than half. */
export function close(word: string, candidate: string, d: number): boolean {
  return d <= maxEdits(word.length) && 2 * d < Math.max(word.length, candidate.length);
}

/**
 * The candidate `word` most likely stands for, or undefined. `prefixes: false` for telling a
 * typo from a new name (an unknown configuration key is a user variable unless it is a typo: `rev`
 * is not a misspelt `revision`).
 */
export function suggest(word: string, candidates: Iterable<string>, o: { prefixes?: boolean } = {}): string | undefined {
  const w = word.toLowerCase();
  if (!w) return undefined;
  const list = [...new Set(candidates)].filter((c) => c !== '');
  const same = list.find((c) => c.toLowerCase() === w);
  if (same !== undefined) return same;
  if (o.prefixes !== false) {
    const longer = list.filter((c) => c.toLowerCase().startsWith(w));
    if (longer.length === 1) return longer[0];
  }
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of list) {
    const d = distance(w, c.toLowerCase());
    if (d < bestD && close(w, c, d)) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** The closest candidate by spelling alone (no prefixes): for telling a typo from a new name. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  return suggest(word, candidates, { prefixes: false });
}

/** ` (did you mean "x"?)`, or '' when nothing is close: appended to an "unknown ..." message. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const n = suggest(word, candidates);
  return n !== undefined ? ` (did you mean "${n}"?)` : '';
}
