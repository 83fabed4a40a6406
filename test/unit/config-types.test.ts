// The role config type is derived from the key specs (schema.ts ConfigOf): a key that is not
// declared does not compile, and each key has its declared type. tsc checks this file when the
// test command builds; the @ts-expect-error lines fail the build if the type ever lets them pass.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CoreConfig, ValueOf } from '../../src/config/schema.js';

function reads(c: CoreConfig): unknown[] {
  const keep: number = c.keep_releases;
  const format: 'plain' | 'export' = c.environment_format;
  const check: string | undefined = c.health_check;
  const checking: 'strict' | 'accept-new' | 'off' = c.ssh.host_key_checking;
  // @ts-expect-error a misspelt key name is a compile error
  const typo = c.keep_relases;
  // @ts-expect-error a key without a default may be missing
  const app: string = c.app_name;
  // @ts-expect-error an integer key is a number, not a string
  const wrong: string = c.keep_releases;
  return [keep, format, check, checking, typo, app, wrong];
}

test('the config type follows the specs (checked by tsc; this run only proves the file compiled)', () => {
  const spec = { type: 'integer', default: 1, description: '' } as const;
  const v: ValueOf<typeof spec> = 3;
  assert.equal(typeof reads, 'function');
  assert.equal(v, 3);
});
