// ProxyJump through a real bastion to a host the test cannot reach.
//
// The network: one network namespace made by this test (fapjump<pid>) with only its own loopback.
// The TARGET's sshd runs inside it on 127.0.0.1:T — the namespace's loopback, which the test's own
// namespace cannot reach (there, nothing listens on 127.0.0.1:T: a direct connection is refused).
// The BASTION is an sshd in inetd mode (sshd -i) started inside the same namespace for each
// connection the test accepts on 127.0.0.1:B in its own namespace: it is reachable from fap and, being
// in the namespace, reaches the target. No veth, no routes, no address outside loopback.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { stringify } from 'yaml';
import { fleetUnsupportedReason, freePort, SSHD, sshdConfig, waitForPort } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, type Repo } from '../helpers.js';

const NS = `fapjump${process.pid}`;

function netnsUnsupportedReason(): string | undefined {
  const fleet = fleetUnsupportedReason();
  if (fleet) return fleet;
  const probe = `fapjumpprobe${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.error || add.status !== 0) return `ip netns does not work here: ${add.error?.message ?? add.stderr}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Wait until something listens on 127.0.0.1:port inside the namespace. */
async function waitInNamespace(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = spawnSync('ip', ['netns', 'exec', NS, 'ss', '-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} in ${NS}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const skip = netnsUnsupportedReason();

describe('ProxyJump through a bastion', { skip }, () => {
  let dir: string;
  let repo: Repo;
  let targetPort: number;
  let bastionPort: number;
  let target: ChildProcess | undefined;
  let bastion: Server | undefined;
  const bastionSessions = new Set<ChildProcess>();
  let bastionErrors = '';
  let identityFile: string;
  let knownHosts: string;
  let sshConfig: string;
  let deployDir: string;
  let targetKeyLine: string;
  let bastionKeyLine: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fap-jump-'));
    deployDir = join(dir, 'deploy');
    mkdirSync(deployDir);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);

    identityFile = join(dir, 'id_ed25519');
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fap-jump', '-f', identityFile]);
    const authorizedKeys = join(dir, 'authorized_keys');
    writeFileSync(authorizedKeys, readFileSync(identityFile + '.pub'));
    const hostKey = (name: string) => {
      const f = join(dir, `${name}_host_key`);
      sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
      return { file: f, pub: readFileSync(f + '.pub', 'utf8').trim().split(/\s+/).slice(0, 2).join(' ') };
    };

    // the target: inside the namespace, on a port nothing uses in ours
    targetPort = await freePort();
    const tk = hostKey('target');
    const targetCfg = join(dir, 'target_sshd_config');
    writeFileSync(targetCfg, sshdConfig({ port: targetPort, hostKey: tk.file, pidFile: join(dir, 'target.pid'), authorizedKeys }));
    target = spawn('ip', ['netns', 'exec', NS, SSHD!, '-D', '-e', '-f', targetCfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let targetErr = '';
    target.stderr!.on('data', (d) => (targetErr += d));
    await waitInNamespace(targetPort).catch((e) => {
      throw new Error(`${(e as Error).message}: ${targetErr}`);
    });

    // the bastion: reachable here on 127.0.0.1:B; each connection is an sshd -i inside the namespace
    const bk = hostKey('bastion');
    const bastionCfg = join(dir, 'bastion_sshd_config');
    writeFileSync(bastionCfg, sshdConfig({ port: 22, hostKey: bk.file, pidFile: join(dir, 'bastion.pid'), authorizedKeys }));
    bastion = createServer((sock) => {
      const p = spawn('ip', ['netns', 'exec', NS, SSHD!, '-i', '-e', '-f', bastionCfg], { stdio: ['pipe', 'pipe', 'pipe'] });
      bastionSessions.add(p);
      p.stderr!.on('data', (d) => (bastionErrors += d));
      sock.pipe(p.stdin!);
      p.stdout!.pipe(sock);
      sock.on('error', () => p.kill());
      sock.on('close', () => p.kill());
      p.stdin!.on('error', () => {});
      p.on('exit', () => {
        bastionSessions.delete(p);
        sock.destroy();
      });
    });
    await new Promise<void>((res, rej) => {
      bastion!.once('error', rej);
      bastion!.listen(0, '127.0.0.1', () => res());
    });
    bastionPort = (bastion.address() as { port: number }).port;
    await waitForPort(bastionPort);

    targetKeyLine = `[127.0.0.1]:${targetPort} ${tk.pub}`;
    bastionKeyLine = `[127.0.0.1]:${bastionPort} ${bk.pub}`;
    knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `${bastionKeyLine}\n${targetKeyLine}\n`);
    sshConfig = join(dir, 'ssh_config');
    writeFileSync(
      sshConfig,
      [
        'Host target',
        '  HostName 127.0.0.1',
        `  Port ${targetPort}`,
        '  ProxyJump bastion',
        'Host closed',
        '  HostName 127.0.0.1',
        // nothing listens on the bastion's side of this one
        `  Port ${targetPort === 65535 ? 65534 : targetPort + 1}`,
        '  ProxyJump bastion',
        'Host bastion',
        '  HostName 127.0.0.1',
        `  Port ${bastionPort}`,
        'Host *',
        `  IdentityFile ${identityFile}`,
        '',
      ].join('\n'),
    );
    repo = makeRepo({ 'app.py': 'print("behind a bastion")\n' });
  });

  after(async () => {
    await new Promise<void>((res) => (bastion ? bastion.close(() => res()) : res()));
    for (const p of bastionSessions) p.kill('SIGKILL');
    if (target && target.exitCode === null && target.signalCode === null) {
      await new Promise<void>((res) => {
        const t = setTimeout(() => target!.kill('SIGKILL'), 3000);
        target!.once('exit', () => {
          clearTimeout(t);
          res();
        });
        target!.kill('SIGTERM');
      });
    }
    spawnSync('ip', ['netns', 'del', NS]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (repo) rmSync(repo.dir, { recursive: true, force: true });
  });

  function deployFile(app: string, o: { hosts: string[]; ssh?: Record<string, unknown>; top?: Record<string, unknown> }): string {
    const cfgDir = mkdtempSync(join(dir, 'cfg-'));
    const file = join(cfgDir, 'deploy.yml');
    writeFileSync(
      file,
      stringify({
        app_name: app,
        path: join(deployDir, '%(app_name)s'),
        user: userInfo().username,
        sudo_user: userInfo().username,
        plugins: ['git'],
        repo: repo.dir,
        branch: 'main',
        ssh: { config_file: sshConfig, known_hosts_file: knownHosts, host_key_checking: 'strict', connect_timeout: 10, ...o.ssh },
        ...o.top,
        stage_role_configs: { production: { web: { hosts: o.hosts } } },
      }),
    );
    return file;
  }

  test('the target cannot be reached directly: a network error', async () => {
    const file = deployFile('direct', { hosts: [`127.0.0.1:${targetPort}`], top: { use_ssh_config: false } });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${targetPort}: connection refused`));
  });

  test('deploys through the bastion named by the ssh config; both host keys are checked', async () => {
    const app = 'jumped';
    const file = deployFile(app, { hosts: ['target'] });
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr + r.stdout + bastionErrors);
    const current = readlinkSync(join(deployDir, app, 'current'));
    assert.match(current, /^releases\/\d{14}$/);
    assert.equal(readFileSync(join(deployDir, app, current, 'app.py'), 'utf8'), 'print("behind a bastion")\n');
    const connected = jsonEvents(r.stdout).find((e) => e.event === 'host.connected');
    assert.deepEqual(connected?.via, ['bastion']);
    assert.equal(connected?.host, 'target');
    // fap check says how it got there
    const check = await fap(['-f', file, 'check', 'production']);
    assert.match(check.stdout + check.stderr, /host key verified \([^)]*known_hosts; via bastion\)/);
  });

  test('the bastion\'s host key is verified too', async () => {
    const kh = join(dir, 'known_hosts_no_bastion');
    writeFileSync(kh, `${targetKeyLine}\n`);
    const r = await fap(['-f', deployFile('nobastionkey', { hosts: ['target'], ssh: { known_hosts_file: kh } }), 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[target\] FAILED at connect: jump host bastion: unknown host key ssh-ed25519 SHA256:\S+ \(not in /);
  });

  test('the target\'s host key is verified through the tunnel', async () => {
    const kh = join(dir, 'known_hosts_no_target');
    writeFileSync(kh, `${bastionKeyLine}\n`);
    const r = await fap(['-f', deployFile('notargetkey', { hosts: ['target'], ssh: { known_hosts_file: kh } }), 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[target\] FAILED at connect: unknown host key ssh-ed25519 SHA256:\S+ \(not in .*\(via bastion\)/);
  });

  test('errors say which hop failed', async () => {
    // the bastion cannot reach the next host
    const refused = await fap(['-f', deployFile('closed', { hosts: ['closed'] }), 'deploy', 'production']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\[closed\] FAILED at connect: jump host bastion cannot connect to 127\.0\.0\.1:\d+: connection refused/);
    // authentication at the bastion fails
    const auth = await fap(['-f', deployFile('bastionauth', { hosts: ['target'] }), '--set', 'ssh.config_file=' + writeConfig('auth', `Host target\n  HostName 127.0.0.1\n  Port ${targetPort}\n  ProxyJump nosuchuser@bastion\nHost bastion\n  HostName 127.0.0.1\n  Port ${bastionPort}\n  IdentityFile ${identityFile}\n`), 'deploy', 'production']);
    assert.equal(auth.code, 1);
    assert.match(auth.stderr, /\[target\] FAILED at connect: jump host nosuchuser@bastion: authentication failed for user "nosuchuser"/);
    // the bastion itself is down
    const downPort = await freePort();
    const down = await fap(['-f', deployFile('bastiondown', { hosts: ['target'] }), '--set', 'ssh.config_file=' + writeConfig('down', `Host target\n  HostName 127.0.0.1\n  Port ${targetPort}\n  ProxyJump 127.0.0.1:${downPort}\n`), 'deploy', 'production']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`\\[target\\] FAILED at connect: jump host \\[?127\\.0\\.0\\.1\\]?:${downPort}: cannot connect to 127\\.0\\.0\\.1:${downPort}: connection refused`));
  });

  function writeConfig(name: string, text: string): string {
    const f = join(dir, `ssh_config_${name}`);
    writeFileSync(f, text + `Host *\n  IdentityFile ${identityFile}\n`);
    return f;
  }
});
