// The transaction's host-side pieces run in a real /bin/sh in a temp dir: journals (written,
// read back, bounded), fencing of a superseded session, and a discard that removes only what its
// own run made.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { composeScript, parseFailedStep, parseOutputs, type Step } from '../../src/remote/shell.js';
import { layout, type Paths } from '../../src/release/paths.js';
import {
  discardReleaseSteps,
  fenceSteps,
  flipSteps,
  inspectSteps,
  journalSteps,
  lockSteps,
  prepareStartSteps,
  reapSupersededSteps,
  type LockOwner,
} from '../../src/release/scripts.js';
import { parseState, type Journal } from '../../src/release/state.js';

const R1 = '20240101000000';
const R2 = '20240102000000';

function run(steps: Step[], env: Record<string, string> = {}) {
  const r = spawnSync('/bin/sh', ['-c', composeScript(steps)], { encoding: 'utf8', env: { ...process.env, ...env } });
  const { outputs } = parseOutputs(r.stdout);
  return { status: r.status, outputs, stderr: parseFailedStep(r.stderr).stderr };
}

const owner = (token: string): LockOwner => ({ user: 'me', origin: 'here', pid: 1, command: 'fap deploy', started_at: 'now', token });

function fresh(): Paths {
  const root = mkdtempSync(join(tmpdir(), "fap-kernel-it's "));
  const p = layout(root, R1);
  const r = run(lockSteps(p, owner('tok1'), 75));
  assert.equal(r.status, 0, r.stderr);
  return p;
}

const journal = (token: string, phase: Journal['phase'], hosts = ['a', 'b']): Journal => ({ token, command: 'deploy', release: R1, prev: '', phase, at: new Date().toISOString(), hosts });

describe('journals on the host', () => {
  test('read back: an unfinished journal with its participants, a finished one with its outcome only', () => {
    const p = fresh();
    assert.equal(run([...fenceSteps(p, 'tok1'), ...journalSteps(p, journal('aaa', 'prepare')), ...journalSteps(p, journal('bbb', 'done'))]).status, 0);
    const st = parseState(run(inspectSteps(p)).outputs);
    const byToken = new Map(st.journals!.map((j) => [j.token, j]));
    assert.deepEqual(byToken.get('aaa')?.hosts, ['a', 'b']);
    assert.equal(byToken.get('aaa')?.phase, 'prepare');
    assert.equal(byToken.get('bbb')?.phase, 'done');
    assert.deepEqual(byToken.get('bbb')?.hosts, []);
  });

  test('finished journals are bounded; an unfinished one is never forgotten', () => {
    const p = fresh();
    assert.equal(run(journalSteps(p, journal('keepme', 'publish'))).status, 0);
    for (let i = 0; i < 25; i++) assert.equal(run(journalSteps(p, journal(`t${i}`, i % 2 ? 'done' : 'reverted'))).status, 0);
    const files = readdirSync(join(p.state, 'journal'));
    assert.ok(files.length <= 11, `bounded: ${files.length}`);
    assert.ok(files.includes('keepme'));
  });
});

describe('fencing', () => {
  test('a step of a superseded session cannot flip current or write the journal', () => {
    const p = fresh();
    mkdirSync(join(p.releases, R1), { recursive: true });
    writeFileSync(join(p.releases, R1, 'REVISION'), 'x\n');
    // the newer session made itself the fence
    assert.equal(run(fenceSteps(p, 'tok1')).status, 0);
    // an older session's script: its fap_fence is another attempt of the same run
    const old = run([{ name: 'old attempt', script: "fap_fence='tok1.1'" }, ...flipSteps(p, R1)]);
    assert.notEqual(old.status, 0);
    assert.match(old.stderr, /superseded/);
    assert.ok(!existsSync(p.current), 'current not moved');
    const oldJournal = run([{ name: 'old attempt', script: "fap_fence='tok1.1'" }, ...journalSteps(p, journal('tok1', 'published'))]);
    assert.notEqual(oldJournal.status, 0);
    // the live session can
    assert.equal(run([...fenceSteps(p, 'tok1'), ...flipSteps(p, R1)]).status, 0);
    assert.equal(readlinkSync(p.current), `releases/${R1}`);
  });

  test('a script of a run that no longer holds the lock stops before doing anything', () => {
    const p = fresh();
    const r = run([...fenceSteps(p, 'other-run'), { name: 'canary', script: `touch ${JSON.stringify(join(p.root, 'ran'))}` }]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no longer holds the deploy lock/);
    assert.ok(!existsSync(join(p.root, 'ran')));
  });

  for (const [name, steps] of [
    ['a new attempt', (p: Paths) => fenceSteps(p, 'tok1', 2, 2)],
    ['the final unlock', (p: Paths) => reapSupersededSteps(p, 'tok1', 2)],
  ] as const) {
    test(`${name} stops the superseded session (its whole process group) before going on`, async () => {
      const p = fresh();
      // a stand-in for the old session's driver: argv[0] fap-session, leading its own process group
      const old = spawn('/bin/sh', ['-c', 'sleep 60 & wait', 'fap-session'], { detached: true, stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(join(p.state, 'lock', 'fence'), `tok1.1.${old.pid}\n`);
      const exited = new Promise((r) => old.on('exit', r));
      const r = run(steps(p));
      assert.equal(r.status, 0, r.stderr);
      await exited;
      // (a zombie waiting for its parent to reap it can no longer act)
      const left = spawnSync('ps', ['-o', 'pid=,stat=', '-g', String(old.pid)], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim() && !/\sZ/.test(l));
      assert.deepEqual(left, [], 'no process of the old session is left');
    });
  }

  test('an older attempt whose script reaches the host late stops: it neither takes the fence back nor stops its successor (found by the simulated model, seed 1002722)', async () => {
    const p = fresh();
    const newer = spawn('/bin/sh', ['-c', 'sleep 60 & wait', 'fap-session'], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const fence = join(p.state, 'lock', 'fence');
    writeFileSync(fence, `tok1.2.${newer.pid}\n`);
    const late = run([...fenceSteps(p, 'tok1', 1, 1), { name: 'canary', script: `touch ${JSON.stringify(join(p.root, 'ran'))}` }]);
    assert.notEqual(late.status, 0);
    assert.match(late.stderr, /superseded by a newer attempt/);
    assert.equal(readFileSync(fence, 'utf8'), `tok1.2.${newer.pid}\n`);
    assert.ok(!existsSync(join(p.root, 'ran')));
    assert.ok(spawnSync('kill', ['-0', String(newer.pid)]).status === 0, 'the newer session lives');
    process.kill(-newer.pid!, 'SIGKILL');
  });

  test('a pid that is not a fap session (a reused pid) is never killed', async () => {
    const p = fresh();
    const other = spawn('/bin/sh', ['-c', 'sleep 60'], { detached: true, stdio: 'ignore' });
    writeFileSync(join(p.state, 'lock', 'fence'), `tok1.1.${other.pid}\n`);
    assert.equal(run(fenceSteps(p, 'tok1', 1)).status, 0);
    assert.ok(spawnSync('kill', ['-0', String(other.pid)]).status === 0, 'still alive');
    process.kill(-other.pid!, 'SIGKILL');
  });
});

describe('discard', () => {
  test('removes the release its run made, never a same-named one another run made', () => {
    const p = fresh();
    assert.equal(run(prepareStartSteps(p, R1, [], 'mine')).status, 0);
    assert.equal(run(discardReleaseSteps(p, R1, 'mine')).status, 0);
    assert.ok(!existsSync(join(p.releases, R1)));
    // R2 exists already: this run's prepare refuses it, and its discard leaves it
    mkdirSync(join(p.releases, R2), { recursive: true });
    const other = layout(p.root, R2);
    assert.notEqual(run(prepareStartSteps(other, R2, [], 'mine')).status, 0);
    assert.equal(run(discardReleaseSteps(other, R2, 'mine')).status, 0);
    assert.ok(existsSync(join(p.releases, R2)), 'the other release is still there');
  });
});
