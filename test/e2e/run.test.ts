// fap run: a one-off admin command in current with .env loaded; output streamed, exit code passed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, makeRepo, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();
let fleet: Fleet;
let file = '';
before(async () => {
  if (skip) return;
  fleet = await startFleet(2);
  const repo = makeRepo({ 'manage.py': 'import os, sys\nprint("greeting:", os.environ["GREETING"])\nprint("to stderr", file=sys.stderr)\nsys.exit(int(sys.argv[1]))\n' });
  file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'runner', environment: { GREETING: "it's ${FAP_T_GREETING}" } } });
  const r = await fap(['-f', file, 'deploy', 'production'], { env: { FAP_T_GREETING: 'hello world' } });
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await fleet?.stop();
});

test('runs in current with .env, streams output, passes the exit code through', { skip }, async () => {
  const one = await fap(['-f', file, '--hosts', fleet.hosts[0].name, 'run', 'production', 'web', '--', 'python3', 'manage.py', '0']);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, "greeting: it's hello world\n", 'one host: the output as it is');
  assert.match(one.stderr, /^to stderr$/m);

  const both = await fap(['-f', file, 'run', 'production', 'web', '--', 'python3', 'manage.py', '3']);
  assert.equal(both.code, 3, 'the command’s exit code');
  for (const h of fleet.hosts) assert.ok(both.stdout.includes(`[${h.name}] greeting: it's hello world\n`), both.stdout);

  const where = await fap(['-f', file, '--hosts', fleet.hosts[1].name, 'run', 'production', 'web', '--', 'sh', '-c', 'pwd; echo "$0" "$1"', 'a b', '$(c)']);
  assert.equal(where.code, 0, where.stderr);
  assert.equal(where.stdout, `${join(fleet.deployDir, 'runner', 'current')}\na b $(c)\n`, 'arguments arrive as typed, quoted');
  assert.ok(!where.stderr.includes('hello world'));
});
