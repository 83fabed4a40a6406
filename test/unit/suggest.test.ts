// Did-you-mean (src/suggest.ts), the one rule behind every suggestion fap prints: commands,
// options, stages, roles, configuration keys, enum values, plugin names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { close, didYouMean, distance, maxEdits, nearest, suggest } from '../../src/suggest.js';
import { didYouMean as schemaDidYouMean, nearest as schemaNearest } from '../../src/config/schema.js';

const word = fc.stringMatching(/^[a-z_-]{1,12}$/);
const names = fc.uniqueArray(word, { maxLength: 8 });

test('the issue’s cases: prefixes are suggested, short words do not misfire, typos are caught', () => {
  const stages = ['production', 'staging'];
  assert.equal(suggest('prod', stages), 'production');
  assert.equal(suggest('stag', stages), 'staging');
  assert.equal(suggest('p', stages), 'production', 'a unique prefix, however short');
  assert.equal(suggest('prodution', stages), 'production');
  assert.equal(suggest('Production', stages), 'production', 'case does not count');
  // a 2-letter word is not two edits from everything
  assert.equal(suggest('qa', ['web', 'db', 'ci']), undefined);
  assert.equal(suggest('xy', ['ab', 'a']), undefined);
  assert.equal(suggest('sh', ['ssh']), 'ssh', 'one letter short of the word');
  assert.equal(suggest('wbe', ['web', 'worker']), 'web', 'a swap of two letters is one edit');
  assert.equal(suggest('deplo', ['init', 'deploy', 'release']), 'deploy');
  assert.equal(suggest('hots', ['hosts', 'set', 'json']), 'hosts');
  assert.equal(suggest('zzzz', ['production', 'staging']), undefined);
  // a prefix of several is no choice: the closest by spelling, if any
  assert.equal(suggest('st', ['staging', 'stage2']), undefined);
  assert.equal(suggest('stagin', ['staging', 'stage2']), 'staging');
  assert.equal(didYouMean('prod', ['production']), ' (did you mean "production"?)');
  assert.equal(didYouMean('x', []), '');
});

test('without prefixes (is an unknown key a typo or a variable of the user’s?): spelling only', () => {
  assert.equal(nearest('rev', ['revision']), undefined, 'rev is a user variable, not a misspelt revision');
  assert.equal(nearest('keep_relases', ['keep_releases']), 'keep_releases');
  assert.equal(nearest('host', ['hosts']), 'hosts');
  // config/schema.ts re-exports the same functions: one rule everywhere
  assert.equal(schemaNearest, nearest);
  assert.equal(schemaDidYouMean, didYouMean);
});

test('an empty candidate list, an empty word, and an empty candidate suggest nothing', () => {
  fc.assert(
    fc.property(fc.string(), (w) => {
      assert.equal(suggest(w, []), undefined);
      assert.equal(suggest(w, ['']), undefined);
      assert.equal(didYouMean(w, []), '');
    }),
  );
  assert.equal(suggest('', ['production']), undefined);
});

test('never suggests something unrelated: a suggestion begins with the word, or is a few edits from it changing less than half', () => {
  fc.assert(
    fc.property(word, names, fc.boolean(), (w, candidates, prefixes) => {
      const s = suggest(w, candidates, { prefixes });
      if (s === undefined) return;
      assert.ok(candidates.includes(s), 'one of the candidates');
      const lw = w.toLowerCase();
      const ls = s.toLowerCase();
      const d = distance(lw, ls);
      const byPrefix = prefixes && ls.startsWith(lw);
      assert.ok(byPrefix || (d <= maxEdits(w.length) && 2 * d < Math.max(w.length, s.length)), `${w} -> ${s} (${d} edits)`);
    }),
    { numRuns: 2000 },
  );
});

test('always suggests the unique candidate the word begins', () => {
  fc.assert(
    fc.property(names, fc.nat(), fc.nat(), (candidates, pick, cut) => {
      if (!candidates.length) return;
      const target = candidates[pick % candidates.length];
      const w = target.slice(0, 1 + (cut % target.length));
      const starting = candidates.filter((c) => c.startsWith(w));
      const exact = candidates.includes(w);
      if (starting.length === 1 || exact) assert.equal(suggest(w, candidates), exact ? w : target);
    }),
    { numRuns: 2000 },
  );
});

test('one typo (insert, delete, replace, swap) in a word of 3 letters or more is caught, if no other candidate is as close', () => {
  const typo = fc.tuple(fc.stringMatching(/^[a-z]{3,12}$/), fc.nat(), fc.constantFrom('insert', 'delete', 'replace', 'swap'), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz')).map(([k, i, op, c]) => {
    const at = i % k.length;
    const out =
      op === 'insert' ? k.slice(0, at) + c + k.slice(at) : op === 'delete' ? k.slice(0, at) + k.slice(at + 1) : op === 'replace' ? k.slice(0, at) + c + k.slice(at + 1) : k.slice(0, at) + k.slice(at + 1, at + 2) + k[at] + k.slice(at + 2);
    return { k, out };
  });
  fc.assert(
    fc.property(typo, names, ({ k, out }, others) => {
      const candidates = [k, ...others.filter((o) => o !== k)];
      if (!close(out, k, distance(out, k))) return; // "abc" -> "ab": a third of it
      const s = suggest(out, candidates, { prefixes: false });
      assert.ok(s !== undefined, `${out} -> ${k}`);
      assert.ok(distance(out, s) <= distance(out, k), `${out} -> ${s}, not ${k}`);
    }),
    { numRuns: 2000 },
  );
});

test('distance: symmetric, zero only for the same word, a swap of neighbours is one edit', () => {
  fc.assert(
    fc.property(word, word, (a, b) => {
      assert.equal(distance(a, b), distance(b, a));
      assert.equal(distance(a, b) === 0, a === b);
      assert.ok(distance(a, b) <= Math.max(a.length, b.length));
    }),
  );
  assert.equal(distance('paht', 'path'), 1);
  assert.equal(distance('kitten', 'sitting'), 3);
});
