// kill -9 of fap at many moments of deploy and rollback: every host's current stays on a complete
// good release, no remote script keeps running, and the next run heals the leftovers and succeeds
// with every host in step.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, fapLive, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();
const SLEEP = 'sleep 7.5';
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 at any moment', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  before(async () => {
    fleet = await startFleet(3);
    repo = makeRepo();
  });
  after(async () => {
    await fleet?.stop();
  });

  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(fleet.deployDir, app, ...p));

  /** every host's current is a complete good release; returns them */
  function assertCompleteGood(app: string): string[] {
    return [0, 1, 2].map((i) => {
      const rel = readlinkSync(onHost(i, app, 'current')).replace('releases/', '');
      assert.ok(existsSync(onHost(i, app, 'releases', rel, 'REVISION')), `host ${i}: current ${rel} is complete`);
      assert.equal(readFileSync(onHost(i, app, '.fap/releases', `${rel}.status`), 'utf8').trim(), 'ok', `host ${i}: current ${rel} is good`);
      return rel;
    });
  }

  function assertConsistent(app: string, release: string) {
    for (let i = 0; i < 3; i++) {
      assert.equal(readlinkSync(onHost(i, app, 'current')), `releases/${release}`, `host ${i} on ${release}`);
      assert.ok(!existsSync(onHost(i, app, '.fap/lock')), 'no lock left');
      const journals = readdirSync(onHost(i, app, '.fap/journal'));
      for (const f of journals) assert.match(readFileSync(onHost(i, app, '.fap/journal', f), 'utf8'), /^phase=(done|reverted)$/m, `journal ${f} is final`);
      for (const r of readdirSync(onHost(i, app, 'releases'))) {
        assert.ok(existsSync(onHost(i, app, 'releases', r, 'REVISION')), `no incomplete release ${r} left on host ${i}`);
        assert.notEqual(readFileSync(onHost(i, app, '.fap/releases', `${r}.status`), 'utf8').trim(), 'building');
      }
      assert.equal(readFileSync(onHost(i, app, 'shared/configs/app.conf'), 'utf8'), 'port=1\n', 'shared/ untouched');
    }
  }

  async function setup(app: string): Promise<{ file: string; first: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'fap-crash-'));
    const plugin = writeFaultPlugin(dir);
    for (let i = 0; i < 3; i++) {
      const shared = onHost(i, app, 'shared/configs');
      (await import('node:fs')).mkdirSync(shared, { recursive: true });
      (await import('node:fs')).writeFileSync(join(shared, 'app.conf'), 'port=1\n');
    }
    const file = writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, plugins: ['git', plugin], linked_files: ['configs/app.conf'], fault_action: SLEEP } });
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    return { file, first: String(jsonEvents(r.stdout).pop()!.release) };
  }

  /** run fap, kill -9 it when `when` says so, then check and heal */
  async function killAndHeal(app: string, file: string, args: string[], when: (e: Record<string, unknown>, seen: Record<string, unknown>[]) => number | undefined) {
    const seen: Record<string, unknown>[] = [];
    const killed = await fapLive(['-f', file, ...args], (e, kill) => {
      seen.push(e);
      const delay = when(e, seen);
      if (delay !== undefined) setTimeout(kill, delay);
    });
    assert.ok(killed.killed, `fap was killed (exit ${killed.code}): ${killed.stderr}`);
    await pause(2500);
    const leftover = spawnSync('pgrep', ['-f', `^${SLEEP}$`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(leftover, '', 'the watchdog ended the remote scripts of the killed run');
    const afterKill = assertCompleteGood(app);
    const next = await fap(['-f', file, '--json', '--set', 'fault_signal=none', 'deploy', 'production']);
    assert.equal(next.code, 0, next.stderr + next.stdout);
    const events = jsonEvents(next.stdout);
    const release = String(events.pop()!.release);
    assertConsistent(app, release);
    return { seen, events, afterKill };
  }

  const count = (seen: Record<string, unknown>[], name: string) => seen.filter((e) => e.event === name).length;

  test('while connecting and locking', async () => {
    const { file, first } = await setup('crash-lock');
    const { afterKill } = await killAndHeal('crash-lock', file, ['deploy', 'production'], (e) => (e.event === 'host.connected' ? 0 : undefined));
    assert.deepEqual(afterKill, [first, first, first], 'nothing switched before the kill');
  });

  test('during prepare (plugins building on every host)', async () => {
    const { file, first } = await setup('crash-prepare');
    const { events, afterKill } = await killAndHeal('crash-prepare', file, ['--set', 'fault_signal=deploy.updated', 'deploy', 'production'], (e, seen) =>
      e.event === 'deploy.updated' && count(seen, 'deploy.updated') === 3 ? 400 : undefined,
    );
    assert.deepEqual(afterKill, [first, first, first], 'nothing switched during prepare');
    const heals = events.filter((e) => e.event === 'heal');
    assert.equal(heals.length, 3, 'every host healed');
    for (const h of heals) assert.match(String(h.action), /interrupted deploy of \d+ \(prepare\): current unchanged, unfinished release removed$/);
  });

  test('during publish, before any flip', async () => {
    const { file } = await setup('crash-publishing');
    const { events } = await killAndHeal('crash-publishing', file, ['--set', 'fault_signal=deploy.publishing', 'deploy', 'production'], (e, seen) =>
      e.event === 'deploy.publishing' && count(seen, 'deploy.publishing') === 3 ? 400 : undefined,
    );
    assert.ok(events.some((e) => e.event === 'heal'), 'the next run healed the leftover');
  });

  test('during publish, with some hosts already switched', async () => {
    const app = 'crash-halfway';
    const { file, first } = await setup(app);
    const { events } = await killAndHeal(app, file, ['--set', 'fault_signal=deploy.published', '--set', `fault_hosts=[${fleet.hosts[2].name}]`, 'deploy', 'production'], (e) => (e.event === 'phase.started' && e.phase === 'publish' ? 1500 : undefined));
    const heals = events.filter((e) => e.event === 'heal');
    assert.equal(heals.length, 3, 'every host healed (put back where the killed run found it)');
    for (let i = 0; i < 3; i++) assert.match(readFileSync(onHost(i, app, 'revisions.log'), 'utf8'), new RegExp(`heal release=${first} .*interrupted=deploy`));
  });

  test('a plain rollback after a killed deploy stops where the heal put current back, saying so', async () => {
    // found by the attack pass: the heal moved current back from the killed release, then the
    // rollback went back one more release than the one `fap releases` showed as current
    const app = 'crash-rollback';
    const { file, first } = await setup(app);
    const d = await fap(['-f', file, '--json', '--set', 'fault_signal=none', 'deploy', 'production']);
    assert.equal(d.code, 0, d.stderr);
    const second = String(jsonEvents(d.stdout).pop()!.release);
    const killed = await fapLive(['-f', file, '--set', 'fault_signal=deploy.published', '--set', `fault_hosts=[${fleet.hosts[2].name}]`, 'deploy', 'production'], (e, kill) => {
      if (e.event === 'phase.started' && e.phase === 'publish') setTimeout(kill, 1500);
    });
    assert.ok(killed.killed);
    await pause(2500);
    assert.ok(assertCompleteGood(app).some((r) => r !== second), 'the killed deploy had switched some hosts');
    const listed = await fap(['-f', file, 'releases', 'production']);
    assert.match(listed.stdout, /warning: an interrupted deploy of \d+ \(stopped at publish\) is left on .*; the next deploy, rollback or cleanup heals it first/);
    const back = await fap(['-f', file, '--set', 'fault_signal=none', 'rollback', 'production']);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stderr, /heal: cleaning up an interrupted deploy of \d+ \(publish\): current back to/);
    assert.match(back.stderr, new RegExp(`an interrupted deploy of \\d+ was undone: current is back on ${second} on \\d hosts?; not rolling back further`));
    assertConsistent(app, second);
    // --to where every host already is: said plainly (found by the second attack pass: "rolled back to  on 0 host(s)")
    const same = await fap(['-f', file, '--set', 'fault_signal=none', 'rollback', 'production', '--to', second]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stderr, new RegExp(`every host is already on ${second}; nothing to roll back`));
    // --to the killed (now failed) release: refused, and the refusal does not claim nothing changed
    let third = '';
    const killedAgain = await fapLive(['-f', file, '--set', 'fault_signal=deploy.published', '--set', `fault_hosts=[${fleet.hosts[2].name}]`, 'deploy', 'production'], (e, kill) => {
      if (e.event === 'release.planned') third = String(e.release);
      if (e.event === 'phase.started' && e.phase === 'publish') setTimeout(kill, 1500);
    });
    assert.ok(killedAgain.killed);
    await pause(2500);
    const refused = await fap(['-f', file, '--set', 'fault_signal=none', 'rollback', 'production', '--to', third]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`rollback refused \\(the heal of an interrupted deploy put current back on ${second}\\): .*${third} is failed`));
    assertConsistent(app, second);
    const again = await fap(['-f', file, '--set', 'fault_signal=none', 'rollback', 'production']);
    assert.equal(again.code, 0, again.stderr);
    for (let i = 0; i < 3; i++) assert.equal(readlinkSync(onHost(i, app, 'current')), `releases/${first}`);
  });

  test('during finish (published everywhere): the release is kept', async () => {
    const app = 'crash-finish';
    const { file } = await setup(app);
    let release = '';
    const { events } = await killAndHeal(app, file, ['--set', 'fault_signal=deploy.finishing', 'deploy', 'production'], (e) => {
      if (e.event === 'release.planned') release = String(e.release);
      return e.event === 'phase.started' && e.phase === 'finish' ? 400 : undefined;
    });
    const heals = events.filter((e) => e.event === 'heal');
    assert.equal(heals.length, 3);
    for (const h of heals) assert.match(String(h.action), /had finished publishing everywhere; keeping it/);
    for (let i = 0; i < 3; i++) assert.equal(readFileSync(onHost(i, app, '.fap/releases', `${release}.status`), 'utf8').trim(), 'ok');
  });

  test('while reverting a failed publish', async () => {
    const app = 'crash-revert';
    const { file } = await setup(app);
    const marker = join(fleet.deployDir, 'sick-' + app);
    (await import('node:fs')).writeFileSync(fleet.hostPath(2, marker), 'x');
    await killAndHeal(app, file, ['--set', `health_check=test ! -e ${marker}`, '--set', 'health_check_timeout=1', '--set', 'fault_signal=deploy.reverted', 'deploy', 'production'], (e) => (e.event === 'deploy.reverting' ? 500 : undefined));
    (await import('node:fs')).rmSync(fleet.hostPath(2, marker));
  });

  test('during a rollback with some hosts already rolled back', async () => {
    const app = 'crash-rollback';
    const { file, first } = await setup(app);
    const second = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(second.code, 0);
    const b = String(jsonEvents(second.stdout).pop()!.release);
    const seen: Record<string, unknown>[] = [];
    const killed = await fapLive(['-f', file, '--set', 'fault_signal=deploy.published', '--set', `fault_hosts=[${fleet.hosts[1].name}]`, 'rollback', 'production'], (e, kill) => {
      seen.push(e);
      if (e.event === 'phase.started' && e.phase === 'rollback') setTimeout(kill, 1500);
    });
    assert.ok(killed.killed);
    await pause(2500);
    const mixed = assertCompleteGood(app);
    assert.deepEqual(mixed, [first, first, first], 'the rollback had flipped every host before it was killed');
    // the next rollback-aware run puts the unfinished rollback back everywhere, then works from there
    const list = await fap(['-f', file, '--json', 'releases', 'production']);
    const interrupted = (jsonEvents(list.stdout).pop()!.hosts as { interrupted: unknown[] }[]).map((h) => h.interrupted.length);
    assert.deepEqual(interrupted, [1, 1, 1], 'fap releases shows the unfinished rollback');
    const again = await fap(['-f', file, '--json', 'rollback', 'production']);
    assert.equal(again.code, 0, again.stderr);
    const events = jsonEvents(again.stdout);
    assert.equal(events.filter((e) => e.event === 'heal').length, 3);
    for (const h of events.filter((e) => e.event === 'heal')) assert.match(String(h.action), new RegExp(`interrupted rollback of ${first} \\(\\w+\\): current back to ${b}$`));
    for (let i = 0; i < 3; i++) assert.equal(readlinkSync(onHost(i, app, 'current')), `releases/${first}`, 'healed back to b, then rolled back to a');
  });

  test('a dropped SSH connection to one host during prepare', async () => {
    const app = 'crash-drop';
    const { file, first } = await setup(app);
    const listener = fleet.hosts[1].process.pid!;
    const r = await fapLive(['-f', file, '--set', 'fault_signal=deploy.updated', '--set', `fault_hosts=[${fleet.hosts[1].name}]`, 'deploy', 'production'], (e) => {
      // the sshd processes serving host 1's connection die; the listener stays
      if (e.event === 'phase.started' && e.phase === 'prepare') setTimeout(() => spawnSync('pkill', ['-KILL', '-P', String(listener)]), 800);
    });
    assert.equal(r.code, 1, r.stderr);
    const failed = jsonEvents(r.stdout).filter((e) => e.event === 'host.failed');
    assert.ok(failed.some((e) => e.host === fleet.hosts[1].name && /connection (lost|closed)|cannot open a channel|not connected/i.test(String(e.message))), JSON.stringify(failed));
    assert.deepEqual(assertCompleteGood(app), [first, first, first], 'nothing switched');
    await pause(1500);
    const next = await fap(['-f', file, '--json', '--set', 'fault_signal=none', 'deploy', 'production']);
    assert.equal(next.code, 0, next.stderr + next.stdout);
    assertConsistent(app, String(jsonEvents(next.stdout).pop()!.release));
  });
});
