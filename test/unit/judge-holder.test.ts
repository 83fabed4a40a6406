// judgeHolder (src/release/lock.ts): whether a lock's holder is provably gone, on literal cases,
// each with the whole verdict expected. lock.test.ts checks the same with real processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgeHolder, type ProcessIdentity } from '../../src/release/lock.js';
import type { LockOwner } from '../../src/release/scripts.js';

const here: ProcessIdentity = { hostname: 'ci', bootId: 'boot-1', pidNs: 'pid:[1]' };
const holder = (o: Partial<LockOwner> = {}): Partial<LockOwner> => ({ user: 'me', origin: 'ci', pid: 4242, command: 'deploy', started_at: '', token: 'T', boot_id: 'boot-1', pid_ns: 'pid:[1]', pid_start: '99', ...o });
const dead = () => false;
const alive = () => true;
const RENEWED = (s: number) => ({ gone: false, why: `lease renewed ${s} s ago` });
const GONE = { gone: true, how: 'identity', why: 'its process (pid 4242) is no longer running on this machine' };

test('same machine, boot and pid namespace, process gone: gone by identity, whatever the lease', () => {
  assert.deepEqual(judgeHolder(holder(), undefined, here, dead), GONE);
  assert.deepEqual(judgeHolder(holder(), 0, here, dead), GONE);
});

test('the process is asked about with its pid and start time', () => {
  const asked: [number, string | undefined][] = [];
  judgeHolder(holder(), 1, here, (pid, start) => {
    asked.push([pid, start]);
    return true;
  });
  assert.deepEqual(asked, [[4242, '99']]);
});

test('identity needs every part: origin, boot id, namespace, a positive numeric pid, a token, a dead process', () => {
  const notProven: Partial<LockOwner>[] = [
    holder({ origin: 'other' }),
    holder({ boot_id: 'boot-2' }),
    holder({ boot_id: undefined }),
    holder({ boot_id: '' }),
    holder({ pid_ns: 'pid:[2]' }),
    holder({ pid_ns: undefined }),
    holder({ pid: 0 }),
    holder({ pid: -1 }),
    holder({ pid: '4242' as unknown as number }),
    holder({ token: '' }),
  ];
  for (const o of notProven) assert.deepEqual(judgeHolder(o, 5, here, dead), RENEWED(5), JSON.stringify(o));
  assert.deepEqual(judgeHolder(holder(), 5, here, alive), RENEWED(5));
  // a machine that cannot tell its boot or namespace proves nothing by identity
  assert.deepEqual(judgeHolder(holder({ boot_id: undefined, pid_ns: undefined }), 5, { hostname: 'ci' }, dead), RENEWED(5));
  assert.deepEqual(judgeHolder(holder({ pid_ns: undefined }), 5, { hostname: 'ci', bootId: 'boot-1' }, dead), RENEWED(5));
});

test('no lease: not gone (a lock of an older fap)', () => {
  assert.deepEqual(judgeHolder(holder(), undefined, here, alive), { gone: false, why: 'no lease (a lock of an older fap)' });
  assert.deepEqual(judgeHolder(undefined, undefined, here, dead), { gone: false, why: 'no lease (a lock of an older fap)' });
});

test('the lease: expired at the TTL (60 s by default), with a token', () => {
  assert.deepEqual(judgeHolder(holder(), 59, here, alive), RENEWED(59));
  assert.deepEqual(judgeHolder(holder(), 60, here, alive), { gone: true, how: 'lease', why: 'lease expired 60 s ago' });
  assert.deepEqual(judgeHolder(holder(), 61, here, alive), { gone: true, how: 'lease', why: 'lease expired 61 s ago' });
  assert.deepEqual(judgeHolder(holder(), 9, here, alive, 10), RENEWED(9));
  assert.deepEqual(judgeHolder(holder(), 10, here, alive, 10), { gone: true, how: 'lease', why: 'lease expired 10 s ago' });
  assert.deepEqual(judgeHolder(holder({ token: undefined }), 600, here, alive), RENEWED(600), 'a lock without a token is never taken over');
  assert.deepEqual(judgeHolder(undefined, 600, here, alive), RENEWED(600));
});
