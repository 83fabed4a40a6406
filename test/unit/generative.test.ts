// Generative tests (fast-check): whatever a config value or host string holds, it is quoted or
// refused; no command runs that the user did not write; parsing never crashes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { formatHost, parseHost } from '../../src/config/hosts.js';
import { parseDeployText } from '../../src/config/load.js';
import { resolveRole } from '../../src/config/resolve.js';
import { bundledKeys } from '../../src/plugin/load.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { errorText } from '../../src/cli/main.js';
import { layout } from '../../src/release/paths.js';
import { prepareEndSteps } from '../../src/release/scripts.js';
import { composeScript, quote } from '../../src/remote/shell.js';

const base = mkdtempSync(join(tmpdir(), 'fap-gen-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** Strings a shell would love to misread. */
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('$(touch PWNED)', '`touch PWNED`', "'; touch PWNED; '", '"; touch PWNED; "', '\n touch PWNED', '$HOME', '${IFS}', '\\', '*', '-rf', '..', '/etc/passwd', '%(app_name)s', '\u0000x'),
  fc.array(fc.constantFrom('$', '(', ')', '`', "'", '"', '\\', ' ', '\n', '\t', ';', '&', '|', '<', '>', '*', '?', 'a', 'é', '✓'), { maxLength: 24 }).map((a) => a.join('')),
);

test('quote(): any string survives /bin/sh literally (300 cases, one shell)', () => {
  const samples = fc.sample(hostile.filter((s) => !s.includes('\u0000')), 300);
  const script = samples.map((s) => `printf '%s\\0' ${quote(s)}`).join('\n');
  const r = spawnSync('/bin/sh', ['-c', script], { cwd: base, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), samples);
  assert.ok(!existsSync(join(base, 'PWNED')));
});

test('.env: any environment value sources back literally and runs nothing (200 cases)', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), hostile.filter((s) => !s.includes('\u0000')), { maxKeys: 6 }), (env) => {
      const root = mkdtempSync(join(base, 'env-'));
      const p = layout(root, '20260101000000');
      mkdirSync(p.release, { recursive: true });
      const r = spawnSync('/bin/sh', ['-c', composeScript(prepareEndSteps(p, { environment: env, linkedFiles: [], linkedDirs: [] }))], { cwd: root, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const names = Object.keys(env);
      const dump = spawnSync('/bin/sh', ['-c', `set -a; . ./.env; ${names.map((n) => `printf '%s\\0' "$${n}"`).join('; ')}`], { cwd: p.release, encoding: 'utf8' });
      assert.deepEqual(dump.stdout.split('\0').slice(0, names.length), names.map((n) => env[n]));
      assert.deepEqual(readdirSync(root).sort(), ['releases'], 'nothing else was created');
      assert.ok(!existsSync(join(base, 'PWNED')) && !existsSync(join(p.release, 'PWNED')));
    }),
    { numRuns: 200 },
  );
});

/** Well-formed host strings and the parts they were made of (user@host:port, [v6]:port). */
const validHost = fc.oneof(
  fc.record({
    user: fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,7}$/), { nil: undefined }),
    hostname: fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/).filter((h) => h !== 'local'),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  }),
  fc.record({ user: fc.constant(undefined), hostname: fc.constantFrom('::1', 'fe80::1', '2001:db8::42', 'fe80::1%eth0'), port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }) }),
).map((h) => ({ ...h, text: `${h.user ? h.user + '@' : ''}${h.hostname.includes(':') ? `[${h.hostname}]` : h.hostname}${h.port ? ':' + h.port : ''}` }));

test('host strings: every well-formed one is accepted as the parts it was made of (500 cases)', () => {
  fc.assert(
    fc.property(validHost, ({ text, user, hostname, port }) => {
      assert.deepEqual(parseHost(text), { name: text, hostname, user, port });
      assert.deepEqual(parseHost({ host: hostname.includes(':') ? `[${hostname}]` : hostname, ...(user ? { user } : {}), ...(port ? { port } : {}) }), { name: text, hostname, user, port });
    }),
    { numRuns: 500 },
  );
});

test('host strings: parsed or refused with an Error, and a parsed host round-trips (1000 cases)', () => {
  let parsed = 0;
  fc.assert(
    fc.property(fc.oneof(hostile, fc.stringMatching(/^([a-z]{1,5}@)?[a-z0-9.-]{1,12}(:[0-9]{1,6})?$/), fc.stringMatching(/^\[[0-9a-f:]{2,20}\](:[0-9]{1,5})?$/)), (s) => {
      let spec;
      try {
        spec = parseHost(s);
      } catch (e) {
        assert.ok(e instanceof Error);
        return;
      }
      assert.match(spec.hostname, /^[A-Za-z0-9_.:%-]+$/, 'a parsed host name carries no shell syntax');
      assert.deepEqual(parseHost(formatHost(spec)), spec);
      parsed++;
    }),
    { numRuns: 1000 },
  );
  // two of the three generators make mostly well-formed hosts: a parser that refused all would show here
  assert.ok(parsed > 300, `${parsed} of 1000 parsed`);
});

test('deploy.yml: well-formed values resolve to exactly what was written (200 cases)', () => {
  const word = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/);
  const value = fc.string({ maxLength: 30 }).filter((v) => !/[%$]/.test(v)); // % and $ interpolate
  fc.assert(
    fc.property(
      fc.record({
        app: word,
        keep: fc.integer({ min: 1, max: 99 }),
        path: word.map((w) => `/srv/${w}`),
        environment: fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/), value, { minKeys: 1, maxKeys: 4 }),
        hosts: fc.uniqueArray(validHost, { minLength: 1, maxLength: 3, selector: (h) => `${h.hostname}:${h.port ?? 22}` }),
      }),
      ({ app, keep, path, environment, hosts }) => {
        const text = [
          `app_name: ${JSON.stringify(app)}`,
          `keep_releases: ${keep}`,
          'environment:',
          ...Object.entries(environment).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
          'stage_role_configs:',
          '  production:',
          '    web:',
          `      path: ${JSON.stringify(path)}`,
          `      hosts: ${JSON.stringify(hosts.map((h) => h.text))}`,
        ].join('\n');
        const r = resolveRole({ loaded: parseDeployText(text, 'deploy.yml'), stage: 'production', env: {} }, 'web');
        assert.equal(r.values.app_name, app);
        assert.equal(r.values.keep_releases, keep);
        assert.equal(r.values.path, path);
        assert.deepEqual(r.values.environment, { ...environment });
        assert.deepEqual(
          r.hosts.map((h) => h.name),
          hosts.map((h) => h.text),
        );
      },
    ),
    { numRuns: 200 },
  );
});

test('deploy.yml: any text is a configuration or a ConfigError, never a crash (500 cases)', () => {
  const keys = ['app_name', 'path', 'keep_releases', 'linked_files', 'environment', 'hosts', 'branch', 'x-a'];
  let resolved = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.tuple(fc.constantFrom(...keys), hostile, fc.constantFrom(...keys), hostile).map(([k1, v1, k2, v2]) => `app_name: shop\n${k1}: ${JSON.stringify(v1)}\nstage_role_configs:\n  production:\n    web:\n      ${k2}: ${JSON.stringify(v2)}\n      hosts: [h1]\n`),
      ),
      (text) => {
        try {
          const loaded = parseDeployText(text, 'deploy.yml');
          resolveRole({ loaded, stage: 'production', env: {} }, 'web');
          resolved++;
        } catch (e) {
          assert.ok(e instanceof ConfigError, `not a ConfigError: ${(e as Error).stack}`);
          assert.match(e.message, /^deploy\.yml|^--set|app_name/);
        }
      },
    ),
    { numRuns: 500 },
  );
  // about a fifth are configurations (the structured half, with values a key accepts)
  assert.ok(resolved > 25, `${resolved} of 500 resolved`);
});

// YAML reads `branch: 1.10` as the number 1.1 and `2.0` as 2: where a string is meant, fap keeps
// the text written, in deploy.yml and in --set (found by the attack pass: --set branch=1.10
// deployed branch 1.1). Integer keys still read numbers.
test('a number written where a string is meant keeps its text: string keys, env values, map entries, variables, lists; file and --set (generative)', async () => {
  const pluginKeys = await bundledKeys();
  const digits = fc.stringMatching(/^[0-9]{1,4}$/);
  const numberish = fc.oneof(
    fc.tuple(digits, digits).map(([a, b]) => `${a}.${b}0`),
    digits.map((a) => `${a}.0`),
    fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 20 })).map(([a, e]) => `${a}e${e}`),
    fc.integer({ min: 0, max: 4095 }).map((n) => `0x${n.toString(16).toUpperCase()}`),
    fc.integer({ min: 0, max: 511 }).map((n) => `0o${n.toString(8)}`),
    digits.map((d) => `0${d}`),
    digits.map((d) => `+${d}`),
    digits.map((d) => `.${d}5`),
    digits,
  );
  fc.assert(
    fc.property(numberish, fc.integer({ min: 1, max: 50 }), (text, keep) => {
      const file = [
        'app_name: shop',
        'path: /srv/shop',
        `branch: ${text}`,
        `health_check: ${text}`,
        `version: ${text}`,
        `environment: {V: ${text}}`,
        `linked_files: [${text}]`,
        `keep_releases: ${keep}`,
        'stage_role_configs: {production: {web: {hosts: [a]}}}',
      ].join('\n');
      const inFile = resolveRole({ loaded: parseDeployText(file, 'deploy.yml'), stage: 'production', env: {}, pluginKeys }, 'web');
      assert.equal(inFile.values.branch, text);
      assert.equal(inFile.values.health_check, text);
      assert.equal(inFile.variables.version, text);
      assert.deepEqual(inFile.values.environment, { V: text });
      assert.deepEqual(inFile.values.linked_files, [text]);
      assert.equal(inFile.values.keep_releases, keep, 'an integer key reads a number');
      const bare = 'app_name: shop\npath: /srv/shop\nstage_role_configs: {production: {web: {hosts: [a]}}}';
      const sets = [`branch=${text}`, `health_check=${text}`, `version=${text}`, `environment.V=${text}`, `keep_releases=${keep}`];
      const bySet = resolveRole({ loaded: parseDeployText(bare, 'deploy.yml'), stage: 'production', env: {}, sets, pluginKeys }, 'web');
      assert.equal(bySet.values.branch, text);
      assert.equal(bySet.values.health_check, text);
      assert.equal(bySet.variables.version, text);
      assert.deepEqual(bySet.values.environment, { V: text });
      assert.equal(bySet.values.keep_releases, keep);
    }),
    { numRuns: 300 },
  );
});

// A configuration or usage error is one line whatever the value it quotes holds (found by the
// attack pass: a path with a newline printed a message broken over two lines).
test('a configuration or usage error prints as one line plus its hint, whatever text it quotes (generative)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.option(fc.string({ unit: 'binary' }), { nil: undefined }), fc.boolean(), (value, hint, usage) => {
      const e = usage ? new UsageError(`--x: "${value}" is wrong`, hint) : new ConfigError(`path: got "${value}"`, { file: 'deploy.yml', line: 2, col: 1 });
      if (!usage && hint !== undefined) (e as { hint?: string }).hint = hint;
      const text = errorText(e);
      const lines = text.split('\n');
      assert.equal(lines.pop(), '', 'ends with a newline');
      assert.equal(lines.length, e.hint ? 2 : 1, JSON.stringify(text));
      assert.ok(lines[0].startsWith('fap: '));
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(text.slice(0, -1).replace(/\n  /, ''), /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/, 'no control character but tab reaches the terminal');
    }),
    { numRuns: 500 },
  );
});
