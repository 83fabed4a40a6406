// npm run mutation: Stryker over the kernel's pure files, with the command runner.
//
// How it stays practical on 2 cores without root: Stryker mutates the TypeScript (so mutants,
// reports and `// Stryker disable` comments refer to the sources), all mutants at once behind
// __STRYKER_ACTIVE_MUTANT__ (mutation switching); the build step compiles its sandbox once; then
// each mutant runs `node dist/scripts/mutation-run.js`, which runs only the root-free unit test
// files of the mutated source, fastest first, each stopping at its first failure (see
// scripts/mutation-run.ts for the map of sources to tests). No test here needs root or sshd.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'command',
  commandRunner: { command: 'node dist/scripts/mutation-run.js' },
  buildCommand: 'npx tsc -p tsconfig.json',
  mutate: [
    'src/release/state.ts', // the release model, planHeal, batchSize, chooseRollback
    'src/release/scripts.ts',
    'src/remote/shell.ts',
    'src/redact.ts',
    'src/config/interpolate.ts',
    'src/release/lock.ts:114-128', // judgeHolder: the stale-lock verdict (the rest talks to hosts)
  ],
  ignorePatterns: ['dist', 'reports', 'bench/results', '.fap-demo'],
  // two workers for two cores; the tests are mostly /bin/sh processes
  concurrency: 2,
  // the dry run runs every group; a mutant runs one group, so the default factor is ample
  timeoutMS: 60000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
