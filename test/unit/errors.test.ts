// Every error class lives in src/errors.ts (one place to read what can go wrong and how it exits),
// and hints are given when an error is made, never patched on later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, EXIT, FapError, LockError, StagesNotRun } from '../../src/errors.js';

const root = join(fileURLToPath(import.meta.url), '../../../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

test('no error class is declared outside src/errors.ts', () => {
  const files = [...sources(join(root, 'src')), ...sources(join(root, 'plugins'))];
  assert.ok(files.length > 20, `found the sources (${files.length} files under ${root})`);
  const strays = files
    .filter((f) => !f.endsWith(join('src', 'errors.ts')))
    .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^\s*(?:export\s+)?class\s+(\w+)\s+extends\s+(\w*Error)\b/gm)].map((m) => `${relative(root, f)}: ${m[1]} extends ${m[2]}`));
  assert.deepEqual(strays, []);
});

test('no hint is assigned after an error was made', () => {
  const files = [...sources(join(root, 'src')), ...sources(join(root, 'plugins'))];
  const patched = files.flatMap((f) => (/\.hint\s*=[^=]/.test(readFileSync(f, 'utf8')) ? [relative(root, f)] : []));
  assert.deepEqual(patched, []);
});

test('a stage that failed with a typed error keeps its message and exit code, and says which stages did not run', () => {
  const locked = new StagesNotRun(new LockError('production: locked by ann', 'wait with --lock-wait'), 'not run: staging (fap stopped at production)');
  assert.equal(locked.exitCode, EXIT.locked);
  assert.equal(locked.message, 'production: locked by ann');
  assert.equal(locked.hint, 'wait with --lock-wait\n  not run: staging (fap stopped at production)');
  const config = new StagesNotRun(new ConfigError('unknown key', { file: 'deploy.yml', line: 3, col: 1 }), 'not run: qa');
  assert.equal(config.exitCode, EXIT.usage);
  assert.equal(config.message, 'deploy.yml:3:1: unknown key');
  assert.equal(config.hint, 'not run: qa');
  assert.equal(new StagesNotRun(new FapError('x'), 'n').exitCode, EXIT.failed);
});
