// The command line's Fapistrano spellings (src/cli/argv.ts): -d PATH, and --some-key=VALUE for any
// configuration key, rewritten into --set before commander parses. Checked against the real program:
// what commander then parses is exactly what the explicit --set would give.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { argvSpec, keyOf, keyOptionCandidates, rewriteArgv } from '../../src/cli/argv.js';
import { knownKeyNames } from '../../src/cli/keys.js';
import { announceStages, stagesForRole } from '../../src/cli/stages.js';

const program = buildProgram();
const spec = argvSpec(program);
const KEYS = await knownKeyNames('/nonexistent/deploy.yml');
const dash = (k: string) => k.replace(/_/g, '-');
// commands whose options fap defines; --help / -h excluded (commander would print help)
const COMMANDS = [...spec.commands.keys()];
const fapFlag = (command: string, flag: string) => spec.global.has(flag) || spec.commands.get(command)!.has(flag);
const isFapOptionName = (command: string, key: string) => fapFlag(command, `--${dash(key)}`) || fapFlag(command, `--${key}`);

/** A word that is not an option: a stage, a role, a path. */
const positional = fc.stringMatching(/^[a-z0-9][a-z0-9._/-]{0,12}$/);
/** Any value at all, including ones that look like options. */
const anyValue = fc.oneof(fc.string(), fc.constantFrom('--keep-releases=2', '-d', '--', '-k -L', '--hosts', 'a=b', ''));

/** fap's own options (the program's; and `command`'s when given) with arbitrary values (never rewritten). */
function fapOptions(command?: string): fc.Arbitrary<string[]> {
  const flags = [...spec.global, ...(command ? spec.commands.get(command)! : [])].filter(([f]) => f !== '--help' && f !== '-h' && f !== '--version');
  return fc.array(
    fc.tuple(fc.constantFrom(...flags), anyValue, fc.boolean()).map(([[flag, takes], v, inline]) => (!takes ? [flag] : inline && flag.startsWith('--') ? [`${flag}=${v}`] : [flag, v])),
    { maxLength: 4 },
  ).map((groups) => groups.flat());
}

/** The key arguments: real keys (core, every bundled plugin's, aliases) and any other name the deploy file may set. */
const keyName = fc.oneof(fc.constantFrom(...KEYS), fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/));

/** Parse with the real program, actions replaced: the options commander ends up with, and the positionals. */
function parsed(args: string[]): { set: string[]; args: string[]; deployfile: string } {
  const p = buildProgram();
  let seen: { set: string[]; args: string[]; deployfile: string } | undefined;
  for (const c of p.commands) {
    c.action((...a: unknown[]) => {
      const cmd = a[a.length - 1] as Command;
      const g = cmd.optsWithGlobals() as { set: string[]; deployfile: string };
      seen = { set: g.set, args: cmd.args, deployfile: g.deployfile };
    });
  }
  p.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  p.parse(['node', 'fap', ...args]);
  return seen!;
}

test('--key=VALUE, --key VALUE and --key_with_underscores=VALUE all become the same --set KEY=VALUE, anywhere after the command', () => {
  // fapistrano-0.9.5 cli.py:91-99 _apply_plugin_options: every env key is an option --key-with-dashes
  fc.assert(
    fc.property(fc.constantFrom(...COMMANDS), keyName, anyValue, fc.array(positional, { maxLength: 2 }), fc.array(positional, { maxLength: 2 }), (command, key, value, before, after) => {
      fc.pre(!isFapOptionName(command, key) && value !== '--');
      const keys = new Set([...KEYS, key]);
      const explicit = [command, ...before, '--set', `${key}=${value}`, ...after];
      for (const form of [[`--${dash(key)}=${value}`], [`--${dash(key)}`, value], [`--${key}=${value}`]]) {
        const r = rewriteArgv([command, ...before, ...form, ...after], spec, keys);
        assert.equal(r.error, undefined, JSON.stringify(form));
        assert.deepEqual(r.args, explicit, JSON.stringify(form));
      }
      assert.deepEqual(rewriteArgv(explicit, spec, keys).args, explicit, 'an explicit --set is left alone');
    }),
    { numRuns: 400 },
  );
});

test('fap’s own options, and everything after --, are never rewritten, whatever their values', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...COMMANDS).chain((c) => fc.tuple(fc.constant(c), fapOptions(), fapOptions(c), fc.array(positional, { maxLength: 2 }), fc.array(anyValue, { maxLength: 4 }))),
      ([command, pre, post, words, rest]) => {
        const args = [...pre, command, ...words, ...post, '--', ...rest];
        const r = rewriteArgv(args, spec, KEYS);
        assert.equal(r.error, undefined);
        assert.deepEqual(r.args, args);
      },
    ),
    { numRuns: 400 },
  );
});

test('what commander parses from the rewrite is the --set it stands for, with the positionals in place', () => {
  fc.assert(
    fc.property(fc.constantFrom('deploy', 'release', 'rollback', 'restart', 'config', 'cleanup'), fc.constantFrom(...KEYS), fc.string(), (command, key, value) => {
      fc.pre(!isFapOptionName(command, key));
      const r = rewriteArgv([command, 'production', `--${dash(key)}`, value, 'web', '--set', 'a=b'], spec, KEYS);
      const got = parsed(r.args);
      assert.deepEqual(got.set, [`${key}=${value}`, 'a=b']);
      assert.deepEqual(got.args.slice(0, 2), ['production', 'web']);
    }),
    { numRuns: 150 },
  );
  // fap's own option wins over a key of the same name: --hosts is fap's, hosts is also a key
  const hosts = parsed(rewriteArgv(['deploy', 'production', '--hosts=web1', '--keep-releases=2'], spec, KEYS).args);
  assert.deepEqual(hosts.set, ['keep_releases=2']);
});

test('-d PATH is --deployfile PATH (Fapistrano’s spelling), before or after the command, -dPATH too', () => {
  // fapistrano-0.9.5 cli.py:15 @click.option('-d', '--deployfile', default='./deploy.yml')
  fc.assert(
    fc.property(positional, fc.constantFrom(0, 1, 2), fc.boolean(), (path, at, attached) => {
      const d = attached ? [`-d${path}`] : ['-d', path];
      const words = ['deploy', 'production'];
      const args = [...words.slice(0, at), ...d, ...words.slice(at)];
      const r = rewriteArgv(args, spec, KEYS);
      assert.equal(r.deployfile, path);
      assert.equal(keyOptionCandidates(args, spec).deployfile, path);
      assert.equal(parsed(r.args).deployfile, path);
    }),
    { numRuns: 100 },
  );
  assert.equal(keyOptionCandidates(['deploy', '--keep-releases=2', '-f', 'x.yml'], spec).deployfile, 'x.yml', 'found after a key option too');
});

test('an option that is neither fap’s nor a key is a usage error with the nearest option or key', () => {
  const misspelt = rewriteArgv(['deploy', 'production', '--keep-relases=2'], spec, KEYS);
  assert.equal(misspelt.error?.code, 'commander.unknownOption');
  assert.equal(misspelt.error!.message, "unknown option '--keep-relases'");
  assert.equal(misspelt.error!.hint, 'did you mean --keep-releases?');
  const opt = rewriteArgv(['deploy', 'production', '--bacth', '3'], spec, KEYS);
  assert.equal(opt.error!.hint, 'did you mean --batch?');
  const prefix = rewriteArgv(['deploy', 'production', '--lock', '3m'], spec, KEYS);
  assert.equal(prefix.error!.hint, 'did you mean --lock-wait?', 'a unique prefix is suggested, never taken');
  const none = rewriteArgv(['deploy', '--zzzzzzzzzz'], spec, KEYS);
  assert.equal(none.error?.message, "unknown option '--zzzzzzzzzz'");
  assert.equal(none.error?.hint, undefined);
  const missing = rewriteArgv(['deploy', 'production', '--keep-releases'], spec, KEYS);
  assert.equal(missing.error?.code, 'commander.optionMissingArgument');
  assert.deepEqual(keyOptionCandidates(['deploy', 'p', '--hosts', 'h', '--x-y=1', '--', '--z'], spec).names, ['x-y']);
});

test('keyOf: dashes become underscores in the key, a dotted sub-key is kept as written', () => {
  assert.equal(keyOf('keep-releases'), 'keep_releases');
  assert.equal(keyOf('keep_releases'), 'keep_releases');
  assert.equal(keyOf('environment.MY-VAR'), 'environment.MY-VAR');
  assert.equal(keyOf('ssh.identity_file'), 'ssh.identity_file');
});

test('a role without a stage: the stages that have it, in file order; an unknown role lists each stage’s roles', () => {
  // fapistrano-0.9.5 cli.py:139-153: roles -> the stages that define them; 'Role not found.' otherwise
  const byStage: [string, string[]][] = [
    ['production', ['web', 'worker']],
    ['staging', ['web']],
    ['qa', []],
  ];
  assert.deepEqual(stagesForRole(byStage, 'web'), { stages: ['production', 'staging'] });
  assert.deepEqual(stagesForRole(byStage, 'worker'), { stages: ['production'] });
  const unknown = stagesForRole(byStage, 'wbe');
  assert.ok('error' in unknown);
  assert.equal(unknown.error, 'unknown role "wbe" (did you mean "web"?); roles per stage: production: web, worker; staging: web; qa: (none)');
  assert.equal(announceStages('web', ['production', 'staging']), 'web is in stages production, staging: running each in turn');
  fc.assert(
    fc.property(fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.uniqueArray(fc.stringMatching(/^[a-z]{1,4}$/), { maxLength: 4 })), fc.stringMatching(/^[a-z]{1,4}$/), (stages, role) => {
      const entries = Object.entries(stages);
      const r = stagesForRole(entries, role);
      const expected = entries.filter(([, roles]) => roles.includes(role)).map(([s]) => s);
      if (expected.length) assert.deepEqual(r, { stages: expected });
      else assert.ok('error' in r && r.error.includes(`unknown role "${role}"`));
    }),
  );
});
