// fap shell's local side: the local terminal in raw mode, wired to a remote pseudo-terminal of the
// same type and size, resized with it (SIGWINCH), and put back as it was on every way out: the
// remote shell exiting, the connection dropping, a signal, fap exiting.
import { spawnSync } from 'node:child_process';
import type { AttachTerminal, Pty, PtyChannel } from '../transport/transport.js';
import { beginForeground, beginTransaction } from './interrupt.js';

export interface LocalTerminal {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const PROCESS_TERMINAL: LocalTerminal = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

function size(io: LocalTerminal): { rows: number; cols: number } {
  const tty = io.stdout.isTTY ? io.stdout : io.stderr.isTTY ? io.stderr : undefined;
  return { rows: tty?.rows || 24, cols: tty?.columns || 80 };
}

/** Open the remote side with the local terminal's type and size, then relay until it closes. */
export const attachTerminal: AttachTerminal = Object.assign(relayTerminal, { foreground: beginForeground });

/**
 * stty on the terminal `stdin` is: its output (`-g`: the settings, to be put back exactly), or
 * undefined when it failed (no stty, the terminal is gone). node has no other way to termios.
 */
function stty(stdin: NodeJS.ReadStream, args: string[]): string | undefined {
  try {
    const r = spawnSync('stty', args, { stdio: [stdin, 'pipe', 'ignore'], encoding: 'utf8', timeout: 5000 });
    return r.status === 0 ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

async function relayTerminal(open: (pty: Pty) => Promise<PtyChannel>, io: LocalTerminal = PROCESS_TERMINAL): Promise<{ code: number | null; signal?: string }> {
  const channel = await open({ term: process.env.TERM || 'vt100', ...size(io) });
  const { stdin } = io;
  const wasRaw = !!stdin.isRaw;
  // the settings as they were, put back exactly (setRawMode alone would not undo -opost below)
  const saved = stdin.isTTY ? stty(stdin, ['-g']) : undefined;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
    } catch {
      /* the terminal is gone */
    }
    if (saved) stty(stdin, [saved]);
  };
  const onInput = (d: Buffer) => channel.write(d);
  const onResize = () => {
    const s = size(io);
    channel.setWindow(s.rows, s.cols, 0, 0);
  };
  // the local terminal hung up or fap was asked to stop: end the remote shell, then restore (below)
  const hangUp = (): void => void channel.close();
  // process.exit() from anywhere still leaves the terminal as it was (setRawMode is synchronous)
  process.on('exit', restore);
  const endTransaction = beginTransaction({ stop: hangUp, quit: async () => { hangUp(); } });
  return new Promise((resolve, reject) => {
    let exit: { code: number | null; signal?: string } | undefined;
    channel.on('data', (d: Buffer) => io.stdout.write(d));
    channel.stderr.on('data', (d: Buffer) => io.stderr.write(d));
    channel.on('exit', (code: number | null, signal?: string) => {
      exit = { code: code ?? null, signal: signal ?? undefined };
    });
    channel.on('close', () => {
      endTransaction();
      stdin.off('data', onInput);
      stdin.pause();
      process.off('SIGWINCH', onResize);
      process.off('SIGHUP', hangUp);
      restore();
      process.off('exit', restore);
      if (exit) resolve(exit);
      else reject(new Error('connection lost while the shell was running'));
    });
    process.on('SIGWINCH', onResize);
    process.on('SIGHUP', hangUp);
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      // libuv's raw mode leaves output processing on (a bare LF shows as CRLF, breaking full-screen
      // programs); the remote terminal does that processing, so off here too, as ssh -t does
      if (saved) stty(stdin, ['-opost']);
    }
    stdin.on('data', onInput);
    stdin.resume();
  });
}
