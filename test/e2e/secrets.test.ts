// A marker secret passed through ${VAR} never appears in stdout, stderr, --json, -v output,
// revisions.log or .fap/ — only in the release's .env, which is mode 0600.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, makeRepo, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();
const MARKER = 'Mk-7c1e-SECRET-d00d';
let fleet: Fleet;
before(async () => {
  if (!skip) fleet = await startFleet(2);
});
after(async () => {
  await fleet?.stop();
});

test('a secret from the environment never leaks', { skip }, async () => {
  const env = { FAP_T_MARKER: MARKER };
  const file = writeDeployFile(fleet, {
    repo: makeRepo().dir,
    hosts: [0],
    top: { app_name: 'secrets', environment: { DATABASE_URL: 'postgres://app:${FAP_T_MARKER}@db/shop', API_TOKEN: '${FAP_T_MARKER}', PLAIN: 'visible' } },
  });
  const outputs: string[] = [];
  for (const args of [['-v', 'deploy'], ['--json', '-v', 'deploy'], ['--dry-run', 'deploy'], ['-v', '--dry-run', 'deploy'], ['--json', 'config'], ['config'], ['releases'], ['-v', 'rollback'], ['--json', 'deploy']]) {
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

// Hostile secrets (quotes, backslash, $, %, unicode, a multi-line PEM key) through every output
// channel: -v, --json, --dry-run, a failing health check's stderr tail, a failing .env step's
// command, fap config, fap run (one host: raw; two hosts: prefixed; --json); and no host-side file
// other than .env holds any form of them.
test('hostile secrets: no form of them in any output or host-side file', { skip }, async () => {
  const A = `it's a "quoted" \\ back$lash %41 $(id) é`;
  const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nbW9yZS1zZWNyZXQtbGluZS0yIGhlcmU+/=\n-----END PRIVATE KEY-----';
  const env = { FAP_T_A: A, FAP_T_PEM: PEM };
  const shellEscape = (s: string) => s.replace(/'/g, `'\\''`);
  const needles = [A, JSON.stringify(A).slice(1, -1), shellEscape(A), shellEscape(shellEscape(A)), encodeURIComponent(A), PEM, JSON.stringify(PEM).slice(1, -1), ...PEM.split('\n')];
  const repo = makeRepo();
  const file = writeDeployFile(fleet, {
    repo: repo.dir,
    top: {
      app_name: 'hostile',
      environment: { K1: '${FAP_T_A}', PEM: '${FAP_T_PEM}', MODE: '${FAP_T_UNSET:-production-mode}' },
      health_check: 'cat .env >&2; exit 1',
      health_check_timeout: 1,
      health_check_interval: 1,
    },
  });
  const outputs: string[] = [];
  const run = async (args: string[], codes: number[]) => {
    const r = await fap(['-f', file, ...args], { env });
    assert.ok(codes.includes(r.code), `${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  // the health check prints .env (shell-quoted values, the key line by line) and fails: stderr tail
  const failed = await run(['-v', 'deploy', 'production'], [1]);
  assert.match(failed.stderr, /health check/);
  await run(['--json', '-v', 'deploy', 'production'], [1]);
  await run(['--dry-run', 'deploy', 'production'], [0]);
  await run(['-v', '--dry-run', 'deploy', 'production'], [0]);
  const ok = await run(['--set', 'health_check=test -f .env', '-v', 'deploy', 'production'], [0]);
  assert.match(ok.stderr, /'K1=\*\*\*'/, '-v shows the .env step with the secret as ***');
  assert.match(ok.stderr, /MODE=production-mode/, 'a default written in the file is not a secret');
  const config = await run(['config', 'production', 'web'], [0]);
  assert.match(config.stdout, /MODE: production-mode/);
  await run(['--json', 'config', 'production', 'web'], [0]);
  await run(['releases', 'production'], [0]);
  const words = ['sh', '-c', 'printf "%s\\n" "$K1"; printf "%s" "$PEM"; cat .env; printf "%s" "$K1" >&2'];
  const one = await run(['--hosts', fleet.hosts[0].name, 'run', 'production', 'web', '--', ...words], [0]);
  assert.match(one.stdout, /^\*\*\*\n/, 'a command echoing a secret prints ***');
  const both = await run(['run', 'production', 'web', '--', ...words], [0]);
  assert.ok(both.stdout.includes(`[${fleet.hosts[1].name}] ***`), both.stdout);
  await run(['--json', 'run', 'production', 'web', '--', ...words], [0]);
  // a .env directory in the code makes the .env step itself fail: its command is shown, masked
  repo.commit({ '.env/keep': '' });
  const envFail = await run(['-v', 'deploy', 'production'], [1]);
  assert.match(envFail.stderr, /write \.env/);
  await run(['-v', 'rollback', 'production'], [0, 1]);

  for (const o of outputs) for (const n of needles) assert.ok(!o.includes(n), `${JSON.stringify(n)} leaked in: ${o.slice(0, 2000)}`);

  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((f) => (f.isDirectory() ? walk(join(d, f.name)) : f.isFile() ? [join(d, f.name)] : []));
  for (let h = 0; h < fleet.hosts.length; h++) {
    const root = fleet.hostPath(h, join(fleet.deployDir, 'hostile'));
    const envFile = join(root, readlinkSync(join(root, 'current')), '.env');
    assert.ok(readFileSync(envFile, 'utf8').includes('-----BEGIN PRIVATE KEY-----'), 'the release gets the key');
    for (const f of walk(root).filter((f) => !f.endsWith('/.env'))) {
      const text = readFileSync(f, 'latin1');
      for (const n of needles) assert.ok(!text.includes(Buffer.from(n).toString('latin1')), `${JSON.stringify(n)} leaked into ${f}`);
    }
  }
});

test('environment with .env in linked_files: deploy refuses before contacting a host, config warns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-cfg-'));
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, 'app_name: shop\npath: /srv/shop\nplugins: []\nlinked_files: [.env]\nenvironment:\n  SECRET_KEY: x\nstage_role_configs:\n  production:\n    web:\n      hosts: [nowhere.invalid]\n');
  const deploy = await fap(['-f', file, 'deploy', 'production']);
  assert.equal(deploy.code, 2, deploy.stderr);
  assert.match(deploy.stderr, /^fap: .*deploy\.yml:5:1: environment: its variables \(SECRET_KEY\) would be written to \.env, but linked_files links \.env from shared\//m);
  const config = await fap(['-f', file, 'config', 'production', 'web']);
  assert.equal(config.code, 0, config.stderr);
  assert.match(config.stderr, /warning: .*deploy\.yml:5: environment: its variables \(SECRET_KEY\)/);
});
