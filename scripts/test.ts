// npm test: node --test over dist/test/, two files at a time (one on a single core), then how many tests did not run and
// why (skipped suites count each of their tests: test/suite.ts). The exit code is node --test's.
// Extra options go to node --test (npm test -- --test-name-pattern=lock), and files given replace
// dist/test/ (npm test -- dist/test/unit/state.test.js).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'fap-test-'));
const summary = join(dir, 'summary.txt');
const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-'));
const r = spawnSync(
  process.execPath,
  [
    '--test',
    // each file starts its own fleet (own ports, dirs, namespaces): two at once keep 2 cores busy
    // (19 min against 28 here); more only adds contention
    `--test-concurrency=${Math.min(2, availableParallelism())}`,
    // naming a second reporter replaces the default one, so the default is named too
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    '--test-reporter=./dist/scripts/skip-summary.js',
    `--test-reporter-destination=${summary}`,
    ...args.filter((a) => a.startsWith('-')),
    ...(files.length ? files : ['dist/test/']),
  ],
  { stdio: 'inherit' },
);
try {
  process.stdout.write('\n' + readFileSync(summary, 'utf8'));
} catch {
  process.stdout.write('\nno summary of the tests that did not run (the test run ended early)\n');
}
rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
