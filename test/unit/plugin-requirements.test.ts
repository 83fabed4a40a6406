// A plugin's requirements (its check(): curl's artifact, git's repo, ...) belong to the commands
// that build a release. Every other command (rollback, restart, run, releases, check, config,
// cleanup, unlock) plans fine whatever the plugin's keys hold: a stage released from CI with
// --curl-url must keep a working fap rollback.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { PLAN_NEEDS, planInput, type PlannedCommand } from '../../src/cli/actions.js';
import { ConfigError } from '../../src/errors.js';
import { BUNDLED_NAMES, loadPlugin } from '../../src/plugin/load.js';
import { BUILDING_COMMANDS, buildPlan } from '../../src/release/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'fap-plugin-req-'));
const COMMANDS = Object.keys(PLAN_NEEDS) as PlannedCommand[];
const NON_BUILDING = COMMANDS.filter((c) => !BUILDING_COMMANDS.has(c));

let n = 0;
function deployFile(plugin: string, values: Record<string, string>): string {
  const file = join(dir, `deploy-${n++}.yml`);
  writeFileSync(file, stringify({ app_name: 'shop', path: '/srv/shop', user: 'deploy', plugins: [plugin], ...values, stage_role_configs: { production: { web: { hosts: ['h1'] } } } }));
  return file;
}

const plan = (command: PlannedCommand, file: string) => buildPlan(planInput(command, { deployfile: file, stage: 'production', env: {} }));

test('the table covers every command, and only deploy and release build a release', () => {
  assert.deepEqual([...BUILDING_COMMANDS].sort(), ['deploy', 'release']);
  assert.deepEqual(NON_BUILDING.sort(), ['check', 'cleanup', 'config', 'once', 'releases', 'restart', 'rollback', 'run', 'shell', 'unlock']);
});

for (const name of BUNDLED_NAMES) {
  test(`${name}: whatever its keys hold, no command but deploy and release refuses for its requirements`, async () => {
    const plugin = await loadPlugin(name, dir);
    const stringKeys = Object.entries(plugin.keys ?? {})
      .filter(([, spec]) => spec.type === 'string')
      .map(([k]) => k);
    // values a requirement may refuse: empty, relative, option-like, not a URL, anything
    const value = fc.oneof(
      fc.constantFrom('', ' ', 'relative/dir', '-x', 'not a url', 'ftp//x', 'http://example.invalid/a.tgz', '/abs/path', 'a'.repeat(64)),
      fc.string().filter((s) => !/[%$]/.test(s)),
    );
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...stringKeys), value), async (values) => {
        const file = deployFile(name, values);
        // what deploy.yml resolves to (fap config plans it whatever it holds)
        const resolved = (await plan('config', file)).roles[0].values;
        const problem = plugin.check?.(resolved);
        for (const command of NON_BUILDING) {
          const p = await plan(command, file);
          assert.equal(p.targets.length, 1, command);
        }
        if (problem) {
          refused++;
          // the requirement is live: the building command refuses with the plugin's message
          await assert.rejects(plan('deploy', file), (e: unknown) => e instanceof ConfigError && e.message.includes(problem.message));
        }
      }),
      { numRuns: 60 },
    );
    // a plugin with a requirement must have been refused some of the time, or the test proves nothing
    if (plugin.check) assert.ok(refused > 0, `${name}: no generated configuration broke its check`);
  });
}

test('a stage released with --curl-url plans rollback, restart and run without it (the CI case)', async () => {
  // curl enabled in deploy.yml, the URL given only to fap release
  const file = deployFile('curl', {});
  await assert.rejects(plan('release', file), /the curl plugin needs an artifact/);
  const withUrl = await buildPlan(planInput('release', { deployfile: file, stage: 'production', env: {}, sets: ['curl_url="http://ci.invalid/build.tgz"'] }));
  assert.equal(withUrl.targets[0].roles[0].plugins[0].name, 'curl');
  for (const command of NON_BUILDING) assert.equal((await plan(command, file)).targets[0].roles[0].plugins[0].name, 'curl', command);
});
