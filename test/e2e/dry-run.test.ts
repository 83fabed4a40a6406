// --dry-run prints the plan and every script, exactly, and writes nothing anywhere: the fleet's
// filesystems (and known_hosts) are the same before and after.
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();
let fleet: Fleet;
before(async () => {
  if (!skip) fleet = await startFleet(2);
});
after(async () => {
  await fleet?.stop();
});

/** every path under the fleet's host directories with its type, size, mtime and link target */
function snapshot(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs} ${st.isSymbolicLink() ? readlinkSync(p) : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  for (const h of fleet.hosts) walk(h.root);
  out.push(readFileSync(fleet.knownHosts, 'utf8'));
  return out;
}

test('dry runs of every command print exact scripts and change nothing', { skip }, async () => {
  const repo = makeRepo();
  const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'dry', keep_releases: 1 } });
  for (let i = 0; i < 2; i++) assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
  const before = snapshot();

  const d = await fap(['-f', file, '--json', '--dry-run', 'deploy', 'production']);
  assert.equal(d.code, 0, d.stderr);
  const events = jsonEvents(d.stdout);
  const planned = String(events.find((e) => e.event === 'release.planned')!.release);
  for (const h of fleet.hosts) {
    const phases = events.filter((e) => e.event === 'script' && e.host === h.name).map((e) => e.phase);
    assert.deepEqual(phases, ['lock', 'prepare', 'publish', 'finish'], 'every phase of every host');
    const finish = String(events.find((e) => e.event === 'script' && e.host === h.name && e.phase === 'finish')!.script);
    assert.match(finish, /FAP_STEP='prune old releases'\nrm -rf -- /, 'the prune decided from the host’s real state');
    const prepare = String(events.find((e) => e.event === 'script' && e.host === h.name && e.phase === 'prepare')!.script);
    assert.ok(prepare.includes(`releases/${planned}`));
  }
  // the exact scripts with -v (without, the plan alone: test/e2e/operator.test.ts)
  const plain = await fap(['-f', file, '-v', '--dry-run', 'deploy', 'production']);
  assert.match(plain.stderr, /\(dry run: nothing will be changed\)/);
  assert.match(plain.stderr, /prepare script:\n {4}set -e/);

  const releases = readdirSync(fleet.hostPath(0, join(fleet.deployDir, 'dry', 'releases'))).sort();
  const rb = await fap(['-f', file, '--json', '--dry-run', 'rollback', 'production']);
  assert.equal(rb.code, 0, rb.stderr);
  const rbScript = String(jsonEvents(rb.stdout).find((e) => e.event === 'script' && e.phase === 'rollback')!.script);
  assert.ok(rbScript.includes(`ln -sfn releases/${releases[0]}`), 'rollback target read from the host');

  for (const args of [['cleanup', 'production'], ['unlock', 'production'], ['releases', 'production']]) {
    const r = await fap(['-f', file, '--dry-run', ...args]);
    assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
  }
  assert.deepEqual(snapshot(), before, 'nothing changed on any host, nor in known_hosts');

  // accept-new: a dry run accepts a new host key as the real run would (its plan is read from the
  // hosts: the revision and what it would prune), and adds it to no file
  const kh = join(fleet.dir, 'kh-empty');
  (await import('node:fs')).writeFileSync(kh, '');
  const tofu = await fap(['-f', file, '--dry-run', '--set', `ssh.known_hosts_file=${kh}`, '--set', 'ssh.host_key_checking=accept-new', 'deploy', 'production']);
  assert.equal(tofu.code, 0);
  assert.equal(readFileSync(kh, 'utf8'), '');
  assert.doesNotMatch(tofu.stderr, /could not read the host's state/);
  assert.match(tofu.stderr, /would deploy main@[0-9a-f]{7} as \d{14} to 2 hosts; would prune \d{14} on every host/);
});
