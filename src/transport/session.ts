// The host side of a run: one process running the session driver (shell.ts sessionCommand), fed
// one phase script at a time over its stdin. Each answer ends with the done mark on both stdout and
// stderr. The same driver runs behind an SSH exec channel and behind a local child process.
import { StringDecoder } from 'node:string_decoder';
import { ConnectError } from '../errors.js';
import { RUN_MARK, sessionMarks, SUDO_DID_NOT_START } from '../remote/shell.js';
import type { ExecResult } from './transport.js';

/** The driver process's pipes, whatever carries them. */
export interface SessionPipes {
  write(text: string): void;
  onStdout(fn: (d: Buffer) => void): void;
  onStderr(fn: (d: Buffer) => void): void;
  onClose(fn: () => void): void;
}

export class Session {
  private out = '';
  private err = '';
  private pending?: { resolve: (r: ExecResult) => void; reject: (e: Error) => void };
  private queue: Promise<unknown> = Promise.resolve();
  private ended?: string;
  /** sudo refused to start the session's driver: nothing sent to it ever ran */
  private notStarted = false;
  private answered = false;
  private readonly mark: string;
  private readonly marks: { output: string; failed: string };

  /** key: the session key, written first (over stdin only: a process on the host can read the nonce in ps, never the key) */
  constructor(
    private readonly host: string,
    private readonly pipes: SessionPipes,
    private readonly nonce: string,
    key: string,
  ) {
    const m = sessionMarks(key);
    this.mark = `\n${m.done}`;
    this.marks = { output: m.output, failed: m.failed };
    const outDec = new StringDecoder('utf8');
    const errDec = new StringDecoder('utf8');
    pipes.onStdout((d) => {
      this.out += outDec.write(d);
      this.settle();
    });
    pipes.onStderr((d) => {
      this.err += errDec.write(d);
      this.settle();
    });
    pipes.onClose(() => {
      // the session ended on its own (sudo refused, the shell died) or the connection went away
      const said = this.err.trim().split('\n').filter(Boolean).pop();
      this.ended = said ? `the remote session ended: ${said}` : 'connection lost while a command was running';
      // sudo speaks only when it refuses to start the driver; once the driver answered, sudo is past.
      // No sudo on the host at all (the shell says "sudo: not found"): nothing started either.
      this.notStarted = !this.answered && SUDO_DID_NOT_START.test(said ?? '');
      this.pending?.reject(new ConnectError(host, this.ended, this.notStarted));
      this.pending = undefined;
    });
    pipes.write(key + '\n');
  }

  isEnded(): boolean {
    return this.ended !== undefined;
  }

  run(script: string): Promise<ExecResult> {
    const next = this.queue.then(
      () =>
        new Promise<ExecResult>((resolve, reject) => {
          if (this.ended) return reject(new ConnectError(this.host, this.ended, this.notStarted));
          this.pending = { resolve, reject };
          this.pipes.write(script.endsWith('\n') ? script : script + '\n');
          this.pipes.write(`${RUN_MARK}${this.nonce}\n`);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  private settle(): void {
    if (!this.pending) return;
    const i = this.out.indexOf(this.mark);
    const j = this.err.indexOf(this.mark);
    if (i < 0 || j < 0) return;
    const endOut = this.out.indexOf('\n', i + this.mark.length);
    const endErr = this.err.indexOf('\n', j + this.mark.length);
    if (endOut < 0 || endErr < 0) return;
    const code = Number(this.out.slice(i + this.mark.length, endOut));
    const result: ExecResult = { code, stdout: this.out.slice(0, i), stderr: this.err.slice(0, j), marks: this.marks };
    this.out = this.out.slice(endOut + 1);
    this.err = this.err.slice(endErr + 1);
    const p = this.pending;
    this.pending = undefined;
    this.answered = true;
    p.resolve(result);
  }
}
