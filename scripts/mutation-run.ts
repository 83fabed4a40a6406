// npm run mutation: Stryker's command runner calls this once for its dry run and once per mutant,
// in Stryker's sandbox (cwd), after its build step compiled the instrumented sources to dist/.
// Stryker's command runner cannot tell which tests reach a mutant, so this does: the mutant's
// id (__STRYKER_ACTIVE_MUTANT__) is looked up in the instrumented sources, and only the unit test
// files that test that source run, one process each, the fastest first, stopping at the first
// failure (a killed mutant). With no active mutant (the dry run) the groups of every mutated source run. Each file gets
// a private TMPDIR, removed afterwards, and a time limit: a mutant that makes a loop endless fails
// its file instead of holding a core until Stryker's own (much longer) timeout.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The unit test files (dist/test/unit/<name>.test.js) that test each mutated source, fastest first. */
export const TESTS_OF: Record<string, string[]> = {
  'src/release/state.ts': ['release-decisions', 'heal', 'state'],
  'src/release/scripts.ts': ['scripts-golden', 'scripts', 'kernel-scripts', 'lock'],
  'src/remote/shell.ts': ['shell-literal', 'shell', 'session'],
  'src/redact.ts': ['redact-forms', 'redact'],
  'src/config/interpolate.ts': ['interpolate'],
  'src/release/lock.ts': ['judge-holder', 'lock'],
};

/**
 * Seconds one test file may take under a mutant before it counts as failed (an endless loop). On a
 * busy machine the slowest files (lock, shell: 20-30 s alone) took over 60 s and failed the dry run.
 */
const FILE_LIMIT_SEC = Number(process.env.FAP_MUTATION_FILE_LIMIT ?? 180);

function sourceOf(id: string): string | undefined {
  const call = new RegExp(`stryMutAct_\\w+\\("${id}"\\)`);
  return Object.keys(TESTS_OF).find((src) => existsSync(src) && call.test(readFileSync(src, 'utf8')));
}

function runFile(name: string): Promise<boolean> {
  const tmp = mkdtempSync(join(tmpdir(), 'fap-mut-'));
  const child = spawn(process.execPath, ['--test-reporter=./dist/scripts/mutation-bail.js', `dist/test/unit/${name}.test.js`], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'ignore', process.env.FAP_MUTATION_VERBOSE ? 'inherit' : 'ignore'],
    detached: true, // its own process group: a time limit ends the shells its tests started too
  });
  return new Promise((resolve) => {
    const limit = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, FILE_LIMIT_SEC * 1000);
    child.on('close', (code) => {
      clearTimeout(limit);
      rmSync(tmp, { recursive: true, force: true });
      resolve(code === 0);
    });
  });
}

const active = process.env.__STRYKER_ACTIVE_MUTANT__;
const source = active === undefined ? undefined : sourceOf(active);
if (active !== undefined && !source) {
  console.error(`mutant ${active} is in none of ${Object.keys(TESTS_OF).join(', ')}`);
  process.exit(2);
}
// the dry run: the groups of the sources Stryker instrumented (npx stryker run --mutate one file)
const instrumented = Object.keys(TESTS_OF).filter((src) => existsSync(src) && readFileSync(src, 'utf8').includes('stryMutAct_'));
const files = source ? TESTS_OF[source] : [...new Set(instrumented.flatMap((src) => TESTS_OF[src]))];
for (const f of files) {
  if (!(await runFile(f))) {
    if (process.env.FAP_MUTATION_VERBOSE) console.error(`failed: ${f}`);
    process.exit(1);
  }
}
