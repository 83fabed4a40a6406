// One ssh2 connection per host. Every script runs as one exec channel over it; channels are
// bounded (OpenSSH's MaxSessions defaults to 10) and counted, so the round-trip budget is visible.
import { appendFileSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import pLimit from 'p-limit';
import { randomBytes } from 'node:crypto';
import { Client, type ClientChannel, type ConnectConfig, type ExecOptions } from 'ssh2';
import { authPlan, IdentityError, type AuthPlan } from './auth.js';
import { DONE_MARK, RUN_MARK, sessionCommand } from './shell.js';
import { FapError } from '../errors.js';
import { knownHostLine, preferredHostKeyAlgorithms, readKnownHosts, verifyHostKey, type Verdict } from './known-hosts.js';

export interface ConnectOptions {
  name: string;
  hostname: string;
  port: number;
  user: string;
  identityFile?: string;
  /** ssh.forward_agent: forward SSH_AUTH_SOCK's agent on every channel (git on the host can use the deployer's keys) */
  forwardAgent?: boolean;
  /** a passphrase for an encrypted identity file may be asked on the terminal */
  interactive?: boolean;
  knownHostsFile: string;
  hostKeyChecking: 'strict' | 'accept-new' | 'off';
  connectTimeoutSec: number;
  /** warnings (host key checking off, ...) */
  warn?: (message: string) => void;
  /** --dry-run: accept-new does not add keys */
  dryRun?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class ConnectError extends FapError {
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(`${host}: ${message}`);
  }
}

const MAX_CHANNELS = 8;

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is sshd running on that port?)',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset by the host',
};

export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? homedir() + p.slice(1) : p;
}

export class Connection {
  channelsOpened = 0;
  private readonly limit = pLimit(MAX_CHANNELS);
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly client: Client,
    /** options for every exec channel (agent forwarding) */
    private readonly execOptions: ExecOptions,
  ) {}

  static async open(o: ConnectOptions): Promise<Connection> {
    const knownHostsFile = expandHome(o.knownHostsFile);
    const entries = readKnownHosts(knownHostsFile);
    let refusal: string | undefined;
    const client = new Client();
    const config: ConnectConfig = {
      host: o.hostname,
      port: o.port,
      username: o.user,
      readyTimeout: o.connectTimeoutSec * 1000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      algorithms: { serverHostKey: preferredHostKeyAlgorithms(entries, o.hostname, o.port) as never },
      hostVerifier: (key: Buffer) => {
        const verdict = verifyHostKey(entries, o.hostname, o.port, key);
        if (verdict.ok) return true;
        if (o.hostKeyChecking === 'off') {
          o.warn?.(`${o.name}: host key NOT verified (ssh.host_key_checking: off); ${verdict.keyType} ${verdict.fingerprint}`);
          return true;
        }
        if (o.hostKeyChecking === 'accept-new' && verdict.reason === 'unknown' && !o.dryRun) {
          mkdirSync(dirname(knownHostsFile), { recursive: true });
          appendFileSync(knownHostsFile, knownHostLine(o.hostname, o.port, key) + '\n');
          o.warn?.(`${o.name}: added ${verdict.keyType} ${verdict.fingerprint} to ${knownHostsFile}`);
          return true;
        }
        refusal = refusalMessage(verdict, o, knownHostsFile, key);
        return false;
      },
    };
    const identity = o.identityFile ? expandHome(o.identityFile) : undefined;
    const agentSocket = process.env.SSH_AUTH_SOCK || undefined;
    let plan: AuthPlan;
    try {
      plan = await authPlan({ user: o.user, identityFile: identity, agentSocket, interactive: !!o.interactive });
    } catch (e) {
      if (e instanceof IdentityError) throw new ConnectError(o.name, e.message);
      throw e;
    }
    config.authHandler = plan.handler;
    const execOptions: ExecOptions = {};
    if (plan.agent) config.agent = plan.agent;
    if (o.forwardAgent) {
      // requested per channel (not ConnectConfig.agentForward) so only our exec channels carry it
      if (plan.agent) (execOptions as { agentForward?: boolean }).agentForward = true;
      else o.warn?.(`${o.name}: ssh.forward_agent is on but SSH_AUTH_SOCK is not set; no agent to forward`);
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error & { level?: string; code?: string }) => {
        // an unreachable agent is not fatal: ssh2 goes on with the next method (plan.tried() says so)
        if (err.level === 'agent') return;
        if (settled) return;
        settled = true;
        client.removeAllListeners('ready');
        client.end();
        if (refusal) return reject(new ConnectError(o.name, refusal));
        if (err.level === 'client-authentication') {
          return reject(new ConnectError(o.name, `authentication failed for user "${o.user}" (tried: ${plan.tried()})`));
        }
        if (err.level === 'client-timeout' || /Timed out/.test(err.message)) {
          return reject(new ConnectError(o.name, `no SSH answer within ${o.connectTimeoutSec}s (${o.hostname}:${o.port})`));
        }
        const why = NETWORK_ERRORS[err.code ?? ''] ?? err.message;
        reject(new ConnectError(o.name, `cannot connect to ${o.hostname}:${o.port}: ${why}`));
      };
      client.on('error', fail);
      client.once('ready', () => {
        settled = true;
        client.removeListener('error', fail);
        const conn = new Connection(o.name, client, execOptions);
        client.on('error', () => {}); // later errors surface on the channel that hits them
        client.on('close', () => (conn.closed = true));
        resolve(conn);
      });
      try {
        client.connect(config);
      } catch (e) {
        fail(e as Error);
      }
    });
  }

  /** Run a command line on the host; resolves with its exit code and output. */
  exec(command: string, o: { stdin?: string; onData?: (stream: 'stdout' | 'stderr', chunk: string) => void } = {}): Promise<ExecResult> {
    const onData = o.onData;
    return this.limit(
      () =>
        new Promise<ExecResult>((resolve, reject) => {
          if (this.closed) return reject(new ConnectError(this.name, 'connection closed'));
          this.channelsOpened++;
          this.client.exec(command, this.execOptions, (err, stream) => {
            if (err) return reject(new ConnectError(this.name, `cannot open a channel: ${err.message}`));
            let stdout = '';
            let stderr = '';
            let code: number | null = null;
            if (o.stdin !== undefined) stream.end(o.stdin);
            stream.on('data', (d: Buffer) => {
              const s = d.toString('utf8');
              stdout += s;
              onData?.('stdout', s);
            });
            stream.stderr.on('data', (d: Buffer) => {
              const s = d.toString('utf8');
              stderr += s;
              onData?.('stderr', s);
            });
            stream.on('exit', (c: number | null, signal?: string) => {
              code = c ?? (signal ? 128 : 255);
            });
            stream.on('close', () => {
              if (code === null) return reject(new ConnectError(this.name, 'connection lost while a command was running'));
              resolve({ code, stdout, stderr });
            });
          });
        }),
    );
  }

  private session?: Promise<RemoteSession>;

  /** Run a script in this host's long-lived session (opened on first use: one channel per run). */
  runScript(script: string): Promise<ExecResult> {
    this.session ??= this.openSession();
    const s = this.session;
    return s.then((session) => session.run(script));
  }

  private openSession(): Promise<RemoteSession> {
    return this.limit(
      () =>
        new Promise<RemoteSession>((resolve, reject) => {
          if (this.closed) return reject(new ConnectError(this.name, 'connection closed'));
          this.channelsOpened++;
          const nonce = randomBytes(9).toString('hex');
          this.client.exec(sessionCommand(nonce), this.execOptions, (err, stream) => {
            if (err) return reject(new ConnectError(this.name, `cannot open a channel: ${err.message}`));
            resolve(new RemoteSession(this.name, stream, nonce));
          });
        }),
    );
  }

  /** Copy a local file to the host over SFTP (one channel). */
  upload(localPath: string, remotePath: string): Promise<void> {
    return this.limit(
      () =>
        new Promise<void>((resolve, reject) => {
          if (this.closed) return reject(new ConnectError(this.name, 'connection closed'));
          this.channelsOpened++;
          this.client.sftp((err, sftp) => {
            if (err) return reject(new ConnectError(this.name, `cannot open SFTP: ${err.message}`));
            sftp.fastPut(localPath, remotePath, { mode: 0o600 }, (e) => {
              sftp.end();
              if (e) reject(new ConnectError(this.name, `upload of ${localPath} to ${remotePath} failed: ${e.message}`));
              else resolve();
            });
          });
        }),
    );
  }

  close(): void {
    this.closed = true;
    this.client.end();
  }
}

/**
 * One exec channel running the session driver (shell.ts sessionCommand): scripts go in one at a
 * time; each answer ends with the done mark on both stdout and stderr.
 */
class RemoteSession {
  private out = '';
  private err = '';
  private pending?: { resolve: (r: ExecResult) => void; reject: (e: Error) => void };
  private queue: Promise<unknown> = Promise.resolve();
  private ended?: string;
  private readonly mark: string;

  constructor(
    private readonly host: string,
    private readonly stream: ClientChannel,
    private readonly nonce: string,
  ) {
    this.mark = `\n${DONE_MARK}${nonce}:`;
    stream.on('data', (d: Buffer) => {
      this.out += d.toString('utf8');
      this.settle();
    });
    stream.stderr.on('data', (d: Buffer) => {
      this.err += d.toString('utf8');
      this.settle();
    });
    stream.on('close', () => {
      this.ended = 'connection lost while a command was running';
      this.pending?.reject(new ConnectError(host, this.ended));
      this.pending = undefined;
    });
  }

  run(script: string): Promise<ExecResult> {
    const next = this.queue.then(
      () =>
        new Promise<ExecResult>((resolve, reject) => {
          if (this.ended) return reject(new ConnectError(this.host, this.ended));
          this.pending = { resolve, reject };
          this.stream.write(script.endsWith('\n') ? script : script + '\n');
          this.stream.write(`${RUN_MARK}${this.nonce}\n`);
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
    const result: ExecResult = { code, stdout: this.out.slice(0, i), stderr: this.err.slice(0, j) };
    this.out = this.out.slice(endOut + 1);
    this.err = this.err.slice(endErr + 1);
    const p = this.pending;
    this.pending = undefined;
    p.resolve(result);
  }
}

function refusalMessage(v: Exclude<Verdict, { ok: true }>, o: ConnectOptions, file: string, key: Buffer): string {
  const line = knownHostLine(o.hostname, o.port, key);
  if (v.reason === 'revoked') return `host key ${v.keyType} ${v.fingerprint} is marked @revoked in ${file}; refusing to connect`;
  if (v.reason === 'changed') {
    return `HOST KEY CHANGED: the ${v.keyType} key is now ${v.fingerprint}, which does not match ${file}. This may be an attack; if the change is expected, replace the old entry with: ${line}`;
  }
  return `unknown host key ${v.keyType} ${v.fingerprint} (not in ${file}); verify it, then add this line to ${file}: ${line}  (or set ssh.host_key_checking: accept-new)`;
}
