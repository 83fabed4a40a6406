// Several roles of a stage on shared hosts: one connection per host, one release per deploy root.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo } from '../helpers.js';

let fleet: Fleet;
const skip = fleetUnsupportedReason();
before(async () => {
  if (!skip) fleet = await startFleet(2);
});
after(async () => {
  await fleet?.stop();
});

test('roles sharing a host get one connection; roles sharing a path share one release', { skip }, async () => {
  const repo = makeRepo();
  const [h0, h1] = fleet.hosts.map((h) => h.name);
  const root = join(fleet.deployDir, 'multi');
  for (const i of [0, 1]) {
    const shared = fleet.hostPath(i, join(root, 'shared', 'configs'));
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, 'web.conf'), 'w\n');
    writeFileSync(join(shared, 'worker.conf'), 'k\n');
  }
  const file = join(mkdtempSync(join(tmpdir(), 'fap-roles-')), 'deploy.yml');
  writeFileSync(
    file,
    stringify({
      app_name: 'multi',
      path: root,
      user: fleet.user,
      sudo_user: fleet.user,
      plugins: ['git'],
      repo: repo.dir,
      ssh: { identity_file: fleet.identityFile, known_hosts_file: fleet.knownHosts },
      stage_role_configs: {
        production: {
          web: { hosts: [h0, h1], linked_files: ['configs/web.conf'] },
          worker: { hosts: [h1], linked_files: ['configs/worker.conf'] },
          cron: { hosts: [h1], path: `${root}-cron` },
        },
      },
    }),
  );
  const r = await fap(['-f', file, '--json', 'deploy', 'production']);
  assert.equal(r.code, 0, r.stderr);
  const result = jsonEvents(r.stdout).pop()!;
  assert.equal(Object.keys(result.channels as object).length, 2, 'one connection per host');
  const hosts = (result.hosts as { host: string; role: string; outcome: string }[]).map((h) => `${h.host} ${h.role} ${h.outcome}`);
  assert.deepEqual(hosts.sort(), [`${h0} web deployed`, `${h1} cron deployed`, `${h1} web+worker deployed`].sort());

  const current = readlinkSync(fleet.hostPath(1, join(root, 'current')));
  const release = fleet.hostPath(1, join(root, current));
  assert.ok(existsSync(join(release, 'configs')), 'release has links');
  assert.deepEqual(readdirSync(join(release, 'configs')).sort(), ['web.conf', 'worker.conf'], 'both roles’ linked files in the one release');
  assert.deepEqual(readdirSync(fleet.hostPath(1, join(root, 'releases'))), [current.slice(9)], 'one release, not one per role');
  assert.ok(existsSync(fleet.hostPath(1, `${root}-cron/current/REVISION`)), 'the role with its own path got its own release');
  assert.ok(!existsSync(fleet.hostPath(0, `${root}-cron`)), 'cron is not on host 0');
});
