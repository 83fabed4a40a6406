// The deploy lock's safety, run for real by /bin/sh in temporary deploy roots: a lock is taken over
// only when its holder is provably gone (identity on this machine, or an expired lease by the host's
// clock), exactly one of many racing breakers wins, a live lock is never removed, the lease is
// renewed while the holder's session lives, and commands that build nothing create nothing.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { composeScript, parseFailedStep, parseOutputs, quote, type Step } from '../../src/remote/shell.js';
import { layout, type Paths } from '../../src/release/paths.js';
import { breakStaleLockSteps, forceUnlockSteps, inspectSteps, keepLeaseSteps, LEASE_TTL_SEC, lockSteps, unlockSteps, type LockOwner } from '../../src/release/scripts.js';
import { judgeHolder, localIdentity, processStart, type ProcessIdentity } from '../../src/release/lock.js';

const base = mkdtempSync(join(tmpdir(), 'fap-unit-lock-'));
after(() => rmSync(base, { recursive: true, force: true }));

let counter = 0;
function freshRoot(): string {
  const root = join(base, `app ${counter++} it's "$(touch PWNED)"`);
  mkdirSync(root, { recursive: true });
  return root;
}

const R1 = '20240101000000';
const HELD = 75;
const NOTHING = 76;

function runSync(steps: Step[]) {
  const r = spawnSync('/bin/sh', ['-c', composeScript(steps)], { encoding: 'utf8', cwd: base });
  const { outputs } = parseOutputs(r.stdout);
  return { status: r.status, outputs, stderr: parseFailedStep(r.stderr).stderr };
}

function runAsync(steps: Step[]): Promise<{ status: number | null; outputs: Map<string, string[]>; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', composeScript(steps)], { cwd: base, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (status) => resolve({ status, outputs: parseOutputs(out).outputs, stderr: err }));
  });
}

const owner = (token: string, extra: Partial<LockOwner> = {}): LockOwner => ({
  user: 'alice',
  origin: 'laptop',
  pid: 4242,
  command: 'fap deploy production',
  started_at: '2024-01-01T00:00:00.000Z',
  token,
  ...extra,
});

/** A lock as a holder that is gone left it: its lease last renewed `age` seconds ago. */
function leftLock(p: Paths, token: string, ageSec: number, o: { lease?: boolean } = {}) {
  mkdirSync(p.releases, { recursive: true });
  const dir = join(p.state, 'lock');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner'), JSON.stringify(owner(token)) + '\n');
  if (o.lease !== false) {
    writeFileSync(join(dir, 'lease'), '');
    const t = Date.now() / 1000 - ageSec;
    utimesSync(join(dir, 'lease'), t, t);
  }
}

const lockToken = (p: Paths) => {
  try {
    return (JSON.parse(readFileSync(join(p.state, 'lock', 'owner'), 'utf8')) as LockOwner).token;
  } catch {
    return undefined;
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean) {
  for (let i = 0; i < 300; i++) {
    if (cond()) return;
    await sleep(100);
  }
  assert.fail(`never happened: ${what}`);
}

describe('whether a lock holder is provably gone', () => {
  const here: ProcessIdentity = { hostname: 'ci', bootId: 'boot-1', pidNs: 'pid:[4026531836]' };
  const dead = () => false;
  const alive = () => true;
  const same = (o: Partial<LockOwner> = {}) => owner('t', { origin: 'ci', boot_id: 'boot-1', pid_ns: 'pid:[4026531836]', ...o });

  test('same hostname in another PID namespace, or another boot, or an old record: never gone by identity', () => {
    // the reproduction: a twin runner with our hostname, its pid absent from our namespace
    assert.equal(judgeHolder(same({ pid_ns: 'pid:[4026532999]' }), undefined, here, dead).gone, false);
    assert.equal(judgeHolder(same({ boot_id: 'boot-0' }), undefined, here, dead).gone, false);
    assert.equal(judgeHolder(owner('t', { origin: 'ci' }), undefined, here, dead).gone, false, 'a record without boot id and namespace (older fap)');
    assert.equal(judgeHolder(same(), undefined, here, dead).gone, true, 'same machine, namespace and boot, pid gone');
    assert.equal(judgeHolder(same(), undefined, here, alive).gone, false);
  });

  const stale = (o: Parameters<typeof judgeHolder>[0]) => judgeHolder(o, undefined).gone;
  test('the identity proof alone (no lease) does not take over a lock whose pid is merely absent from our namespace', () => {
    // before the fix: origin === hostname and kill(pid) === ESRCH was enough
    const id = localIdentity();
    assert.equal(stale(owner('t', { origin: id.hostname, pid: 2 ** 22 + 12345 })), false);
    assert.equal(stale(owner('t', { origin: id.hostname, pid: 2 ** 22 + 12345, boot_id: id.bootId, pid_ns: 'pid:[1]' })), false);
    if (id.bootId && id.pidNs) assert.equal(stale(owner('t', { origin: id.hostname, pid: 2 ** 22 + 12345, boot_id: id.bootId, pid_ns: id.pidNs })), true);
  });

  test('a reused pid (alive, another start time) is gone; a live one with the same start time is not', () => {
    const start = processStart(process.pid);
    if (!start) return; // no /proc of our own namespace here
    const id = localIdentity();
    const me = owner('t', { origin: id.hostname, boot_id: id.bootId, pid_ns: id.pidNs, pid: process.pid });
    assert.equal(judgeHolder({ ...me, pid_start: start }, undefined, id).gone, false);
    assert.equal(judgeHolder({ ...me, pid_start: String(Number(start) + 1) }, undefined, id).gone, true);
    assert.equal(judgeHolder({ ...me, pid_start: undefined }, undefined, id).gone, false, 'alive and no start time to compare: alive');
  });

  test('generative: only an expired lease or a full identity match proves a holder gone', () => {
    const part = fc.constantFrom('ci', 'boot-1', 'pid:[4026531836]', 'other', '', undefined);
    fc.assert(
      fc.property(part, part, part, fc.option(fc.nat({ max: 500 }), { nil: undefined }), fc.boolean(), (origin, boot, ns, lease, pidAlive) => {
        const o = owner('t', { origin: origin ?? 'x', boot_id: boot, pid_ns: ns });
        const v = judgeHolder(o, lease, here, () => pidAlive);
        const identity = o.origin === 'ci' && boot === 'boot-1' && ns === 'pid:[4026531836]' && !pidAlive;
        const expired = lease !== undefined && lease >= LEASE_TTL_SEC;
        assert.equal(v.gone, identity || expired);
        if (lease === undefined && !identity) assert.match(v.why, /no lease/);
        if (lease !== undefined && !identity) assert.match(v.why, expired ? new RegExp(`lease expired ${lease} s ago`) : new RegExp(`lease renewed ${lease} s ago`));
      }),
    );
  });
});

describe('lockSteps: layout, privacy and the lease', () => {
  test('.fap is created 0700 and an existing one tightened; releases/ and shared/ keep the umask', () => {
    const p = layout(freshRoot(), R1);
    const r = runSync(lockSteps(p, owner('a'), HELD));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(p.state).mode & 0o777, 0o700);
    for (const d of [p.releases, p.shared]) assert.equal(statSync(d).mode & 0o777, 0o777 & ~process.umask(), `${d} keeps the umask`);
    runSync(unlockSteps(p, 'a'));
    spawnSync('chmod', ['755', p.state]);
    assert.equal(runSync(lockSteps(p, owner('b'), HELD)).status, 0);
    assert.equal(statSync(p.state).mode & 0o777, 0o700, 'an existing world-readable .fap is tightened');
  });

  test("layout 'existing': a never-deployed path gets nothing; a Fapistrano-deployed one gets .fap only", () => {
    const root = freshRoot();
    const p = layout(join(root, 'app'), R1);
    const r = runSync(lockSteps(p, owner('a'), HELD, { layout: 'existing', nothingDeployedCode: NOTHING }));
    assert.equal(r.status, NOTHING);
    assert.deepEqual(r.outputs.get('nothing-deployed'), [p.root]);
    assert.deepEqual(readdirSync(root), [], 'nothing created');
    mkdirSync(p.releases, { recursive: true });
    const ok = runSync(lockSteps(p, owner('a'), HELD, { layout: 'existing', nothingDeployedCode: NOTHING }));
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(readdirSync(p.root).sort(), ['.fap', 'releases'], 'no shared/ for a command that builds nothing');
    assert.equal(lockToken(p), 'a');
    runSync(unlockSteps(p, 'a'));
    // inspect (fap releases) is read-only
    const empty = join(root, 'never');
    assert.equal(runSync(inspectSteps(layout(empty, R1))).status, 0);
    assert.ok(!existsSync(empty));
  });

  test('a held lock reports its owner and the lease age by the host clock; an old lock has no lease', () => {
    const p = layout(freshRoot(), R1);
    leftLock(p, 'old', 75);
    const r = runSync(lockSteps(p, owner('me'), HELD));
    assert.equal(r.status, HELD);
    assert.equal(JSON.parse(r.outputs.get('lock-held')![0]).token, 'old');
    const age = Number(r.outputs.get('lock-lease')![0]);
    assert.ok(age >= 75 && age < 75 + 60, String(age));
    rmSync(join(p.state, 'lock', 'lease'));
    assert.deepEqual(runSync(lockSteps(p, owner('me'), HELD)).outputs.get('lock-lease'), ['']);
  });

  test('the lease is renewed while the session lives, and the renewer ends with it', async () => {
    const p = layout(freshRoot(), R1);
    const lease = join(p.state, 'lock', 'lease');
    // the "session": the lock script, then the session keeps running (a slow deploy step)
    const holder = spawn('/bin/sh', ['-c', composeScript([...lockSteps(p, owner('live'), HELD, { renewSec: 1 }), { name: 'slow', script: 'while [ ! -e "$0.stop" ]; do sleep 0.1; done' }]), join(base, `stop-${counter}`)], { stdio: 'ignore' });
    const stop = join(base, `stop-${counter}.stop`);
    await until('lock taken', () => lockToken(p) === 'live');
    const first = statSync(lease).mtimeMs;
    const t = (Date.now() - 30_000) / 1000;
    utimesSync(lease, t, t); // as if old: the renewer must bring it back to now
    await until('lease renewed', () => statSync(lease).mtimeMs >= first);
    const renewer = Number(readdirSync(join(p.state, 'lock')).filter((f) => f.startsWith('renewer.')).map((f) => readFileSync(join(p.state, 'lock', f), 'utf8'))[0]);
    assert.ok(renewer > 0);
    writeFileSync(stop, '');
    await new Promise((r) => holder.on('close', r));
    const gone = () => {
      try {
        process.kill(renewer, 0);
        return false;
      } catch {
        return true;
      }
    };
    await until('renewer ended with the session', gone);
    // the lock stays (a killed fap leaves it), but nobody renews it any more: it will expire
    utimesSync(lease, t, t);
    await sleep(2500);
    assert.ok(statSync(lease).mtimeMs < Date.now() - 20_000, 'nobody renews a dead session’s lease');
  });

  test('the renewer stops when the lock is no longer ours; keepLease restarts one only for our lock', async () => {
    const p = layout(freshRoot(), R1);
    leftLock(p, 'someone', 0);
    const r = runSync(keepLeaseSteps(p, 'me', 1));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(p.state, 'lock')).filter((f) => f.startsWith('renewer.')), [], 'no renewer for a lock that is not ours');
  });
});

describe('breaking a stale lock', () => {
  test('refuses a lock whose lease is fresh, or that another run now holds', () => {
    const p = layout(freshRoot(), R1);
    leftLock(p, 'stale', 5);
    const fresh = runSync(breakStaleLockSteps(p, 'stale', 'me', { requireExpiredLease: true }));
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.equal(fresh.outputs.get('lock-broken'), undefined);
    assert.equal(lockToken(p), 'stale', 'a lease renewed 5 s ago is alive');
    assert.deepEqual(readdirSync(join(p.state, 'lock')).sort(), ['lease', 'owner'], 'the claim was given up');
    const other = runSync(breakStaleLockSteps(p, 'not-this-one', 'me', { requireExpiredLease: false }));
    assert.equal(other.outputs.get('lock-broken'), undefined);
    assert.equal(lockToken(p), 'stale', 'a lock with another token is never removed');
    rmSync(join(p.state, 'lock'), { recursive: true });
    leftLock(p, 'stale', 120);
    const ok = runSync(breakStaleLockSteps(p, 'stale', 'me', { requireExpiredLease: true }));
    assert.deepEqual(ok.outputs.get('lock-broken'), ['1']);
    assert.equal(lockToken(p), undefined);
    assert.deepEqual(readdirSync(p.state), [], 'nothing left aside');
  });

  test('a claim of a live breaker blocks; a claim left by a dead breaker (older than the TTL) does not', () => {
    const p = layout(freshRoot(), R1);
    leftLock(p, 'stale', 120);
    const claim = join(p.state, 'lock', 'breaking.1');
    mkdirSync(claim);
    const blocked = runSync(breakStaleLockSteps(p, 'stale', 'me', { requireExpiredLease: true, ttlSec: 60 }));
    assert.equal(blocked.outputs.get('lock-broken'), undefined);
    assert.equal(lockToken(p), 'stale');
    const t = Date.now() / 1000 - 61;
    utimesSync(claim, t, t);
    const ok = runSync(breakStaleLockSteps(p, 'stale', 'me', { requireExpiredLease: true, ttlSec: 60 }));
    assert.deepEqual(ok.outputs.get('lock-broken'), ['1']);
    assert.equal(lockToken(p), undefined);
  });

  test('race: many breakers and takers at once; exactly one breaker wins and no live lock is ever removed', async () => {
    for (let round = 0; round < 3; round++) {
      const p = layout(freshRoot(), R1);
      leftLock(p, 'STALE', 600);
      let broken = 0;
      const violations: string[] = [];
      const holdings: string[] = [];
      /** a run: take the lock, break it only if it is the stale one, hold it checking it stays ours, release */
      const runner = async (i: number) => {
        const token = `run${round}x${i}`;
        for (let attempt = 0; attempt < 400; attempt++) {
          const r = await runAsync(lockSteps(p, owner(token), HELD, { renewSec: 1 }));
          if (r.status === 0) {
            holdings.push(token);
            // hold: the lock must carry our token throughout, whatever the breakers do
            const hold = await runAsync([{ name: 'hold', script: `i=0; while [ $i -lt 3 ]; do grep -qF '"token":"${token}"' ${quote(join(p.state, 'lock', 'owner'))} || exit 9; i=$((i+1)); sleep 0.01; done` }]);
            if (hold.status !== 0) violations.push(`${token} lost its lock`);
            const ownNow = lockToken(p);
            if (ownNow !== token) violations.push(`${token}: lock held by ${ownNow} while ${token} held it`);
            await runAsync(unlockSteps(p, token));
            return;
          }
          assert.equal(r.status, HELD, r.stderr);
          const holder = JSON.parse(r.outputs.get('lock-held')![0] || '{}') as LockOwner;
          // every run judges the STALE lock gone; a late breaker may act after it already went
          if (holder.token === 'STALE' || i % 3 === 0) {
            const b = await runAsync(breakStaleLockSteps(p, 'STALE', token, { requireExpiredLease: i % 2 === 0 }));
            if (b.outputs.get('lock-broken')) broken++;
            if (b.status !== 0 || b.stderr.trim()) violations.push(`breaker ${token}: ${b.status} ${b.stderr}`);
          } else await sleep(30 + Math.random() * 70);
        }
        violations.push(`${token} never got the lock`);
      };
      await Promise.all(Array.from({ length: 6 }, (_, i) => runner(i)));
      assert.deepEqual(violations, []);
      assert.equal(broken, 1, 'exactly one breaker removed the stale lock');
      assert.equal(holdings.length, 6, 'every run got the lock in turn');
      assert.equal(lockToken(p), undefined);
      assert.deepEqual(readdirSync(p.state).filter((f) => f.startsWith('lock')), [], 'nothing left aside');
    }
  });
});

describe('fap unlock', () => {
  test('removes any lock and reports the holder', () => {
    const p = layout(freshRoot(), R1);
    leftLock(p, 'x', 1);
    const r = runSync(forceUnlockSteps(p));
    assert.equal(JSON.parse(r.outputs.get('lock-held')![0]).token, 'x');
    assert.equal(lockToken(p), undefined);
  });
});
