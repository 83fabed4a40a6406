// The transactions without root, sshd or namespaces: deploy, rollback, revert, heal and batches
// on three local hosts through the real local transport, with faults injected (harness.ts), and
// the invariants (invariants.ts) checked after every command.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeFleet, runCommand, stepNames, view, type Command, type CommandOptions, type Fleet, type Outcome } from './harness.js';
import { check, observe, settled } from './invariants.js';

const fleets: Fleet[] = [];
after(() => fleets.forEach((f) => f.remove()));

async function fleet(role: Record<string, unknown> = {}, n = 3): Promise<Fleet> {
  const f = await makeFleet(n, role);
  fleets.push(f);
  return f;
}

/** Run a command and assert the invariants held after it. */
async function step_(f: Fleet, command: Command, o: CommandOptions = {}): Promise<Outcome> {
  const before = observe(f);
  const out = await runCommand(f, command, o);
  assert.deepEqual(check(f, out, before), [], `${command} ${JSON.stringify(o)}: ${out.result?.summary ?? out.error?.message}`);
  return out;
}

const currents = (f: Fleet) => f.hosts.map((h) => view(f, h).current);
const status = (f: Fleet, h: string, r: string) => view(f, h).status[r];
/** the index (from 1) of a named step in the n-th script sent to a host in a clean run of the same command */
const stepIndex = (out: Outcome, host: string, script: number, name: string | RegExp) => {
  const names = stepNames(out.scripts.get(host)![script - 1]);
  const i = names.findIndex((n) => (typeof name === 'string' ? n === name : name.test(n)));
  assert.ok(i >= 0, `no step ${name} in script ${script} on ${host}: ${names.join(', ')}`);
  return i + 1;
};

describe('kernel: transactions on local hosts', () => {
  test('deploy twice, rollback: hosts agree, the rolled-back release is never chosen again', async () => {
    const f = await fleet();
    const d1 = await step_(f, 'deploy');
    assert.equal(d1.result?.ok, true, d1.result?.summary);
    const r1 = d1.result!.release!;
    assert.deepEqual(currents(f), [r1, r1, r1]);
    // each host got one script per phase: lock, prepare, publish, finish
    assert.deepEqual([...d1.scripts.values()].map((s) => s.length), [4, 4, 4]);
    const d2 = await step_(f, 'deploy');
    const r2 = d2.result!.release!;
    assert.ok(r2 > r1);
    assert.deepEqual(currents(f), [r2, r2, r2]);
    const back = await step_(f, 'rollback');
    assert.equal(back.result?.ok, true, back.result?.summary);
    assert.deepEqual(currents(f), [r1, r1, r1]);
    for (const h of f.hosts) assert.equal(status(f, h, r2), 'rolled-back');
    // nothing good before r1: a second rollback refuses and changes nothing
    const again = await step_(f, 'rollback');
    assert.equal(again.result?.ok ?? false, false);
    assert.deepEqual(currents(f), [r1, r1, r1]);
  });

  test('a step failing as on a full disk while building: the release is removed everywhere, nothing switched', async () => {
    const f = await fleet();
    const r1 = (await step_(f, 'deploy')).result!.release!;
    const clean = await runCommand(await fleet(), 'deploy');
    const k = stepIndex(clean, 'h1', 2, 'write .env');
    const out = await step_(f, 'deploy', { faults: [{ host: 'h2', kind: 'disk-full', at: 2, step: k }] });
    assert.equal(out.result?.ok, false);
    assert.match(out.result!.summary, /was not published; no host was switched/);
    const failed = out.result!.hosts.find((h) => h.host === 'h2')!;
    assert.equal(failed.outcome, 'failed');
    assert.equal(failed.step, 'write .env');
    // dash says I/O error, bash No space left on device: either way the write failed for real
    assert.match(failed.error!, /I\/O error|No space left on device/);
    assert.deepEqual(currents(f), [r1, r1, r1]);
    for (const h of f.hosts) assert.deepEqual(view(f, h).releases, [r1], `${h} keeps only ${r1}`);
  });

  test('a connection closing mid-handshake: no host changes, no lock left anywhere', async () => {
    const f = await fleet();
    const r1 = (await step_(f, 'deploy')).result!.release!;
    const out = await step_(f, 'deploy', { faults: [{ host: 'h3', kind: 'handshake', at: 1 }] });
    assert.equal(out.result?.ok ?? false, false);
    assert.deepEqual(currents(f), [r1, r1, r1]);
    for (const h of f.hosts) assert.deepEqual(view(f, h).releases, [r1]);
  });

  for (const where of ['after the switch', 'just after the last step'] as const) {
    test(`a connection closing during publish (${where}): every host is put back, the release marked failed, rollback skips it`, async () => {
      const f = await fleet();
      const r1 = (await step_(f, 'deploy')).result!.release!;
      const r2 = (await step_(f, 'deploy')).result!.release!;
      const clean = await runCommand(await fleet(), 'deploy');
      const fault =
        where === 'after the switch'
          ? ({ host: 'h2', kind: 'drop-after-step', at: 3, step: stepIndex(clean, 'h2', 3, 'switch current') } as const)
          : ({ host: 'h2', kind: 'drop-after-last', at: 3 } as const);
      const out = await step_(f, 'deploy', { faults: [fault] });
      assert.equal(out.result?.ok, false);
      const r3 = out.result!.release!;
      assert.match(out.result!.summary, /every published host was put back on its previous release/);
      assert.deepEqual(currents(f), [r2, r2, r2]);
      for (const h of f.hosts) assert.equal(status(f, h, r3), 'failed', `${h}: ${r3} failed`);
      // rollback goes to r1, never to the failed r3
      const back = await step_(f, 'rollback');
      assert.equal(back.result?.ok, true, back.result?.summary);
      assert.deepEqual(currents(f), [r1, r1, r1]);
    });
  }

  test('fap killed mid-publish: the lock stays with a dead owner; the next deploy takes it over and heals first', async () => {
    const f = await fleet();
    const r1 = (await step_(f, 'deploy')).result!.release!;
    const clean = await runCommand(await fleet(), 'deploy');
    const k = stepIndex(clean, 'h1', 3, 'switch current');
    const killed = await step_(f, 'deploy', { faults: [{ host: 'h1', kind: 'kill', at: 3, step: k }] });
    assert.equal(killed.killed, true);
    const r2 = JSON.stringify(killed.events).match(/"release":"(\d{14})"/)![1];
    // h1 was switched before fap died; the lock remains where fap could not give it back
    assert.equal(view(f, 'h1').current, r2);
    assert.ok(f.hosts.some((h) => view(f, h).locked));
    const next = await step_(f, 'deploy');
    assert.equal(next.result?.ok, true, next.result?.summary);
    const heal = next.events.filter((e) => e.event === 'heal');
    assert.ok(heal.length >= 1, 'the interrupted deploy was healed');
    const r3 = next.result!.release!;
    assert.deepEqual(currents(f), [r3, r3, r3]);
    // the interrupted release is failed (or removed) everywhere: rollback goes to r1
    for (const h of f.hosts) assert.notEqual(status(f, h, r2), 'ok');
    const back = await step_(f, 'rollback');
    assert.deepEqual(currents(f), [r1, r1, r1], back.result?.summary);
    assert.deepEqual(settled(f), []);
  });

  test('fap killed while building: cleanup heals (the unfinished release goes), current untouched', async () => {
    const f = await fleet();
    const r1 = (await step_(f, 'deploy')).result!.release!;
    const killed = await step_(f, 'deploy', { faults: [{ host: 'h3', kind: 'kill', at: 2, step: 6 }] });
    assert.equal(killed.killed, true);
    const c = await step_(f, 'cleanup');
    assert.equal(c.result?.ok, true, c.result?.summary);
    assert.deepEqual(currents(f), [r1, r1, r1]);
    for (const h of f.hosts) assert.deepEqual(view(f, h).releases, [r1], h);
    assert.deepEqual(settled(f), []);
  });

  test('an old session that keeps running after fap lost it is stopped by the next attempt before it changes anything', async () => {
    const f = await fleet();
    const r1 = (await step_(f, 'deploy')).result!.release!;
    // the prepare script's connection is lost at once, while its session goes on slowly
    const out = await step_(f, 'deploy', { faults: [{ host: 'h1', kind: 'old-session', at: 2, step: 1 }] });
    assert.equal(out.result?.ok, false);
    assert.deepEqual(out.lateSteps, []);
    assert.deepEqual(currents(f), [r1, r1, r1]);
    for (const h of f.hosts) assert.deepEqual(view(f, h).releases, [r1], h);
  });

  for (const step of [1, 2]) {
    test(`a lock script that runs on after fap gave it up (from step ${step}) does not keep the lock (found by the model test)`, async () => {
      const f = await fleet();
      const r1 = (await step_(f, 'deploy')).result!.release!;
      const out = await step_(f, 'deploy', { faults: [{ host: 'h2', kind: 'old-session', at: 1, step }] });
      assert.match(out.error?.message ?? '', /stopped before changing anything/);
      assert.deepEqual(out.lateSteps, []);
      assert.deepEqual(currents(f), [r1, r1, r1]);
      // and the next deploy is not refused by a lock of a run that is over
      const next = await step_(f, 'deploy');
      assert.equal(next.result?.ok, true, next.result?.summary ?? next.error?.message);
    });
  }

  for (const step of [1, 2]) {
    test(`a second Ctrl-C while a lock script runs (from step ${step}) leaves no lock once that script ends (found by the attack pass)`, async () => {
      const f = await fleet();
      const r1 = (await step_(f, 'deploy')).result!.release!;
      const out = await runCommand(f, 'deploy', { faults: [{ host: 'h2', kind: 'quit', at: 1, step }] });
      assert.equal(out.killed, true);
      for (const h of f.hosts) assert.equal(view(f, h).locked, false, `${h} is not left locked`);
      assert.deepEqual(currents(f), [r1, r1, r1]);
      const next = await step_(f, 'deploy');
      assert.equal(next.result?.ok, true, next.result?.summary ?? next.error?.message);
    });
  }

  test('a rolling deploy (batch 1) failing its health check on the last host puts the first two back', async () => {
    const f = await fleet({ health_check: 'test ! -e ../../FAIL', health_check_timeout: 1, health_check_interval: 1 });
    const r1 = (await step_(f, 'deploy', { batch: '1' })).result!.release!;
    await import('node:fs').then((fs) => fs.writeFileSync(join(f.root('h3'), 'FAIL'), ''));
    const out = await step_(f, 'deploy', { batch: '1' });
    assert.equal(out.result?.ok, false);
    const phases = out.events.filter((e) => e.event === 'phase.started').map((e) => (e as { phase: string }).phase);
    assert.deepEqual(phases.filter((p) => p.startsWith('publish')), ['publish 1/3', 'publish 2/3', 'publish 3/3']);
    assert.deepEqual(currents(f), [r1, r1, r1]);
    assert.equal(out.result!.hosts.find((h) => h.host === 'h3')!.step, 'health check');
    assert.ok(existsSync(join(f.root('h1'), 'releases', out.result!.release!)), 'the failed release stays for inspection');
  });

  describe('an artifact that is not finished when fap sends it is never published', () => {
    /** a fleet deploying a local artifact (the curl plugin's --artifact) with one file in it */
    async function artifactFleet(): Promise<{ f: Fleet; file: string }> {
      const dir = mkdtempSync(join(tmpdir(), 'fap-artifact-'));
      const file = join(dir, 'build.tar');
      writeFileSync(join(dir, 'app.txt'), 'v1\n'.repeat(1000));
      execFileSync('tar', ['-cf', file, '-C', dir, 'app.txt']);
      const f = await fleet({ plugins: ['curl'], curl_artifact: file, curl_extract_tar: true });
      after(() => rmSync(dir, { recursive: true, force: true }));
      return { f, file };
    }

    const cases: { name: string; onUpload: (file: string) => NonNullable<CommandOptions['onUpload']>; says: RegExp }[] = [
      { name: 'appended to while h2 receives it', onUpload: (file) => (host, _l, n) => (host === 'h2' && appendFileSync(file, 'more'), n), says: /changed while fap was sending it/ },
      { name: 'truncated while h1 receives it', onUpload: (file) => (host, _l, n) => (host === 'h1' && truncateSync(file, 100), n), says: /changed while fap was sending it \(\d+ bytes when the first upload began, 100 now\)/ },
      { name: 'cut short on the way to h3', onUpload: () => (host, _l, n) => (host === 'h3' ? n - 512 : n), says: /\d+ of its \d+ bytes arrived/ },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const { f, file } = await artifactFleet();
        const r1 = (await step_(f, 'deploy')).result!.release!;
        assert.ok(r1, 'the finished artifact deploys');
        const out = await step_(f, 'deploy', { onUpload: c.onUpload(file) });
        assert.equal(out.result?.ok ?? false, false, 'the deploy fails');
        const failed = out.result?.hosts.filter((h) => h.outcome === 'failed') ?? [];
        assert.ok(failed.some((h) => c.says.test(h.error ?? '')), JSON.stringify(out.result?.hosts ?? out.error?.message));
        assert.deepEqual(currents(f), [r1, r1, r1], 'no host switched');
        for (const h of f.hosts) assert.deepEqual(view(f, h).releases, [r1], `${h} keeps only ${r1}`);
      });
    }
  });
});
