// Fapistrano's plugin names in deploy.yml: slack loads under all three spellings; fis and git2slack
// say what replaces them; a Python module path says plugins are now ES modules; each error points
// at the name (file:line:col). A real npm package with such a name still loads.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { buildPlan } from '../../src/release/plan.js';
import { slackPayload, slackText } from '../../plugins/slack/index.js';
import type { RunSummary } from '../../src/signals.js';

function project(plugins: string[], packages: string[] = [], extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'fap-fplug-'));
  for (const name of packages) {
    const pkg = join(dir, 'node_modules', name);
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js' }));
    writeFileSync(join(pkg, 'index.js'), `export default { name: ${JSON.stringify(name)}, api: '^1.0.0', on: {} };\n`);
  }
  const file = join(dir, 'deploy.yml');
  // line 4 holds the plugin list, one name per line from line 5
  writeFileSync(file, ['app_name: shop', 'user: deploy', 'sudo_user: deploy', 'plugins:', ...plugins.map((p) => `  - ${p}`), extra, 'stage_role_configs:', '  production:', '    web:', '      hosts: [h1]', ''].join('\n'));
  return file;
}

async function refusal(plugins: string[], packages: string[] = []): Promise<ConfigError> {
  try {
    await buildPlan({ deployfile: project(plugins, packages), stage: 'production', env: {}, command: 'deploy' });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail(`${plugins.join(', ')} loaded`);
}

test('slack loads as slack, fapistrano.slack and fapistrano.plugins.slack', async () => {
  // fapistrano-0.9.5 configuration.py:113-117 import_module(plugin) for each name in plugins
  for (const name of ['slack', 'fapistrano.slack', 'fapistrano.plugins.slack']) {
    const plan = await buildPlan({ deployfile: project([name], [], 'slack_webhook: https://hooks.slack.test/services/T/B/x\nslack_channel: "#deploys"'), stage: 'production', env: {}, command: 'deploy' });
    assert.deepEqual(plan.targets[0].roles[0].plugins.map((p) => p.name), ['slack']);
    assert.equal(plan.roles[0].values.slack_icon_emoji, ':trollface:', 'fapistrano-0.9.5 plugins/slack.py:19 icon_emoji default');
    // (slack alone puts no code into the release: that warning, and no other)
    assert.deepEqual(plan.warnings.filter((w) => !/no plugin puts the application into the release/.test(w)), []);
  }
});

test('fis and git2slack (every spelling) say what replaces them, pointing at the name', async () => {
  for (const spelling of ['git2slack', 'fapistrano.git2slack', 'fapistrano.plugins.git2slack']) {
    const e = await refusal(['git', spelling]);
    assert.match(e.message, /the slack plugin posts deploys and rollbacks itself/);
    assert.equal(e.where?.line, 6);
    assert.equal(e.where?.col, 5);
    assert.equal(e.where?.keyPath, 'plugins[1]');
  }
  for (const spelling of ['fis', 'fapistrano.fis', 'fapistrano.plugins.fis']) {
    const e = await refusal([spelling]);
    assert.match(e.message, /build the assets in CI .*fap release --curl-url or --artifact/);
    assert.match(e.message, /README, "Writing a plugin"/);
    assert.equal(e.where?.line, 5);
  }
});

test('a Python module path says plugins are ES modules and points at the plugin guide', async () => {
  for (const name of ['fapistrano_webpack', 'mycorp.deploy.plugins.celery', 'fapistrano.plugins.unknownthing']) {
    const e = await refusal([name]);
    assert.match(e.message, new RegExp(`plugin "${name.replace(/\./g, '\\.')}" looks like a Fapistrano \\(Python\\) plugin module`));
    assert.match(e.message, /fap plugins are ES modules/);
    assert.match(e.message, /README, "Writing a plugin"/);
    assert.equal(e.where?.line, 5);
  }
  // a near miss of a bundled name stays a did-you-mean, a plain npm-style name the npm error
  assert.match((await refusal(['fapistrano.gti'])).message, /did you mean "git"/);
  assert.doesNotMatch((await refusal(['supervisorctrl'])).message, /Python/);
});

test('real npm packages with such names load: no misfire', async () => {
  const plan = await buildPlan({ deployfile: project(['fis', 'git2slack', 'my_plugin', 'mycorp.fap'], ['fis', 'git2slack', 'my_plugin', 'mycorp.fap']), stage: 'production', env: {}, command: 'deploy' });
  assert.deepEqual(plan.targets[0].roles[0].plugins.map((p) => p.name), ['fis', 'git2slack', 'my_plugin', 'mycorp.fap']);
});

const summary = (o: Partial<RunSummary>): RunSummary => ({ command: 'deploy', stage: 'production', ok: true, release: '20261124100000', summary: 'deployed', hosts: [], startedAt: '', finishedAt: '', by: 'me@here', ...o });
const config = { app_name: 'shop', slack_icon_emoji: ':trollface:' };

test('slack messages: deploy finished, failed (hosts and first error line), rollback; other commands none', () => {
  const ok = summary({
    hosts: [
      { host: 'web1', role: 'web', outcome: 'deployed', revision: 'abc123' },
      { host: 'web1', role: 'worker', outcome: 'deployed', revision: 'abc123' },
      { host: 'web2', role: 'web', outcome: 'deployed', revision: 'abc123' },
    ],
  });
  assert.equal(slackText(ok, config), '[shop-production] Deploy to abc123 (release 20261124100000) on 2 hosts');
  const failed = summary({
    ok: false,
    summary: 'publishing failed: every published host was put back on its previous release',
    hosts: [
      { host: 'web1', role: 'web', outcome: 'reverted' },
      { host: 'web2', role: 'web', outcome: 'failed', step: 'health check', error: 'web2: health check failed for 5s: false\nmore' },
    ],
  });
  assert.equal(slackText(failed, config), '[shop-production] Deploy of release 20261124100000 FAILED on web2: health check failed for 5s: false\npublishing failed: every published host was put back on its previous release');
  // fapistrano-0.9.5 plugins/git2slack.py:33-38 "[%s] Rollback to %s"
  assert.equal(slackText(summary({ command: 'rollback', release: '20261123090000', hosts: [{ host: 'web1', role: 'web', outcome: 'rolled-back' }] }), config), '[shop-production] Rollback to release 20261123090000 on 1 host');
  for (const command of ['restart', 'cleanup', 'unlock', 'run']) assert.equal(slackText(summary({ command }), config), undefined);
  // fapistrano-0.9.5 plugins/slack.py:25-36: channel only when set
  assert.deepEqual(slackPayload('hi', config), { text: 'hi', icon_emoji: ':trollface:' });
  assert.deepEqual(slackPayload('hi', { ...config, slack_channel: '#ops' }), { text: 'hi', icon_emoji: ':trollface:', channel: '#ops' });
});
