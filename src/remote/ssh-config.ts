// The user's OpenSSH client config, read by OpenSSH itself: `ssh -G` prints the effective options
// for a destination after Host and Match blocks, Include and defaults. fap asks it once per distinct
// (alias, user, port) in a run and turns the answer into how to reach the host (route.ts).
//
// To tell "the config sets User / IdentityFile / UserKnownHostsFile" from OpenSSH's own defaults
// (ssh -G prints those too), the user's file is read through a small wrapper: `Include <file>`
// followed by `Host *` with sentinel values. OpenSSH keeps the first value it obtains, so a sentinel
// only shows up when the user's file left that option unset.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, hostname as machineName, tmpdir, userInfo } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { createHash } from 'node:crypto';
import { parseHost } from '../config/hosts.js';
import { SshConfigError } from '../errors.js';

export const UNSET_USER = '__fap_unset__';
export const UNSET_IDENTITY = '/__fap_unset__/identity';
export const UNSET_KNOWN_HOSTS = '/__fap_unset__/known_hosts';
/** OpenSSH's GlobalKnownHostsFile default, for when no ssh config is read */
export const DEFAULT_GLOBAL_KNOWN_HOSTS: readonly string[] = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

/** What `ssh -G` says about one destination; undefined fields: the config does not set them. */
export interface SshConfigEntry {
  hostname: string;
  port: number;
  /** the User option (or the -l given to ssh -G); undefined when neither set it */
  user?: string;
  /** IdentityFile values from the config, in order, unexpanded (~, %r, ...) */
  identityFiles: string[];
  /** UserKnownHostsFile values, unexpanded; undefined when the config leaves the default */
  userKnownHostsFiles?: string[];
  /** GlobalKnownHostsFile values as ssh -G prints them (its default included); [] for none; undefined when not printed */
  globalKnownHostsFiles?: string[];
  /** HostKeyAlias: the name known_hosts is searched and written under instead of the host name */
  hostKeyAlias?: string;
  /** ProxyJump as written (comma-separated hops); undefined for none */
  proxyJump?: string;
  /** ProxyCommand as written; undefined for none */
  proxyCommand?: string;
  /** seconds; undefined for 0 / unset */
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  /** seconds; undefined for none */
  connectTimeout?: number;
}

/** Parse `ssh -G` output (pure). */
export function parseSshG(text: string): SshConfigEntry {
  const one = new Map<string, string>();
  const identityFiles: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const sp = line.search(/\s/);
    const key = (sp < 0 ? line : line.slice(0, sp)).toLowerCase();
    const value = sp < 0 ? '' : line.slice(sp + 1).trim();
    if (key === 'identityfile') {
      if (value !== UNSET_IDENTITY) identityFiles.push(value);
      continue;
    }
    if (!one.has(key)) one.set(key, value);
  }
  const num = (k: string): number | undefined => {
    const v = one.get(k);
    if (v === undefined || !/^\d+$/.test(v)) return undefined;
    return Number(v);
  };
  const none = (v: string | undefined) => (v === undefined || v === '' || v.toLowerCase() === 'none' ? undefined : v);
  const port = num('port') ?? 22;
  const user = one.get('user');
  const known = one.get('userknownhostsfile');
  const knownList = known === undefined ? undefined : splitWords(known);
  const global = one.get('globalknownhostsfile');
  const globalList = global === undefined ? undefined : splitWords(global).filter((f) => f.toLowerCase() !== 'none');
  const alive = num('serveraliveinterval');
  const timeout = num('connecttimeout');
  return {
    hostname: one.get('hostname') ?? one.get('host') ?? '',
    port,
    user: user === undefined || user === UNSET_USER ? undefined : user,
    identityFiles,
    userKnownHostsFiles: !knownList || knownList[0] === UNSET_KNOWN_HOSTS || (knownList.length === 1 && knownList[0].toLowerCase() === 'none') ? undefined : knownList,
    globalKnownHostsFiles: globalList,
    hostKeyAlias: none(one.get('hostkeyalias')),
    proxyJump: none(one.get('proxyjump')),
    proxyCommand: none(one.get('proxycommand')),
    serverAliveInterval: alive ? alive : undefined,
    serverAliveCountMax: num('serveralivecountmax'),
    connectTimeout: timeout ? timeout : undefined,
  };
}

/** Words of an option value; "double quoted" words may hold spaces. */
function splitWords(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2]);
  return out;
}

export interface JumpSpec {
  /** as written: the hop's name in messages */
  name: string;
  alias: string;
  user?: string;
  port?: number;
}

/** ProxyJump's value: comma-separated [user@]host[:port] or ssh://[user@]host[:port] (pure). */
export function parseProxyJump(value: string): JumpSpec[] {
  if (!value.trim() || value.trim().toLowerCase() === 'none') return [];
  return value.split(',').map((raw) => {
    const s = raw.trim();
    let rest = s.replace(/^ssh:\/\//i, '').replace(/\/$/, '');
    if (!rest) throw new Error(`empty hop in ProxyJump "${value}"`);
    if (rest.startsWith('-')) throw new Error(`bad hop "${s}" in ProxyJump "${value}"`);
    let spec;
    try {
      spec = parseHost(rest);
    } catch (e) {
      throw new Error(`bad hop "${s}" in ProxyJump "${value}": ${(e as Error).message}`);
    }
    rest = spec.hostname;
    return { name: s, alias: rest, user: spec.user, port: spec.port };
  });
}

export interface TokenContext {
  /** remote host name (HostName) */
  hostname: string;
  port: number;
  /** remote user */
  user: string;
  /** the name as given (the alias) */
  alias: string;
  /** HostKeyAlias, for %k */
  hostKeyAlias?: string;
}

/** Expand ~ and OpenSSH's % tokens in IdentityFile / UserKnownHostsFile values (pure but for the local facts). */
export function expandSshPath(value: string, c: TokenContext, local = localFacts()): string {
  let s = value.replace(/%(.)/g, (all, t: string) => {
    switch (t) {
      case '%':
        return '%';
      case 'd':
        return local.home;
      case 'u':
        return local.user;
      case 'i':
        return String(local.uid);
      case 'l':
        return local.host;
      case 'L':
        return local.host.split('.')[0];
      case 'h':
        return c.hostname;
      case 'n':
        return c.alias;
      case 'k':
        return c.hostKeyAlias ?? c.alias;
      case 'p':
        return String(c.port);
      case 'r':
        return c.user;
      case 'C':
        return createHash('sha1').update(`${local.host}${c.hostname}${c.port}${c.user}`).digest('hex');
      default:
        return all;
    }
  });
  if (s === '~') s = local.home;
  else if (s.startsWith('~/')) s = local.home + s.slice(1);
  return s;
}

interface LocalFacts {
  home: string;
  user: string;
  uid: number;
  host: string;
}

function localFacts(): LocalFacts {
  let user = process.env.USER ?? 'user';
  let uid = -1;
  try {
    const u = userInfo();
    user = u.username;
    uid = u.uid;
  } catch {
    /* keep the fallbacks */
  }
  return { home: homedir(), user, uid, host: machineName() };
}


/**
 * One ssh config file, asked through `ssh -G`. Lookups are cached per (alias, user, port, fallback
 * user) for the life of the object (one run). When `ssh` is not installed, every lookup answers
 * undefined after one warning.
 */
export class SshConfig {
  private readonly cache = new Map<string, Promise<SshConfigEntry | undefined>>();
  private noSsh = false;
  private warned = false;
  readonly file: string;

  constructor(
    file: string,
    private readonly warn: (message: string) => void,
    private readonly sshBinary = process.env.FAP_SSH_BINARY || 'ssh',
  ) {
    this.file = resolvePath(file);
  }

  /**
   * The effective options for `ssh [-l user] [-p port] alias`. When the config has no User and
   * fallbackUser is given, the answer is the one for `-l fallbackUser` (so Match user and %r see it).
   */
  lookup(alias: string, o: { user?: string; port?: number; fallbackUser?: string } = {}): Promise<SshConfigEntry | undefined> {
    const key = [alias, o.user ?? '', o.port ?? '', o.fallbackUser ?? ''].join('\0');
    let p = this.cache.get(key);
    if (!p) {
      p = (async () => {
        const first = await this.ask(alias, o.user, o.port);
        if (!first || first.user !== undefined || !o.fallbackUser) return first;
        const second = await this.ask(alias, o.fallbackUser, o.port);
        // the user came from the fallback, not from the config
        return second && { ...second, user: undefined };
      })();
      this.cache.set(key, p);
    }
    return p;
  }

  private async ask(alias: string, user?: string, port?: number): Promise<SshConfigEntry | undefined> {
    if (this.noSsh) return undefined;
    if (alias.startsWith('-')) throw new SshConfigError(`"${alias}" cannot be looked up in ssh config`);
    const dir = mkdtempSync(join(tmpdir(), 'fap-sshg-'));
    try {
      const wrapper = join(dir, 'config');
      writeFileSync(wrapper, wrapperConfig(this.file));
      const args = ['-G', '-T', '-F', wrapper];
      if (user) args.push('-l', user);
      if (port) args.push('-p', String(port));
      args.push(alias);
      const r = await runSsh(this.sshBinary, args);
      if (r.missing) {
        this.noSsh = true;
        if (!this.warned) {
          this.warned = true;
          this.warn(`ssh (the OpenSSH client) is not installed, so ${this.file} is not read; hosts are reached as deploy.yml writes them`);
        }
        return undefined;
      }
      if (r.code !== 0) {
        const why = r.stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !/Pseudo-terminal/.test(l)).join('; ').replaceAll(wrapper, '(fap wrapper)') || `ssh -G exited with ${r.code}`;
        throw new SshConfigError(`ssh config ${this.file}: ${why}`);
      }
      return parseSshG(r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function wrapperConfig(file: string): string {
  if (/["\n]/.test(file)) throw new SshConfigError(`ssh.config_file "${file}": the path may not contain " or a newline`);
  return [`Include "${file}"`, 'Host *', `  User ${UNSET_USER}`, `  IdentityFile ${UNSET_IDENTITY}`, `  UserKnownHostsFile ${UNSET_KNOWN_HOSTS}`, ''].join('\n');
}

function runSsh(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; missing?: boolean }> {
  return new Promise((resolve) => {
    // no TTY, no stdin: Match exec commands and ssh itself cannot prompt
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: e.message, missing: e.code === 'ENOENT' });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
