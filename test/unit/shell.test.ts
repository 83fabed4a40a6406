// Unit tests for src/remote/shell.ts: quoting checked by real shells, script composition run for real.
// The marks (::fap-out:: and the others) are written out literally: they are the protocol with the host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  cmd,
  composeScript,
  emitOutput,
  parseFailedStep,
  parseOutputs,
  quote,
  sessionCommand,
} from '../../src/remote/shell.js';

const TRICKY: string[] = [
  '',
  ' ',
  'plain',
  'with space',
  '  leading and trailing  ',
  "it's",
  "''",
  "'",
  '"double"',
  '"',
  'a\'b"c',
  '$(echo pwned)',
  '`echo pwned`',
  '${HOME}',
  '$HOME',
  '$$',
  'line1\nline2',
  '\n',
  'trailing newline\n',
  'tab\there',
  'back\\slash',
  '\\',
  '\\n',
  '\\\'',
  'ünïcødé ✓ 日本語 🚀',
  '-n',
  '-e',
  '--help',
  '-',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  'a;b',
  'a&&b',
  'a|b',
  'a>b',
  '<',
  '(x)',
  '{a,b}',
  '#comment',
  'a #b',
  '!',
  '!!',
  'x=y',
  '%s%d%%',
  'a\rb',
  "'\"'\"'",
  "end'",
  "'start",
  '\u0001\u001f\u007f',
];

const SHELLS = ['/bin/sh', '/bin/bash', '/usr/bin/bash', '/bin/dash', '/usr/bin/dash', '/bin/zsh', '/usr/bin/zsh'].filter((s) => existsSync(s));
// one entry per real shell (e.g. /bin/sh may be dash)
const shells = [...new Set(SHELLS)];

function sh(shell: string, script: string) {
  return spawnSync(shell, ['-c', script], { encoding: 'utf8' });
}

describe('quote', () => {
  test('there is at least /bin/sh to check against', () => {
    assert.ok(shells.includes('/bin/sh'));
  });

  for (const shell of shells) {
    test(`round-trips tricky words through ${shell} printf %s`, () => {
      for (const s of TRICKY) {
        const r = sh(shell, 'printf %s ' + quote(s));
        assert.equal(r.status, 0, `${shell} failed for ${JSON.stringify(s)}: ${r.stderr}`);
        assert.equal(r.stdout, s, `${shell} changed ${JSON.stringify(s)} (quoted as ${quote(s)})`);
      }
    });

    test(`keeps several words separate in ${shell}`, () => {
      const r = sh(shell, `printf '<%s>' ${cmd(...TRICKY)}`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, TRICKY.map((s) => `<${s}>`).join(''));
    });
  }

  test('empty string becomes a real empty argument', () => {
    assert.equal(quote(''), "''");
    const r = sh('/bin/sh', `set -- ${quote('')}; printf %s "$#"`);
    assert.equal(r.stdout, '1');
  });

  test('safe words are left bare, numbers are stringified', () => {
    assert.equal(quote('abc/def-1.2_x'), 'abc/def-1.2_x');
    assert.equal(quote('user@host:22'), 'user@host:22');
    assert.equal(quote(42), '42');
    assert.equal(quote(0), '0');
  });

  test('unsafe words are single-quoted with embedded quotes escaped', () => {
    assert.equal(quote('a b'), "'a b'");
    assert.equal(quote("it's"), "'it'\\''s'");
    assert.equal(quote('$x'), "'$x'");
  });

  test('a quoted $() or backtick is never executed', () => {
    const r = sh('/bin/sh', `printf %s ${quote('$(echo EXEC)')} ${quote('`echo EXEC2`')}`);
    assert.equal(r.stdout, '$(echo EXEC)`echo EXEC2`');
    assert.ok(!/^EXEC/.test(r.stdout));
  });

  test('round-trips random strings', () => {
    const alphabet = ` \t\n'"\\$\`!*?[]{}()<>|&;#~=%-abcZ09é€`;
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const words: string[] = [];
    for (let i = 0; i < 200; i++) {
      let w = '';
      const len = Math.floor(rnd() * 12);
      for (let j = 0; j < len; j++) w += alphabet[Math.floor(rnd() * alphabet.length)];
      words.push(w);
    }
    const r = sh('/bin/sh', `for w in ${cmd(...words)}; do printf '%s\\0' "$w"; done`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), words);
  });
});

describe('cmd', () => {
  test('joins quoted words with spaces', () => {
    assert.equal(cmd('rm', '-rf', '/a b', "c'd"), "rm -rf '/a b' 'c'\\''d'");
    assert.equal(cmd('echo', ''), "echo ''");
    assert.equal(cmd(), '');
    assert.equal(cmd('ls', 3), 'ls 3');
  });

  test('runs with each word as exactly one argument', () => {
    const r = sh('/bin/sh', `${cmd('printf', '[%s]', 'a b', '', '$HOME', 'x\ny')}`);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '[a b][][$HOME][x\ny]');
  });
});

describe('the session driver', () => {
  const run = (login: string, scripts: string[], nonce = 'n') =>
    spawnSync(login, ['-c', sessionCommand(nonce)], { encoding: 'utf8', input: 'k\n' + scripts.map((s) => `${s}::fap-run::${nonce}\n`).join(''), maxBuffer: 1 << 26 });

  test('runs each script with /bin/sh, literally, whatever the login shell', () => {
    const script = `printf '%s|' "it's" '$(no)' "$0"\n`;
    for (const login of ['/bin/bash', '/bin/sh']) {
      const r = run(login, [script]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `it's|$(no)|fap-session|\n::fap-done::k:0\n`);
    }
  });

  test('a script far over the 128 KiB argument limit runs, and keeps its exit code', () => {
    const big = Array.from({ length: 6000 }, (_, i) => `: ${'x'.repeat(40)} ${i}`).join('\n') + '\necho done\nexit 7\n';
    assert.ok(big.length > 200_000);
    const r = run('/bin/sh', [big]);
    assert.equal(r.stdout, `done\n\n::fap-done::k:7\n`);
  });
});

describe('composeScript', () => {
  test('starts with set -e and names each step before its script', () => {
    const s = composeScript([
      { name: 'one', script: 'echo 1\n\n' },
      { name: "two's", script: 'echo 2' },
    ]);
    const lines = s.split('\n');
    assert.equal(lines[0], 'set -e');
    assert.ok(s.endsWith('\n'));
    assert.ok(s.indexOf("FAP_STEP=one") < s.indexOf('echo 1'));
    assert.ok(s.indexOf("FAP_STEP='two'\\''s'") < s.indexOf('echo 2'));
    assert.ok(s.indexOf('echo 1') < s.indexOf("FAP_STEP='two"));
  });

  for (const shell of shells) {
    test(`a failing step is named on stderr and later steps do not run (${shell})`, () => {
      const script = composeScript([
        { name: 'first', script: 'echo first-ran' },
        { name: "second step's \"name\" $(x)", script: 'echo about-to-fail >&2\nfalse\necho after-false' },
        { name: 'third', script: 'echo third-ran' },
      ]);
      const r = sh(shell, script);
      assert.notEqual(r.status, 0);
      assert.equal(r.stdout, 'first-ran\n');
      const parsed = parseFailedStep(r.stderr);
      assert.equal(parsed.step, "second step's \"name\" $(x)");
      // the trap's leading newline is stripped with the mark; the step's own output is kept
      assert.equal(parsed.stderr, 'about-to-fail\n');
      assert.ok(!r.stdout.includes('third-ran'));
      assert.ok(!r.stdout.includes('after-false'));
    });

    test(`the exit code of a failing step is preserved (${shell})`, () => {
      const r = sh(shell, composeScript([{ name: 'exit 7', script: 'exit 7' }, { name: 'never', script: 'echo never' }]));
      assert.equal(r.status, 7);
      assert.equal(parseFailedStep(r.stderr).step, 'exit 7');
      assert.equal(r.stdout, '');
    });

    test(`a successful script reports no failed step (${shell})`, () => {
      const r = sh(shell, composeScript([{ name: 'a', script: 'echo a' }, { name: 'b', script: 'echo b >&2' }]));
      assert.equal(r.status, 0);
      assert.equal(r.stdout, 'a\n');
      assert.ok(!r.stderr.includes('::fap-failed-step::'));
      assert.deepEqual(parseFailedStep(r.stderr), { stderr: 'b\n' });
    });
  }

  test('a failure before any step is reported as "start"', () => {
    const r = sh('/bin/sh', composeScript([]) + 'false\necho unreachable\n');
    assert.equal(r.stdout, '');
    assert.notEqual(r.status, 0);
    assert.equal(parseFailedStep(r.stderr).step, 'start');
  });
});

describe('parseFailedStep', () => {
  test('without a mark returns stderr unchanged', () => {
    assert.deepEqual(parseFailedStep('boom\n'), { stderr: 'boom\n' });
    assert.deepEqual(parseFailedStep(''), { stderr: '' });
  });

  test('takes the last mark and strips it from stderr', () => {
    const err = `x\n::fap-failed-step::old\nmore\n\n::fap-failed-step::new step\n`;
    const p = parseFailedStep(err);
    assert.equal(p.step, 'new step');
    assert.equal(p.stderr, `x\n::fap-failed-step::old\nmore\n`);
  });
});

describe('parseOutputs', () => {
  test('collects marked lines by key, in order, and keeps the rest', () => {
    const out = `hello\n::fap-out::rel=1\nmid\n::fap-out::rel=2\n::fap-out::current=releases/x\n`;
    const { outputs, rest } = parseOutputs(out);
    assert.deepEqual(outputs.get('rel'), ['1', '2']);
    assert.deepEqual(outputs.get('current'), ['releases/x']);
    assert.equal(outputs.size, 2);
    assert.equal(rest, 'hello\nmid\n');
  });

  test('value keeps further = signs; missing = gives an empty value', () => {
    const { outputs } = parseOutputs(`::fap-out::k=a=b==\n::fap-out::flag\n::fap-out::empty=`);
    assert.deepEqual(outputs.get('k'), ['a=b==']);
    assert.deepEqual(outputs.get('flag'), ['']);
    assert.deepEqual(outputs.get('empty'), ['']);
  });

  test('a mark not at the start of a line is not an output', () => {
    const { outputs, rest } = parseOutputs(`x::fap-out::k=v`);
    assert.equal(outputs.size, 0);
    assert.equal(rest, `x::fap-out::k=v`);
  });

  test('empty stdout', () => {
    const { outputs, rest } = parseOutputs('');
    assert.equal(outputs.size, 0);
    assert.equal(rest, '');
  });
});

describe('emitOutput', () => {
  for (const shell of shells) {
    test(`prints a line parseOutputs reads back (${shell})`, () => {
      const script = [
        emitOutput('lit', quote("it's $(x) `y` \\ %s")),
        emitOutput('expr', '"$(printf %s abc)"'),
        emitOutput('empty', "''"),
        emitOutput('weird key', quote('v')),
      ].join('\n');
      const r = sh(shell, script);
      assert.equal(r.status, 0, r.stderr);
      const { outputs, rest } = parseOutputs(r.stdout);
      assert.deepEqual(outputs.get('lit'), ["it's $(x) `y` \\ %s"]);
      assert.deepEqual(outputs.get('expr'), ['abc']);
      assert.deepEqual(outputs.get('empty'), ['']);
      assert.deepEqual(outputs.get('weird key'), ['v']);
      assert.equal(rest, '');
    });
  }
});

describe('sessionCommand', () => {
  test('runs scripts one after another in one shell, each closed by the done mark with its exit code', () => {
    const nonce = 'n0nce';
    const scripts = [
      'echo one\necho err-one >&2\n',
      // a script whose line looks like the run mark without the nonce does not end early
      `printf '%s\\n' '::fap-run::'\nexit 3\n`,
      'cat\necho after-cat\n',
    ];
    const input = 'sessionkey\n' + scripts.map((s) => `${s}::fap-run::${nonce}\n`).join('');
    const r = spawnSync('/bin/bash', ['-c', sessionCommand(nonce)], { encoding: 'utf8', input });
    assert.equal(r.status, 0, r.stderr);
    const done = (code: number) => `\n::fap-done::sessionkey:${code}\n`;
    assert.equal(r.stdout, `one\n${done(0)}::fap-run::\n${done(3)}after-cat\n${done(0)}`);
    assert.equal(r.stderr, `err-one\n${done(0)}${done(3)}${done(0)}`);
  });
});
