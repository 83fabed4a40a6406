// The test fleet itself: real sshd hosts that OpenSSH's own client trusts through the generated
// known_hosts, each with its own filesystem, and nothing left running after stop().
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';

function ssh(fleet: Fleet, i: number, command: string) {
  return spawnSync(
    'ssh',
    ['-p', String(fleet.hosts[i].port), '-i', fleet.identityFile, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${fleet.knownHosts}`, '-o', 'IdentitiesOnly=yes', `${fleet.user}@127.0.0.1`, command],
    { encoding: 'utf8', env: { ...process.env, SSH_AUTH_SOCK: '' } },
  );
}

test('fleet hosts are separate machines as far as a deploy can tell', { skip: fleetUnsupportedReason() }, async () => {
  const fleet = await startFleet(2);
  const pids = fleet.hosts.map((h) => h.process.pid!);
  try {
    const w = ssh(fleet, 0, `echo from-host0 > ${fleet.deployDir}/marker`);
    assert.equal(w.status, 0, w.stderr);
    assert.ok(existsSync(join(fleet.hosts[0].root, 'marker')), 'host 0 wrote into its own directory');
    assert.ok(!existsSync(join(fleet.hosts[1].root, 'marker')));
    const r = ssh(fleet, 1, `test -e ${fleet.deployDir}/marker && echo yes || echo no`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'no', 'host 1 does not see host 0’s files');
  } finally {
    await fleet.stop();
  }
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `sshd ${pid} is gone`);
  assert.ok(!existsSync(fleet.dir), 'fleet directory removed');
});
