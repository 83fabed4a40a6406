// The CLI's outside: usage and configuration errors exit 2 with a one-line message that says
// where, before any host is contacted; fap init writes a file that loads.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fap, ROOT } from '../helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'fap-cli-'));
const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/);

test('--version prints the package version', async () => {
  const r = await fap(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
});

test('usage errors exit 2 with the help hint', async () => {
  const unknown = await fap(['deplyo', 'production']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'deplyo'/);
  assert.match(unknown.stderr, /fap --help/);
  const noStage = await fap(['-f', join(ROOT, 'deploy.example.yml'), 'deploy']);
  assert.equal(noStage.code, 2);
  assert.match(noStage.stderr, /which stage\?/);
});

test('a misspelt key is a configuration error with file:line:col and a suggestion', async () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, 'app_name: shop\nkeep_relases: 3\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1]\n');
  const r = await fap(['-f', file, 'deploy', 'production', 'web']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`${file.replace(/[/.]/g, '\\$&')}:2:1: keep_relases: unknown key "keep_relases" \\(did you mean "keep_releases"\\?\\)`));
  noStack(r.stderr);
});

test('a missing required variable stops fap before it connects', async () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, 'app_name: shop\nrepo: /nowhere\nenvironment:\n  SECRET_KEY: ${FAP_TEST_UNSET_SECRET:?set FAP_TEST_UNSET_SECRET first}\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1]\n');
  const r = await fap(['-f', file, 'deploy', 'production'], { env: { FAP_TEST_UNSET_SECRET: '' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /deploy\.yml:4:3: environment\.SECRET_KEY: set FAP_TEST_UNSET_SECRET first/);
  assert.doesNotMatch(r.stderr, /127\.0\.0\.1:1/, 'no host was contacted');
  noStack(r.stderr);
});

test('unknown stage and role list the known ones', async () => {
  const example = join(ROOT, 'deploy.example.yml');
  const env = { SECRET_KEY: 'x', DATABASE_URL: 'y' };
  const stage = await fap(['-f', example, 'releases', 'prodution'], { env });
  assert.equal(stage.code, 2);
  assert.match(stage.stderr, /unknown stage "prodution" \(did you mean "production"\?\); known stages: production, staging/);
  const role = await fap(['-f', example, 'releases', 'production', 'wbe'], { env });
  assert.equal(role.code, 2);
  assert.match(role.stderr, /unknown role "wbe" \(did you mean "web"\?\); roles of production: web, worker/);
});

test('fap init writes the commented example, which loads and plans (dry run contacts nothing)', async () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  const init = await fap(['-f', file, 'init']);
  assert.equal(init.code, 0, init.stderr);
  assert.equal(readFileSync(file, 'utf8'), readFileSync(join(ROOT, 'deploy.example.yml'), 'utf8'));
  assert.equal((await fap(['-f', file, 'init'])).code, 2, 'refuses to overwrite');
  const dry = await fap(['-f', file, '--dry-run', 'deploy', 'production', 'web'], { env: { SECRET_KEY: 'very-secret-value', DATABASE_URL: 'postgres://u:pw-123@db/shop' } });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stderr, /\[app-web01\] prepare script:/);
  assert.match(dry.stderr, /git clone --mirror --quiet --depth 1 --no-single-branch -- git@git\.example\.com:acme\/shop\.git \/srv\/shop\/repo/);
  assert.doesNotMatch(dry.stderr + dry.stdout, /very-secret-value|pw-123/, 'secrets are redacted from printed scripts');
  assert.match(dry.stderr, /SECRET_KEY=\*\*\*/);
});

test('a missing deploy file and an unreachable host are one-line errors', async () => {
  const dir = tmp();
  const missing = await fap(['-f', join(dir, 'nope.yml'), 'deploy', 'production']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yml: no such file \(run `fap init`/);
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, `app_name: shop\nrepo: /nowhere\nssh: {known_hosts_file: ${join(dir, 'kh')}}\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1]\n`);
  const r = await fap(['-f', file, 'deploy', 'production']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^\[127\.0\.0\.1:1\] FAILED at connect: cannot connect to 127\.0\.0\.1:1: connection refused/m);
  assert.match(r.stderr, /^fap: stopped before changing anything: could not connect to 127\.0\.0\.1:1$/m);
  noStack(r.stderr);
});

test('fap config prints resolved values with their origins and masks secrets', async () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  writeFileSync(
    file,
    [
      'app_name: shop',
      'path: /srv/%(app_name)s-%(stage)s',
      'keep_releases: 4',
      'environment:',
      '  DB_PASSWORD: hunter2-literal',
      '  API: ${FAP_T_API}',
      '  MODE: prod',
      'repo: /srv/git/shop.git',
      'stage_role_configs:',
      '  production:',
      '    keep_releases: 6',
      '    web:',
      '      hosts: [app-web01]',
      '      branch: release',
      '',
    ].join('\n'),
  );
  const r = await fap(['-f', file, '--set', 'linked_dirs=[log]', 'config', 'production', 'web'], { env: { FAP_T_API: 'tok-from-env-123' } });
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^app_name: shop # top \(.*deploy\.yml:1:1\)$/m);
  assert.match(out, /^path: \/srv\/shop-production # top \(.*deploy\.yml:2:1\)$/m);
  assert.match(out, /^keep_releases: 6 # stage \(.*deploy\.yml:11:5\)$/m);
  assert.match(out, /^branch: release # role \(.*deploy\.yml:14:7\)  \[git\]$/m);
  assert.match(out, /^linked_dirs: # --set$/m);
  assert.match(out, /^user: \S+ # default$/m);
  assert.match(out, /^ {2}DB_PASSWORD: "\*\*\*" # top/m);
  assert.match(out, /^ {2}API: "\*\*\*" # top/m);
  assert.match(out, /^ {2}MODE: prod # top/m);
  assert.match(out, /release_path: \/srv\/shop-production\/releases\/<release>/);
  assert.doesNotMatch(out + r.stderr, /hunter2-literal|tok-from-env-123/);
  const json = await fap(['-f', file, '--json', 'config', 'production', 'web'], { env: { FAP_T_API: 'tok-from-env-123' } });
  assert.equal(json.code, 0);
  const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string });
  assert.deepEqual(lines.map((e) => e.event), ['config', 'result']);
  const ev = lines[0] as { event: string; values: Record<string, unknown>; origins: Record<string, { layer: string; line?: number }> };
  assert.equal(ev.event, 'config');
  assert.equal(ev.values.keep_releases, 6);
  assert.deepEqual(ev.origins.keep_releases, { layer: 'stage', line: 11, col: 5 });
  assert.doesNotMatch(json.stdout, /hunter2-literal|tok-from-env-123/);
});

test('the deploy file comes from -f, FAP_DEPLOYFILE, or Fapistrano’s FAP_APP + <APP>_DEPLOYFILE', async () => {
  const dir = tmp();
  const make = (name: string) => {
    const f = join(dir, `${name}.yml`);
    writeFileSync(f, `app_name: ${name}\nstage_role_configs:\n  production:\n    web:\n      hosts: [h1]\n`);
    return f;
  };
  const [a, b, c] = [make('from-env'), make('from-app'), make('from-flag')];
  const appName = async (args: string[], env: NodeJS.ProcessEnv) => {
    const r = await fap([...args, 'config', 'production', 'web'], { env: { FAP_DEPLOYFILE: '', FAP_APP: '', ...env }, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    return /^app_name: (\S+)/m.exec(r.stdout)![1];
  };
  assert.equal(await appName([], { FAP_DEPLOYFILE: a }), 'from-env');
  assert.equal(await appName([], { FAP_APP: 'SHOP', SHOP_DEPLOYFILE: b }), 'from-app');
  assert.equal(await appName(['-f', c], { FAP_DEPLOYFILE: a }), 'from-flag');
});
