// src/remote/shell.ts on literal cases, each with the exact text expected, and what that text does
// in a real /bin/sh: the composed script, sudo wrapping, printf %b escapes, output and log lines.
// shell.test.ts and session.test.ts run the same through several shells and the session driver.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { asUser, composeScript, effectiveSudo, parseSudoPrefix, emitOutput, guardedCommand, logLines, logOutput, octalEscape, outputLines, parseFailedStep, parseOutputs, quote, sessionCommand, sessionMarks, LOG_OUTPUT_PREFIX } from '../../src/remote/shell.js';

const sh = (script: string, env: NodeJS.ProcessEnv = {}) => spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });

describe('quote: the words left bare', () => {
  test('letters, digits and _@%+=:,./- are safe; anything else is single-quoted', () => {
    assert.equal(quote('Az09_@%+=:,./-'), 'Az09_@%+=:,./-');
    for (const c of [' ', '!', '"', '#', '$', '&', "'", '(', ')', '*', ';', '<', '>', '?', '[', '\\', ']', '^', '`', '{', '|', '}', '~', '\n', 'é']) {
      assert.equal(quote(`a${c}b`), c === "'" ? `'a'\\''b'` : `'a${c}b'`, JSON.stringify(c));
    }
    assert.equal(quote("''"), `''\\'''\\'''`);
  });
});

describe('composeScript: the exact text', () => {
  const trap = `trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\\n%s%s\\n" "\${FAP_FM-::fap-failed-step::}" "$FAP_STEP" >&2; fi' EXIT`;

  test('set -e, the start step, the trap, then each step named and its script without trailing blanks', () => {
    assert.equal(
      composeScript([
        { name: 'one', script: 'echo 1\n\n  ' },
        { name: 'two words', script: 'echo 2', shown: 'echo ***' },
      ]),
      `set -e\nFAP_STEP='start'\n${trap}\nFAP_STEP=one\necho 1\nFAP_STEP='two words'\necho 2\n`,
    );
    assert.equal(composeScript([]), `set -e\nFAP_STEP='start'\n${trap}\n`);
  });

  test('shown: the text as printed where a step has one', () => {
    assert.equal(
      composeScript(
        [
          { name: 'a', script: 'echo secret', shown: 'echo ***' },
          { name: 'b', script: 'echo b' },
        ],
        { shown: true },
      ),
      `set -e\nFAP_STEP='start'\n${trap}\nFAP_STEP=a\necho ***\nFAP_STEP=b\necho b\n`,
    );
  });

  test('in a session the failed-step mark carries its key', () => {
    const r = sh(composeScript([{ name: 'boom', script: 'exit 3' }]), { FAP_FM: '::k1::' });
    assert.equal(r.status, 3);
    assert.equal(r.stderr, '\n::k1::boom\n');
    assert.deepEqual(parseFailedStep(r.stderr, '::k1::'), { step: 'boom', stderr: '' });
  });
});

describe('sessionMarks', () => {
  test('each mark with the key and a colon', () => {
    assert.deepEqual(sessionMarks('K'), { output: '::fap-out::K:', failed: '::fap-failed-step::K:', done: '::fap-done::K:' });
  });
});

describe('sudo', () => {
  test('no sudo_user, or the login user: no sudo', () => {
    assert.equal(effectiveSudo(undefined, 'deploy', 'sudo -i'), undefined);
    assert.equal(effectiveSudo('', 'deploy'), undefined);
    assert.equal(effectiveSudo('deploy', 'deploy', 'sudo -i'), undefined);
    assert.deepEqual(effectiveSudo('app', 'deploy'), { user: 'app', flags: [] });
    assert.deepEqual(effectiveSudo('app', 'deploy', 'sudo -iH -n'), { user: 'app', flags: ['-i', '-H'] });
    assert.equal(asUser('true'), 'true');
  });

  test('without -i: sudo -n, the flags, -u user, --, the command line as it is', () => {
    assert.equal(asUser('echo "$HOME"', { user: 'app' }), 'sudo -n -u app -- echo "$HOME"');
    assert.equal(asUser('id', { user: 'a b', flags: ['-H', '-n', '-E'] }), "sudo -n -H -E -u 'a b' -- id");
  });

  test('with -i: through /bin/sh and printf %b, so the login shell sees no $ or backslash', () => {
    const line = asUser('echo "$X" \\', { user: 'app', flags: ['-i'] });
    assert.equal(line, `sudo -n -i -u app -- /bin/sh -c 'FAP_SSHD=\${1}; export FAP_SSHD; fap_s=$(printf %bx "\${2}"); exec /bin/sh -c "\${fap_s%x}"' fap-login "$PPID" 'echo "\\0044X" \\0134'`);
    // what sudo runs, run here without sudo: the decoder gets the original line back and runs it
    const r2 = sh(asUser('printf "%s|%s" "$X" "$FAP_SSHD"', { user: 'app', flags: ['-i'] }).replace(/^sudo .*? -- /, '').replace('"$PPID"', '4242'), { X: 'x-value' });
    assert.equal(r2.stdout, 'x-value|4242');
  });

  test('octalEscape: \\, $, control characters and non-ASCII bytes as \\0ooo, the rest as it is', () => {
    assert.equal(octalEscape('a$b\\c\nd\x7f~ é'), 'a\\0044b\\0134c\\0012d\\0177~ \\0303\\0251');
    assert.equal(octalEscape(' ~'), ' ~');
    assert.equal(octalEscape('\x1f'), '\\0037');
    const text = 'a$b\\c\nd é\t"\'';
    assert.equal(sh(`printf %b ${quote(octalEscape(text))}`).stdout, text);
  });
});

describe('output and log lines', () => {
  test('emitOutput: one line with the mark (the session key when set), the key and the value', () => {
    assert.equal(emitOutput('k', "'v'"), `printf '%s\\n' "\${FAP_OM-::fap-out::}"k='v'`);
    assert.equal(sh(emitOutput('rel', quote('a b'))).stdout, '::fap-out::rel=a b\n');
    assert.equal(sh(emitOutput('rel', quote('a b')), { FAP_OM: '::K:' }).stdout, '::K:rel=a b\n');
  });

  test('logOutput: a log line of the plugin, on one line, the plugin name made safe', () => {
    assert.equal(LOG_OUTPUT_PREFIX, 'log:');
    const r = sh(logOutput('my plugin/x', 'two\nlines $x'));
    assert.equal(r.stdout, '::fap-out::log:my_plugin_x=two lines $x\n');
    assert.deepEqual(parseOutputs(r.stdout).outputs.get('log:my_plugin_x'), ['two lines $x']);
  });

  test('logLines: every non-blank line of the input, a last line without newline too', () => {
    assert.equal(logLines('git'), `awk -v fap_p="\${FAP_OM-::fap-out::}log:git=" 'NF { print fap_p $0 }'`);
    assert.equal(sh(`printf 'a\\n\\n  \\nb c' | ${logLines('a.b-c d')}`).stdout, '::fap-out::log:a.b-c_d=a\n::fap-out::log:a.b-c_d=b c\n');
  });

  test('outputLines: every line as an output of the key; a key that is not a plain word is refused', () => {
    assert.equal(outputLines('rel'), `sed "s/^/\${FAP_OM-::fap-out::}rel=/"`);
    assert.equal(sh(`printf 'x\\ny\\n' | ${outputLines('r_1-x')}`, { FAP_OM: '::K:' }).stdout, '::K:r_1-x=x\n::K:r_1-x=y\n');
    for (const bad of ['', 'a b', 'a/b', 'a=b']) assert.throws(() => outputLines(bad), { message: `outputLines: bad key ${bad}` });
  });

  test('parseFailedStep: the text before the mark loses one newline; the step ends at its line', () => {
    assert.deepEqual(parseFailedStep('out\n\n::m::step\nmore'), { stderr: 'out\n\n::m::step\nmore' });
    assert.deepEqual(parseFailedStep('out\n\n::m::step\nmore', '::m::'), { step: 'step', stderr: 'out\n' });
  });
});

describe('the session and fap run command lines, exactly', () => {
  // what every host runs first: a change to the launcher, the watchdog or the driver shows here as
  // a text diff (session.test.ts and shell.test.ts run them)
  test('sessionCommand', () => {
    assert.equal(
      sessionCommand('N'),
      "/bin/sh -c 'fap_p=$(sed -n '\\''s/^.*) . [0-9-]* \\([0-9-]*\\) .*$/\\1/p'\\'' /proc/$$/stat 2>/dev/null); if [ \"$fap_p\" = \"$$\" ]; then exec /bin/sh -c \"$2\" \"$0\" \"$1\"; elif [ -n \"$fap_p\" ] && command -v setsid >/dev/null 2>&1; then exec setsid /bin/sh -c \"$2\" \"$0\" \"$1\"; elif command -v perl >/dev/null 2>&1; then exec perl -e '\\''setpgrp(0, 0); exec @ARGV or exit 127'\\'' /bin/sh -c \"$2\" \"$0\" \"$1\"; else exec /bin/sh -c \"$2\" \"$0\" \"$1\"; fi' fap-session \"${FAP_SSHD:-$PPID}\" 'fap_sshd=${1:-$PPID}; fap_pg=$(sed -n '\\''s/^.*) . [0-9-]* \\([0-9-]*\\) .*$/\\1/p'\\'' /proc/$$/stat 2>/dev/null); fap_pg=${fap_pg:-$$}; (trap \"\" TERM; while kill -0 $$ 2>/dev/null; do if ! kill -0 \"$fap_sshd\" 2>/dev/null && [ ! -d \"/proc/$fap_sshd\" ]; then kill -TERM -\"$fap_pg\" 2>/dev/null || kill -TERM $$; sleep 2; kill -KILL -\"$fap_pg\" 2>/dev/null || kill -KILL $$; break; fi; sleep 1; done) </dev/null >/dev/null 2>&1 &\nfap_end=::fap-run::N;\nIFS= read -r fap_key || exit 0;\nFAP_OM=\"::fap-out::$fap_key:\"; FAP_FM=\"::fap-failed-step::$fap_key:\";\nwhile :; do\nfap_chunk='\\'''\\''; fap_eof=1;\nwhile IFS= read -r fap_line; do\nif [ \"$fap_line\" = \"$fap_end\" ]; then fap_eof=0; break; fi;\nfap_chunk=\"$fap_chunk$fap_line\n\";\ndone;\nif [ \"$fap_eof\" = 1 ]; then exit 0; fi;\n(eval \"$fap_chunk\") </dev/null;\nfap_rc=$?;\nprintf '\\''\\n%s%s:%s\\n'\\'' '\\''::fap-done::'\\'' \"$fap_key\" \"$fap_rc\";\nprintf '\\''\\n%s%s:%s\\n'\\'' '\\''::fap-done::'\\'' \"$fap_key\" \"$fap_rc\" >&2;\ndone'",
    );
  });

  test('guardedCommand under sudo_user', () => {
    assert.equal(
      guardedCommand('echo hi', { user: 'app', flags: ['-H'] }),
      "sudo -n -H -u app -- /bin/sh -c 'fap_p=$(sed -n '\\''s/^.*) . [0-9-]* \\([0-9-]*\\) .*$/\\1/p'\\'' /proc/$$/stat 2>/dev/null); if [ \"$fap_p\" = \"$$\" ]; then exec /bin/sh -c \"$2\" \"$0\" \"$1\"; elif [ -n \"$fap_p\" ] && command -v setsid >/dev/null 2>&1; then exec setsid /bin/sh -c \"$2\" \"$0\" \"$1\"; elif command -v perl >/dev/null 2>&1; then exec perl -e '\\''setpgrp(0, 0); exec @ARGV or exit 127'\\'' /bin/sh -c \"$2\" \"$0\" \"$1\"; else exec /bin/sh -c \"$2\" \"$0\" \"$1\"; fi' fap-run \"${FAP_SSHD:-$PPID}\" 'fap_sshd=${1:-$PPID}; fap_pg=$(sed -n '\\''s/^.*) . [0-9-]* \\([0-9-]*\\) .*$/\\1/p'\\'' /proc/$$/stat 2>/dev/null); fap_pg=${fap_pg:-$$}; (trap \"\" TERM; while kill -0 $$ 2>/dev/null; do if ! kill -0 \"$fap_sshd\" 2>/dev/null && [ ! -d \"/proc/$fap_sshd\" ]; then kill -TERM -\"$fap_pg\" 2>/dev/null || kill -TERM $$; sleep 2; kill -KILL -\"$fap_pg\" 2>/dev/null || kill -KILL $$; break; fi; sleep 1; done) </dev/null >/dev/null 2>&1 &\n/bin/sh -c '\\''echo hi'\\'''",
    );
  });
});

describe('parseSudoPrefix', () => {
  test('sudo or a path to it, then short, bundled or long flags: -i, -H, -E; -n is fap\'s own', () => {
    assert.deepEqual(parseSudoPrefix('sudo'), []);
    assert.deepEqual(parseSudoPrefix('  /usr/bin/sudo   -i  '), ['-i']);
    assert.deepEqual(parseSudoPrefix('sudo -iHE -n'), ['-i', '-H', '-E']);
    assert.deepEqual(parseSudoPrefix('sudo --login --set-home --preserve-env --non-interactive -i'), ['-i', '-H', '-E']);
  });

  test('anything else is refused in one line naming the word', () => {
    const notSudo = [['doas -i', 'doas -i'], ['xsudo', 'xsudo'], ['sudox', 'sudox'], ['/usr/bin/ sudo', '/usr/bin/ sudo'], ['', '']];
    for (const [prefix, shown] of notSudo) assert.throws(() => parseSudoPrefix(prefix), { message: `sudo_prefix must start with sudo, got "${shown}"` }, prefix);
    for (const w of ['-S', '-iS', '--user', '--', '-', 'i', '-i1', 'x-i', '--login-x', '-u']) {
      assert.throws(() => parseSudoPrefix(`sudo ${w}`), { message: `sudo_prefix: "${w}" is not supported (fap runs sudo -n -u sudo_user and accepts -i, -H, -E)` }, w);
    }
  });
});

describe('quote and parseOutputs, the edges', () => {
  test('an empty word is two quotes; numbers as digits', () => {
    assert.equal(quote(''), "''");
    assert.equal(quote(0), '0');
    assert.equal(quote(-1), '-1');
  });

  test('parseOutputs: keys and values at the first =, lines in order, other lines kept', () => {
    const { outputs, rest } = parseOutputs('a\n::fap-out::k=v=w\n::fap-out::=x\n::fap-out::flag\nb', '::fap-out::');
    assert.deepEqual([...outputs], [['k', ['v=w']], ['', ['x']], ['flag', ['']]]);
    assert.equal(rest, 'a\nb');
  });

  test('parseFailedStep: no mark, nothing taken', () => {
    assert.deepEqual(parseFailedStep('::fap-failed-step::'), { step: '', stderr: '' });
    assert.deepEqual(parseFailedStep('x\n::fap-failed-step::s'), { step: 's', stderr: 'x' });
  });
});
