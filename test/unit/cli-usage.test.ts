// The command line's help and usage errors, and where the deploy file is found: the key lines of
// each command's help (not the whole text), the pure wording of "which stage?" and of a role given
// as the stage, and the search for deploy.yml / deploy.yaml up the directory tree.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { CommanderError } from 'commander';
import { buildProgram, commanderUsage, unknownCommand } from '../../src/cli/main.js';
import { roleGivenAsStage, whichStage, type StageRoles } from '../../src/cli/stages.js';
import { runWords } from '../../src/cli/commands.js';
import { deployfile, deployfileFromEnv, findDeployfile } from '../../src/cli/deployfile.js';
import { UsageError } from '../../src/errors.js';

const program = buildProgram();
const help = (name: string) => program.commands.find((c) => c.name() === name)!.helpInformation() + helpAfter(name);
/** the text addHelpText('after') adds, which helpInformation() leaves out */
function helpAfter(name: string): string {
  const cmd = program.commands.find((c) => c.name() === name)!;
  let text = '';
  cmd.configureOutput({ writeOut: (s) => void (text += s), writeErr: (s) => void (text += s) });
  cmd.outputHelp();
  return text;
}

test('every command’s help: every argument described, the global options, and 1-3 examples', () => {
  for (const cmd of program.commands) {
    const text = helpAfter(cmd.name());
    for (const a of cmd.registeredArguments) assert.ok(a.description, `fap ${cmd.name()}: argument ${a.name()} has a description`);
    assert.match(text, /^Global Options:$/m, `fap ${cmd.name()} --help shows the global options`);
    for (const flag of ['-f, --deployfile <path>', '--set <key=value>', '--hosts <list>', '--dry-run', '--json', '-v, --verbose', '-s, --stage <stage>', '-r, --role <role>']) {
      assert.ok(text.includes(`  ${flag} `), `fap ${cmd.name()} --help lists ${flag}`);
    }
    const examples = /^Examples:\n((?: {2}fap .*\n?)+)/m.exec(text);
    assert.ok(examples, `fap ${cmd.name()} --help has examples`);
    const lines = examples[1].trimEnd().split('\n');
    assert.ok(lines.length >= 1 && lines.length <= 3, `fap ${cmd.name()}: ${lines.length} examples`);
    for (const l of lines) assert.match(l, new RegExp(`^ {2}fap (-f \\S+ |--json )?${cmd.name()}\\b`), 'an example of this command');
  }
});

test('fap run --help describes stage, role and the command', () => {
  const text = help('run');
  assert.match(text, /^Usage: fap run \[-i\] <stage> <role> -- <command\.\.\.> {3}\(or -s <stage> -r <role> -- <command\.\.\.>\)$/m);
  assert.match(text, /^ {2}stage +a stage of the deploy file \(production\)/m);
  assert.match(text, /^ {2}role +the role whose hosts run it \(web\)/m);
  assert.match(text, /^ {2}command +the command and its arguments, after --/m);
  assert.match(text, /^ {2}fap run production web -- python manage\.py migrate/m);
});

test('fap --help: -s/-r shown, the exit codes and how to get a command’s help', () => {
  let text = '';
  const p = buildProgram();
  p.configureOutput({ writeOut: (s) => void (text += s) });
  p.outputHelp();
  assert.match(text, /^ {2}-s, --stage <stage> /m);
  assert.match(text, /^ {2}-r, --role <role> /m);
  assert.match(text, /^ {2}help \[command\] /m, 'fap help COMMAND');
  assert.match(text, /fap COMMAND --help/);
  assert.match(text, /Exit codes: 0 done, 1 failed, 2 usage or\nconfiguration error, 3 locked by another run, 130 interrupted, 141 output closed\./);
});

/** fap run's stage, role and command as its action gets them, from a command line (no deploy file read) */
function runParsed(args: string[]): { stage?: string; role?: string; words: string[] } | { error: string } {
  const p = buildProgram();
  let got: { stage?: string; role?: string; words: string[] } | { error: string } | undefined;
  p.commands.find((c) => c.name() === 'run')!.action((_s, _r, _w, _o, cmd: import('commander').Command) => {
    try {
      const w = runWords(cmd);
      const g = cmd.optsWithGlobals() as { stage?: string; role?: string };
      got = { stage: w.stage ?? g.stage, role: w.role ?? g.role, words: w.words };
    } catch (e) {
      got = { error: (e as Error).message };
    }
  });
  p.parse(['node', 'fap', ...args]);
  return got!;
}

test('fap run: stage and role positional or as -s/-r (before or after the command name), the command after -- taken whole, never as a missing stage or role (generative)', () => {
  const word = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
  // a command's words: anything, options, another --, words that look like stages and roles
  const commandWord = fc.oneof(fc.string(), fc.constantFrom('--', '-s', '-r', '-i', '--hosts', '-x', 'production', 'web', 'hostname'));
  fc.assert(
    fc.property(
      fc.option(word, { nil: undefined }),
      fc.option(word, { nil: undefined }),
      fc.constantFrom('positional', 'flag-before', 'flag-after', 'long-after'),
      fc.constantFrom('positional', 'flag-before', 'flag-after', 'long-after'),
      fc.boolean(),
      fc.array(commandWord, { minLength: 1, maxLength: 5 }),
      (stage, role, stageHow, roleHow, tty, command) => {
        // a positional role needs its stage positional before it (with -s, select() decides what it is)
        fc.pre(!(roleHow === 'positional' && role !== undefined && !(stageHow === 'positional' && stage !== undefined)));
        const before: string[] = [];
        const after: string[] = tty ? ['-i'] : [];
        const give = (how: string, short: string, long: string, v: string | undefined) => {
          if (v === undefined) return;
          if (how === 'positional') after.push(v);
          else if (how === 'flag-before') before.push(short, v);
          else if (how === 'flag-after') after.push(short, v);
          else after.push(`${long}=${v}`);
        };
        give(stageHow, '-s', '--stage', stage);
        give(roleHow, '-r', '--role', role);
        const got = runParsed([...before, 'run', ...after, '--', ...command]);
        assert.deepEqual(got, { stage, role, words: command });
      },
    ),
    { numRuns: 300 },
  );
  // without --, the third word on is the command (as before); more than two words before -- are refused
  assert.deepEqual(runParsed(['run', 'production', 'web', 'hostname', 'x']), { stage: 'production', role: 'web', words: ['hostname', 'x'] });
  assert.match((runParsed(['run', 'production', 'web', 'extra', '--', 'hostname']) as { error: string }).error, /^fap run takes a stage and a role before --, and got 3 words: production web extra$/);
});

test('commander’s errors in fap’s words: the message without "error:", and the usage or a did-you-mean as the hint', () => {
  const missing = commanderUsage(program, 'run', new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'role'"));
  assert.ok(missing instanceof UsageError);
  assert.equal(missing.message, "missing required argument 'role'");
  assert.equal(missing.hint, 'usage: fap run [-i] <stage> <role> -- <command...>   (or -s <stage> -r <role> -- <command...>) (fap run --help)');
  const option = commanderUsage(program, 'fap', new CommanderError(1, 'commander.unknownOption', "error: unknown option '--dry'"));
  assert.equal(option?.hint, 'did you mean --dry-run? (fap --help lists the options)');
  assert.equal(commanderUsage(program, 'fap', new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')), undefined);
  const cmd = unknownCommand('rolback', program.commands.map((c) => c.name()));
  assert.equal(cmd.message, "unknown command 'rolback'");
  assert.equal(cmd.hint, 'did you mean fap rollback? (fap --help lists the commands)');
  assert.match(unknownCommand('zz', ['deploy', 'release']).hint!, /^commands: deploy, release \(fap --help\)$/);
});

test('no stage given: the stages of the file with their roles, and an example', () => {
  const byStage: StageRoles = [
    ['production', ['web', 'worker']],
    ['staging', ['web']],
    ['qa', []],
  ];
  assert.deepEqual(whichStage('deploy', '/app/deploy.yml', byStage), {
    message: 'which stage? /app/deploy.yml has production (web, worker), staging (web), qa (no roles)',
    hint: 'fap deploy <stage> [role], as in fap deploy production or fap deploy production web',
  });
  assert.deepEqual(whichStage('releases', '/app/deploy.yml', undefined), { message: 'which stage?', hint: 'fap releases <stage> [role]' });
  assert.match(whichStage('deploy', '/app/deploy.yml', []).message, /has none/);
});

test('a role given as the stage: whose role it is and the command meant; a real stage or an unknown word is left alone', () => {
  const byStage: StageRoles = [
    ['production', ['web', 'worker']],
    ['staging', ['web']],
  ];
  assert.deepEqual(roleGivenAsStage('deploy', 'worker', byStage), { message: 'worker is a role of production, not a stage', hint: 'fap deploy production worker' });
  assert.deepEqual(roleGivenAsStage('rollback', 'web', byStage), { message: 'web is a role of production and staging, not a stage', hint: 'fap rollback production web or fap rollback staging web' });
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z]{1,8}$/), (word) => {
      const r = roleGivenAsStage('deploy', word, byStage);
      const isRole = byStage.some(([s, roles]) => s !== word && roles.includes(word));
      assert.equal(r !== undefined, isRole && !byStage.some(([s]) => s === word));
    }),
  );
});

test('the deploy file: deploy.yml, else deploy.yaml, here or in the nearest parent directory; none names every directory looked in', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'fap-find-')));
  const deep = join(root, 'a', 'b', 'c');
  mkdirSync(deep, { recursive: true });
  const searched = (r: ReturnType<typeof findDeployfile>) => ('searched' in r ? r.searched : undefined);
  const none = findDeployfile(deep, () => false);
  assert.deepEqual(searched(none)?.slice(0, 4), [deep, dirname(deep), join(root, 'a'), root]);
  assert.equal(searched(none)?.at(-1), '/', 'up to the root');
  writeFileSync(join(root, 'a', 'deploy.yaml'), 'x');
  assert.deepEqual(findDeployfile(deep), { file: join(root, 'a', 'deploy.yaml') });
  writeFileSync(join(root, 'a', 'deploy.yml'), 'x');
  assert.deepEqual(findDeployfile(deep), { file: join(root, 'a', 'deploy.yml'), also: join(root, 'a', 'deploy.yaml') }, 'deploy.yml first, the other named');
  writeFileSync(join(root, 'a', 'b', 'deploy.yaml'), 'x');
  assert.deepEqual(findDeployfile(deep), { file: join(root, 'a', 'b', 'deploy.yaml') }, 'the nearest directory wins');
  // -f, then the environment, then the search (a named file must be readable)
  for (const f of ['given.yml', 'env.yml', 'shop.yml']) writeFileSync(join(deep, f), 'x');
  assert.equal(deployfile('given.yml', { FAP_DEPLOYFILE: 'env.yml' }, deep), 'given.yml');
  assert.equal(deployfile(undefined, { FAP_DEPLOYFILE: 'env.yml' }, deep), 'env.yml');
  assert.equal(deployfile(undefined, { FAP_APP: 'SHOP', SHOP_DEPLOYFILE: 'shop.yml' }, deep), 'shop.yml');
  assert.equal(deployfileFromEnv({ FAP_APP: 'SHOP' }), undefined);
  assert.equal(deployfile(undefined, {}, deep), join(root, 'a', 'b', 'deploy.yaml'));
});

test('no deploy file anywhere up the tree: a usage error naming the directories, with what to do', () => {
  // a tree of its own under / would need root: the search is given a stand-in filesystem
  const start = '/srv/app/sub';
  const r = findDeployfile(start, () => false);
  assert.deepEqual(r, { searched: ['/srv/app/sub', '/srv/app', '/srv', '/'] });
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'fap-none-')));
  let error: unknown;
  try {
    // the temp dir's parents (/tmp, /) have no deploy.yml on a sane machine; skip if one does
    if ('file' in findDeployfile(dir)) return;
    deployfile(undefined, {}, dir);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof UsageError);
  const up: string[] = [];
  for (let d = dir; up.at(-1) !== '/'; d = dirname(d)) up.push(d);
  assert.equal(error.message, `no deploy.yml or deploy.yaml here or in a parent directory (looked in ${up.join(', ')})`);
  assert.equal(error.hint, 'run fap init to write one here, or pass -f PATH (or set FAP_DEPLOYFILE)');
  assert.equal(error.exitCode, 2);
});
