// Authentication against a real sshd fleet: RSA / ECDSA / encrypted identity files, a real
// ssh-agent, what a failure says, and agent forwarding to a git server that only the agent's key
// can read.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { FAP, fap, git, makeRepo, ROOT, writeDeployFile, type Repo } from '../helpers.js';

const skip =
  fleetUnsupportedReason() ??
  (['ssh-agent', 'ssh-add', 'ssh-keygen', 'git'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0) ? 'ssh-agent, ssh-add, ssh-keygen and git are needed' : undefined);

function keygen(dir: string, name: string, args: string[], passphrase = ''): string {
  const file = join(dir, name);
  const r = spawnSync('ssh-keygen', ['-q', ...args, '-N', passphrase, '-C', name, '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen ${name}: ${r.stderr}`);
  return file;
}

interface Agent {
  sock: string;
  process: ChildProcess;
  add(key: string): void;
  removeAll(): void;
}

async function startAgent(dir: string, name: string): Promise<Agent> {
  const sock = join(dir, `${name}.sock`);
  const child = spawn('ssh-agent', ['-D', '-a', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (let i = 0; !existsSync(sock); i++) {
    if (i > 100) throw new Error(`ssh-agent did not create ${sock}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const sshAdd = (...args: string[]) => {
    const r = spawnSync('ssh-add', args, { env: { ...process.env, SSH_AUTH_SOCK: sock }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-add ${args.join(' ')}: ${r.stderr}`);
  };
  return { sock, process: child, add: (key) => sshAdd('-q', key), removeAll: () => sshAdd('-q', '-D') };
}

const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, 'no stack trace');
const noKeyMaterial = (s: string) => assert.doesNotMatch(s, /PRIVATE KEY|AAAA[0-9A-Za-z+/]{20}/, 'no key material');

describe('ssh authentication', { skip }, () => {
  let fleet: Fleet;
  let gitServer: Fleet;
  let repo: Repo;
  let keys: string;
  let emptyHome: string;
  const agents: Agent[] = [];
  /** the agent holding the fleet's key; the agent holding only the git server's key */
  let deployAgent: Agent;
  let gitAgent: Agent;
  let gitUrl: string;
  let gitSha: string;

  before(async () => {
    keys = mkdtempSync(join(tmpdir(), 'fap-keys-'));
    emptyHome = mkdtempSync(join(tmpdir(), 'fap-home-'));
    // the git server: an sshd whose only authorized key is its fleet key ("the git key")
    gitServer = await startFleet(1);
    // the deploy hosts: the host's git must trust the git server without prompting, and only
    // this test's sshd sessions are told so (SetEnv) — nothing global is touched
    const gitSsh = `ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${gitServer.knownHosts}`;
    fleet = await startFleet(2, { sshdExtra: ['PubkeyAcceptedAlgorithms -ssh-rsa', `SetEnv "GIT_SSH_COMMAND=${gitSsh}"`] });
    repo = makeRepo({ 'app.py': 'print("auth")\n' });

    const src = makeRepo({ 'app.py': 'print("from the git server")\n' });
    gitSha = git(src.dir, 'rev-parse', 'HEAD');
    const bare = join(gitServer.dir, 'app.git');
    git(gitServer.dir, 'clone', '-q', '--bare', src.dir, bare);
    rmSync(src.dir, { recursive: true, force: true });
    gitUrl = `ssh://${gitServer.user}@127.0.0.1:${gitServer.hosts[0].port}${bare}`;

    deployAgent = await startAgent(keys, 'deploy-agent');
    agents.push(deployAgent);
    deployAgent.add(fleet.identityFile);
    gitAgent = await startAgent(keys, 'git-agent');
    agents.push(gitAgent);
    gitAgent.add(gitServer.identityFile);
  });

  after(async () => {
    for (const a of agents) a.process.kill('SIGTERM');
    await Promise.all([fleet?.stop(), gitServer?.stop()]);
    for (const d of [keys, emptyHome, repo?.dir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  /** authorize a public key on every deploy host (the fleet shares one AuthorizedKeysFile) */
  const authorize = (key: string) => appendFileSync(join(fleet.dir, 'authorized_keys'), readFileSync(key + '.pub'));
  const current = (app: string) => readlinkSync(join(fleet.hostPath(0, join(fleet.deployDir, app)), 'current'));
  const revision = (app: string) => readFileSync(join(fleet.hostPath(0, join(fleet.deployDir, app)), 'current', 'REVISION'), 'utf8').trim();
  const sshConf = (extra: Record<string, unknown> = {}) => ({ known_hosts_file: fleet.knownHosts, host_key_checking: 'strict', ...extra });

  test('an RSA identity file (rsa-sha2 signatures: the hosts refuse ssh-rsa SHA-1)', async () => {
    const key = keygen(keys, 'id_rsa', ['-t', 'rsa', '-b', '2048']);
    authorize(key);
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'rsa', ssh: sshConf({ identity_file: key }) } });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(current('rsa'), /^releases\/\d{14}$/);
  });

  test('an ECDSA identity file', async () => {
    const key = keygen(keys, 'id_ecdsa', ['-t', 'ecdsa', '-b', '384']);
    authorize(key);
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'ecdsa', ssh: sshConf({ identity_file: key }) } });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(current('ecdsa'), /^releases\/\d{14}$/);
  });

  describe('an encrypted ed25519 identity file', () => {
    let key: string;
    let file: string;
    before(() => {
      key = keygen(keys, 'id_ed25519_enc', ['-t', 'ed25519'], 'correct horse');
      authorize(key);
      file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'encrypted', ssh: sshConf({ identity_file: key }) } });
    });

    test('opens with FAP_SSH_PASSPHRASE', async () => {
      const r = await fap(['-f', file, 'deploy', 'production'], { env: { FAP_SSH_PASSPHRASE: 'correct horse' } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(current('encrypted'), /^releases\/\d{14}$/);
    });

    test('a wrong passphrase is a clear error', async () => {
      const r = await fap(['-f', file, 'deploy', 'production'], { env: { FAP_SSH_PASSPHRASE: 'battery staple' } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`identity file ${key}: wrong passphrase \\(from FAP_SSH_PASSPHRASE\\)`));
      noStack(r.stderr);
      assert.doesNotMatch(r.stderr + r.stdout, /battery staple/);
    });

    test('without FAP_SSH_PASSPHRASE and without a terminal: says to set it', async () => {
      const r = await fap(['-f', file, 'deploy', 'production'], { env: { FAP_SSH_PASSPHRASE: '' } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`identity file ${key} is encrypted; set FAP_SSH_PASSPHRASE`));
      noStack(r.stderr);
    });

    test('on a terminal: asks once (for every host), without echo', { skip: spawnSync('sh', ['-c', 'command -v script']).status !== 0 && 'script(1) is needed' }, async () => {
      // script(1) gives fap a pseudo-terminal for stdin and stderr (sized: a 0-column terminal
      // makes the spinner misbehave)
      const cmd = `stty cols 100 rows 30; exec ${process.execPath} ${FAP} -f ${file} deploy production`;
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, FAP_SSH_PASSPHRASE: '', SSH_AUTH_SOCK: '', NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let prompts = 0;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.length > 1_000_000) child.kill('SIGKILL');
        const n = out.split('Enter passphrase for').length - 1;
        if (n > prompts) {
          prompts = n;
          child.stdin.write('correct horse\r');
        }
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(timer);
      child.stdin.end();
      assert.equal(code, 0, out);
      assert.equal(prompts, 1, out);
      assert.ok(out.includes(`Enter passphrase for ${key}: `), out);
      assert.doesNotMatch(out, /correct horse/, 'the passphrase is not echoed');
    });

    test('with --json never asks: the error says to set FAP_SSH_PASSPHRASE', async () => {
      const r = await fap(['--json', '-f', file, 'deploy', 'production'], { env: { FAP_SSH_PASSPHRASE: '' } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /is encrypted; set FAP_SSH_PASSPHRASE/);
    });
  });

  test('an unreadable identity file and a public key are named as such', async () => {
    const missing = join(keys, 'nope');
    let file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'badkey', ssh: sshConf({ identity_file: missing }) } });
    let r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot read identity file ${missing}: no such file`));
    noStack(r.stderr);
    file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'badkey', ssh: sshConf({ identity_file: fleet.identityFile + '.pub' }) } });
    r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /holds a public key; point ssh.identity_file at the private key/);
    noKeyMaterial(r.stderr);
  });

  test('the ssh agent alone (no identity file, no default keys)', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'agent', ssh: sshConf() } });
    const r = await fap(['-f', file, 'deploy', 'production'], { env: { SSH_AUTH_SOCK: deployAgent.sock, HOME: emptyHome } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(current('agent'), /^releases\/\d{14}$/);
  });

  test('an agent without the key: the failure says what was tried', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'agent-nokey', ssh: sshConf() } });
    const r = await fap(['-f', file, 'deploy', 'production'], { env: { SSH_AUTH_SOCK: gitAgent.sock, HOME: emptyHome } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`authentication failed for user "${fleet.user}" \\(tried: ssh-agent with 1 key\\)`));
    noStack(r.stderr);
    noKeyMaterial(r.stderr);
  });

  test('an identity file the hosts refuse, then the agent: both are listed', async () => {
    const stranger = keygen(keys, 'stranger', ['-t', 'ed25519']);
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'agent-nokey', ssh: sshConf({ identity_file: stranger }) } });
    const r = await fap(['-f', file, 'deploy', 'production'], { env: { SSH_AUTH_SOCK: gitAgent.sock, HOME: emptyHome } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`authentication failed for user "${fleet.user}" \\(tried: ${stranger}, ssh-agent with 1 key\\)`));
    // the identity file first, then the agent: with the agent holding the right key, it works
    const ok = await fap(['-f', file, 'deploy', 'production'], { env: { SSH_AUTH_SOCK: deployAgent.sock, HOME: emptyHome } });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('no identity file, no agent, no default keys', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'nothing', ssh: sshConf() } });
    const r = await fap(['-f', file, 'deploy', 'production'], { env: { HOME: emptyHome } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /authentication failed for user ".+" \(tried: no key: ssh\.identity_file and SSH_AUTH_SOCK are not set/);
  });

  describe('agent forwarding: git on the host fetches with the deployer\'s agent', () => {
    const deployFile = (app: string, forward: boolean) =>
      writeDeployFile(fleet, { repo: gitUrl, top: { app_name: app, ssh: sshConf({ identity_file: fleet.identityFile, forward_agent: forward }) } });

    test('ssh.forward_agent: true and the git key only in the agent: the deploy works', async () => {
      const r = await fap(['-f', deployFile('fwd', true), 'deploy', 'production'], { env: { SSH_AUTH_SOCK: gitAgent.sock } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(revision('fwd'), gitSha);
    });

    test('forwarding off: git on the host is refused', async () => {
      const r = await fap(['-f', deployFile('nofwd', false), 'deploy', 'production'], { env: { SSH_AUTH_SOCK: gitAgent.sock } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /git: update mirror/);
      assert.match(r.stderr, /Permission denied \(publickey\)/);
    });

    test('forwarding on, but the key removed from the agent: refused', async () => {
      gitAgent.removeAll();
      const r = await fap(['-f', deployFile('fwd-gone', true), 'deploy', 'production'], { env: { SSH_AUTH_SOCK: gitAgent.sock } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /git: update mirror/);
      assert.match(r.stderr, /Permission denied \(publickey\)/);
    });
  });
});
