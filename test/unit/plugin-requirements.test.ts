// A plugin's requirements (its check(): curl's artifact, git's repo, ...) belong to the commands
// that build a release, and to fap check, the doctor that answers "can this be deployed?": it
// refuses exactly what deploy or release would. Every other command (rollback, restart, run,
// releases, config, cleanup, unlock) plans fine whatever the plugin's keys hold: a stage released
// from CI with --curl-url must keep a working fap rollback.
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
/** the commands that never refuse for a plugin's requirements */
const UNAFFECTED = NON_BUILDING.filter((c) => c !== 'check');

let n = 0;
function deployFile(plugin: string, values: Record<string, unknown>, list = 'plugins'): string {
  const file = join(dir, `deploy-${n++}.yml`);
  writeFileSync(file, stringify({ app_name: 'shop', path: '/srv/shop', user: 'deploy', [list]: [plugin], ...values, stage_role_configs: { production: { web: { hosts: ['h1'] } } } }));
  return file;
}

const plan = (command: PlannedCommand, file: string, sets?: string[]) => buildPlan(planInput(command, { deployfile: file, stage: 'production', env: {}, sets }));

/** the configuration error a command's plan ends with, or undefined when it plans */
async function refusal(command: PlannedCommand, file: string, sets?: string[]): Promise<string | undefined> {
  try {
    await plan(command, file, sets);
    return undefined;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.message;
  }
}

test('the table covers every command, and only deploy and release build a release', () => {
  assert.deepEqual([...BUILDING_COMMANDS].sort(), ['deploy', 'release']);
  assert.deepEqual(NON_BUILDING.sort(), ['check', 'cleanup', 'config', 'once', 'releases', 'restart', 'rollback', 'run', 'shell', 'unlock']);
});

// found by the attack pass: fap check passed branch "-x", curl_options with a ";", a curl_url
// without a scheme, curl_output with curl_extract_tgz, all of which deploy or release refused
for (const name of BUNDLED_NAMES) {
  test(`${name}: fap check refuses exactly what deploy or release refuse, wherever the plugin is listed`, async () => {
    const plugin = await loadPlugin(name, dir);
    const keys = Object.entries(plugin.keys ?? {});
    const value = (type: string) =>
      type === 'boolean'
        ? fc.boolean()
        : fc.oneof(fc.constantFrom('', '-x', 'not a url', 'u:pw@host/x.tgz', 'http://example.invalid/a.tgz', 'x.jar', '/abs/path', '-k; touch /tmp/x', "'open", 'a'.repeat(64)), fc.string().filter((s) => !/[%$]/.test(s)));
    const values = fc.dictionary(fc.constantFrom(...keys.filter(([, s]) => s.type === 'string' || s.type === 'boolean').map(([k]) => k)), fc.constant(null)).chain((d) =>
      fc.record(Object.fromEntries(Object.keys(d).map((k) => [k, value(String(plugin.keys![k].type))]))),
    );
    // the plugin in the common list, in one building command's, or in a list no building command reads
    const list = fc.constantFrom('plugins', 'deploy_plugins', 'release_plugins', 'rollback_plugins', 'restart_plugins');
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(values, list, async (v, l) => {
        const file = deployFile(name, v, l);
        const building = [await refusal('deploy', file), await refusal('release', file)].filter((m) => m !== undefined);
        const check = await refusal('check', file);
        if (building.length) refused++;
        assert.equal(check !== undefined, building.length > 0, `check: ${check}; deploy/release: ${building.join(' | ')}`);
        if (check !== undefined) assert.ok(building.includes(check), `check said ${check}; deploy/release: ${building.join(' | ')}`);
        // each says its key once (found by the attack pass: "curl_options: curl_options: ...")
        for (const m of building) assert.doesNotMatch(m, /(?:^|\s)([a-z_]+): \1: /, m);
        for (const command of UNAFFECTED) assert.equal(await refusal(command, file), undefined, command);
      }),
      { numRuns: 40 },
    );
    if (plugin.check) assert.ok(refused > 0, `${name}: no generated configuration broke its check`);
  });
}

test('a plugin standing in for another (curl given curl_url, git listed) is held to its check by fap check, as release holds it', async () => {
  const file = deployFile('git', { repo: '/srv/git/shop.git' });
  for (const url of ['ci:pw@host/x.tgz', 'http://host/a b.tgz']) {
    const sets = [`curl_url=${JSON.stringify(url)}`];
    const release = await refusal('release', file, sets);
    assert.ok(release, url);
    assert.equal(await refusal('check', file, sets), release);
    for (const command of UNAFFECTED) assert.equal(await refusal(command, file, sets), undefined, command);
  }
});

for (const name of BUNDLED_NAMES) {
  test(`${name}: whatever its keys hold, no command but deploy, release and check refuses for its requirements`, async () => {
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
        for (const command of UNAFFECTED) {
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
  for (const command of UNAFFECTED) assert.equal((await plan(command, file)).targets[0].roles[0].plugins[0].name, 'curl', command);
  // the doctor asks for the URL a release would be given (fap check production --curl-url URL)
  await assert.rejects(plan('check', file), /the curl plugin needs an artifact/);
  assert.equal((await plan('check', file, ['curl_url="http://ci.invalid/build.tgz"'])).targets.length, 1);
});
