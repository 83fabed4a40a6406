// Transactions on a real 3-host sshd fleet: barriers, reverts, locks, rollback --to and drift,
// rolling deploys with health checks, thousands of releases.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();

describe('transactions on a 3-host fleet', { skip }, () => {
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
  const current = (i: number, app: string) => (existsSync(onHost(i, app, 'current')) || readdirSync(onHost(i, app)).includes('current') ? readlinkSync(onHost(i, app, 'current')).replace('releases/', '') : undefined);
  const status = (i: number, app: string, rel: string) => readFileSync(onHost(i, app, '.fap/releases', `${rel}.status`), 'utf8').trim();
  const currents = (app: string) => [0, 1, 2].map((i) => current(i, app));
  /** journal files on host i whose phase is not final */
  const unfinishedJournals = (i: number, app: string) => {
    const dir = onHost(i, app, '.fap/journal');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => !/^phase=(done|reverted)$/m.test(readFileSync(join(dir, f), 'utf8')));
  };

  /** a deploy file with the fault plugin; extra top-level keys merged in */
  function setup(app: string, top: Record<string, unknown> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'fap-tx-'));
    const plugin = writeFaultPlugin(dir);
    return writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, plugins: ['git', plugin], ...top } });
  }

  async function deployOk(file: string, ...extra: string[]): Promise<string> {
    const r = await fap(['-f', file, '--json', ...extra, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    return String(jsonEvents(r.stdout).pop()!.release);
  }

  test('a host failing in prepare: no host switched, the failed release never a rollback target', async () => {
    const app = 'tx-prepare';
    const file = setup(app);
    const a = await deployOk(file);
    const r = await fap(['-f', file, '--set', 'fault_signal=deploy.updated', '--set', `fault_hosts=[${fleet.hosts[1].name}]`, 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FAILED at fault: injected fault/);
    assert.match(r.stderr, /no host was switched/);
    assert.deepEqual(currents(app), [a, a, a]);
    for (let i = 0; i < 3; i++) assert.deepEqual(readdirSync(onHost(i, app, 'releases')), [a], 'the unpublished release is gone everywhere');
    const c = await deployOk(file);
    const rb = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(rb.code, 0, rb.stderr);
    assert.deepEqual(currents(app), [a, a, a], `rolled back to ${a}, not to the failed release (then ${c})`);
  });

  test('a flip failing on one host puts every host back, and the release is marked failed', async () => {
    const app = 'tx-flip';
    const file = setup(app);
    const a = await deployOk(file);
    // the release loses its REVISION on host 2 just before the flip: the flip refuses it
    const r = await fap(['-f', file, '--json', '--set', 'fault_signal=deploy.publishing', '--set', `fault_hosts=[${fleet.hosts[2].name}]`, '--set', 'fault_action=rm -f {release_path}/REVISION', 'deploy', 'production']);
    assert.equal(r.code, 1);
    const events = jsonEvents(r.stdout);
    const b = String(events.find((e) => e.event === 'release.planned')!.release);
    const failed = events.find((e) => e.event === 'host.failed')!;
    assert.equal(failed.host, fleet.hosts[2].name);
    assert.equal(failed.step, 'switch current');
    assert.ok(events.some((e) => e.event === 'deploy.reverting'));
    const outcomes = (events.pop()!.hosts as { outcome: string }[]).map((h) => h.outcome);
    assert.deepEqual(outcomes.sort(), ['failed', 'reverted', 'reverted']);
    assert.deepEqual(currents(app), [a, a, a]);
    for (let i = 0; i < 3; i++) assert.equal(status(i, app, b), 'failed');
    assert.match(readFileSync(onHost(0, app, 'revisions.log'), 'utf8'), new RegExp(`revert release=${a} .*reverted=${b}`));
    assert.ok(!existsSync(onHost(0, app, '.fap/lock')));
    for (let i = 0; i < 3; i++) assert.deepEqual(unfinishedJournals(i, app), [], 'the run’s journal is final (reverted) everywhere');
    // the failed release is pruned by the next deploy and never chosen by rollback
    const c = await deployOk(file);
    for (let i = 0; i < 3; i++) assert.ok(!readdirSync(onHost(i, app, 'releases')).includes(b), 'failed release cleaned up');
    assert.equal((await fap(['-f', file, 'rollback', 'production'])).code, 0);
    assert.deepEqual(currents(app), [a, a, a], `not ${b}; from ${c}`);
  });

  test('a failure after publish (restart / check) reverts all; rollback_on_failure: false keeps the others', async () => {
    const app = 'tx-after';
    const file = setup(app);
    const a = await deployOk(file);
    const fault = ['--set', 'fault_signal=deploy.published', '--set', `fault_hosts=[${fleet.hosts[0].name}]`];
    const r = await fap(['-f', file, ...fault, 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.deepEqual(currents(app), [a, a, a]);
    const kept = await fap(['-f', file, '--json', ...fault, '--set', 'rollback_on_failure=false', 'deploy', 'production']);
    assert.equal(kept.code, 1);
    const b = String(jsonEvents(kept.stdout).find((e) => e.event === 'release.planned')!.release);
    assert.deepEqual(currents(app), [b, b, b], 'the restart failed after the flip; nothing reverted');
    assert.equal(status(0, app, b), 'failed');
    assert.equal(status(1, app, b), 'ok');
  });

  test('two runs at once: one proceeds, the other exits 3 naming the holder', async () => {
    const app = 'tx-race';
    // the winner waits at deploy.updated until the test opens the gate, after every loser has
    // answered: the outcome cannot depend on how fast a loaded machine starts the processes
    const file = setup(app, { fault_signal: 'deploy.updated', fault_action: 'fap_i=0; while [ ! -e {root}/gate ] && [ "$fap_i" -lt 900 ]; do sleep 0.1; fap_i=$((fap_i + 1)); done' });
    const gate = (open: boolean) => [0, 1, 2].forEach((i) => (open ? writeFileSync(onHost(i, app, 'gate'), '') : rmSync(onHost(i, app, 'gate'), { force: true })));
    await deployOk(file, '--set', 'fault_signal=none');
    /** n runs at once; once n - 1 have exited (or 60 s passed) the gate opens for the one left */
    async function race(n: number) {
      const runs = Array.from({ length: n }, () => fap(['-f', file, 'deploy', 'production']));
      let exited = 0;
      runs.forEach((r) => void r.then(() => exited++));
      for (let waited = 0; exited < n - 1 && waited < 60_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      const early = exited;
      gate(true);
      const results = await Promise.all(runs);
      gate(false);
      return { results, early };
    }
    for (const n of [2, 2, 5]) {
      const { results, early } = await race(n);
      const codes = results.map((r) => r.code).sort();
      assert.deepEqual(codes, [0, ...Array(n - 1).fill(3)], results.map((r) => r.stderr).join('\n'));
      assert.equal(early, n - 1, 'every loser gave up while the winner held the lock');
      for (const loser of results.filter((r) => r.code === 3)) assert.match(loser.stderr, /is locked by \S+@\S+ \(pid \d+, "fap deploy production"\) since /);
      assert.equal(new Set(currents(app)).size, 1);
    }
  });

  test('--lock-wait waits for the other run instead of failing', async () => {
    const app = 'tx-wait';
    const file = setup(app, { fault_signal: 'deploy.updated', fault_action: 'sleep 3' });
    await deployOk(file);
    const first = fap(['-f', file, 'deploy', 'production']);
    await new Promise((r) => setTimeout(r, 1200));
    const second = await fap(['-f', file, '--set', 'fault_signal=none', 'deploy', 'production', '--lock-wait', '30s']);
    assert.equal((await first).code, 0);
    assert.equal(second.code, 0, second.stderr);
  });

  test('a lock from another machine: exit 3 and fap unlock; a stale local one is taken over', async () => {
    const app = 'tx-locks';
    const file = setup(app);
    await deployOk(file);
    const lock = onHost(1, app, '.fap/lock');
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner'), JSON.stringify({ user: 'bob', origin: 'ci-runner-7', pid: 1, command: 'fap deploy production', started_at: '2026-01-01T00:00:00Z', token: 'abc' }));
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /locked by bob@ci-runner-7 \(pid 1, "fap deploy production"\) since 2026-01-01T00:00:00Z/);
    assert.match(r.stderr, /if that run is gone: fap unlock production web/);
    const u = await fap(['-f', file, 'unlock', 'production']);
    assert.equal(u.code, 0, u.stderr);
    assert.match(u.stderr, /removed the deploy lock: .*bob@ci-runner-7/);
    assert.ok(!existsSync(lock));
    // a lock left by a dead process of this machine's boot and PID namespace is stale: taken over with a warning
    mkdirSync(lock);
    const os = await import('node:os');
    const boot_id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pid_ns = readlinkSync('/proc/self/ns/pid');
    writeFileSync(join(lock, 'owner'), JSON.stringify({ user: 'me', origin: os.hostname(), pid: 4194000, command: 'fap deploy production', started_at: '2026-01-01T00:00:00Z', token: 'dead', boot_id, pid_ns }));
    const s = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /taking over the lock of me@\S+ \(pid 4194000.*: its process \(pid 4194000\) is no longer running on this machine/);
  });

  test('rollback --to forward and back; a release one host lacks is refused naming the host', async () => {
    const app = 'tx-to';
    const file = setup(app);
    const a = await deployOk(file);
    const b = await deployOk(file);
    const c = await deployOk(file);
    let r = await fap(['-f', file, 'rollback', 'production', '--to', a]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(currents(app), [a, a, a]);
    assert.equal(status(0, app, c), 'rolled-back');
    r = await fap(['-f', file, 'rollback', 'production', '--to', c]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(currents(app), [c, c, c], 'rolled forward again');
    assert.equal(status(1, app, c), 'ok');
    assert.equal((await fap(['-f', file, 'rollback', 'production', '--to', 'yesterday'])).code, 2);
    // b disappears from host 1: --to b must not move any host
    (await import('node:fs')).rmSync(onHost(1, app, 'releases', b), { recursive: true });
    r = await fap(['-f', file, 'rollback', 'production', '--to', b]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`release ${b} does not exist on ${fleet.hosts[1].name.replace(/\./g, '\\.')}`));
    assert.deepEqual(currents(app), [c, c, c]);
  });

  test('hosts that disagree about current: rollback refuses unless --force; releases warns', async () => {
    const app = 'tx-drift';
    const file = setup(app);
    const a = await deployOk(file);
    const b = await deployOk(file);
    const h1 = fleet.hosts[1].name;
    assert.equal((await fap(['-f', file, '--hosts', h1, 'rollback', 'production'])).code, 0);
    assert.deepEqual(currents(app), [b, a, b]);
    const list = await fap(['-f', file, 'releases', 'production']);
    assert.match(list.stdout, /warning: hosts disagree about current/);
    const json = jsonEvents((await fap(['-f', file, '--json', 'releases', 'production'])).stdout).pop()!;
    assert.equal(json.agree, false);
    const r = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`hosts disagree about current \\(.*${h1.replace(/\./g, '\\.')}=${a}`));
    assert.deepEqual(currents(app), [b, a, b]);
    const f = await fap(['-f', file, 'rollback', 'production', '--to', a, '--force']);
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(currents(app), [a, a, a]);
  });

  test('rolling deploy: a failing health check in the second batch reverts the first and stops', async () => {
    const app = 'tx-rolling';
    const marker = join(fleet.deployDir, 'unhealthy-' + app);
    const file = setup(app, { health_check: `test ! -e ${marker}`, health_check_timeout: 2, health_check_interval: 1 });
    const a = await deployOk(file);
    writeFileSync(fleet.hostPath(1, marker), 'sick\n');
    const r = await fap(['-f', file, '--json', 'deploy', 'production', '--batch', '1']);
    assert.equal(r.code, 1);
    const events = jsonEvents(r.stdout);
    const phases = events.filter((e) => e.event === 'phase.started').map((e) => e.phase);
    assert.deepEqual(phases, ['lock', 'prepare', 'publish 1/3', 'publish 2/3', 'revert', 'restart after revert']);
    const failed = events.find((e) => e.event === 'host.failed')!;
    assert.equal(failed.step, 'health check');
    assert.match(String(failed.message), /health check: exit status 1, no output \(still failing after 2s\)$/);
    assert.deepEqual(currents(app), [a, a, a], 'host 0 was put back; host 2 was never switched');
    (await import('node:fs')).rmSync(fleet.hostPath(1, marker));
    const ok = await fap(['-f', file, '--json', 'deploy', 'production', '--batch', '33%']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(jsonEvents(ok.stdout).filter((e) => e.event === 'phase.started').map((e) => e.phase), ['lock', 'prepare', 'publish 1/3', 'publish 2/3', 'publish 3/3', 'finish']);
  });

  test('5000 old releases are cleaned up in one deploy; what is not a release stays', async () => {
    const app = 'tx-many';
    const file = setup(app, { keep_releases: 3 });
    await deployOk(file);
    const rels = onHost(0, app, 'releases');
    const state = onHost(0, app, '.fap/releases');
    const base = Date.UTC(2020, 0, 1);
    for (let i = 0; i < 5000; i++) {
      const d = new Date(base + i * 1000);
      const name = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
      mkdirSync(join(rels, name));
      writeFileSync(join(rels, name, 'REVISION'), 'old\n');
      writeFileSync(join(state, `${name}.status`), i % 7 ? 'ok\n' : 'failed\n');
    }
    mkdirSync(join(rels, 'keep-me'));
    const started = Date.now();
    const latest = await deployOk(file);
    const left = readdirSync(rels).sort();
    assert.equal(left.length, 4, `left: ${left.slice(0, 5).join(',')}...`);
    assert.ok(left.includes('keep-me') && left.includes(latest));
    assert.ok(readdirSync(state).length <= 9, 'status, meta and run records of the 3 kept releases only');
    assert.ok(Date.now() - started < 60_000);
  });
});
