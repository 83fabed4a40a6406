// Client authentication, in OpenSSH's spirit: the configured identity file first, then the ssh
// agent (SSH_AUTH_SOCK); without an identity file, the agent and then the default keys
// (~/.ssh/id_ed25519, id_ecdsa, id_rsa). Keys are parsed here (ssh2's utils.parseKey) so a bad file,
// an encrypted key without its passphrase or a wrong passphrase is a clear error before any host
// is contacted. RSA keys sign with rsa-sha2-256/512 (ssh2 picks them from the server's
// server-sig-algs). Key material never appears in a message.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, IdentityCallback, AuthenticationType, AuthHandlerMiddleware, ParsedKey } from 'ssh2';
import { IdentityError, Interrupted } from '../errors.js';

// ssh2 is CommonJS: only some of its exports are visible as ESM named exports
const { OpenSSHAgent, utils } = ssh2;

export const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
const SUPPORTED = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521))$/;
const PROMPT_ATTEMPTS = 3;

/** Why an identity could not be loaded; becomes each host's connection error. */

export interface LoadOptions {
  /** a passphrase may be asked on the terminal (stdin and stderr are TTYs, not --json) */
  interactive: boolean;
}

/** The ssh agent at a socket; remembers how many keys it offered (for the failure message). */
export class CountingAgent extends OpenSSHAgent {
  offered?: number;
  failure?: string;
  constructor(readonly socketPath: string) {
    super(socketPath);
  }
  override getIdentities(cb: IdentityCallback<ParsedKey>): void {
    super.getIdentities((err, keys) => {
      if (err) this.failure = err.message;
      else this.offered = (keys as unknown[] | undefined)?.length ?? 0;
      cb(err, keys);
    });
  }
  describe(): string {
    if (this.failure !== undefined) return `ssh-agent at ${this.socketPath} (unusable: ${this.failure})`;
    if (this.offered === undefined) return 'ssh-agent';
    return `ssh-agent with ${this.offered} key${this.offered === 1 ? '' : 's'}`;
  }
}

type Parsed = { ok: true; key: ParsedKey } | { ok: false; encrypted: boolean; badPassphrase: boolean; message: string };

function parse(data: Buffer, passphrase?: string): Parsed {
  const r = utils.parseKey(data, passphrase);
  if (r instanceof Error) {
    return { ok: false, encrypted: /no passphrase given/i.test(r.message), badPassphrase: /bad passphrase/i.test(r.message), message: r.message };
  }
  const key = Array.isArray(r) ? r[0] : r;
  return { ok: true, key };
}

function checkKey(file: string, key: ParsedKey): ParsedKey {
  if (!key.isPrivateKey()) throw new IdentityError(`identity file ${file} holds a public key; point ssh.identity_file at the private key`);
  if (!SUPPORTED.test(key.type)) throw new IdentityError(`identity file ${file}: unsupported key type ${key.type} (use ed25519, ecdsa or rsa)`);
  return key;
}

function readKey(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new IdentityError(`cannot read identity file ${file}: ${why}`);
  }
}

const cache = new Map<string, Promise<ParsedKey>>();

/**
 * The private key in `file`, decrypted with FAP_SSH_PASSPHRASE or a passphrase typed on the
 * terminal (asked once per file per run, however many hosts). Rejects with an IdentityError.
 */
export function loadIdentity(file: string, o: LoadOptions): Promise<ParsedKey> {
  let p = cache.get(file);
  if (!p) {
    p = (async () => {
      const data = readKey(file);
      const plain = parse(data);
      if (plain.ok) return checkKey(file, plain.key);
      if (!plain.encrypted) throw new IdentityError(`identity file ${file}: ${unsupported(plain.message)}`);
      const env = process.env.FAP_SSH_PASSPHRASE;
      if (env !== undefined && env !== '') {
        const r = parse(data, env);
        if (r.ok) return checkKey(file, r.key);
        throw new IdentityError(`identity file ${file}: wrong passphrase (from FAP_SSH_PASSPHRASE)`);
      }
      if (!o.interactive) throw new IdentityError(`identity file ${file} is encrypted; set FAP_SSH_PASSPHRASE`);
      for (let i = 0; i < PROMPT_ATTEMPTS; i++) {
        const typed = await promptHidden(`Enter passphrase for ${file}: `);
        const r = parse(data, typed);
        if (r.ok) return checkKey(file, r.key);
        if (i < PROMPT_ATTEMPTS - 1) process.stderr.write('Wrong passphrase, try again.\n');
      }
      throw new IdentityError(`identity file ${file}: wrong passphrase (${PROMPT_ATTEMPTS} attempts)`);
    })();
    p.catch(() => {});
    cache.set(file, p);
  }
  return p;
}

function unsupported(message: string): string {
  if (/unsupported key format/i.test(message)) return 'not a private key fap can read (OpenSSH, PEM or PPK format; ed25519, ecdsa or rsa)';
  return message;
}

/**
 * The default keys that exist and can be used without asking: unencrypted, or decrypted with
 * FAP_SSH_PASSPHRASE. The others are listed in `skipped` (shown if authentication fails).
 */
export function defaultKeys(): { keys: { file: string; key: ParsedKey }[]; skipped: string[] } {
  const keys: { file: string; key: ParsedKey }[] = [];
  const skipped: string[] = [];
  for (const name of DEFAULT_KEYS) {
    const file = `${homedir()}/.ssh/${name}`;
    if (!existsSync(file)) continue;
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      skipped.push(`${file} (unreadable)`);
      continue;
    }
    let r = parse(data);
    if (!r.ok && r.encrypted && process.env.FAP_SSH_PASSPHRASE) r = parse(data, process.env.FAP_SSH_PASSPHRASE);
    if (r.ok && r.key.isPrivateKey() && SUPPORTED.test(r.key.type)) keys.push({ file, key: r.key });
    else if (!r.ok && r.encrypted) skipped.push(`${file} (encrypted; set FAP_SSH_PASSPHRASE or load it into ssh-agent)`);
    else if (!r.ok && r.badPassphrase) skipped.push(`${file} (FAP_SSH_PASSPHRASE does not open it)`);
    else skipped.push(`${file} (not usable)`);
  }
  return { keys, skipped };
}

export interface AuthPlan {
  /** ssh2 authHandler: the methods in order */
  handler: AuthHandlerMiddleware;
  agent?: CountingAgent;
  /** "ssh-agent with 2 keys, /home/me/.ssh/deploy_key" — what was tried, for the failure message */
  tried(): string;
}

/** The authentication methods for one connection, in order. Rejects with an IdentityError. */
export async function authPlan(o: { user: string; identityFile?: string; agentSocket?: string; interactive: boolean }): Promise<AuthPlan> {
  const agent = o.agentSocket ? new CountingAgent(o.agentSocket) : undefined;
  type Method = { label: () => string; method: AnyAuthMethod };
  const methods: Method[] = [];
  const skipped: string[] = [];
  const agentMethod: Method | undefined = agent && { label: () => agent.describe(), method: { type: 'agent', username: o.user, agent } };
  if (o.identityFile) {
    const key = await loadIdentity(o.identityFile, { interactive: o.interactive });
    methods.push({ label: () => o.identityFile!, method: { type: 'publickey', username: o.user, key } });
    if (agentMethod) methods.push(agentMethod);
  } else {
    if (agentMethod) methods.push(agentMethod);
    const d = defaultKeys();
    for (const { file, key } of d.keys) methods.push({ label: () => file, method: { type: 'publickey', username: o.user, key } });
    skipped.push(...d.skipped);
  }
  let i = 0;
  const attempted: Method[] = [];
  return {
    agent,
    handler: (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next) => {
      const done = () => next(false as unknown as AuthenticationType);
      // the server no longer offers publickey: nothing of ours can help
      if (methodsLeft && !methodsLeft.includes('publickey')) return done();
      const m = methods[i++];
      if (!m) return done();
      attempted.push(m);
      next(m.method);
    },
    tried() {
      const parts = attempted.map((m) => m.label());
      parts.push(...skipped.map((s) => `skipped ${s}`));
      if (!methods.length) parts.push(`no key: ssh.identity_file and SSH_AUTH_SOCK are not set, and there is no ${DEFAULT_KEYS.map((k) => '~/.ssh/' + k).join(', ')}`);
      return parts.join(', ');
    },
  };
}

let promptQueue: Promise<unknown> = Promise.resolve();

/** Ask on the terminal without echo (one question at a time). Ctrl-C interrupts the run. */
export function promptHidden(question: string): Promise<string> {
  const next = promptQueue.then(
    () =>
      new Promise<string>((resolve, reject) => {
        const stdin = process.stdin;
        // echo off before the question shows: what is typed as soon as it appears is never echoed
        const wasRaw = stdin.isRaw;
        stdin.setRawMode(true);
        process.stderr.write(question);
        stdin.setEncoding('utf8');
        stdin.resume();
        let typed = '';
        const finish = () => {
          stdin.off('data', onData);
          stdin.setRawMode(wasRaw);
          stdin.pause();
          process.stderr.write('\n');
        };
        const onData = (chunk: string) => {
          for (const ch of chunk) {
            if (ch === '\r' || ch === '\n') {
              finish();
              return resolve(typed);
            }
            if (ch === '\u0003' || (ch === '\u0004' && !typed)) {
              finish();
              return reject(new Interrupted('passphrase prompt interrupted'));
            }
            if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
            else if (ch === '\u0015') typed = '';
            else if (ch >= ' ') typed += ch;
          }
        };
        stdin.on('data', onData);
      }),
  );
  promptQueue = next.catch(() => undefined);
  return next;
}
