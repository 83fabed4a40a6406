// What a command line selects: --hosts only ever narrows (an empty list is a usage error, never
// every host), and -s/-r are never ignored beside positional arguments: the positionals fill only
// what the options do not give, and one that says otherwise is a usage error naming both.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { hostList } from '../../src/cli/argv.js';
import { selection, type StageRoles } from '../../src/cli/stages.js';
import { buildProgram } from '../../src/cli/main.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { buildPlan } from '../../src/release/plan.js';
import { planInput } from '../../src/cli/actions.js';

const blank = fc.stringMatching(/^[ ,\t]*$/);
const name = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,10}$/);

test('--hosts: a value with no name in it is a usage error (exit 2); any other value is its names, trimmed, never empty', () => {
  fc.assert(
    fc.property(blank, (value) => {
      assert.throws(() => hostList(value), (e) => e instanceof UsageError && e.exitCode === 2 && /^--hosts (is empty|names no host)/.test(e.message));
    }),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(blank, name, blank), { minLength: 1, maxLength: 5 }), (parts) => {
      const value = parts.map(([a, n, b]) => `${a}${n}${b}`).join(',');
      assert.deepEqual(hostList(value), parts.map(([, n]) => n));
    }),
  );
});

test('--hosts is parsed by the option itself: every command refuses an empty list before it runs', async () => {
  for (const cmd of buildProgram().commands) {
    for (const value of ['', ' ', ',', ' , ']) {
      const program = buildProgram();
      for (const c of program.commands) c.action(() => assert.fail(`fap ${c.name()} ran with --hosts "${value}"`));
      program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
      const args = cmd.name() === 'run' ? ['production', 'web', '--', 'true'] : [];
      await assert.rejects(program.parseAsync(['node', 'fap', cmd.name(), '--hosts', value, ...args]), (e) => e instanceof UsageError && e.exitCode === 2, `fap ${cmd.name()} --hosts "${value}"`);
    }
  }
});

test('the plan: a hosts list, even an empty one, only narrows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-sel-'));
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, 'app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [a1, a2]\n    worker:\n      hosts: [a3]\n');
  const hosts = async (list?: string[]) => (await buildPlan(planInput('config', { deployfile: file, stage: 'production', hosts: list }))).targets.map((t) => t.host.name);
  assert.deepEqual(await hosts(undefined), ['a1', 'a2', 'a3']);
  assert.deepEqual(await hosts(['a2']), ['a2']);
  await assert.rejects(hosts([]), (e) => e instanceof ConfigError && /no hosts selected/.test(e.message));
});

const byStage: StageRoles = [
  ['production', ['web', 'worker']],
  ['staging', ['web', 'db']],
  ['qa', []],
];
const stages = byStage.map(([s]) => s);
const roleOf = (stage: string, role: string) => byStage.some(([s, roles]) => s === stage && roles.includes(role));
const word: fc.Arbitrary<string> = fc.constantFrom('production', 'staging', 'qa', 'web', 'worker', 'db', 'nosuch');

test('-s/-r and positionals, every combination: options are never ignored, nor any positional; a contradiction names both', () => {
  fc.assert(
    fc.property(fc.option(word, { nil: undefined }), fc.option(word, { nil: undefined }), fc.array(word, { maxLength: 2 }), fc.boolean(), (s, r, positionals, fileLoads) => {
      const known = fileLoads ? byStage : undefined;
      let got: { stage?: string; role?: string };
      try {
        got = selection('deploy', { stage: s, role: r }, positionals, known);
      } catch (e) {
        assert.ok(e instanceof UsageError && e.exitCode === 2, String(e));
        assert.ok(s !== undefined || r !== undefined, 'without -s/-r the positionals are taken as they are');
        // names the option's value and the word that says otherwise
        const m = /^the (stage|role) is given twice: (-s|-r) (\S+) and (\S+)$/.exec(e.message);
        assert.ok(m, e.message);
        assert.equal(m[3], m[2] === '-s' ? s : r);
        assert.ok(positionals.includes(m[4]) && m[4] !== m[3]);
        return;
      }
      // never ignored: what -s/-r give is what runs
      if (s !== undefined) assert.equal(got.stage, s);
      if (r !== undefined) assert.equal(got.role, r);
      // nor is a positional dropped: each is the stage or the role selected
      for (const p of positionals) assert.ok(p === got.stage || p === got.role, `${p} is used: ${JSON.stringify(got)}`);
      if (s === undefined && r === undefined) assert.deepEqual(got, { stage: positionals[0], role: positionals[1] });
      // with -s alone, one positional that is a role of that stage is the role
      if (s !== undefined && r === undefined && positionals.length === 1 && roleOf(s, positionals[0])) assert.equal(got.role, positionals[0]);
      // a lone positional beside -s that is another stage (when the file tells) is never taken as a role
      if (fileLoads && s !== undefined && positionals.length === 1 && got.role !== undefined && r === undefined) assert.ok(!stages.includes(got.role) || roleOf(s, got.role), JSON.stringify(got));
    }),
    { numRuns: 2000 },
  );
});

test('-s/-r beside positionals: the tester’s cases', () => {
  const sel = (s: string | undefined, r: string | undefined, ...p: string[]) => selection('deploy', { stage: s, role: r }, p, byStage);
  assert.deepEqual(sel('production', undefined, 'web'), { stage: 'production', role: 'web' }, 'fap deploy -s production web');
  assert.throws(() => sel('production', undefined, 'staging'), { message: 'the stage is given twice: -s production and staging' });
  assert.throws(() => sel('staging', undefined, 'production'), { message: 'the stage is given twice: -s staging and production', hint: 'give it once: fap deploy staging [role] or fap deploy production [role]' } as object);
  assert.throws(() => sel(undefined, 'worker', 'production', 'web'), { message: 'the role is given twice: -r worker and web', hint: 'give it once: fap deploy production worker or fap deploy production web' } as object);
  assert.deepEqual(sel(undefined, 'web', 'staging'), { stage: 'staging', role: 'web' });
  assert.deepEqual(sel('production', 'web', 'production', 'web'), { stage: 'production', role: 'web' }, 'repeating them is no contradiction');
});
