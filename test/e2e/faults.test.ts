// The fault matrix beyond kill -9 (see crash.test.ts): a full disk on one host, the sshd serving one
// host's connection killed mid-publish and mid-rollback, a host that refuses connections. After
// each, every host's current is a complete good release and all hosts agree, the lock is released,
// shared/ is untouched, and the next deploy succeeds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, fapLive, jsonEvents, makeRepo, writeDeployFile, type Repo, saidBy } from '../helpers.js';

const skip = fleetUnsupportedReason();

describe('faults', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  before(async () => {
    // host 1's disk is a small tmpfs that can be filled (bytes and inodes)
    fleet = await startFleet(3, { tmpfs: { 1: 'size=8m,nr_inodes=2000' } });
    repo = makeRepo();
  });
  after(async () => {
    await fleet?.stop();
  });

  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(fleet.deployDir, app, ...p));

  async function setup(app: string, top: Record<string, unknown> = {}) {
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'fap-faults-'));
    const plugin = writeFaultPlugin(dir);
    for (let i = 0; i < 3; i++) {
      mkdirSync(onHost(i, app, 'shared'), { recursive: true });
      writeFileSync(onHost(i, app, 'shared', 'app.conf'), 'keep me\n');
    }
    const file = writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, plugins: ['git', plugin], linked_files: ['app.conf'], ...top } });
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    return { file, first: String(jsonEvents(r.stdout).pop()!.release) };
  }

  /** the promises: complete good releases, all hosts agree, lock released, shared/ untouched */
  function assertSound(app: string, expected?: string): string {
    const currents = [0, 1, 2].map((i) => {
      const rel = readlinkSync(onHost(i, app, 'current')).replace('releases/', '');
      assert.ok(existsSync(onHost(i, app, 'releases', rel, 'REVISION')), `host ${i}: ${rel} complete`);
      assert.equal(readFileSync(onHost(i, app, '.fap/releases', `${rel}.status`), 'utf8').trim(), 'ok');
      assert.ok(!existsSync(onHost(i, app, '.fap/lock')), `host ${i}: lock released`);
      assert.equal(readFileSync(onHost(i, app, 'shared', 'app.conf'), 'utf8'), 'keep me\n');
      return rel;
    });
    assert.equal(new Set(currents).size, 1, `hosts agree: ${currents.join(', ')}`);
    if (expected) assert.equal(currents[0], expected);
    return currents[0];
  }

  async function nextDeploySucceeds(file: string, app: string) {
    const r = await fap(['-f', file, '--json', '--set', 'fault_signal=none', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assertSound(app, String(jsonEvents(r.stdout).pop()!.release));
  }

  const fill = (i: number) => {
    // fill host i's disk: a big file, then inodes
    const dir = fleet.hostPath(i, join(fleet.deployDir, 'filler'));
    mkdirSync(dir, { recursive: true });
    spawnSync('sh', ['-c', `dd if=/dev/zero of=${dir}/big bs=64k 2>/dev/null; n=0; while : > ${dir}/f$n 2>/dev/null; do n=$((n+1)); done`]);
  };
  const unfill = (i: number) => rmSync(fleet.hostPath(i, join(fleet.deployDir, 'filler')), { recursive: true, force: true });

  test('a full disk on one host during prepare: nothing switched anywhere', async () => {
    const app = 'full-prepare';
    const { file, first } = await setup(app);
    fill(1);
    let r;
    try {
      r = await fap(['-f', file, 'deploy', 'production']);
    } finally {
      unfill(1);
    }
    assert.equal(r.code, 1);
    assert.match(r.stderr, saidBy(fleet.hosts[1].name.replace(/\./g, '\\.'), `FAILED`));
    assert.match(r.stderr, /No space left on device|not a release|cannot/i);
    assertSound(app, first);
    await nextDeploySucceeds(file, app);
  });

  test('the disk filling up on one host just before its flip: every host back', async () => {
    const app = 'full-publish';
    const { file, first } = await setup(app);
    const dir = join(fleet.deployDir, 'filler');
    const action = `mkdir -p ${dir}; dd if=/dev/zero of=${dir}/big bs=64k 2>/dev/null || true; n=0; while (: > ${dir}/f$n) 2>/dev/null; do n=$((n+1)); done; true`;
    let r;
    try {
      r = await fap(['-f', file, '--set', 'fault_signal=deploy.publishing', '--set', `fault_hosts=[${fleet.hosts[1].name}]`, '--set', `fault_action=${JSON.stringify(action)}`, 'deploy', 'production']);
    } finally {
      unfill(1);
    }
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FAILED at (switch current|mark \d+ ok|journal publish)/);
    assert.match(r.stderr, /No space left on device/);
    assertSound(app, first);
    await nextDeploySucceeds(file, app);
  });

  test('a step that explains its failure on stdout only (virtualenv, pip): the reason is shown, not just the exit code', async () => {
    // found by the attack pass: `virtualenv -p python3.99` printed its error on stdout, fap said "exit code 1"
    const app = 'stdout-reason';
    const { file, first } = await setup(app);
    const r = await fap(['-f', file, '--set', 'fault_signal=deploy.updated', '--set', `fault_action=${JSON.stringify('echo "RuntimeError: failed to find interpreter python3.99"; exit 3')}`, 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FAILED at .*: RuntimeError: failed to find interpreter python3\.99/);
    assertSound(app, first);
  });

  test('the sshd serving one host killed mid-publish: the others are put back, that host too', async () => {
    const app = 'drop-publish';
    const { file, first } = await setup(app);
    const listener = fleet.hosts[2].process.pid!;
    const r = await fapLive(['-f', file, '--set', 'fault_signal=deploy.published', '--set', `fault_hosts=[${fleet.hosts[2].name}]`, '--set', 'fault_action=sleep 5', 'deploy', 'production'], (e) => {
      if (e.event === 'phase.started' && e.phase === 'publish') setTimeout(() => spawnSync('pkill', ['-KILL', '-P', String(listener)]), 1000);
    });
    assert.equal(r.code, 1, r.stderr);
    // the host whose connection died failed; the other two were put back
    const hosts = jsonEvents(r.stdout).pop()!.hosts as { host: string; outcome: string; error?: string }[];
    const outcome = (i: number) => hosts.find((h) => h.host === fleet.hosts[i].name);
    assert.equal(hosts.length, 3, 'each host reported once');
    assert.equal(outcome(0)?.outcome, 'reverted');
    assert.equal(outcome(1)?.outcome, 'reverted');
    assert.equal(outcome(2)?.outcome, 'failed');
    assert.match(outcome(2)?.error ?? '', /connection lost/);
    await new Promise((res) => setTimeout(res, 1500));
    assertSound(app, first);
    await nextDeploySucceeds(file, app);
  });

  test('the sshd serving one host killed mid-rollback: every host back where it was', async () => {
    const app = 'drop-rollback';
    const { file } = await setup(app);
    const second = await fap(['-f', file, '--json', 'deploy', 'production']);
    const b = String(jsonEvents(second.stdout).pop()!.release);
    const listener = fleet.hosts[0].process.pid!;
    const r = await fapLive(['-f', file, '--set', 'fault_signal=deploy.published', '--set', `fault_hosts=[${fleet.hosts[0].name}]`, '--set', 'fault_action=sleep 5', 'rollback', 'production'], (e) => {
      if (e.event === 'phase.started' && e.phase === 'rollback') setTimeout(() => spawnSync('pkill', ['-KILL', '-P', String(listener)]), 1000);
    });
    assert.equal(r.code, 1, r.stderr);
    await new Promise((res) => setTimeout(res, 1500));
    assertSound(app, b);
    await nextDeploySucceeds(file, app);
  });

  test('one host of three refuses connections: nothing changes, the others are unlocked', async () => {
    const app = 'refused';
    const { file, first } = await setup(app);
    const r = await fap(['-f', file, '--set', `hosts=[${fleet.hosts.map((h) => h.name).join(', ')}, 127.0.0.1:1]`, '--set', 'ssh.connect_retries=0', 'deploy', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[127\.0\.0\.1:1\] FAILED at connect: cannot connect to 127\.0\.0\.1:1: connection refused/);
    assert.match(r.stderr, /could not connect to 1 of 4 hosts \(127\.0\.0\.1:1\)/);
    assertSound(app, first);
    assert.deepEqual(readdirSync(onHost(0, app, 'releases')), [first]);
    await nextDeploySucceeds(file, app);
  });
});
