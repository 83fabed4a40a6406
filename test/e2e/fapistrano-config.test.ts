// Fapistrano's configuration keys with a meaning for the whole run, through the real CLI.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fap } from '../helpers.js';

test('dry_run: true in deploy.yml is --dry-run: the plan (and with -v the scripts) is printed, nothing is changed', async () => {
  // fapistrano-0.9.5 configuration.py:84 setdefault('dry_run', False); utils.py:22 `if env.dry_run:`
  const dir = mkdtempSync(join(tmpdir(), 'fap-fapcfg-e2e-'));
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, `app_name: shop\nuser: me\nsudo_user: me\nplugins: [git]\nrepo: /nowhere\ndry_run: true\nssh: {known_hosts_file: ${join(dir, 'kh')}}\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1]\n`);
  const r = await fap(['-f', file, '-v', 'deploy', 'production']);
  // (127.0.0.1:1 answers nobody: planned, scripts shown, and exit 1 as the real run would stop there)
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the real deploy would stop before changing anything: could not connect to 127\.0\.0\.1:1/);
  assert.match(r.stderr, /dry run: nothing will be changed/);
  assert.match(r.stderr, /\[127\.0\.0\.1:1\] prepare script:/);
});
