// Fapistrano compatibility: deploy.yml files from Fapistrano's documentation and examples load with
// the same meaning (plugin names, path defaults, %(key)s, plugin keys).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { bindRelease } from '../../src/config/resolve.js';
import { buildPlan } from '../../src/release/plan.js';

function file(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'fap-compat-')), 'deploy.yml');
  writeFileSync(f, text);
  return f;
}

// From Fapistrano's "12 Factory Deployment" guide (Codebase section)
const TWELVE_FACTOR = `
app_name: shop
user: deploy
plugins:
  - fapistrano.git
  - fapistrano.supervisorctl
repo: git@git.your-corp.com:owner/repo.git
stage_role_configs:
  production:
    web:
      hosts:
        - app-web01
        - app-web02
      linked_files:
        - configs/supervisor_production_web.conf
    worker:
      hosts:
        - app-job01
      linked_files:
        - configs/supervisor_production_worker.conf
    cron:
      hosts:
        - app-job01
      linked_files:
        - configs/supervisor_production_cron.conf
`;

// From Fapistrano's examples/curl-example.yml
const CURL_EXAMPLE = `
project_name: curl-example
app_name: curl-example
user: deploy
use_ssh_config: true
keep_releases: 5

stage_role_configs:
  staging:
    app:
      hosts:
        - app-stag01
      app_name: curl-example-staging
      linked_files:
        - configs/supervisor_staging.conf
        - settings/staging.py
  production:
    app:
      hosts:
        - app-app01
      linked_files:
        - configs/supervisor_production_app.conf
        - settings/production.py

plugins:
  - fapistrano.plugins.localshared
  - fapistrano.plugins.curl
  - fapistrano.plugins.supervisorctl

curl_extract_tar: true
curl_postinstall_script: "sh ./install.sh"

supervisor_check_status: true

localshared_source: '/etc/appconf/curl-example'
`;

// From Fapistrano's examples/supervisor-example/deploy.yml and the guide's virtualenv section
const SUPERVISOR_EXAMPLE = `
project_name: supervisor-example
app_name: supervisor-example
user: deploy
use_ssh_config: true

stage_role_configs:
  staging:
    app:
      hosts:
        - app-stag01
  production:
    web:
      hosts: [app-web01]
      virtualenv_requirements: '%(release_path)s/production-requirements.txt'

plugins:
  - fapistrano.plugins.git
  - fapistrano.plugins.virtualenv
  - fapistrano.plugins.supervisorctl

repo: git@github.com:liwushuo/fapistrano.git
git_archive_tree: examples/supervisor-example

supervisor_check_status: true
supervisor_output: true
supervisor_refresh: false
supervisor_conf: configs/supervisor_%(stage)s_%(role)s.conf
`;

describe('Fapistrano deploy.yml files', () => {
  test('the 12-factor guide: fapistrano.* plugins, roles sharing app-job01 share one release', async () => {
    const plan = await buildPlan({ deployfile: file(TWELVE_FACTOR), stage: 'production', env: {} });
    assert.deepEqual(plan.roles.map((r) => r.role), ['web', 'worker', 'cron']);
    for (const r of plan.roles) assert.deepEqual(r.enabledPlugins, ['git', 'supervisorctl']);
    const web = plan.roles[0].values;
    assert.equal(web.path, '/home/deploy/www/shop', "Fapistrano's default path");
    assert.equal(web.supervisor_program, 'shop');
    assert.equal(web.supervisor_conf, 'configs/supervisor_production_web.conf');
    assert.equal(web.supervisor_target, '/etc/supervisor/conf.d/shop.conf');
    assert.deepEqual(plan.targets.map((t) => `${t.host.name} ${t.role}`), ['app-web01 web', 'app-web02 web', 'app-job01 worker+cron']);
    const job = plan.targets[2];
    assert.deepEqual(job.config.linked_files, ['configs/supervisor_production_worker.conf', 'configs/supervisor_production_cron.conf']);
    assert.deepEqual(job.roles.map((r) => r.config.supervisor_conf), ['configs/supervisor_production_worker.conf', 'configs/supervisor_production_cron.conf']);
    assert.deepEqual(plan.warnings, []);
  });

  test('examples/curl-example.yml: role overrides app_name, fapistrano.plugins.* names, curl keys', async () => {
    const staging = await buildPlan({ deployfile: file(CURL_EXAMPLE), stage: 'staging', role: 'app', env: {} });
    const v = staging.roles[0].values;
    assert.equal(v.app_name, 'curl-example-staging');
    assert.equal(v.path, '/home/deploy/www/curl-example-staging');
    assert.equal(v.project_name, 'curl-example');
    assert.deepEqual(staging.roles[0].enabledPlugins, ['localshared', 'curl', 'supervisorctl']);
    assert.equal(v.curl_extract_tar, true);
    assert.equal(v.curl_postinstall_script, 'sh ./install.sh');
    assert.equal(v.localshared_source, '/etc/appconf/curl-example');
    assert.equal(v.supervisor_check_status, true);
    assert.equal(v.keep_releases, 5);
    const production = await buildPlan({ deployfile: file(CURL_EXAMPLE), stage: 'production', env: {} });
    assert.equal(production.roles[0].values.path, '/home/deploy/www/curl-example');
  });

  test('supervisor example + virtualenv: %(release_path)s binds to the run’s release', async () => {
    const plan = await buildPlan({ deployfile: file(SUPERVISOR_EXAMPLE), stage: 'production', role: 'web', env: {} });
    const v = plan.roles[0].values;
    assert.equal(v.git_archive_tree, 'examples/supervisor-example');
    assert.equal(bindRelease(v.virtualenv_requirements, '20260101000000'), '/home/deploy/www/supervisor-example/releases/20260101000000/production-requirements.txt');
    assert.equal(v.supervisor_conf, 'configs/supervisor_production_web.conf');
    assert.equal(v.supervisor_output, true);
  });
});
