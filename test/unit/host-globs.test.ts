// --hosts takes names and shell-style globs (issue 16 item 9): a word without glob characters is
// that name only; a glob is matched against the whole name, as the shell matches file names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hostSelector } from '../../src/release/plan.js';

test('globs pick hosts as the shell would pick file names', () => {
  const cases: [string, string, boolean][] = [
    ['web*', 'web1', true],
    ['web*', 'db1', false],
    ['127.0.0.1:*', '127.0.0.1:2222', true],
    ['*:2222', '10.0.0.5:2222', true],
    ['10.0.0.[12]', '10.0.0.2', true],
    ['10.0.0.[12]', '10.0.0.3', false],
    ['[!a]x', 'bx', true],
    ['[!a]x', 'ax', false],
    ['a?c', 'abc', true],
    ['a.b*', 'axb1', false],
    ['x(y)*', 'x(y)z', true],
    ['web[', 'web[', true],
  ];
  for (const [glob, name, want] of cases) assert.equal(hostSelector(glob)(name), want, `${glob} ~ ${name}`);
});

test('a word without glob characters matches that name and nothing else; * matches every name', () => {
  const name = fc.stringMatching(/^[a-z0-9.:@-]{1,20}$/);
  fc.assert(
    fc.property(name, name, (a, b) => {
      assert.equal(hostSelector(a)(b), a === b);
      assert.ok(hostSelector('*')(b));
      assert.ok(hostSelector(`${a}*`)(a + b));
      assert.equal(hostSelector(`*${a}`)(b), b.endsWith(a));
    }),
  );
});
