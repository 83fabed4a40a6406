// Keys with a kernel meaning from Fapistrano (issue 13 item 3): shared_writable and the .env
// export format, run by a real sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { composeScript, parseFailedStep, type Step } from '../../src/remote/shell.js';
import { layout } from '../../src/release/paths.js';
import { prepareEndSteps, sharedWritableSteps } from '../../src/release/scripts.js';
import { CORE_KEYS } from '../../src/config/schema.js';

const base = mkdtempSync(join(tmpdir(), 'fap-unit-fkeys-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

function sh(steps: Step[]) {
  const r = spawnSync('/bin/sh', ['-c', composeScript(steps)], { encoding: 'utf8' });
  return { status: r.status, stderr: parseFailedStep(r.stderr).stderr };
}

test('shared_writable: shared/log made, shared/ group-writable, no symlink followed, others\' files left alone', () => {
  // fapistrano-0.9.5 configuration.py:72 shared_writable True; deploy.py:149-152 mkdir shared/log, chmod -R g+w
  assert.equal(CORE_KEYS.shared_writable.default, true);
  const root = join(base, `app ${n++} '$(x)'`);
  const p = layout(root, 'r');
  mkdirSync(join(p.shared, 'config'), { recursive: true });
  writeFileSync(join(p.shared, 'config', 'a.yml'), 'a');
  chmodSync(join(p.shared, 'config', 'a.yml'), 0o600);
  const outside = join(base, `outside-${n}`);
  writeFileSync(outside, 'x');
  chmodSync(outside, 0o600);
  symlinkSync(outside, join(p.shared, 'link'));
  const foreign = join(p.shared, 'foreign');
  writeFileSync(foreign, 'f');
  chmodSync(foreign, 0o600);
  const canChown = process.getuid?.() === 0;
  if (canChown) chownSync(foreign, 65534, 65534);
  const r = sh(sharedWritableSteps(p));
  assert.equal(r.status, 0, r.stderr);
  assert.ok(statSync(join(p.shared, 'log')).isDirectory());
  assert.equal(statSync(join(p.shared, 'config', 'a.yml')).mode & 0o020, 0o020);
  assert.equal(statSync(join(p.shared, 'config')).mode & 0o020, 0o020);
  assert.equal(statSync(outside).mode & 0o777, 0o600, 'the symlink was followed');
  if (canChown) assert.equal(statSync(foreign).mode & 0o777, 0o600, 'another owner\'s file was changed');
});

test('environment_format export: export K=\'V\' lines a shell sources back to the exact values', () => {
  // fapistrano-0.9.5 deploy.py:143 'export %s="%s"' (unescaped: a " or $ in a value broke it)
  const value = fc.string({ unit: fc.constantFrom('a', ' ', '"', "'", '$', '`', '\\', '(', ')', ';', '\n', 'é', '='), maxLength: 12 });
  fc.assert(
    fc.property(value, value, (a, b) => {
      const root = join(base, `env ${n++}`);
      const p = layout(root, 'r');
      mkdirSync(p.release, { recursive: true });
      const r = sh(prepareEndSteps(p, { environment: { A: a, B_2: b }, linkedFiles: [], linkedDirs: [], environmentFormat: 'export' }));
      assert.equal(r.status, 0, r.stderr);
      const env = join(p.release, '.env');
      assert.match(readFileSync(env, 'utf8'), /^export A=.*\nexport B_2=/s);
      // sourced by a shell, then seen by a child process: exported, exact
      const out = spawnSync('/bin/sh', ['-c', `. "$1" && sh -c 'printf "%s\\0%s" "$A" "$B_2"'`, 'sh', env], { encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      assert.deepEqual(out.stdout.split('\0'), [a, b]);
    }),
    { numRuns: 30 },
  );
});
