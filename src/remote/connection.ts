// One ssh2 connection per host. Every script runs as one exec channel over it; channels are
// bounded (OpenSSH's MaxSessions defaults to 10) and counted, so the round-trip budget is visible.
import { createReadStream } from 'node:fs';
import { homedir } from 'node:os';
import pLimit from 'p-limit';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Client, type ConnectConfig, type ExecOptions as ChannelOptions } from 'ssh2';
import { authPlan, type AuthPlan } from './auth.js';
import { asUser, effectiveSudo, quote, sessionCommand, UPLOAD_SCRIPT, type SudoAs } from './shell.js';
import { ConnectError, IdentityError } from '../errors.js';
import { Session } from '../transport/session.js';
import { feedStdin, type AttachTerminal, type ExecOptions, type ExecResult, type Pty, type PtyChannel, type Transport } from '../transport/transport.js';
import { checkHostKey, knownHostLine, preferredHostKeyAlgorithms, readKnownHostsFiles, type Verdict } from './known-hosts.js';

/** One SSH server on the way: the deploy host itself, or a jump host (ProxyJump). */
export interface Endpoint {
  /** the name in messages (the host as deploy.yml or ProxyJump writes it) */
  name: string;
  hostname: string;
  port: number;
  user: string;
  identityFile?: string;
  /** ssh.forward_agent: forward SSH_AUTH_SOCK's agent on every channel (git on the host can use the deployer's keys) */
  forwardAgent?: boolean;
  /** a passphrase for an encrypted identity file may be asked on the terminal */
  interactive?: boolean;
  /** the first user known_hosts file: consulted, and the one accept-new writes to */
  knownHostsFile: string;
  /** the other files consulted (further UserKnownHostsFile entries, GlobalKnownHostsFile); never written */
  otherKnownHostsFiles?: string[];
  /** HostKeyAlias: the name looked up and written instead of hostname (and port) */
  hostKeyAlias?: string;
  connectTimeoutSec: number;
  /** ServerAliveInterval / ServerAliveCountMax; default 15s x 4 */
  keepaliveIntervalSec?: number;
  keepaliveCountMax?: number;
}

export interface ConnectOptions extends Endpoint {
  hostKeyChecking: 'strict' | 'accept-new' | 'off';
  /** jump hosts, first to last (ProxyJump): each is reached through the one before */
  jumps?: Endpoint[];
  /** warnings (host key checking off, ...) */
  warn?: (message: string) => void;
  /** --dry-run: accept-new does not add keys */
  dryRun?: boolean;
  /** sudo_user: remote work runs as this user through sudo -n -u, unless it is the user logged in as */
  sudoUser?: string;
  /** sudo_prefix: its flags (-i, -H, -E) */
  sudoPrefix?: string;
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

/** The SSH transport. */
export class Connection implements Transport {
  channelsOpened = 0;
  private readonly limit = pLimit(MAX_CHANNELS);
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly client: Client,
    /** the jump hosts' connections, first to last; closed with this one */
    private readonly hops: Client[],
    /** the user logged in as, the known_hosts file used, the jump hosts' names */
    readonly user: string,
    readonly knownHostsFile: string,
    readonly via: string[],
    /** how remote work runs through sudo: only when sudo_user is not the login user (decided in open) */
    readonly sudoUser?: SudoAs,
    /** options for every exec channel (agent forwarding) */
    private readonly execOptions: ChannelOptions = {},
  ) {}

  static async open(o: ConnectOptions): Promise<Connection> {
    const chain: Endpoint[] = [...(o.jumps ?? []), o];
    const clients: Client[] = [];
    try {
      let sock: Duplex | undefined;
      for (let i = 0; i < chain.length; i++) {
        const ep = chain[i];
        if (i > 0) sock = await forward(clients[i - 1], chain[i - 1], ep, o);
        clients.push(await connectOne(ep, o, sock, i < chain.length - 1, chain.slice(0, i).map((h) => h.name)));
      }
    } catch (e) {
      for (const c of clients.reverse()) c.end();
      throw e;
    }
    const client = clients.pop()!;
    const execOptions: ChannelOptions = {};
    if (o.forwardAgent) {
      // requested per channel (not ConnectConfig.agentForward) so only our exec channels carry it
      if (process.env.SSH_AUTH_SOCK) (execOptions as { agentForward?: boolean }).agentForward = true;
      else o.warn?.(`${o.name}: ssh.forward_agent is on but SSH_AUTH_SOCK is not set; no agent to forward`);
    }
    const conn = new Connection(o.name, client, clients, o.user, expandHome(o.knownHostsFile), (o.jumps ?? []).map((j) => j.name), effectiveSudo(o.sudoUser, o.user, o.sudoPrefix), execOptions);
    client.on('error', () => {}); // later errors surface on the channel that hits them
    client.on('close', () => {
      conn.closed = true;
      for (const h of [...clients].reverse()) h.end();
    });
    for (const h of clients) {
      h.on('error', () => {});
      // a jump host going away takes the tunnel, and so this connection, with it
      h.on('close', () => client.end());
    }
    return conn;
  }

  /** Run a command line on the host; resolves with its exit code and output. */
  exec(command: string, o: ExecOptions = {}): Promise<ExecResult> {
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
            // no stdin is end-of-file: a command that reads it must not wait for input that never comes
            feedStdin(o.stdin, stream, (fn) => stream.on('close', fn));
            // a character split across packets is decoded whole (so a secret in it is still found)
            const outDec = new StringDecoder('utf8');
            const errDec = new StringDecoder('utf8');
            stream.on('data', (d: Buffer) => {
              if (onData) onData('stdout', d);
              else stdout += outDec.write(d);
            });
            stream.stderr.on('data', (d: Buffer) => {
              if (onData) onData('stderr', d);
              else stderr += errDec.write(d);
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

  /**
   * Run a command on a pseudo-terminal (fap shell): the caller wires the channel to its terminal,
   * resizes it (setWindow) and waits for 'exit' and 'close'.
   */
  execPty(command: string, pty: Pty): Promise<PtyChannel> {
    return new Promise<PtyChannel>((resolve, reject) => {
      if (this.closed) return reject(new ConnectError(this.name, 'connection closed'));
      this.channelsOpened++;
      const options: ChannelOptions = { ...this.execOptions, pty: { term: pty.term, rows: pty.rows, cols: pty.cols, width: 0, height: 0 } };
      this.client.exec(command, options, (err, stream) => {
        if (err) return reject(new ConnectError(this.name, `cannot open a channel: ${err.message}`));
        resolve(stream);
      });
    });
  }

  interactive(command: string, attach: AttachTerminal): Promise<{ code: number | null; signal?: string }> {
    return attach((pty) => this.execPty(command, pty));
  }

  private session?: Promise<Session>;
  private sessionEnded?: () => boolean;


  /** Run a script in this host's long-lived session (opened on first use: one channel per run). */
  runScript(script: string): Promise<ExecResult> {
    // a session that ended (its process was killed) is replaced while the connection lives
    if (this.sessionEnded?.()) this.session = undefined;
    this.session ??= this.openSession();
    const s = this.session;
    return s.then((session) => session.run(script));
  }

  private openSession(): Promise<Session> {
    return this.limit(
      () =>
        new Promise<Session>((resolve, reject) => {
          if (this.closed) return reject(new ConnectError(this.name, 'connection closed'));
          this.channelsOpened++;
          const nonce = randomBytes(9).toString('hex');
          // the key goes over stdin only: a process on the host can read the nonce in ps, never the key
          const key = randomBytes(18).toString('hex');
          this.client.exec(sessionCommand(nonce, this.sudoUser), this.execOptions, (err, stream) => {
            if (err) return reject(new ConnectError(this.name, `cannot open a channel: ${err.message}`));
            const session = new Session(
              this.name,
              { write: (s) => stream.write(s), onStdout: (fn) => stream.on('data', fn), onStderr: (fn) => stream.stderr.on('data', fn), onClose: (fn) => stream.on('close', fn) },
              nonce,
              key,
            );
            this.sessionEnded = () => session.isEnded();
            resolve(session);
          });
        }),
    );
  }

  /**
   * Copy a local file to the host (one channel), readable by its owner only. With sudo_user the
   * bytes are streamed into a file sudo_user creates (umask 077), so they never sit where another
   * user could read them; otherwise SFTP writes it as the SSH user, mode 0600.
   */
  upload(localPath: string, remotePath: string): Promise<number> {
    const failed = (m: string) => new ConnectError(this.name, `upload of ${localPath} to ${remotePath} failed: ${m}`);
    if (this.sudoUser) {
      const line = asUser(`/bin/sh -c ${quote(UPLOAD_SCRIPT)} fap-upload ${quote(remotePath)}`, this.sudoUser);
      return this.limit(
        () =>
          new Promise<number>((resolve, reject) => {
            if (this.closed) return reject(new ConnectError(this.name, 'connection closed'));
            this.channelsOpened++;
            this.client.exec(line, this.execOptions, (err, stream) => {
              if (err) return reject(new ConnectError(this.name, `cannot open a channel: ${err.message}`));
              let stderr = '';
              let stdout = '';
              let code: number | null = null;
              stream.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
              stream.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
              stream.on('exit', (c: number | null) => (code = c ?? 255));
              stream.on('close', () => (code === 0 ? resolve(Number(stdout.trim())) : reject(failed(stderr.trim().split('\n').pop() || (code === null ? 'connection lost' : `exit code ${code}`)))));
              const file = createReadStream(localPath);
              file.on('error', (e) => {
                stream.close();
                reject(failed(e.message));
              });
              file.pipe(stream);
            });
          }),
      );
    }
    return this.limit(
      () =>
        new Promise<number>((resolve, reject) => {
          if (this.closed) return reject(new ConnectError(this.name, 'connection closed'));
          this.channelsOpened++;
          this.client.sftp((err, sftp) => {
            if (err) return reject(new ConnectError(this.name, `cannot open SFTP: ${err.message}`));
            sftp.fastPut(localPath, remotePath, { mode: 0o600 }, (e) => {
              if (e) {
                sftp.end();
                return reject(failed(e.message));
              }
              sftp.stat(remotePath, (se, st) => {
                sftp.end();
                if (se) reject(failed(se.message));
                else resolve(st.size);
              });
            });
          });
        }),
    );
  }

  /** false once the connection has dropped (a later phase opens a new one) */
  isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    this.closed = true;
    this.client.end();
    for (const h of [...this.hops].reverse()) h.end();
  }
}

/**
 * Connect and authenticate to one endpoint (directly, or over sock: a tunnel through the previous
 * hop). Errors name the jump host when the endpoint is one, and the route when it was used.
 */
async function connectOne(ep: Endpoint, o: ConnectOptions, sock: Duplex | undefined, isHop: boolean, via: string[]): Promise<Client> {
  const knownHostsFile = expandHome(ep.knownHostsFile);
  const files = [knownHostsFile, ...(ep.otherKnownHostsFiles ?? []).map(expandHome)];
  const entries = readKnownHostsFiles(files);
  const say = (message: string) => new ConnectError(o.name, (isHop ? `jump host ${ep.name}: ` : '') + message + (via.length ? ` (via ${via.join(' -> ')})` : ''));
  let refusal: string | undefined;
  const client = new Client();
  const config: ConnectConfig = {
    host: ep.hostname,
    port: ep.port,
    username: ep.user,
    readyTimeout: ep.connectTimeoutSec * 1000,
    keepaliveInterval: (ep.keepaliveIntervalSec ?? 15) * 1000,
    keepaliveCountMax: ep.keepaliveCountMax ?? 4,
    algorithms: { serverHostKey: preferredHostKeyAlgorithms(entries, ep.hostname, ep.port, ep.hostKeyAlias) as never },
    hostVerifier: (key: Buffer) => {
      const r = checkHostKey({ files, host: ep.hostname, port: ep.port, alias: ep.hostKeyAlias, mode: o.hostKeyChecking, dryRun: o.dryRun }, entries, key);
      const who = isHop ? `${o.name}: jump host ${ep.name}` : o.name;
      if (r.verdict.ok) return true;
      if (r.accept && r.added) o.warn?.(`${who}: added ${r.verdict.keyType} ${r.verdict.fingerprint} to ${r.added}`);
      else if (r.accept) o.warn?.(`${who}: host key NOT verified (ssh.host_key_checking: off); ${r.verdict.keyType} ${r.verdict.fingerprint}`);
      else refusal = refusalMessage(r.verdict, ep, files, key);
      return r.accept;
    },
  };
  if (sock) config.sock = sock as ConnectConfig['sock'];
  const identity = ep.identityFile ? expandHome(ep.identityFile) : undefined;
  let plan: AuthPlan;
  try {
    plan = await authPlan({ user: ep.user, identityFile: identity, agentSocket: process.env.SSH_AUTH_SOCK || undefined, interactive: !!ep.interactive });
  } catch (e) {
    if (e instanceof IdentityError) throw say(e.message);
    throw e;
  }
  config.authHandler = plan.handler;
  if (plan.agent) config.agent = plan.agent;
  return new Promise((resolve, reject) => {
    let settled = false;
    let received = false;
    const fail = (err: Error & { level?: string; code?: string }) => {
      // an unreachable agent is not fatal: ssh2 goes on with the next method (plan.tried() says so)
      if (err.level === 'agent' || settled) return;
      settled = true;
      clearTimeout(bound);
      client.removeAllListeners('ready');
      client.end();
      if (refusal) return reject(say(refusal));
      if (err.level === 'client-authentication') {
        // ssh2 says "All configured authentication methods failed": say who, where, and what was offered
        const at = ep.name === address || ep.name === ep.hostname ? '' : ` at ${address}`;
        return reject(say(`authentication failed for user "${ep.user}" (tried: ${plan.tried()})${at}`));
      }
      if (foreign()) return reject(say(foreignMessage()));
      if (err.level === 'client-timeout' || /Timed out/.test(err.message)) {
        return reject(say(`no SSH answer within ${ep.connectTimeoutSec}s (${address})`));
      }
      if (err.level === 'fap-closed') return reject(say(err.message));
      // the peer went away while we wrote (EPIPE), ssh2 noticed it first ("Connection lost before
      // handshake"), or it reset the connection before saying anything: the same early close, in
      // the same words whichever the timing made it
      if (/lost before handshake/i.test(err.message) || err.code === 'EPIPE' || (err.code === 'ECONNRESET' && !received)) return reject(say(closedMessage()));
      const why = NETWORK_ERRORS[err.code ?? ''] ?? err.message;
      reject(say(`cannot connect to ${address}: ${why}`));
    };
    const address = `${ep.hostname}:${ep.port}`;
    // the first bytes the peer sent: an SSH server starts with "SSH-" (RFC 4253 allows other lines
    // before it, which ssh2 skips); a web server or a database answers something else
    let greeting = '';
    const foreign = () => received && !/(^|\n)SSH-/.test(greeting) && /\n|.{40}/s.test(greeting);
    const foreignMessage = () => `${address} is not an SSH server: it answered ${JSON.stringify(greeting.split(/\r?\n/)[0].slice(0, 60))}; is this the SSH port?`;
    // ssh2 emits neither error nor ready when the peer closes during the handshake, and clears its
    // own ready timeout then: a close before ready is a failure, and our own timer bounds the rest
    const closedMessage = () =>
      foreign()
        ? foreignMessage()
        : received
          ? `connection closed during the SSH handshake (${address})`
          : `connection closed before the SSH greeting (${address}): is this an SSH port?`;
    const closed = () => fail(Object.assign(new Error(closedMessage()), { level: 'fap-closed' }));
    const bound = setTimeout(() => fail(Object.assign(new Error('Timed out'), { level: 'client-timeout' })), ep.connectTimeoutSec * 1000 + 2000);
    client.on('error', fail);
    client.on('end', closed);
    client.on('close', closed);
    client.on('handshake', (negotiated: { serverHostKey?: string }) => {
      // ssh-rsa host key signatures are SHA-1, which OpenSSH no longer accepts by default
      if (negotiated.serverHostKey === 'ssh-rsa') warnSha1(isHop ? `${o.name}: jump host ${ep.name}` : o.name, o);
    });
    client.once('ready', () => {
      settled = true;
      clearTimeout(bound);
      client.removeListener('error', fail);
      client.removeListener('end', closed);
      client.removeListener('close', closed);
      resolve(client);
    });
    try {
      client.connect(config);
      // the socket ssh2 reads (its own, or the tunnel): did the peer send anything at all?
      (client as unknown as { _sock?: Duplex })._sock?.on('data', (d: Buffer) => {
        received = true;
        if (greeting.length < 256) greeting += d.toString('latin1');
      });
    } catch (e) {
      fail(e as Error);
    }
  });
}

const sha1Warned = new Set<string>();
/** Once per host and run: the host signed with ssh-rsa (SHA-1). */
function warnSha1(who: string, o: ConnectOptions): void {
  if (sha1Warned.has(who)) return;
  sha1Warned.add(who);
  o.warn?.(`${who}: the host key signature is ssh-rsa (SHA-1), which OpenSSH refuses by default since 8.8; give the host an ed25519 key or enable rsa-sha2-256/512 on it`);
}

/** CHANNEL_OPEN_FAILURE reasons (RFC 4254) */
const OPEN_PROHIBITED = 1;

/** A tunnel from a jump host to the next endpoint (what `ssh -W host:port` asks for). */
function forward(hop: Client, from: Endpoint, to: Endpoint, o: ConnectOptions): Promise<Duplex> {
  const route = [...(o.jumps ?? [])];
  const names = route.slice(0, route.indexOf(from as never) + 1).map((h) => h.name);
  const prefix = `jump host ${from.name} cannot connect to ${to.hostname}:${to.port}`;
  const tail = names.length > 1 ? ` (via ${names.slice(0, -1).join(' -> ')})` : '';
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new ConnectError(o.name, `${prefix}: no answer within ${to.connectTimeoutSec}s${tail}`));
    }, to.connectTimeoutSec * 1000);
    try {
      hop.forwardOut('127.0.0.1', 0, to.hostname, to.port, (err, stream) => {
        clearTimeout(timer);
        if (settled) {
          stream?.destroy();
          return;
        }
        settled = true;
        if (err) return reject(new ConnectError(o.name, `${prefix}: ${forwardFailure(err as Error & { reason?: number })}${tail}`));
        resolve(stream);
      });
    } catch (e) {
      clearTimeout(timer);
      settled = true;
      reject(new ConnectError(o.name, `${prefix}: ${(e as Error).message}${tail}`));
    }
  });
}

/** What the jump host said, in the words fap uses for a direct connection. */
export function forwardFailure(err: { message: string; reason?: number }): string {
  const m = err.message.replace(/^\(SSH\) Channel open failure:\s*/, '');
  if (/refused/i.test(m)) return NETWORK_ERRORS.ECONNREFUSED;
  if (/no route|host.*unreachable/i.test(m)) return NETWORK_ERRORS.EHOSTUNREACH;
  if (/network.*unreachable/i.test(m)) return NETWORK_ERRORS.ENETUNREACH;
  if (/not known|unknown host|nodename|name.*resolution|no address/i.test(m)) return NETWORK_ERRORS.ENOTFOUND;
  if (/timed out/i.test(m)) return NETWORK_ERRORS.ETIMEDOUT;
  if (err.reason === OPEN_PROHIBITED) return `the jump host refused to forward (AllowTcpForwarding / PermitOpen on it)${m ? ': ' + m : ''}`;
  return m || 'channel open failure';
}

function refusalMessage(v: Exclude<Verdict, { ok: true }>, o: Endpoint, files: string[], key: Buffer): string {
  const line = knownHostLine(o.hostname, o.port, key, o.hostKeyAlias);
  // the entry that decided names its file and line; an unknown key names every file searched
  const at = v.entry?.file ? `${v.entry.file} line ${v.entry.line}` : files[0];
  if (v.reason === 'cert-authority') {
    return `known_hosts (${at}) trusts a certificate authority for this host, but the host presented a plain ${v.keyType} key ${v.fingerprint}, not a certificate, and fap does not verify host certificates; if the key is right, add: ${line}`;
  }
  if (v.reason === 'revoked') return `host key ${v.keyType} ${v.fingerprint} is marked @revoked in ${at}; refusing to connect`;
  if (v.reason === 'changed') {
    return `HOST KEY CHANGED: the ${v.keyType} key is now ${v.fingerprint}, which does not match ${at}. This may be an attack; if the change is expected, replace the old entry with: ${line}`;
  }
  return `unknown host key ${v.keyType} ${v.fingerprint} (not in ${files.join(', ')}); verify it, then add this line to ${files[0]}: ${line}  (or set ssh.host_key_checking: accept-new)`;
}
