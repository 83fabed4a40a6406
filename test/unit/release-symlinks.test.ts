// Symlinks that come with the code never redirect fap's writes or removals (linked files, REVISION),
// and a deploy root that is /, empty or has .. in it is refused before any host is contacted.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { buildPlan } from '../../src/release/plan.js';
import { layout } from '../../src/release/paths.js';
import { prepareEndSteps, recordSteps } from '../../src/release/scripts.js';
import { composeScript, type Step } from '../../src/remote/shell.js';

const base = mkdtempSync(join(tmpdir(), 'fap-symlinks-'));
after(() => rmSync(base, { recursive: true, force: true }));

function setup() {
  const dir = mkdtempSync(join(base, 'c-'));
  const victim = join(dir, 'etc');
  mkdirSync(victim);
  writeFileSync(join(victim, 'app.conf'), 'precious\n');
  const p = layout(join(dir, 'www'), '20260101000000');
  mkdirSync(p.release, { recursive: true });
  mkdirSync(join(p.shared, 'configs'), { recursive: true });
  writeFileSync(join(p.shared, 'configs', 'app.conf'), 'shared\n');
  return { dir, victim, p };
}
const sh = (steps: Step[]) => spawnSync('/bin/sh', ['-c', composeScript(steps)], { encoding: 'utf8' });

test('a release with configs -> /etc and linked_files [configs/app.conf]: refused, naming the path; /etc/app.conf stays', () => {
  const { victim, p } = setup();
  symlinkSync(victim, join(p.release, 'configs'));
  const r = sh(prepareEndSteps(p, { environment: {}, linkedFiles: ['configs/app.conf'], linkedDirs: [] }));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /linked path configs\/app\.conf: .*\/configs is a symlink in the release/);
  assert.equal(readFileSync(join(victim, 'app.conf'), 'utf8'), 'precious\n');
});

test('a symlink deeper in the path, and under a linked dir, is refused too', () => {
  const { victim, p } = setup();
  mkdirSync(join(p.release, 'a'));
  symlinkSync(victim, join(p.release, 'a', 'b'));
  const r = sh(prepareEndSteps(p, { environment: {}, linkedFiles: [], linkedDirs: ['a/b/app.conf'] }));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /a\/b is a symlink/);
  assert.ok(existsSync(join(victim, 'app.conf')));
});

test('a linked path that is itself a symlink is replaced (the link removed, not its target)', () => {
  const { victim, p } = setup();
  mkdirSync(join(p.release, 'configs'));
  symlinkSync(join(victim, 'app.conf'), join(p.release, 'configs', 'app.conf'));
  symlinkSync(victim, join(p.release, 'media'));
  const r = sh(prepareEndSteps(p, { environment: {}, linkedFiles: ['configs/app.conf'], linkedDirs: ['media'] }));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(victim, 'app.conf'), 'utf8'), 'precious\n');
  assert.equal(readFileSync(join(p.release, 'configs', 'app.conf'), 'utf8'), 'shared\n');
  assert.ok(existsSync(join(p.shared, 'media')));
});

test('REVISION -> a file outside: record writes a fresh REVISION, never through the link (existing and dangling targets)', () => {
  for (const target of ['app.conf', 'new-file']) {
    const { victim, p } = setup();
    symlinkSync(join(victim, target), join(p.release, 'REVISION'));
    mkdirSync(join(p.state, 'releases'), { recursive: true });
    const r = sh(recordSteps(p, '20260101000000', { deployedAt: 'now', deployedBy: 'me', command: 'deploy' }));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lstatSync(join(p.release, 'REVISION')).isFile());
    assert.equal(readFileSync(join(p.release, 'REVISION'), 'utf8'), 'none\n');
    assert.equal(readFileSync(join(victim, 'app.conf'), 'utf8'), 'precious\n');
    assert.ok(!existsSync(join(victim, 'new-file')));
  }
});

function deployFile(top: Record<string, unknown>): string {
  const dir = mkdtempSync(join(base, 'cfg-'));
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, stringify({ app_name: 'shop', repo: '/srv/repo.git', ...top, stage_role_configs: { production: { web: { hosts: ['h1'] } } } }));
  return file;
}

test('path: /, //, /., empty or with .. is a configuration error at its line, naming the key', async () => {
  for (const path of ['/', '//', '/.', '/./', '', '/srv/../etc', '/srv/app/..', 'relative']) {
    await assert.rejects(buildPlan({ deployfile: deployFile({ path }), stage: 'production', env: {} }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, /path/);
      assert.match(e.message, /deploy\.yml:\d+:\d+/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    }, path);
  }
  // a name with dots is fine
  await buildPlan({ deployfile: deployFile({ path: '/srv/a..b/shop' }), stage: 'production', env: {} });
});

test('repo starting with "-" is a configuration error (it would be read as a git option)', async () => {
  await assert.rejects(buildPlan({ deployfile: deployFile({ repo: '--upload-pack=touch /tmp/x' }), stage: 'production', env: {}, command: 'deploy' }), (e: unknown) => e instanceof ConfigError && /repo may not start with "-"/.test(e.message));
});
