// How to reach one host: the host as deploy.yml names it, resolved through the user's ssh config
// (ssh-config.ts), with its ProxyJump hops. Precedence, highest first — the same as
// `ssh -l user -p port alias` with deploy.yml's ssh: keys as command-line options:
//   1. the host string: user@host:port (or {host, user, port}), and ssh.* keys deploy.yml sets
//      explicitly (identity_file, known_hosts_file, connect_timeout);
//   2. the ssh config: HostName, Port, User, IdentityFile, UserKnownHostsFile, ConnectTimeout,
//      ServerAliveInterval, ProxyJump; GlobalKnownHostsFile and HostKeyAlias apply whatever deploy.yml says;
//   3. deploy.yml's `user` key (which itself defaults to the local user), fap's ssh defaults.
// Jump hosts follow OpenSSH: a hop's user and port come from the ProxyJump entry, then the ssh
// config, then the local user and 22 (deploy.yml's `user` is for the deploy hosts, not bastions).
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Endpoint } from './connection.js';
import type { SshSettings } from '../config/schema.js';
import { DEFAULT_GLOBAL_KNOWN_HOSTS, expandSshPath, parseProxyJump, type JumpSpec, type SshConfig, type SshConfigEntry } from './ssh-config.js';
import { SshConfigError } from '../errors.js';

export interface RouteInput {
  /** the host's name in output */
  name: string;
  /** the host as deploy.yml writes it (an ssh config alias, a name or an address) */
  alias: string;
  /** user and port from the host string: they beat the ssh config */
  user?: string;
  port?: number;
  /** deploy.yml's user: used when neither the host string nor the ssh config names one */
  fallbackUser: string;
  /** the role's resolved ssh: map */
  ssh: SshSettings;
  /** ssh: sub-keys deploy.yml (or --set) sets explicitly */
  explicit: ReadonlySet<string>;
}

export interface Route {
  target: Endpoint;
  jumps: Endpoint[];
}

const MAX_HOPS = 8;

/** The route to a host; sshConfig undefined means no ssh config is in use. */
export async function resolveRoute(input: RouteInput, sshConfig: SshConfig | undefined, warn: (message: string) => void): Promise<Route> {
  const entry = sshConfig ? await sshConfig.lookup(input.alias, { user: input.user, port: input.port, fallbackUser: input.fallbackUser }) : undefined;
  const target = endpoint(input.name, input.alias, input, entry, input.ssh, input.explicit, false, warn);
  if (entry?.proxyCommand && !entry.proxyJump) {
    throw new SshConfigError(`ssh config gives ${input.alias} a ProxyCommand, which fap does not run; use ProxyJump instead`);
  }
  const jumps = entry?.proxyJump && sshConfig ? await hops(entry.proxyJump, sshConfig, input, warn, 0, [input.alias]) : [];
  return { target, jumps };
}

async function hops(proxyJump: string, sshConfig: SshConfig, input: RouteInput, warn: (m: string) => void, depth: number, seen: string[]): Promise<Endpoint[]> {
  let specs: JumpSpec[];
  try {
    specs = parseProxyJump(proxyJump);
  } catch (e) {
    throw new SshConfigError(`ssh config: ${(e as Error).message}`);
  }
  const out: Endpoint[] = [];
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    if (depth + out.length >= MAX_HOPS) throw new SshConfigError(`ssh config: more than ${MAX_HOPS} ProxyJump hops (a loop? ${[...seen, s.alias].join(' -> ')})`);
    const entry = await sshConfig.lookup(s.alias, { user: s.user, port: s.port, fallbackUser: localUserName() });
    if (entry?.proxyCommand && !entry.proxyJump && i === 0) throw new SshConfigError(`ssh config gives jump host ${s.alias} a ProxyCommand, which fap does not run; use ProxyJump instead`);
    // like OpenSSH: the first hop's own ProxyJump is followed; later hops are reached through the earlier ones
    if (i === 0 && entry?.proxyJump) {
      if (seen.includes(s.alias)) throw new SshConfigError(`ssh config: ProxyJump loop ${[...seen, s.alias].join(' -> ')}`);
      out.push(...(await hops(entry.proxyJump, sshConfig, input, warn, depth + 1, [...seen, s.alias])));
    }
    out.push(endpoint(s.name, s.alias, { user: s.user, port: s.port, fallbackUser: localUserName() }, entry, input.ssh, input.explicit, true, warn));
  }
  return out;
}

function endpoint(
  name: string,
  alias: string,
  given: { user?: string; port?: number; fallbackUser: string },
  entry: SshConfigEntry | undefined,
  ssh: SshSettings,
  explicit: ReadonlySet<string>,
  hop: boolean,
  warn: (m: string) => void,
): Endpoint {
  const hostname = entry?.hostname || alias;
  const port = given.port ?? entry?.port ?? 22;
  const user = given.user ?? entry?.user ?? given.fallbackUser;
  const tokens = { hostname, port, user, alias, hostKeyAlias: entry?.hostKeyAlias };
  const sshIdentity = ssh.identity_file ?? undefined;
  let identityFile: string | undefined;
  if (!hop && sshIdentity !== undefined) identityFile = sshIdentity;
  else if (entry?.identityFiles.length) {
    const files = entry.identityFiles.map((f) => expandSshPath(f, tokens));
    identityFile = files.find((f) => existsSync(f));
    if (!identityFile) warn(`${name}: none of the ssh config's IdentityFile exists (${files.join(', ')}); trying ${hop && sshIdentity ? sshIdentity : 'the ssh agent and default keys'}`);
  }
  // a jump host without a key of its own in the ssh config uses deploy.yml's
  identityFile ??= hop ? sshIdentity : undefined;
  // every file OpenSSH would consult: the user files (the first is where accept-new writes), then the global ones
  let userFiles = [ssh.known_hosts_file];
  if (!explicit.has('known_hosts_file') && entry?.userKnownHostsFiles?.length) userFiles = entry.userKnownHostsFiles.map((f) => expandSshPath(f, tokens));
  const [knownHostsFile] = userFiles;
  const otherKnownHostsFiles = [...new Set([...userFiles.slice(1), ...(entry?.globalKnownHostsFiles ?? DEFAULT_GLOBAL_KNOWN_HOSTS)])].filter((f) => f !== knownHostsFile);
  let connectTimeoutSec = ssh.connect_timeout;
  if (!explicit.has('connect_timeout') && entry?.connectTimeout) connectTimeoutSec = entry.connectTimeout;
  return {
    name,
    hostname,
    port,
    user,
    identityFile,
    knownHostsFile,
    otherKnownHostsFiles,
    hostKeyAlias: entry?.hostKeyAlias,
    connectTimeoutSec,
    keepaliveIntervalSec: entry?.serverAliveInterval,
    keepaliveCountMax: entry?.serverAliveInterval ? entry.serverAliveCountMax : undefined,
  };
}

function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}
