// Every configuration error of a deploy.yml (and of --set) is reported in one run, each with its
// own file:line:col and key path, in file order, then counted: not only the first (issue 15, 13).
// A generative test writes files with a random set of independent mistakes in random places and
// requires exactly those mistakes back, where they are written.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, ConfigErrors, MAX_CONFIG_ERRORS } from '../../src/errors.js';
import { buildPlan } from '../../src/release/plan.js';
import { parseDeployText } from '../../src/config/load.js';
import { errorText } from '../../src/cli/main.js';

function writeFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fap-errs-')), 'deploy.yml');
  writeFileSync(file, text);
  return file;
}

async function planErrors(text: string, o: { sets?: string[]; env?: NodeJS.ProcessEnv; command?: string } = {}): Promise<{ file: string; errors: readonly ConfigError[]; caught: ConfigError }> {
  const file = writeFile(text);
  try {
    await buildPlan({ deployfile: file, stage: 'production', sets: o.sets, env: o.env ?? {}, command: o.command ?? 'deploy', needsEnvironment: (o.command ?? 'deploy') === 'deploy' });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    return { file, errors: e instanceof ConfigErrors ? e.errors : [e], caught: e };
  }
  assert.fail('expected configuration errors');
}

const where = (e: ConfigError) => `${e.where?.file === undefined ? '' : e.where.file.replace(/.*\//, '')}:${e.where?.line ?? '-'}:${e.where?.col ?? '-'} ${e.where?.keyPath ?? ''}`;

describe('all configuration errors, in file order', () => {
  test('unknown keys, wrong types, bad values, unset ${VAR:?}, an unknown plugin and --set: every one, with its place', async () => {
    const text = [
      'app_name: shop', // 1
      'keep_relases: 3', // 2  unknown key
      'plugins: [git, no-such-plugin]', // 3  unknown plugin (item 1)
      'repo: /srv/git/shop.git', // 4
      'branch: true', // 5  a boolean where text is meant
      'environment:', // 6
      '  SECRET_KEY: ${FAP_T_SECRET:?set FAP_T_SECRET}', // 7  unset
      '  API_TOKEN: ${FAP_T_TOKEN:?set FAP_T_TOKEN}', // 8  unset
      'stage_role_configs:', // 9
      '  production:', // 10
      '    web:', // 11
      '      hosts: [web1, "bad host"]', // 12 a bad host
      '      keep_releases: 0', // 13 below min
      '    worker:', // 14
      '      hosts: [job1]', // 15
      '      health_check_timeout: soon', // 16 not a number
      '',
    ].join('\n');
    const { errors, caught } = await planErrors(text, { sets: ['shared_writable=maybe'] });
    assert.deepEqual(errors.map(where), [
      'deploy.yml:2:1 keep_relases',
      'deploy.yml:3:16 plugins[1]',
      'deploy.yml:5:1 branch',
      'deploy.yml:7:3 environment.SECRET_KEY',
      'deploy.yml:8:3 environment.API_TOKEN',
      'deploy.yml:12:21 stage_role_configs.production.web.hosts[1]',
      'deploy.yml:13:7 stage_role_configs.production.web.keep_releases',
      'deploy.yml:16:7 stage_role_configs.production.worker.health_check_timeout',
      '--set:-:- shared_writable',
    ]);
    assert.match(errors[2].detail, /expected a string, got a boolean; quote it for the text: "true"$/);
    // printed: one line each, then the count
    const lines = errorText(caught).trimEnd().split('\n');
    assert.equal(lines.length, errors.length + 1);
    assert.ok(lines.slice(0, -1).every((l, i) => l === `fap: ${errors[i].message}`), lines.join('\n'));
    assert.equal(lines.at(-1), `fap: ${errors.length} configuration errors`);
  });

  test('one error prints as before: one line, no count', async () => {
    const { caught } = await planErrors('app_name: shop\nkeep_relases: 3\nstage_role_configs:\n  production:\n    web:\n      hosts: [web1]\n');
    assert.ok(!(caught instanceof ConfigErrors));
    assert.match(errorText(caught), /^fap: \S+deploy\.yml:2:1: keep_relases: unknown key "keep_relases" \(did you mean "keep_releases"\?\)\n$/);
  });

  test('a top-level mistake every role inherits is reported once', async () => {
    const { errors } = await planErrors('app_name: shop\nkeep_releases: none\nstage_role_configs:\n  production:\n    web: {hosts: [a]}\n    worker: {hosts: [b]}\n    cron: {hosts: [c]}\n');
    assert.deepEqual(errors.map(where), ['deploy.yml:2:1 keep_releases']);
  });

  test('an interpolation cycle is one error, not one per key on it', async () => {
    const { errors } = await planErrors('app_name: "%(a)s"\na: "%(b)s"\nb: "%(app_name)s"\nstage_role_configs:\n  production:\n    web: {hosts: [a]}\n');
    assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
    assert.match(errors[0].message, /interpolation cycle/);
  });

  test('YAML: every unknown alias is named', () => {
    let caught: unknown;
    try {
      parseDeployText('app_name: *nope\nrepo: *missing\nstage_role_configs: {}\n', 'deploy.yml');
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof ConfigErrors, String(caught));
    assert.deepEqual(caught.errors.map(where), ['deploy.yml:1:11 app_name', 'deploy.yml:2:7 repo']);
  });

  test(`more than ${MAX_CONFIG_ERRORS}: the first ${MAX_CONFIG_ERRORS} printed, the rest counted`, async () => {
    const bad = Array.from({ length: MAX_CONFIG_ERRORS + 5 }, (_, i) => `      - {host: h${i}, port: nope}`);
    const { caught } = await planErrors(['app_name: shop', 'stage_role_configs:', '  production:', '    web:', '      hosts:', ...bad, ''].join('\n'));
    const lines = errorText(caught).trimEnd().split('\n');
    assert.equal(lines.length, MAX_CONFIG_ERRORS + 2);
    assert.equal(lines.at(-2), 'fap: ... and 5 more');
    assert.equal(lines.at(-1), `fap: ${MAX_CONFIG_ERRORS + 5} configuration errors`);
  });

  // Mistakes that do not depend on one another, each on a line of its own in a role of its own:
  // whichever are written, in whatever roles, exactly those come back, in line order.
  const MISTAKES: { line: (role: string) => string; key: string; message: RegExp }[] = [
    { line: () => 'keep_releases: 0', key: 'keep_releases', message: /must be at least 1/ },
    { line: () => 'keep_relases: 2', key: 'keep_relases', message: /unknown key "keep_relases"/ },
    { line: () => 'health_check_interval: often', key: 'health_check_interval', message: /expected a whole number/ },
    { line: () => 'shared_writable: maybe', key: 'shared_writable', message: /expected true or false/ },
    { line: () => 'environment_format: yaml', key: 'environment_format', message: /is not one of plain, export/ },
    { line: () => 'linked_dirs: [logs, false]', key: 'linked_dirs[1]', message: /quote it for the text: "false"/ },
    { line: () => 'lock_wait: true', key: 'lock_wait', message: /expected a string, got a boolean; quote it/ },
    { line: () => 'requires: {git: "not a range"}', key: 'requires.git', message: /is not a semver range/ },
  ];
  test('generative: any set of independent mistakes in any roles is reported whole, in file order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: MISTAKES.length - 1 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 10 }), async (picks) => {
        // one mistake per (role, kind): a key set twice in one map would be a duplicate key
        const unique = [...new Map(picks.map(([m, r]) => [`${m}/${r}`, [m, r] as const])).values()];
        const roles = ['web', 'worker', 'cron'];
        const text = ['app_name: shop', 'stage_role_configs:', '  production:'];
        const expected: string[] = [];
        for (const [ri, role] of roles.entries()) {
          text.push(`    ${role}:`, `      hosts: [h${ri}]`);
          for (const [m] of unique.filter(([, r]) => r === ri)) {
            text.push(`      ${MISTAKES[m].line(role)}`);
            expected.push(`${text.length} stage_role_configs.production.${role}.${MISTAKES[m].key}`);
          }
        }
        const { errors } = await planErrors(text.join('\n') + '\n', { command: 'config' });
        assert.deepEqual(
          errors.map((e) => `${e.where?.line} ${e.where?.keyPath}`),
          expected,
          errors.map((e) => e.message).join('\n'),
        );
        for (const e of errors) {
          const m = MISTAKES.find((x) => e.where?.keyPath?.endsWith('.' + x.key))!;
          assert.match(e.detail, m.message);
        }
      }),
      { numRuns: 60 },
    );
  });
});
