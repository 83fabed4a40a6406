// A fleet of real OpenSSH sshd hosts on 127.0.0.1 for tests and benchmarks. Each host gets fresh
// host keys and, when we are root, its own view of the filesystem: sshd runs in a private mount
// namespace (unshare -m) where the shared deploy directory is a bind mount of that host's own
// directory. Every host is reached at the same deploy path, exactly like separate servers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface FleetHost {
  /** host string for deploy.yml: 127.0.0.1:PORT */
  name: string;
  port: number;
  /** this host's own directory, seen by the host at fleet.deployDir */
  root: string;
  process: ChildProcess;
}

export interface Fleet {
  dir: string;
  /** the path every host sees as its own deploy directory */
  deployDir: string;
  hosts: FleetHost[];
  knownHosts: string;
  identityFile: string;
  user: string;
  /** path on host i as seen from the test (its backing directory) */
  hostPath(i: number, remotePath: string): string;
  /** the backing directory of host i's copy of a `binds` path (e.g. its own /home/deploy) */
  bindPath(i: number, absPath: string): string;
  killHost(i: number): Promise<void>;
  stop(): Promise<void>;
}

export const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd', '/usr/local/sbin/sshd'].find((p) => existsSync(p));

export function fleetUnsupportedReason(): string | undefined {
  if (!SSHD) return 'OpenSSH server is not installed (apt-get install openssh-server)';
  if (process.getuid?.() !== 0) return 'the test fleet needs root for per-host mount namespaces (CI runs as root)';
  if (spawnSync('unshare', ['-m', 'true']).status !== 0) return 'unshare -m does not work here';
  return undefined;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function sshdConfig(o: { port: number; hostKey: string; pidFile: string; authorizedKeys: string; extra?: string[] }): string {
  return [
    `Port ${o.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${o.hostKey}`,
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'AllowTcpForwarding yes',
    'MaxStartups 200:30:400',
    'PrintMotd no',
    'LogLevel ERROR',
    'Subsystem sftp internal-sftp',
    ...(o.extra ?? []),
  ].join('\n') + '\n';
}

/** tmpfs: host index -> mount options (e.g. 'size=4m,nr_inodes=300'): that host's disk is small and can fill up */
/**
 * binds: absolute paths (e.g. /home/deploy, /etc/supervisor) each host sees as its own empty
 * directory, so a config that uses Fapistrano's default paths runs unchanged; the mount point is
 * created on this machine when missing.
 */
export async function startFleet(n: number, opts: { sshdExtra?: string[]; user?: string; tmpfs?: Record<number, string>; binds?: string[] } = {}): Promise<Fleet> {
  const reason = fleetUnsupportedReason();
  if (reason) throw new Error(reason);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'fap-fleet-'));
  const deployDir = join(dir, 'deploy');
  mkdirSync(deployDir);
  const identityFile = join(dir, 'id_ed25519');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fap-fleet', '-f', identityFile]);
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(identityFile + '.pub'), { mode: 0o644 });
  // sshd reads authorized_keys as the user logging in, who may not be root
  chmodSync(dir, 0o755);
  const knownLines: string[] = [];
  const hosts: FleetHost[] = [];
  const user = opts.user ?? userInfo().username;
  // A host is a plain server, not this machine: bash under sshd reads the login user's ~/.bashrc
  // for every command, and a developer's (pyenv init, ...) costs ~0.6 s a command here and puts
  // another python3 first. Each host sees an empty one instead (a home given in binds is empty already).
  const home = spawnSync('getent', ['passwd', user], { encoding: 'utf8' }).stdout.split(':')[5];
  const bashrc = home ? join(home, '.bashrc') : undefined;
  const boundAway = (p: string) => (opts.binds ?? []).some((b) => p === b || p.startsWith(b + '/'));
  const cleanRc = bashrc && existsSync(bashrc) && !boundAway(bashrc) ? join(dir, 'empty-bashrc') : undefined;
  if (cleanRc) writeFileSync(cleanRc, '', { mode: 0o644 });
  try {
    for (let i = 0; i < n; i++) {
      const hdir = join(dir, `host${i}`);
      const root = join(hdir, 'root');
      mkdirSync(root, { recursive: true });
      if (opts.tmpfs?.[i]) sh('mount', ['-t', 'tmpfs', '-o', opts.tmpfs[i], 'fap-fleet', root]);
      const hostKey = join(hdir, 'ssh_host_ed25519_key');
      sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
      const port = await freePort();
      const cfg = join(hdir, 'sshd_config');
      writeFileSync(cfg, sshdConfig({ port, hostKey, pidFile: join(hdir, 'sshd.pid'), authorizedKeys, extra: opts.sshdExtra }));
      const pub = readFileSync(hostKey + '.pub', 'utf8').trim().split(/\s+/);
      knownLines.push(`[127.0.0.1]:${port} ${pub[0]} ${pub[1]}`);
      const binds = (opts.binds ?? []).map((target) => {
        const backing = join(hdir, 'binds', target.replace(/\//g, '_'));
        mkdirSync(backing, { recursive: true });
        mkdirSync(target, { recursive: true });
        return `mount --bind ${shq(backing)} ${shq(target)} && `;
      });
      if (cleanRc) binds.push(`mount --bind ${shq(cleanRc)} ${shq(bashrc!)} && `);
      const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount --bind "$1" "$2" && ${binds.join('')}exec "$3" -D -e -f "$4"`, 'sh', root, deployDir, SSHD!, cfg], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      live.add(child);
      child.on('exit', () => live.delete(child));
      hosts.push({ name: `127.0.0.1:${port}`, port, root, process: child });
      await waitForPort(port).catch((e) => {
        throw new Error(`${(e as Error).message}: ${err}`);
      });
    }
  } catch (e) {
    for (const h of hosts) h.process.kill('SIGKILL');
    for (const h of hosts) spawnSync('umount', [h.root]);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, knownLines.join('\n') + '\n');
  const fleet: Fleet = {
    dir,
    deployDir,
    hosts,
    knownHosts,
    identityFile,
    user,
    hostPath: (i, remotePath) => {
      if (!remotePath.startsWith(deployDir)) throw new Error(`${remotePath} is not under ${deployDir}`);
      return join(hosts[i].root, remotePath.slice(deployDir.length));
    },
    bindPath: (i, absPath) => {
      const target = (opts.binds ?? []).find((b) => absPath === b || absPath.startsWith(b + '/'));
      if (!target) throw new Error(`${absPath} is not under a bound path (${(opts.binds ?? []).join(', ')})`);
      return join(dir, `host${i}`, 'binds', target.replace(/\//g, '_'), absPath.slice(target.length));
    },
    killHost: async (i) => {
      await stopProcess(hosts[i].process);
    },
    stop: async () => {
      await Promise.all(hosts.map((h) => stopProcess(h.process)));
      for (const h of hosts) spawnSync('umount', [h.root]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 3000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}
