// Plugin loading and selection: npm package names, per-command plugin lists, the artifact swap.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { buildPlan } from '../../src/release/plan.js';

function project(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fap-plugins-'));
  // an npm package plugin, installed next to deploy.yml as npm would
  const pkg = join(dir, 'node_modules', 'fap-plugin-hello');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'fap-plugin-hello', version: '1.0.0', type: 'module', main: 'index.js' }));
  writeFileSync(join(pkg, 'index.js'), "export default { name: 'hello', api: '^1.0.0', keys: { hello_to: { type: 'string', default: 'world', description: 'whom' } }, on: { 'deploy.updated': (ctx) => ctx.script('greet', 'echo hello ' + ctx.quote(ctx.config.hello_to)) } };\n");
  const old = join(dir, 'node_modules', 'fap-plugin-old');
  mkdirSync(old, { recursive: true });
  writeFileSync(join(old, 'package.json'), JSON.stringify({ name: 'fap-plugin-old', version: '1.0.0', type: 'module', main: 'index.js' }));
  writeFileSync(join(old, 'index.js'), "export default { name: 'old', api: '^0.9.0', on: {} };\n");
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, yaml);
  return file;
}

const BASE = 'app_name: shop\nrepo: /srv/git/shop.git\nstage_role_configs:\n  production:\n    web:\n      hosts: [h1]\n';

test('an npm package plugin loads by name, and its keys join the schema', async () => {
  const plan = await buildPlan({ deployfile: project(`plugins: [git, fap-plugin-hello]\nhello_to: fleet\n${BASE}`), stage: 'production', env: {} });
  assert.deepEqual(plan.targets[0].roles[0].plugins.map((p) => p.name), ['git', 'hello']);
  assert.equal(plan.roles[0].values.hello_to, 'fleet');
  assert.deepEqual(plan.warnings, [], 'its keys count as enabled');
});

test('a plugin written for another plugin API version is a configuration error', async () => {
  await assert.rejects(buildPlan({ deployfile: project(`plugins: [git, fap-plugin-old]\n${BASE}`), stage: 'production', env: {} }), (e: unknown) => e instanceof ConfigError && /needs plugin API \^0\.9\.0/.test(e.message));
});

test('<command>_plugins replaces plugins for that command only', async () => {
  const file = project(`plugins: [git]\nrelease_plugins: [git, fap-plugin-hello]\n${BASE}`);
  const deploy = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'deploy' });
  const release = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'release' });
  assert.deepEqual(deploy.roles[0].enabledPlugins, ['git']);
  assert.deepEqual(release.roles[0].enabledPlugins, ['git', 'fap-plugin-hello']);
  assert.deepEqual(release.targets[0].roles[0].plugins.map((p) => p.name), ['git', 'hello']);
});

test('fap release with an artifact puts curl where git was', async () => {
  const file = project(`plugins: [git, supervisorctl]\n${BASE}`);
  const plan = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'release', sets: ['curl_url="https://ci/build.tgz"'] });
  assert.deepEqual(plan.roles[0].enabledPlugins, ['curl', 'supervisorctl']);
  assert.deepEqual(plan.warnings, [], 'repo/branch do not warn while curl stands in for git');
  const deploy = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'deploy' });
  assert.deepEqual(deploy.roles[0].enabledPlugins, ['git', 'supervisorctl']);
});
