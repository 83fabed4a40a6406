// A branch no git ref can have (finding C8 of the 15th attack pass: `--set 'branch="f\nfatal: fake"'`
// was accepted, and its second line was then quoted as the failure's cause) is a configuration
// error naming the key, before any host is contacted (exit 2). The rule is git's own: on random
// names the plugin agrees with `git check-ref-format --allow-onelevel`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, ConfigErrors, EXIT } from '../../src/errors.js';
import { buildPlan } from '../../src/release/plan.js';
import { refNameProblem } from '../../plugins/git/index.js';

const hasGit = spawnSync('git', ['--version']).status === 0;

/** Names built from the characters that matter to git's rules, and from anything at all. */
const nameArb = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'b', '1', '/', '.', '-', '@', '{', '~', '^', ':', '?', '*', '[', '\\', ' ', '\n', '\t', '\u007f', '\u0001', 'é', 'l', 'o', 'c', 'k'), minLength: 1, maxLength: 14 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
  fc.constantFrom('main', 'release/1.2', 'refs/heads/main', 'v1.0', 'a.lock', 'a/.b', '@', 'a@{1}', 'f\nfatal: fake', 'x..y', 'feature/', 'a//b', 'a.'),
);

test('a branch name is refused exactly when git would refuse it as a ref name (500 cases)', { skip: !hasGit && 'no git' }, () => {
  fc.assert(
    fc.property(
      nameArb.filter((n) => !n.includes('\0') && !n.startsWith('-')),
      (name) => {
        const git = spawnSync('git', ['check-ref-format', '--allow-onelevel', name]).status === 0;
        assert.equal(refNameProblem(name) === undefined, git, `${JSON.stringify(name)}: git says ${git ? 'valid' : 'invalid'}, fap ${refNameProblem(name) ?? 'valid'}`);
      },
    ),
    { numRuns: 500 },
  );
});

test('such a branch, in deploy.yml or --set, stops the deploy as a configuration error naming branch (exit 2), and fap check too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-branch-'));
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, 'app_name: shop\nrepo: /srv/git/shop.git\nbranch: main\nstage_role_configs:\n  production:\n    web:\n      hosts: [h1]\n');
  await fc.assert(
    fc.asyncProperty(
      nameArb.filter((n) => refNameProblem(n) !== undefined && !n.startsWith('-')),
      fc.constantFrom('deploy', 'release', 'check'),
      async (branch, command) => {
        const set = `branch=${JSON.stringify(branch)}`;
        const e = await buildPlan({ deployfile: file, stage: 'production', sets: [set], env: {}, command }).then(
          () => assert.fail(`accepted branch ${JSON.stringify(branch)}`),
          (x: unknown) => x,
        );
        assert.ok(e instanceof ConfigError && !(e instanceof ConfigErrors), String(e));
        assert.equal(e.exitCode, EXIT.usage);
        assert.equal(e.where?.keyPath, 'branch');
        assert.ok(e.detail.startsWith(`branch ${JSON.stringify(branch)} is not a git ref name: `), e.detail);
        // one line: the value's line break is written \n, never a line of its own
        assert.doesNotMatch(e.detail, /[\n\r]/);
      },
    ),
    { numRuns: 60 },
  );
  // the attack's example, as typed: YAML's "\n" is a line break
  const e = await buildPlan({ deployfile: file, stage: 'production', sets: ['branch="f\\nfatal: fake"'], env: {}, command: 'deploy' }).catch((x: unknown) => x);
  assert.ok(e instanceof ConfigError);
  assert.equal(e.detail, 'branch "f\\nfatal: fake" is not a git ref name: it contains a control character (\\n)');
});
