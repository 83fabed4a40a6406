// The deploy lock on a real sshd fleet: a run with our hostname in another PID namespace never takes
// over a live lock, a lock the lock phase took is released even when its reply was lost, a lock
// of an older fap is never guessed stale, and commands that build nothing create nothing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { FAP, fap, jsonEvents, makeRepo, ROOT, writeDeployFile, type FapResult, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();

/** fap in a new PID namespace: same hostname and boot, other pids (a twin CI runner). */
function fapInOtherPidNamespace(args: string[]): Promise<FapResult> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['-p', '-f', '--mount-proc', process.execPath, FAP, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean) {
  for (let i = 0; i < 600; i++) {
    if (cond()) return;
    await sleep(50);
  }
  assert.fail(`never happened: ${what}`);
}

describe('the deploy lock on a 3-host fleet', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  before(async () => {
    fleet = await startFleet(3);
    repo = makeRepo();
  });
  after(async () => {
    await fleet?.stop();
  });

  const root = (app: string) => join(fleet.deployDir, app);
  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(root(app), ...p));
  const setup = (app: string, top: Record<string, unknown> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'fap-lock-'));
    return writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, plugins: ['git', writeFaultPlugin(dir)], ...top } });
  };

  test('a run with our hostname in another PID namespace waits for a live lock (exit 3); the holder finishes', async () => {
    const app = 'lock-pidns';
    const file = setup(app);
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const stop = join(mkdtempSync(join(tmpdir(), 'fap-lock-stop-')), 'go');
    // the first run holds the lock in a slow step until the test lets it go on
    const firstP = fap(['-f', file, '--json', '--set', 'fault_signal=deploy.updated', '--set', `fault_action=while [ ! -e ${stop} ]; do sleep 0.2; done`, 'deploy', 'production']);
    await until('the first run holds the lock everywhere', () => [0, 1, 2].every((i) => existsSync(onHost(i, app, '.fap/lock/owner'))) && existsSync(onHost(0, app, 'releases')) && readdirSync(onHost(0, app, 'releases')).length === 2);
    const holder = JSON.parse(readFileSync(onHost(0, app, '.fap/lock/owner'), 'utf8')) as { pid: number; token: string };
    const second = await fapInOtherPidNamespace(['-f', file, '--set', 'fault_signal=none', 'deploy', 'production']);
    assert.equal(second.code, 3, second.stderr);
    assert.match(second.stderr, new RegExp(`locked by \\S+@${hostname()} \\(pid ${holder.pid}, "fap .*deploy production"\\) since \\S+; lease renewed \\d+ s ago`));
    assert.doesNotMatch(second.stderr, /taking over/);
    // with --lock-wait it says whom it waits for, at once
    const waiting = await fapInOtherPidNamespace(['-f', file, '--set', 'fault_signal=none', 'deploy', 'production', '--lock-wait', '3s']);
    assert.equal(waiting.code, 3, waiting.stderr);
    assert.match(waiting.stderr, new RegExp(`waiting for the deploy lock held by \\S+@${hostname()} \\(pid ${holder.pid}.*lease renewed \\d+ s ago`));
    for (let i = 0; i < 3; i++) assert.equal(JSON.parse(readFileSync(onHost(i, app, '.fap/lock/owner'), 'utf8')).token, holder.token, `host ${i}: still the first run's lock`);
    writeFileSync(stop, '');
    const first = await firstP;
    assert.equal(first.code, 0, first.stderr);
    const release = String(jsonEvents(first.stdout).find((e) => e.event === 'release.planned')!.release);
    for (let i = 0; i < 3; i++) {
      assert.equal(readlinkSync(onHost(i, app, 'current')), `releases/${release}`, `host ${i}: the first run's release is live`);
      assert.ok(!existsSync(onHost(i, app, '.fap/lock')), `host ${i}: lock released`);
      assert.equal(statSync(onHost(i, app, '.fap')).mode & 0o777, 0o700, `host ${i}: .fap is private`);
    }
  });

  test('a lock of an older fap (no lease) on this machine with a dead pid is not guessed stale', async () => {
    const app = 'lock-legacy';
    const file = setup(app);
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const lock = onHost(1, app, '.fap/lock');
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner'), JSON.stringify({ user: 'me', origin: hostname(), pid: 4194000, command: 'fap deploy production', started_at: '2026-01-01T00:00:00Z', token: 'old' }));
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /pid 4194000.*no lease \(a lock of an older fap\)/);
    assert.match(r.stderr, /fap unlock production web/);
    assert.ok(existsSync(join(lock, 'owner')));
    assert.equal((await fap(['-f', file, 'unlock', 'production'])).code, 0);
  });

  test('the connection drops after the lock script took the lock, before its reply: that lock is released too', async () => {
    const app = 'lock-drop';
    const file = setup(app);
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    // host 1's lock script takes the lock, then blocks reading this FIFO (its state read)
    const fifoName = `block-${process.pid}-${Date.now()}`;
    const fifo = onHost(1, app, '.fap/journal', fifoName);
    const mk = spawn('mkfifo', [fifo]);
    await new Promise((r) => mk.on('close', r));
    const run = fap(['-f', file, 'deploy', 'production']);
    try {
      await until('host 1 locked and blocked', () => existsSync(onHost(1, app, '.fap/lock/owner')) && blockedReader(fifoName) !== undefined);
      // cut that connection: kill the sshd processes serving it (not the listener)
      for (const pid of sshdAncestors(blockedReader(fifoName)!)) process.kill(pid, 'SIGKILL');
      const r = await run;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /stopped before changing anything/);
      assert.doesNotMatch(r.stderr, /could not be released/);
      for (let i = 0; i < 3; i++) assert.ok(!existsSync(onHost(i, app, '.fap/lock')), `host ${i}: no lock left`);
    } finally {
      rmSync(fifo, { force: true });
    }
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0, 'the next run is not locked out');
  });

  test('rollback, cleanup, restart and releases on a never-deployed path create nothing', async () => {
    const app = 'lock-never';
    const file = setup(app);
    const rb = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(rb.code, 1, rb.stderr);
    assert.match(rb.stderr, /nothing deployed at \S+lock-never/);
    // (restart: refused before any host is contacted, nothing of the fleet's plugins restarts anything)
    assert.equal((await fap(['-f', file, 'restart', 'production'])).code, 2);
    for (const args of [['cleanup', 'production'], ['releases', 'production']]) {
      const r = await fap(['-f', file, ...args]);
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
      if (args[0] !== 'releases') assert.match(r.stderr, /nothing deployed at \S+lock-never; nothing to do/);
    }
    for (let i = 0; i < 3; i++) assert.ok(!existsSync(onHost(i, app)), `host ${i}: ${app} was not created`);
    // a path Fapistrano deployed (releases/, no .fap/): .fap/ is created to hold the lock, nothing else
    for (let i = 0; i < 3; i++) mkdirSync(onHost(i, app, 'releases'), { recursive: true });
    const c = await fap(['-f', file, 'cleanup', 'production']);
    assert.equal(c.code, 0, c.stderr);
    for (let i = 0; i < 3; i++) assert.deepEqual(readdirSync(onHost(i, app)).sort(), ['.fap', 'releases']);
  });
});

/** The pid of a process whose command line names the FIFO (the blocked reader), if any. */
function blockedReader(name: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(name)) return Number(d);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** The sshd processes above pid whose parent is also sshd: the connection's, not the listener. */
function sshdAncestors(pid: number): number[] {
  const info = (p: number) => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    return { comm, ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) };
  };
  const out: number[] = [];
  for (let p = pid; p > 1; ) {
    const { comm, ppid } = info(p);
    if (comm === 'sshd' && ppid > 1 && info(ppid).comm === 'sshd') out.push(p);
    p = ppid;
  }
  return out;
}
