// The local transport: `hosts: [local]` deploys on the machine running fap, without SSH (Deployer's
// localhost()). The same session driver runs as a child process instead of behind an exec channel,
// so the scripts, the lock and its lease, the fencing and the watchdog are exactly the SSH ones:
// the driver's anchor is fap itself, so killing fap ends whatever the session was running.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { ConnectError } from '../errors.js';
import { asUser, effectiveSudo, quote, sessionCommand, UPLOAD_SCRIPT, type SudoAs } from '../remote/shell.js';
import { LOCAL_HOST } from '../config/hosts.js';
import { Session } from './session.js';
import { feedStdin, type AttachTerminal, type ExecOptions, type ExecResult, type Transport } from './transport.js';

export interface LocalOptions {
  /** sudo_user: work runs as this user through sudo -n -u, unless it is the user running fap */
  sudoUser?: string;
  sudoPrefix?: string;
  /** ssh.forward_agent: the deployer's agent (SSH_AUTH_SOCK) is passed on, as a forwarded one is */
  forwardAgent?: boolean;
}

/**
 * What the host's work sees of fap's environment: what a login over SSH would have (who, where,
 * the locale sshd accepts, PATH), never the rest: a GIT_DIR, a CI job's tokens or a virtualenv
 * fap was started in must not change what the scripts do, nor reach `fap run` (found by the
 * attack pass: GIT_DIR set for fap broke the git plugin on the local host only).
 */
export function sessionEnv(env: NodeJS.ProcessEnv = process.env, forwardAgent = false): NodeJS.ProcessEnv {
  const me = userInfo();
  const kept = Object.entries(env).filter(([k]) => k === 'PATH' || k === 'TZ' || k === 'LANG' || k.startsWith('LC_') || (forwardAgent && k === 'SSH_AUTH_SOCK'));
  return { ...Object.fromEntries(kept), HOME: me.homedir, USER: me.username, LOGNAME: me.username, SHELL: me.shell ?? '/bin/sh' };
}

export class LocalTransport implements Transport {
  readonly via: string[] = [];
  readonly user = userInfo().username;
  readonly sudoUser?: SudoAs;
  channelsOpened = 0;
  private closed = false;
  private session?: Session;
  private driver?: ChildProcess;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly name: string = LOCAL_HOST,
    o: LocalOptions = {},
  ) {
    this.sudoUser = effectiveSudo(o.sudoUser, this.user, o.sudoPrefix);
    this.env = sessionEnv(process.env, o.forwardAgent);
  }

  runScript(script: string): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new ConnectError(this.name, 'connection closed'));
    // a driver that ended (killed) is replaced, as a dropped SSH session is
    if (!this.session || this.session.isEnded()) this.session = this.openSession();
    return this.session.run(script);
  }

  private openSession(): Session {
    const nonce = randomBytes(9).toString('hex');
    const key = randomBytes(18).toString('hex');
    const child = this.start(sessionCommand(nonce, this.sudoUser));
    this.driver = child;
    return new Session(
      this.name,
      {
        // a driver that died has a closed stdin: its close event reports the end, not EPIPE
        write: (s) => void (child.stdin!.writable && child.stdin!.write(s)),
        onStdout: (fn) => child.stdout!.on('data', fn),
        onStderr: (fn) => child.stderr!.on('data', fn),
        onClose: (fn) => child.on('close', fn),
      },
      nonce,
      key,
    );
  }

  /** /bin/sh -c line, pipes on all three streams; a failure to start is the close of a process that said why. */
  private start(line: string): ChildProcess {
    this.channelsOpened++;
    const child = spawn('/bin/sh', ['-c', line], { stdio: ['pipe', 'pipe', 'pipe'], env: this.env });
    child.stdin!.on('error', () => {});
    child.on('error', () => {});
    return child;
  }

  exec(command: string, o: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new ConnectError(this.name, 'connection closed'));
    return new Promise((resolve) => {
      const child = this.start(command);
      let stdout = '';
      let stderr = '';
      const outDec = new StringDecoder('utf8');
      const errDec = new StringDecoder('utf8');
      child.stdout!.on('data', (d: Buffer) => {
        if (o.onData) o.onData('stdout', d);
        else stdout += outDec.write(d);
      });
      child.stderr!.on('data', (d: Buffer) => {
        if (o.onData) o.onData('stderr', d);
        else stderr += errDec.write(d);
      });
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 255), stdout, stderr }));
      feedStdin(o.stdin, child.stdin!, (fn) => child.on('close', fn));
    });
  }

  /**
   * Copy a file, readable by its owner only: created with mode 0600 by the user running fap, or,
   * with a sudo_user, streamed into a file sudo_user creates under umask 077 (as over SSH).
   */
  async upload(localPath: string, remotePath: string): Promise<number> {
    const failed = (m: string) => new ConnectError(this.name, `upload of ${localPath} to ${remotePath} failed: ${m}`);
    if (this.closed) throw new ConnectError(this.name, 'connection closed');
    if (!this.sudoUser) {
      try {
        await pipeline(createReadStream(localPath), createWriteStream(remotePath, { mode: 0o600 }));
        await chmod(remotePath, 0o600);
        return (await stat(remotePath)).size;
      } catch (e) {
        throw failed((e as Error).message);
      }
    }
    const child = this.start(asUser(`/bin/sh -c ${quote(UPLOAD_SCRIPT)} fap-upload ${quote(remotePath)}`, this.sudoUser));
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => {
      child.on('close', (c) => resolve(c));
      const file = createReadStream(localPath);
      file.on('error', (e) => {
        stderr += e.message;
        child.stdin!.destroy();
      });
      file.pipe(child.stdin!);
    });
    if (code !== 0) throw failed(stderr.trim().split('\n').pop() || `exit code ${code}`);
    return Number(stdout.trim());
  }

  /**
   * fap shell and fap run -i on this machine: the command on fap's own terminal (no pseudo-terminal
   * to relay, the window size is the terminal's own); a Ctrl-C typed there is the command's.
   */
  interactive(command: string, attach: AttachTerminal): Promise<{ code: number | null; signal?: string }> {
    return new Promise((resolve, reject) => {
      this.channelsOpened++;
      const child = spawn('/bin/sh', ['-c', command], { stdio: 'inherit', env: this.env });
      // fap was asked to stop (SIGTERM, SIGHUP): so is the command, as a closed ssh session would
      const back = attach.foreground?.(() => void child.kill('SIGHUP'));
      child.on('error', (e) => {
        back?.();
        reject(e);
      });
      child.on('close', (code, signal) => {
        back?.();
        resolve({ code, signal: signal ?? undefined });
      });
    });
  }

  isOpen(): boolean {
    return !this.closed;
  }

  /** The driver reads end-of-file and exits after the script it is running, as over SSH. */
  close(): void {
    this.closed = true;
    this.driver?.stdin?.end();
  }
}
