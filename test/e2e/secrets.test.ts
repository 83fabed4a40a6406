// A marker secret passed through ${VAR} never appears in stdout, stderr, --json, -v output,
// revisions.log or .fap/ — only in the release's .env, which is mode 0600.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, makeRepo, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();
const MARKER = 'Mk-7c1e-SECRET-d00d';
let fleet: Fleet;
before(async () => {
  if (!skip) fleet = await startFleet(1);
});
after(async () => {
  await fleet?.stop();
});

test('a secret from the environment never leaks', { skip }, async () => {
  const env = { FAP_T_MARKER: MARKER };
  const file = writeDeployFile(fleet, {
    repo: makeRepo().dir,
    top: { app_name: 'secrets', environment: { DATABASE_URL: 'postgres://app:${FAP_T_MARKER}@db/shop', API_TOKEN: '${FAP_T_MARKER}', PLAIN: 'visible' } },
  });
  const outputs: string[] = [];
  for (const args of [['-v', 'deploy'], ['--json', '-v', 'deploy'], ['--dry-run', 'deploy'], ['--json', 'config'], ['config'], ['releases'], ['-v', 'rollback'], ['--json', 'deploy']]) {
    const r = await fap(['-f', file, ...args.slice(0, -1), args[args.length - 1], 'production', ...(args.includes('config') ? ['web'] : [])], { env });
    assert.ok([0, 1].includes(r.code), `${args.join(' ')}: ${r.stderr}`);
    outputs.push(r.stdout, r.stderr);
  }
  const run = await fap(['-f', file, 'run', 'production', 'web', '--', 'sh', '-c', 'echo "$API_TOKEN"'], { env });
  outputs.push(run.stdout, run.stderr);
  assert.equal(run.stdout, '***\n', 'even a command echoing it is masked');
  for (const o of outputs) assert.ok(!o.includes(MARKER), `leaked in: ${o.slice(0, 300)}`);
  assert.ok(outputs.join('').includes('DATABASE_URL'), 'the outputs were not empty');

  const root = fleet.hostPath(0, join(fleet.deployDir, 'secrets'));
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((f) => (f.isDirectory() ? walk(join(d, f.name)) : [join(d, f.name)]));
  for (const f of [...walk(join(root, '.fap')), join(root, 'revisions.log')]) assert.ok(!readFileSync(f, 'utf8').includes(MARKER), `leaked into ${f}`);
  const envFile = join(root, readlinkSync(join(root, 'current')), '.env');
  assert.equal(statSync(envFile).mode & 0o777, 0o600);
  assert.ok(readFileSync(envFile, 'utf8').includes(`API_TOKEN=${MARKER}`), 'the release gets it, and only the release');
});
