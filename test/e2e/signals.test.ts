// SIGINT and closed output at any moment: fap's handlers are installed before anything else, a
// signal before any host is contacted ends fap with 130, one during a run stops it at a phase
// boundary, a second releases the run's locks, and a closed stdout/stderr stops the run (exit 141).
// After each: no stack trace, no lock on any host, every host on the same release, and the next
// deploy succeeds.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { FAP, ROOT, fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();
const STACK = /\n\s+at |Unhandled|node:internal|internal error/;

/**
 * A deploy file fap reads through a FIFO: resolves once fap has opened it (so fap is loading its
 * configuration: an ordering point, not a time); `feed` then gives it the text.
 */
let fifos = 0;
async function fifoDeployFile(text: string, dir = mkdtempSync(join(tmpdir(), 'fap-fifo-'))): Promise<{ path: string; opened: Promise<{ feed: () => Promise<void> }> }> {
  const path = join(dir, `fifo-${fifos++}.yml`);
  assert.equal(spawnSync('mkfifo', [path]).status, 0);
  const opened = open(path, 'w').then((fh) => ({
    feed: async () => {
      await fh.writeFile(text);
      await fh.close();
    },
  }));
  return { path, opened };
}

async function until(what: string, ok: () => boolean, child: ChildProcess): Promise<void> {
  // bounded by the process: it ends, or the condition holds
  while (!ok()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fap ended before ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Live {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], stdio: ('pipe' | 'ignore')[] = ['ignore', 'pipe', 'pipe']): Live {
  const child = spawn(process.execPath, [FAP, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '' }, stdio: stdio as never });
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d) => (out.stdout += d));
  child.stderr?.on('data', (d) => (out.stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    }),
  );
  return { child, out, done };
}

describe('signals and closed output', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo();
  });
  after(async () => {
    await fleet?.stop();
  });

  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(fleet.deployDir, app, ...p));
  const current = (i: number, app: string) => (existsSync(onHost(i, app, 'current')) ? readlinkSync(onHost(i, app, 'current')) : undefined);

  async function setup(app: string, top: Record<string, unknown> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'fap-signals-'));
    const plugin = writeFaultPlugin(dir);
    const file = writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, plugins: ['git', plugin], ...top } });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    return { file, first: current(0, app)! };
  }

  /** no lock anywhere, every host on the same complete release, and the next deploy works */
  async function assertSound(app: string, file: string, ctx: string): Promise<void> {
    const currents = [0, 1].map((i) => current(i, app));
    for (let i = 0; i < 2; i++) assert.ok(!existsSync(onHost(i, app, '.fap', 'lock')), `${ctx}: host ${i} still locked`);
    assert.equal(new Set(currents).size, 1, `${ctx}: hosts disagree: ${currents.join(', ')}`);
    const next = await fap(['-f', file, '--set', 'fault_signal=none', 'deploy', 'production']);
    assert.equal(next.code, 0, `${ctx}: the next deploy: ${next.stderr}`);
  }

  test('SIGINT while the deploy file is still being read: exit 130, one line, no host contacted', async () => {
    const app = 'sig-early';
    const fifo = await fifoDeployFile(readFileSync(writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app } }), 'utf8'));
    const live = start(['-f', fifo.path, 'deploy', 'production']);
    // fap is reading its deploy file: its handler must already be there
    const reader = await fifo.opened;
    live.child.kill('SIGINT');
    await reader.feed();
    const r = await live.done;
    assert.equal(r.signal, null, 'not killed by the signal');
    assert.equal(r.code, 130, live.out.stderr);
    assert.match(live.out.stderr, /^fap: interrupted by SIGINT before any host was contacted: nothing was changed\n$/);
    for (let i = 0; i < 2; i++) assert.ok(!existsSync(onHost(i, app)), 'no host was touched');
  });

  test('SIGINT at moments through a deploy: 130 before hosts, else 1 with nothing half-switched', async () => {
    const app = 'sig-loop';
    const { file } = await setup(app);
    repo.commit({ 'app.py': 'print("v2")\n' });
    const text = readFileSync(file, 'utf8');
    for (const delay of [0, 50, 150, 300, 600, 1200]) {
      // counted from the moment fap reads its deploy file (through a FIFO)
      const fifo = await fifoDeployFile(text, dirname(file));
      const live = start(['-f', fifo.path, 'deploy', 'production']);
      await (await fifo.opened).feed();
      await new Promise((r) => setTimeout(r, delay));
      live.child.kill('SIGINT');
      const r = await live.done;
      const ctx = `SIGINT after ${delay} ms: ${live.out.stderr}`;
      assert.equal(r.signal, null, ctx);
      // 130: stopped before any host was contacted; 1: the run stopped at a boundary and cleaned
      // up; 0: it had already finished (the signal came after the last boundary)
      assert.ok([0, 1, 130].includes(r.code!), ctx);
      assert.doesNotMatch(live.out.stderr, STACK, ctx);
      await assertSound(app, file, ctx);
    }
  });

  test('a second SIGINT releases this run\'s locks before quitting (exit 130)', async () => {
    const app = 'sig-twice';
    const { file, first } = await setup(app, { fault_signal: 'deploy.updated', fault_action: 'sleep 30' });
    repo.commit({ 'app.py': 'print("v3")\n' });
    const live = start(['-f', file, '--json', 'deploy', 'production']);
    await until('the slow step runs', () => jsonEvents(live.out.stdout).some((e) => e.event === 'script' || e.event === 'deploy.updated'), live.child);
    await until('both hosts locked', () => [0, 1].every((i) => existsSync(onHost(i, app, '.fap', 'lock'))), live.child);
    live.child.kill('SIGINT');
    await until('the first signal is heard', () => /stopping at the next phase boundary/.test(live.out.stderr), live.child);
    live.child.kill('SIGINT');
    const r = await live.done;
    assert.equal(r.code, 130, live.out.stderr);
    assert.doesNotMatch(live.out.stderr, STACK);
    for (let i = 0; i < 2; i++) {
      assert.ok(!existsSync(onHost(i, app, '.fap', 'lock')), `host ${i}: the lock was released: ${live.out.stderr}`);
      assert.equal(current(i, app), first, 'nothing was switched');
    }
    await assertSound(app, file, 'after a second SIGINT');
  });

  for (const stream of ['stdout', 'stderr'] as const) {
    test(`a closed ${stream} mid-deploy: exit 141, no stack trace, no lock, hosts agree`, async () => {
      const app = `pipe-${stream}`;
      const { file } = await setup(app, { fault_signal: 'deploy.updated', fault_action: 'sleep 1' });
      repo.commit({ [`${stream}.txt`]: 'x\n' });
      // --json writes events to stdout; plain mode writes progress to stderr
      const live = start(['-f', file, ...(stream === 'stdout' ? ['--json'] : []), 'deploy', 'production']);
      const pipe = stream === 'stdout' ? live.child.stdout! : live.child.stderr!;
      // the reader goes away after the first line, like `| head -1`
      await until('the first line', () => live.out[stream].includes('\n'), live.child);
      pipe.destroy();
      const r = await live.done;
      assert.equal(r.signal, null);
      assert.equal(r.code, 141, live.out.stderr);
      assert.doesNotMatch(live.out.stderr, STACK);
      await assertSound(app, file, `closed ${stream}`);
    });
  }

  for (const command of ['releases', 'config']) {
    test(`fap ${command} into a closed pipe: exit 141, no stack trace`, async () => {
      const { file } = await setup(`pipe-${command}`);
      const live = start(['-f', file, command, 'production']);
      live.child.stdout!.destroy();
      const r = await live.done;
      assert.equal(r.code, 141, live.out.stderr);
      assert.doesNotMatch(live.out.stderr, STACK);
    });
  }
});
