// The seam between the transaction and the machines it changes. A transport runs the phase scripts
// of one host in one long-lived session, copies files to it, runs one-off commands and interactive
// shells, and closes. Two kinds: SSH (src/remote/connection.ts: ssh2, one connection per host) and
// local (./local.ts: this machine, no SSH; `hosts: [local]`). The kernel sees only this interface,
// so every guarantee (lock, fencing, heal, all-or-nothing) is the same on both.
import type { Readable } from 'node:stream';
import type { SudoAs } from '../remote/shell.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** a session script's result and failed-step marks (they hold the session key: see sessionCommand) */
  marks?: { output: string; failed: string };
}

export interface ExecOptions {
  /** the command's stdin: this text, or this stream until its end (unpiped when the command ends); none: end-of-file at once */
  stdin?: string | Readable;
  /**
   * the output as the bytes came (fap run passes them through or decodes them itself); when given,
   * the output is the caller's: the result's stdout and stderr are empty (a dump is not held)
   */
  onData?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

/** A pseudo-terminal's type and size (fap shell: the local terminal's). */
export interface Pty {
  term: string;
  rows: number;
  cols: number;
}

/** An interactive command's channel: bytes both ways, resizable, with the exit status. */
export interface PtyChannel {
  write(data: Buffer | string): unknown;
  setWindow(rows: number, cols: number, height: number, width: number): unknown;
  close(): unknown;
  on(name: 'data', listener: (d: Buffer) => void): unknown;
  on(name: 'exit', listener: (code: number | null, signal?: string) => void): unknown;
  on(name: 'close', listener: () => void): unknown;
  stderr: { on(name: 'data', listener: (d: Buffer) => void): unknown };
}

/** Wires a pseudo-terminal to the local one until the shell ends; gives its exit status. */
export interface AttachTerminal {
  (open: (pty: Pty) => Promise<PtyChannel>): Promise<{ code: number | null; signal?: string }>;
  /**
   * The local transport's command runs on fap's own terminal instead: from this call until the
   * returned function, what is typed there is the command's (fap does not end on a Ctrl-C), and
   * any other signal to fap calls stop (end the command).
   */
  foreground?(stop: () => void): () => void;
}

export interface Transport {
  /** the host's name in messages */
  readonly name: string;
  /** the user work runs as before sudo (the SSH login user; for local, whoever runs fap) */
  readonly user: string;
  /** jump hosts on the way, first to last */
  readonly via: string[];
  /** how work runs through sudo (only when sudo_user is not `user`) */
  readonly sudoUser?: SudoAs;
  /** SSH: the known_hosts file the host key was checked against (undefined: no SSH) */
  readonly knownHostsFile?: string;
  /** channels (SSH) or processes (local) started: the round-trip budget, shown by the bench */
  readonly channelsOpened: number;
  /** Run a phase script in the host's long-lived session (opened on first use). */
  runScript(script: string): Promise<ExecResult>;
  /**
   * Copy a local file to the host, readable by its owner only (written as sudo_user when there is
   * one). Resolves to the size of the file that landed on the host, as the host reports it.
   */
  upload(localPath: string, remotePath: string): Promise<number>;
  /** Run one command line (already wrapped for sudo by the caller) and wait for it. */
  exec(command: string, o?: ExecOptions): Promise<ExecResult>;
  /** Run a command line on a terminal (fap shell), wired to the local one by attach. */
  interactive(command: string, attach: AttachTerminal): Promise<{ code: number | null; signal?: string }>;
  /** false once the transport has dropped (a later phase opens a new one) */
  isOpen(): boolean;
  close(): void;
}

/**
 * A command's stdin, for either transport: text (or none: end-of-file at once), or a stream piped
 * until its end. A command that ends before reading all of it lets go of the stream (a write to a
 * closed channel would otherwise never complete and hold the stream back for everyone).
 */
export function feedStdin(stdin: ExecOptions['stdin'], sink: NodeJS.WritableStream, onClose: (fn: () => void) => void): void {
  if (stdin === undefined || typeof stdin === 'string') {
    sink.end(stdin ?? '');
    return;
  }
  stdin.pipe(sink);
  onClose(() => stdin.unpipe(sink));
}
