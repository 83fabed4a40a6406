// A release nothing puts code into (found by the attack pass: a Capistrano user's repo_url was read
// as a variable of their own, git was never enabled, and fap published an empty release saying
// "deployed"). repo_url is Capistrano's name for repo; a plan whose roles have no plugin handling
// deploy.updating says so before a deploy, a release and fap check.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { buildPlan } from '../../src/release/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'fap-empty-release-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
async function plan(doc: Record<string, unknown>, command = 'deploy') {
  const file = join(dir, `deploy-${n++}.yml`);
  writeFileSync(file, stringify({ app_name: 'shop', path: '/srv/shop', ...doc, stage_role_configs: { production: { web: { hosts: ['h1'] }, worker: { hosts: ['h2'] } } } }));
  return buildPlan({ deployfile: file, stage: 'production', env: {}, command });
}
const EMPTY = /no plugin puts the application into the release/;

test("repo_url is Capistrano's name for repo: git is enabled and deploys it", async () => {
  const p = await plan({ repo_url: 'git@example.com:shop.git', branch: 'main' });
  const web = p.targets[0].roles[0];
  assert.equal(web.config.repo, 'git@example.com:shop.git');
  assert.deepEqual(web.plugins.map((x) => x.name), ['git']);
  assert.ok(p.warnings.some((w) => /repo_url is Capistrano's name for repo/.test(w)), p.warnings.join('\n'));
  assert.ok(!p.warnings.some((w) => EMPTY.test(w)));
});

test('a role whose plugins put nothing into the release is named before deploy, release and check (and not before the others)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.subarray(['supervisorctl', 'localshared', 'virtualenv']), fc.constantFrom('deploy', 'release', 'check', 'rollback', 'restart', 'releases'), async (plugins, command) => {
      const p = await plan({ plugins, supervisor_program: 'shop' }, command);
      const warned = p.warnings.filter((w) => EMPTY.test(w));
      if (['deploy', 'release', 'check'].includes(command)) {
        assert.deepEqual(warned.map((w) => w.split(':')[0]).sort(), ['production web', 'production worker']);
        assert.match(warned[0], /the plugins that do: .*git \(repo\)/);
      } else assert.deepEqual(warned, []);
    }),
    { numRuns: 30 },
  );
  const withGit = await plan({ plugins: ['git', 'supervisorctl'], repo: '/r.git', supervisor_program: 'shop' });
  assert.ok(!withGit.warnings.some((w) => EMPTY.test(w)));
});
