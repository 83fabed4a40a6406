// The transaction's promises under the faults that broke them: a connection cut (a partition: fap
// sees it close, the host's session runs on) at the exact moment, failures in the steps after a
// flip, a signal during the last publish batch. After each: no lock left, every host on one
// complete release, the summary true to what the hosts say.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, existsSync, appendFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { FAP, fap, jsonEvents, makeRepo, ROOT, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP proxy in front of one sshd whose client side can be cut while the server side is kept
 * open and silent: fap sees its connection close, sshd and the session on the host see nothing.
 */
class PartitionProxy {
  private readonly server: Server;
  private readonly pairs: { client: Socket; upstream: Socket }[] = [];
  port = 0;
  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('error', () => {});
      upstream.on('error', () => {});
      this.pairs.push({ client, upstream });
    });
  }
  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(0, '127.0.0.1', () => ((this.port = (this.server.address() as { port: number }).port), r())));
  }
  /** cut every open connection on fap's side only */
  partition(): void {
    for (const p of this.pairs.splice(0)) {
      p.client.unpipe(p.upstream);
      p.upstream.unpipe(p.client);
      p.upstream.pause();
      p.client.destroy();
      this.held.push(p.upstream);
    }
  }
  private readonly held: Socket[] = [];
  close(): Promise<void> {
    for (const s of this.held) s.destroy();
    for (const p of this.pairs) (p.client.destroy(), p.upstream.destroy());
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('transaction kernel under faults', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  let proxy: PartitionProxy;
  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo();
    proxy = new PartitionProxy(fleet.hosts[1].port);
    await proxy.listen();
    // the proxy port presents host 1's key
    const lines = readFileSync(fleet.knownHosts, 'utf8').split('\n').filter((l) => l.startsWith(`[127.0.0.1]:${fleet.hosts[1].port} `));
    appendFileSync(fleet.knownHosts, lines.map((l) => l.replace(`:${fleet.hosts[1].port} `, `:${proxy.port} `)).join('\n') + '\n');
  });
  after(async () => {
    await proxy?.close();
    await fleet?.stop();
  });

  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(fleet.deployDir, app, ...p));

  function setup(app: string, top: Record<string, unknown> = {}, viaProxy = false): string {
    const dir = mkdtempSync(join(tmpdir(), 'fap-kernel-'));
    const plugin = writeFaultPlugin(dir);
    const file = writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, plugins: ['git', plugin], ...top } });
    if (viaProxy) {
      const text = readFileSync(file, 'utf8').replace(fleet.hosts[1].name, `127.0.0.1:${proxy.port}`);
      writeFileSync(file, text);
    }
    return file;
  }

  /** the invariants after any command: no lock, both hosts on the same complete release */
  function assertSettled(app: string): string {
    const currents = [0, 1].map((i) => readlinkSync(onHost(i, app, 'current')));
    assert.equal(currents[0], currents[1], `hosts agree: ${currents}`);
    for (let i = 0; i < 2; i++) {
      assert.ok(!existsSync(onHost(i, app, '.fap/lock')), `no lock left on host ${i}`);
      assert.ok(existsSync(join(onHost(i, app, currents[i]), 'REVISION')), 'current is complete');
    }
    return currents[0].replace('releases/', '');
  }

  async function deployOk(file: string, ...args: string[]): Promise<string> {
    const r = await fap(['-f', file, '--json', ...args, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    return String(jsonEvents(r.stdout).pop()!.release);
  }

  test('a partition during publish: the superseded session on the host never flips after the revert', async () => {
    const app = 'fence';
    const file = setup(app, {}, true);
    const first = await deployOk(file);
    const marker = onHost(1, app, 'slow-step-started');
    // host 1's publish sleeps before its flip; host 0's publish fails, so the run reverts
    const child = spawn(process.execPath, [FAP, '-f', file, '--json', '--set', 'fault_signal=deploy.publishing', '--set', `fault_action=touch {root}/slow-step-started; n=0; while [ ! -e {root}/fap-exited ] && [ $n -lt 600 ]; do sleep 0.2; n=$((n+1)); done`, '--set', `fault_hosts=["127.0.0.1:${proxy.port}"]`, 'deploy', 'production'], { cwd: ROOT, env: { ...process.env, SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    for (let i = 0; i < 1200 && !existsSync(marker); i++) await pause(50);
    assert.ok(existsSync(marker), 'host 1 reached its slow step');
    proxy.partition();
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    assert.equal(code, 1, out);
    // the old session's step waits for this: had that session survived fap, it would flip now
    writeFileSync(onHost(1, app, 'fap-exited'), '');
    await pause(2000);
    assert.equal(assertSettled(app), first, 'every host is back on the first release');
    const result = jsonEvents(out.split('\n').filter((l) => l.startsWith('{')).join('\n')).pop()!;
    assert.equal(result.ok, false);
  });

  test('a failing restart during a revert, a failing prune, a failing discard: the lock is always given back and the summary says where hosts are', async () => {
    const app = 'leak';
    const file = setup(app);
    const first = await deployOk(file);
    // publish fails on host 1; the revert's restart (deploy.reverted) fails on host 0
    let r = await fap(['-f', file, '--set', 'fault_signal=deploy.published', '--set', `fault_hosts=["${fleet.hosts[1].name}"]`, 'deploy', 'production']);
    assert.equal(r.code, 1);
    assertSettled(app);
    // the health check fails on host 1 only (run in current: ../../ is the deploy root)
    writeFileSync(onHost(1, app, 'fail-health'), '');
    const second = await fap(['-f', file, '--json', '--set', 'fault_signal=deploy.reverted', '--set', `fault_hosts=["${fleet.hosts[0].name}"]`, '--set', 'health_check=test ! -e ../../fail-health', '--set', 'health_check_timeout=1', 'deploy', 'production']);
    assert.equal(second.code, 1);
    assert.equal(assertSettled(app), first);
    const res = jsonEvents(second.stdout).pop()!;
    // the result's summary (now carried by --json) says the hosts are back and that one's restart failed
    assert.match(String(res.summary), new RegExp(`the restart after the revert failed on ${fleet.hosts[0].name.replace(/\./g, '\\.')}`), 'a failed restart is not hidden');
    // a failing prune (deploy.finishing) and a failing discard (deploy.failed)
    r = await fap(['-f', file, '--set', 'fault_signal=deploy.finishing', 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assertSettled(app);
    r = await fap(['-f', file, '--set', 'fault_signal=deploy.failed', '--set', 'fault_hosts=[]', '--set', 'repo=/nonexistent', 'deploy', 'production']);
    assert.equal(r.code, 1);
    assertSettled(app);
    await deployOk(file);
  });

  test('a partition during finish: the lock on that host is released over a new connection', async () => {
    const app = 'finish-drop';
    const file = setup(app, {}, true);
    await deployOk(file);
    const marker = onHost(1, app, 'finishing');
    const child = spawn(process.execPath, [FAP, '-f', file, '--json', '--set', 'fault_signal=deploy.finishing', '--set', 'fault_action=touch {root}/finishing; sleep 30', '--set', `fault_hosts=["127.0.0.1:${proxy.port}"]`, 'deploy', 'production'], { cwd: ROOT, env: { ...process.env, SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    for (let i = 0; i < 1200 && !existsSync(marker); i++) await pause(50);
    assert.ok(existsSync(marker), 'host 1 reached its finish');
    proxy.partition();
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    assert.equal(code, 1, out);
    // the old session still sleeps in its finish script: only fap can have given the lock back
    assert.ok(!existsSync(onHost(1, app, '.fap/lock')), 'no lock left on the host whose connection dropped');
    assertSettled(app);
    // the next run from elsewhere is not refused
    await deployOk(file);
  });

  test('SIGINT during the last publish batch reverts every host: the deploy only counts once it finished', async () => {
    const app = 'sigint-last';
    const file = setup(app);
    const first = await deployOk(file);
    const marker = onHost(0, app, 'published');
    const child = spawn(process.execPath, [FAP, '-f', file, '--set', 'fault_signal=deploy.published', '--set', 'fault_action=touch {root}/published; sleep 2', 'deploy', 'production'], { cwd: ROOT, env: { ...process.env, SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    for (let i = 0; i < 1200 && !existsSync(marker); i++) await pause(50);
    assert.ok(existsSync(marker), 'the last batch is publishing');
    child.kill('SIGINT');
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    assert.notEqual(code, 0, err);
    assert.doesNotMatch(err, /✔/);
    assert.equal(assertSettled(app), first);
  });

  test('plain rollback never lands on a release that was rolled back; journals stay bounded and a clean rollback leaves nothing to heal', async () => {
    const app = 'journals';
    const file = setup(app);
    const a = await deployOk(file);
    const b = await deployOk(file);
    const c = await deployOk(file);
    let r = await fap(['-f', file, '--json', 'rollback', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(assertSettled(app), b, 'back to b; c is rolled-back');
    const d = await deployOk(file);
    r = await fap(['-f', file, '--json', 'rollback', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(assertSettled(app), b, `from ${d} to b, not to the rolled-back ${c}`);
    assert.ok(a < b);
    for (let i = 0; i < 12; i++) {
      r = await fap(['-f', file, '--json', i % 2 ? 'rollback' : 'deploy', 'production', ...(i % 2 ? ['--to', d] : [])]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(jsonEvents(r.stdout).filter((e) => e.event === 'heal'), [], 'nothing to heal after a run that finished');
    }
    for (let h = 0; h < 2; h++) {
      const files = readdirSync(onHost(h, app, '.fap/journal'));
      assert.ok(files.length <= 10, `journals are bounded: ${files.length}`);
      for (const f of files) assert.match(readFileSync(onHost(h, app, '.fap/journal', f), 'utf8'), /^phase=(done|reverted)$/m);
    }
  });
});
