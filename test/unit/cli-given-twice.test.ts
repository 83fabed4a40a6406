// What the command line gives once: -s and -r repeated with two values are a usage error naming
// both (the last silently won), the same value twice is fine; and fap once / fap shell never take
// the words after `--` for the stage or role (fap once's command is -c): a usage error that says
// how to write it, for fap once and for fap run (both found by the attack pass).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildProgram, main } from '../../src/cli/main.js';
import { UsageError } from '../../src/errors.js';
import { shellWords } from '../../plugins/shell-words.js';

const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);

/** the option given VALUE in each spelling commander takes: -s V, -sV, --stage V, --stage=V */
const spelling = fc.constantFrom(0, 1, 2, 3);
const spelt = (how: number, short: string, long: string, v: string): string[] => [[short, v], [`${short}${v}`], [long, v], [`${long}=${v}`]][how];

/** main()'s exit code and what it wrote on stderr */
async function fap(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'fap', ...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

test('-s/-r given twice: two values are a usage error naming both, before or after the command name, in any spelling; the same value twice is that value', async () => {
  const commands = buildProgram().commands.map((c) => c.name()).filter((c) => c !== 'init');
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...commands),
      fc.constantFrom(['-s', '--stage', 'stage'] as const, ['-r', '--role', 'role'] as const),
      name,
      name,
      spelling,
      spelling,
      fc.boolean(),
      async (command, [short, long, what], v1, v2, first, second, firstBefore) => {
        const program = buildProgram();
        let ran: Record<string, unknown> | undefined;
        for (const c of program.commands) c.action((...a: unknown[]) => void (ran = (a[a.length - 1] as typeof c).optsWithGlobals()));
        program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
        const sp = (how: number, v: string) => spelt(how, short, long, v);
        const args = [...(firstBefore ? sp(first, v1) : []), command, ...(firstBefore ? [] : sp(first, v1)), ...sp(second, v2), ...(command === 'run' ? ['--', 'true'] : [])];
        const parsing = program.parseAsync(['node', 'fap', ...args]);
        if (v1 === v2) {
          await parsing;
          assert.equal(ran?.[what], v1, args.join(' '));
          return;
        }
        await assert.rejects(parsing, (e) => {
          assert.ok(e instanceof UsageError && e.exitCode === 2, String(e));
          assert.equal(e.message, `the ${what} is given twice: ${short} ${v1} and ${short} ${v2}`);
          assert.ok(e.hint?.startsWith(`give ${short} once`), e.hint);
          return true;
        });
        assert.equal(ran, undefined, 'no command ran');
      },
    ),
    { numRuns: 200 },
  );
});

// words a command line may hold (no control characters: those are shown escaped)
const word = fc.stringMatching(/^[ -~]{1,12}$/).filter((w) => w !== '--');

test('fap once/shell: words after -- are never the stage or role: a usage error saying fap once takes -c and fap run takes the words after --, both lines runnable', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('once', 'shell'),
      fc.constantFrom('options', 'positionals', 'none'),
      fc.option(word, { nil: undefined }),
      fc.array(word, { minLength: 1, maxLength: 4 }),
      async (command, how, c, after) => {
        const selection = how === 'options' ? ['-s', 'production', '-r', 'web'] : how === 'positionals' ? ['production', 'web'] : [];
        const before = [command, ...selection, ...(c !== undefined && command === 'once' ? ['-c', c] : [])];
        const { code, stderr } = await fap(['-f', '/nonexistent/deploy.yml', ...before, '--', ...after]);
        assert.equal(code, 2, stderr);
        const [first, hint, ...more] = stderr.split('\n');
        assert.deepEqual(more, ['']);
        assert.doesNotMatch(stderr, /given twice|nonexistent.*(cannot|no such)/i);
        const said = `fap: fap ${command} ${command === 'once' ? 'takes its command with -c, not after --' : 'takes no command, and got one after --'}: `;
        assert.ok(first.startsWith(said), first);
        assert.deepEqual(shellWords(first.slice(said.length)), after, 'the words, quoted as a shell reads them');
        // the hint's two lines, read as a shell reads them: -c gets the words, fap run gets them after --
        const m = command === 'once' ? /^ {2}(fap .*) \(fap run takes it after --: (fap .*)\)$/.exec(hint) : /^ {2}for one command: (fap .*) or (fap -f \S+ run .*)$/.exec(hint);
        assert.ok(m, hint);
        const once = shellWords(m[1]);
        const run = shellWords(m[2]);
        assert.deepEqual(once.slice(0, -1), ['fap', '-f', '/nonexistent/deploy.yml', 'once', ...selection, '-c']);
        // -c's line, run by sh -c, gives the command exactly the words typed after -- (joined bare,
        // 'rm -rf /srv/my app/tmp' would name two paths: found by the attack pass)
        assert.deepEqual(shellWords(once[once.length - 1]), after);
        assert.deepEqual(run, ['fap', '-f', '/nonexistent/deploy.yml', 'run', ...selection, '--', ...after]);
      },
    ),
    { numRuns: 150 },
  );
});

test('fap once with -c and nothing after --, and fap run with its command after --, are not refused for it', async () => {
  for (const args of [
    ['once', '-s', 'production', '-r', 'web', '-c', 'hostname'],
    ['once', '-s', 'production', '-r', 'web', '-c', 'hostname', '--'],
    ['run', '-s', 'production', '-r', 'web', '--', 'hostname'],
    ['run', 'production', 'web', '--', 'hostname'],
  ]) {
    const { stderr } = await fap(['-f', '/nonexistent/deploy.yml', ...args]);
    assert.doesNotMatch(stderr, /takes its command with -c|takes no command|given twice/, args.join(' '));
    assert.match(stderr, /nonexistent/, args.join(' '));
  }
});
