// The README's deploy.yml reference is generated from the schema; this fails when they drift.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configReference, withReference } from '../../src/config/reference.js';
import { CORE_KEYS } from '../../src/config/schema.js';
import { bundledKeys } from '../../src/plugin/load.js';
import { ROOT } from '../helpers.js';

test('README deploy.yml reference matches the schema (run npm run docs after changing keys)', async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const reference = configReference(CORE_KEYS, await bundledKeys());
  assert.equal(withReference(readme, reference), readme);
  for (const key of [...Object.keys(CORE_KEYS), ...Object.keys(await bundledKeys())]) assert.ok(reference.includes(`| \`${key}\` |`), key);
});
