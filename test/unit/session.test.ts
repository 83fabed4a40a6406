// The session driver run for real (as sshd would run it, with and without sudo): result lines bound
// to the session key, the driver leading its own process group so the watchdog ends the whole
// script. (Fencing a superseded session is tested in kernel-scripts.test.ts.)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { Runner } from '../../src/remote/runner.js';
import { emitOutput, guardedCommand, quote, RUN_MARK, sessionCommand, sessionMarks, type Step } from '../../src/remote/shell.js';
import type { Connection } from '../../src/remote/connection.js';
import { EventBus } from '../../src/events.js';

const hasSudo = spawnSync('sh', ['-c', 'command -v sudo']).status === 0 && process.getuid?.() === 0;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pids = (marker: string) => spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim();

/** Run one script through the session driver in a local shell; the result as RemoteSession reads it. */
function runInSession(script: string) {
  const nonce = randomBytes(6).toString('hex');
  const key = randomBytes(8).toString('hex');
  const r = spawnSync('/bin/sh', ['-c', sessionCommand(nonce)], { encoding: 'utf8', input: `${key}\n${script}${RUN_MARK}${nonce}\n` });
  const m = sessionMarks(key);
  const cut = (s: string) => s.slice(0, s.lastIndexOf('\n' + m.done));
  const code = Number(r.stdout.slice(r.stdout.lastIndexOf(m.done) + m.done.length).trim());
  return { code, stdout: cut(r.stdout), stderr: cut(r.stderr), marks: { output: m.output, failed: m.failed }, nonce };
}

test('a program a step runs cannot forge result lines or the failed step, whatever it prints', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('revision', 'lock-held', 'current', 'log:git'), fc.string({ maxLength: 30 }).filter((v) => !/[\n\r]/.test(v)), fc.boolean(), async (key, value, fail) => {
      // the forger prints every mark form it can see: bare, with the nonce from ps, and a failed step
      const kv = quote(`${key}=${value}`);
      const inner = `n=$(ps -eo args | sed -n 's/.*${RUN_MARK}\\([0-9a-f]*\\).*/\\1/p' | head -1); printf '%s\\n' ${quote('::fap-out::')}${kv} "::fap-out::$n:"${kv} "::fap-out::$n"${kv}; printf '\\n::fap-failed-step::%s\\n' forged >&2`;
      const forger = `sh -c ${quote(inner)}`;
      const steps: Step[] = [
        { name: 'real', script: emitOutput('revision', quote('abc123')) },
        { name: 'hook', script: forger },
        { name: 'last', script: fail ? 'false' : ':' },
      ];
      const conn = { runScript: async (s: string) => runInSession(s) } as unknown as Connection;
      const bus = new EventBus();
      const logs: unknown[] = [];
      bus.on((e) => e.event === 'log' && logs.push(e));
      const runner = new Runner(bus, false);
      try {
        const r = await runner.run(conn, 'h', 'p', steps);
        assert.ok(!fail);
        assert.deepEqual([...r.outputs.keys()], ['revision']);
        assert.deepEqual(r.outputs.get('revision'), ['abc123']);
        assert.deepEqual(logs, [], 'no forged log line');
      } catch (e) {
        assert.ok(fail, String(e));
        assert.equal((e as { step?: string }).step, 'last', 'the failed step is the real one, not the forged one');
      }
    }),
    { numRuns: 25 },
  );
});

/**
 * Start a session as sshd would: a stand-in for sshd's session process (the watchdog's anchor, which
 * the test kills) runs the login shell, which runs the command line in a child (`; exit` keeps
 * either from exec'ing: the driver is then not a group leader, as under sudo).
 */
function sshdLike(commandLine: string, stdio: 'pipe' | 'ignore' = 'pipe') {
  return spawn('/bin/sh', ['-c', '/bin/sh -c "$0"; exit $?', `${commandLine}; exit $?`], { detached: true, stdio: [stdio, stdio, stdio] });
}

function startSession(script: string, sudoUser?: string) {
  const nonce = randomBytes(6).toString('hex');
  const login = sshdLike(sessionCommand(nonce, sudoUser ? { user: sudoUser } : undefined));
  login.stdin!.write(`key\n${script}\n${RUN_MARK}${nonce}\n`);
  let out = '';
  login.stdout!.on('data', (d) => (out += d));
  login.stderr!.on('data', (d) => (out += d));
  return { login, nonce, output: () => out };
}


async function until(what: () => boolean, label: string): Promise<void> {
  // a hang detector, not a speed assertion
  for (let i = 0; i < 300; i++) {
    if (what()) return;
    await pause(100);
  }
  assert.fail(label);
}

for (const sudoUser of [undefined, ...(hasSudo ? ['nobody'] : [])]) {
  test(`the driver leads its own process group and the watchdog ends the whole script when its anchor dies (${sudoUser ? 'sudo -u ' + sudoUser : 'no sudo'})`, async () => {
    const marker = `fapmark${randomBytes(5).toString('hex')}`;
    const s = startSession(`echo "pg=$(ps -o pgid= -p $$ | tr -d ' ') me=$$"; sh -c 'sleep 300; : ${marker}'`, sudoUser);
    await until(() => pids(marker) !== '' && /pg=/.test(s.output()), 'the script started');
    const m = /pg=(\d+) me=(\d+)/.exec(s.output());
    assert.ok(m, s.output());
    assert.equal(m[1], m[2], 'the driver ($$) leads its process group');
    process.kill(s.login.pid!, 'SIGKILL');
    await until(() => pids(marker) === '', `processes of the script remain: ${pids(marker)}`);
  });
}

test('fap run\'s command line is guarded too: its command dies with the session', async () => {
  const marker = `fapmark${randomBytes(5).toString('hex')}`;
  const login = sshdLike(guardedCommand(`sh -c 'sleep 300; : ${marker}'`, hasSudo ? { user: 'nobody' } : undefined), 'ignore');
  await until(() => pids(marker) !== '', 'the command started');
  process.kill(login.pid!, 'SIGKILL');
  await until(() => pids(marker) === '', `the command runs on: ${pids(marker)}`);
});

test('guardedCommand keeps the exit code and output of the command', () => {
  const r = spawnSync('/bin/sh', ['-c', guardedCommand(`echo "it's"; exit 3`)], { encoding: 'utf8' });
  assert.equal(r.status, 3);
  assert.equal(r.stdout, "it's\n");
});



