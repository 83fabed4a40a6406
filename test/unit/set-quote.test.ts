// --set where a string is meant (finding C7 of the 15th attack pass): a value YAML reads as a map or
// a list (`--set 'health_check=curl -H "Authorization: Bearer x" http://...'`) is refused with the
// quoted form to type instead, as a boolean is; and that form, run through a real shell, gives the
// very text typed. Stages, roles and hosts are deploy.yml's structure: --set says so, with what to
// do, instead of guessing a key name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { parseDeployText } from '../../src/config/load.js';
import { resolveRole } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';

const TEXT = 'app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [web1]\n';
const resolve = (sets: string[]) => resolveRole({ loaded: parseDeployText(TEXT, 'deploy.yml'), stage: 'production', sets, env: {} }, 'web');

function refusal(sets: string[]): ConfigError {
  try {
    resolve(sets);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail(`accepted ${sets.join(' ')}`);
}

/** The argument of the --set a hint shows, as a POSIX shell hands it to fap. */
function shellWord(hint: string): string {
  const m = /; quote it for the text: --set (.*)$/s.exec(hint);
  assert.ok(m, `a quoted form in: ${hint}`);
  const r = spawnSync('/bin/sh', ['-c', `printf '%s' ${m[1]}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

// text that YAML reads as a map or a list: a command with a "key: value" in it, a bracketed list,
// flow maps; no ${VAR} or %(key)s (those are expanded in any value, quoted or not), no NUL
const piece = fc.string({ unit: fc.oneof(fc.constantFrom('"', "'", '\\', ' ', ':', '-', '#', '\t', 'é'), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 12 }).filter((s) => !/[$%\0\n\r]/.test(s));
const structured = fc
  .oneof(
    fc.tuple(piece, piece).map(([a, b]) => `curl -H "Authorization${a}: Bearer ${b}" http://127.0.0.1/`),
    fc.tuple(piece, piece).map(([a, b]) => `${a}x: ${b}`),
    fc.array(piece, { maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
    fc.tuple(piece, piece).map(([a, b]) => `{${a}: ${b}}`),
  )
  .filter((t) => {
    try {
      const v = parseYaml(t, { logLevel: 'error' });
      return v !== null && typeof v === 'object';
    } catch {
      return false;
    }
  });

test('a map or list given with --set where a string is meant: refused with the quoted form, which gives back the text typed (200 cases)', () => {
  fc.assert(
    fc.property(structured, fc.constantFrom('health_check', 'ssh.config_file'), (text, key) => {
      const e = refusal([`${key}=${text}`]);
      assert.match(e.detail, /^expected a string, got a (map|list); quote it for the text: --set /);
      const word = shellWord(e.detail);
      assert.ok(word.startsWith(`${key}=`), word);
      const got = resolve([word]).values as unknown as Record<string, unknown> & { ssh: Record<string, unknown> };
      assert.equal(key === 'health_check' ? got.health_check : got.ssh.config_file, text);
    }),
    { numRuns: 200 },
  );
});

test('the attack\'s example, word for word', () => {
  const e = refusal(['health_check=curl -H "Authorization: Bearer x" http://127.0.0.1:8000/up']);
  assert.equal(e.detail, `expected a string, got a map; quote it for the text: --set 'health_check="curl -H \\"Authorization: Bearer x\\" http://127.0.0.1:8000/up"'`);
  // a whole map given for a map key is not text to quote: no hint that would make it a string
  assert.doesNotMatch(refusal(['ssh={config_file: [a]}']).detail, /quote/);
});

test('stages, roles and their hosts cannot be set with --set: said so, with --hosts and deploy.yml, no guessed key', () => {
  for (const set of ['stage_role_configs.production.web.hosts=[web9]', 'stage_role_configs={}', 'stage_role_configs.staging.web.keep_releases=2']) {
    const e = refusal([set]);
    assert.equal(e.message, `--set ${set}: stages, roles and their hosts cannot be set with --set; narrow the hosts with --hosts (e.g. --hosts web1,web2), or edit deploy.yml`);
    assert.doesNotMatch(e.message, /did you mean/);
  }
});
