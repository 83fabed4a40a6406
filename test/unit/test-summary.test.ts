// npm test's ending: the tests that did not run are counted, those of a skipped suite one by one
// (test/suite.ts), and said with their reasons (scripts/skip-summary.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { skipSummary } from '../../scripts/skip-summary.js';

test('the summary: the total, then each reason with its count, most first', () => {
  assert.equal(skipSummary(new Map(), 0), 'every test ran\n');
  assert.equal(skipSummary(new Map([['no bash', 1]]), 0), '1 test did not run:\n     1  no bash\n');
  assert.equal(
    skipSummary(new Map([['no sshd', 2], ['needs root', 88], ['a', 2]]), 1),
    '92 tests did not run:\n    88  needs root\n     2  a\n     2  no sshd\n  and 1 skipped suite whose tests were not counted\n',
  );
});

test('a skipped suite registers each of its tests as skipped, runs none of its hooks or bodies, and the run says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-summary-'));
  try {
    const suite = resolve('dist/test/suite.js');
    writeFileSync(
      join(dir, 'a.test.mjs'),
      `import { after, before, describe, test } from ${JSON.stringify(suite)};
describe('fleet', { skip: 'needs root' }, () => {
  before(() => { throw new Error('hook ran'); });
  test('one', () => { throw new Error('body ran'); });
  describe('inner', () => { test('two', () => {}); test('three', () => {}); });
});
describe('plain', () => {
  let ready = false;
  before(() => { ready = true; });
  test('runs', () => { if (!ready) throw new Error('hook did not run'); });
  test('no bash', { skip: 'no bash' }, () => {});
});
`,
    );
    const summary = join(dir, 'summary.txt');
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${resolve('dist/scripts/skip-summary.js')}`, `--test-reporter-destination=${summary}`, join(dir, 'a.test.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, NODE_TEST_CONTEXT: undefined }, // a run of its own, not a child of this one
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^# pass 1$/m);
    assert.match(r.stdout, /^# skipped 4$/m);
    assert.equal(readFileSync(summary, 'utf8'), '4 tests did not run:\n     3  needs root\n     1  no bash\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
