// fap shell's local terminal (src/cli/terminal.ts) on a real pseudo-terminal (python3's pty module):
// raw while the remote shell runs, and back to what it was on every way out, while fap is still
// running (node resets the terminal itself when it exits, so only an in-process check can tell).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { ROOT } from '../helpers.js';

const noPython = spawnSync('python3', ['-c', 'import pty, termios'], { stdio: 'ignore' }).status !== 0 ? 'python3 with pty is required' : undefined;

const PTY = String.raw`
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
`;

/** The driver: attachTerminal with a stand-in channel that ends in each of the ways a real one can. */
const driver = (terminalUrl: string, interruptUrl: string) => `
import { EventEmitter } from 'node:events';
import { spawnSync } from 'node:child_process';
import { attachTerminal } from '${terminalUrl}';
import { installInterrupts } from '${interruptUrl}';
installInterrupts();
const mode = () => {
  const s = spawnSync('stty', ['-a'], { stdio: ['inherit', 'pipe', 'pipe'] }).stdout.toString();
  return { icanon: /(^|\\s)icanon/.test(s), echo: /(^|\\s)echo(\\s|$)/.test(s), opost: /(^|\\s)opost/.test(s) };
};
for (const ending of ['exit', 'connection lost', 'SIGTERM']) {
  const ch = new EventEmitter();
  ch.stderr = new EventEmitter();
  ch.write = () => true;
  ch.setWindow = () => {};
  ch.close = () => setImmediate(() => ch.emit('close'));
  let during;
  let size;
  const r = await attachTerminal(async (pty) => {
    size = pty;
    setTimeout(() => {
      during = mode();
      if (ending === 'exit') { ch.emit('exit', 3); ch.emit('close'); }
      else if (ending === 'connection lost') ch.emit('close');
      else process.kill(process.pid, 'SIGTERM');
    }, 50);
    return ch;
  }).then((v) => v, (e) => ({ error: e.message }));
  console.log('RESULT ' + JSON.stringify({ ending, size, during, after: mode(), r }));
}
process.exit(0);
`;

test('the local terminal is raw (output processing too) while the shell runs and restored when it exits, when the connection is lost, on SIGTERM', { skip: noPython }, async () => {
  const url = (p: string) => pathToFileURL(join(ROOT, 'dist', 'src', 'cli', p)).href;
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('python3', ['-c', PTY, process.execPath, '--input-type=module', '-e', driver(url('terminal.js'), url('interrupt.js'))], { env: { ...process.env, TERM: 'xterm-fap' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(out.code, 0, out.stdout + out.stderr);
  const results = out.stdout
    .split(/\r*\n/)
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice(7)) as { ending: string; size: { term: string; rows: number; cols: number }; during: object; after: object; r: object });
  assert.deepEqual(results.map((r) => r.ending), ['exit', 'connection lost', 'SIGTERM'], out.stdout);
  for (const r of results) {
    assert.equal(r.size.term, 'xterm-fap', 'TERM passed on');
    assert.ok(r.size.rows > 0 && r.size.cols > 0);
    // output processing off too (node's raw mode keeps it: a bare LF would show as CRLF)
    assert.deepEqual(r.during, { icanon: false, echo: false, opost: false }, `${r.ending}: raw while attached`);
    assert.deepEqual(r.after, { icanon: true, echo: true, opost: true }, `${r.ending}: cooked again afterwards`);
  }
  assert.deepEqual(results[0].r, { code: 3 });
  assert.deepEqual(results[1].r, { error: 'connection lost while the shell was running' });
  assert.deepEqual(results[2].r, { error: 'connection lost while the shell was running' });
});

describe('text a host sent reaches the terminal with its control characters made visible', () => {
  // found by the attack pass: an artifact's postinstall output could recolour or rewrite the
  // operator's terminal (ESC sequences, CR over the [host] prefix)
  test('no control character but newline and tab survives, and printable text is unchanged (generative)', async () => {
    const { plainLine, visible } = await import('../../src/report/plain.js');
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const v = visible(s);
        assert.doesNotMatch(v, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
        if (!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(s)) assert.equal(v, s);
      }),
    );
    const line = plainLine({ ts: '', event: 'log', host: 'h', plugin: 'curl', message: 'ok\u001b[31mred\r\u0000' }, { json: false, verbose: false, quiet: false, color: true, tty: false })!;
    assert.equal(line, '[h] curl: ok^[[31mred^M^@');
  });
});
