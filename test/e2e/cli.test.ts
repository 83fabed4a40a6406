// The CLI's outside: usage and configuration errors exit 2 with a one-line message that says
// where, before any host is contacted; fap init writes a file that loads.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildProgram } from '../../src/cli/main.js';
import { FAP, fap, ROOT } from '../helpers.js';

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
  const dry = await fap(['-f', file, '-v', '--dry-run', 'deploy', 'production', 'web'], { env: { SECRET_KEY: 'very-secret-value', DATABASE_URL: 'postgres://u:pw-123@db/shop' } });
  // the example's hosts do not exist: the plan and its scripts still show, and the dry run fails
  // at its end as the real run would stop (exit 1)
  assert.equal(dry.code, 1, dry.stderr);
  assert.match(dry.stderr, /^✖ dry run: the real deploy would stop before changing anything: could not connect to 2 of 2 hosts \(app-web01, /m);
  assert.match(dry.stderr, /\[app-web01(, [^\]]+)?\] prepare script:/);
  assert.match(dry.stderr, /git clone --mirror --quiet --depth 1 --no-single-branch -- git@git\.example\.com:acme\/shop\.git \/srv\/shop\/repo/);
  assert.doesNotMatch(dry.stderr + dry.stdout, /very-secret-value|pw-123/, 'secrets are redacted from printed scripts');
  assert.match(dry.stderr, /SECRET_KEY=\*\*\*/);
});

test('a missing deploy file and an unreachable host are one-line errors', async () => {
  const dir = tmp();
  const missing = await fap(['-f', join(dir, 'nope.yml'), 'deploy', 'production']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, `fap: ${join(dir, 'nope.yml')}: no such file\n  run fap -f PATH init to write one there, or give another path\n`);
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, `app_name: shop\nrepo: /nowhere\nssh: {known_hosts_file: ${join(dir, 'kh')}}\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1]\n`);
  const r = await fap(['-f', file, 'deploy', 'production']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^\[127\.0\.0\.1:1\] FAILED at connect: cannot connect to 127\.0\.0\.1:1: connection refused/m);
  assert.match(r.stderr, /^fap: stopped before changing anything: could not connect to 127\.0\.0\.1:1$/m);
  noStack(r.stderr);
});

test('fap run: a missing role or command is a usage error naming it (exit 2, nothing contacted); a word after -- is never the role', async () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, `app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1]\n    worker:\n      hosts: [127.0.0.1:1]\n`);
  for (const args of [['run', 'production', '--', 'hostname'], ['run', '-s', 'production', '--', 'hostname'], ['-s', 'production', 'run', '--', 'hostname']]) {
    const r = await fap(['-f', file, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, 'fap: which role? fap run runs on the hosts of one role; production has web, worker\n  fap run production web -- hostname\n', args.join(' '));
  }
  for (const args of [['run', 'production', 'web'], ['run', '-s', 'production', '-r', 'web', '--']]) {
    const r = await fap(['-f', file, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, 'fap: which command? fap run needs a command after --\n  fap run production web -- COMMAND\n', args.join(' '));
  }
  const noStage = await fap(['-f', file, 'run', '--', 'hostname']);
  assert.equal(noStage.code, 2);
  assert.match(noStage.stderr, /^fap: which stage\? .* has production \(web, worker\)\n {2}fap run <stage> <role> -- <command\.\.\.>, as in fap run production web -- COMMAND\n$/);
});

test('fap shell and fap run -i on a role of several hosts say which one they open (the first; --hosts picks another)', async () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, `app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1, 127.0.0.2:1, 127.0.0.3:1]\n`);
  for (const [args, what] of [[['shell', 'production', 'web'], 'fap shell'], [['run', '-i', 'production', 'web', '--', 'true'], 'fap run -i']] as const) {
    const r = await fap(['-f', file, '--dry-run', ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^${what}: on 127\\.0\\.0\\.1:1, the first of 3 hosts \\(--hosts picks another\\)$`, 'm'), r.stderr);
    const one = await fap(['-f', file, '--dry-run', '--hosts', '127.0.0.2:1', ...args]);
    assert.doesNotMatch(one.stderr, /the first of/, 'one host: nothing to say');
  }
});

const noPty = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0 ? undefined : 'no python3 to drive a pseudo-terminal';

test('fap run -i and fap shell exit 255 when the host cannot be reached (as fap run and ssh do), naming it once', { skip: noPty }, () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, `app_name: shop\nssh: {connect_retries: 0, known_hosts_file: ${join(dir, 'kh')}}\nstage_role_configs:\n  production:\n    web:\n      hosts: [127.0.0.1:1]\n`);
  for (const args of [['run', '-i', 'production', 'web', '--', 'true'], ['shell', 'production', 'web'], ['run', 'production', 'web', '--', 'true']]) {
    const r = spawnSync('python3', [join(ROOT, 'test', 'pty', 'run.py'), JSON.stringify({ keys: [], timeout: 60 }), '--', process.execPath, FAP, '-f', file, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '' } });
    const out = JSON.parse(r.stdout) as { code: number; output: string };
    assert.equal(out.code, 255, `${args.join(' ')}: ${out.output}`);
    assert.equal(out.output.match(/cannot connect to 127\.0\.0\.1:1: connection refused/g)?.length, 1, out.output);
    assert.match(out.output, /127\.0\.0\.1:1(\] FAILED at connect)?: cannot connect/, "the host named");
    noStack(out.output);
  }
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

test('one error style: "fap: <message>" and a hint line on stderr, exit 2, nothing on stdout; never "fap: fap" or commander’s "error:"', async () => {
  const example = join(ROOT, 'deploy.example.yml');
  const env = { SECRET_KEY: 'x', DATABASE_URL: 'y' };
  const cases: [string[], string][] = [
    [['deplyo', 'production'], "fap: unknown command 'deplyo'\n  did you mean fap deploy? (fap --help lists the commands)\n"],
    [['roll', 'production'], "fap: unknown command 'roll'\n  did you mean fap rollback? (fap --help lists the commands)\n"],
    [['-f', example, 'deploy', 'production', '--hots', 'a'], "fap: unknown option '--hots'\n  did you mean --hosts? (fap deploy --help lists the options)\n"],
    [['--dry', 'deploy', 'production'], "fap: unknown option '--dry'\n  did you mean --dry-run? (fap --help lists the options)\n"],
    [['-f', example, 'run', 'production'], 'fap: which role? fap run runs on the hosts of one role; production has web, worker\n  fap run production web -- COMMAND\n'],
    [['-f', example, 'deploy', 'a', 'b', 'c'], "fap: too many arguments for 'deploy'. Expected 2 arguments but got 3.\n  usage: fap deploy [options] [stage] [role] (fap deploy --help)\n"],
    [['-f', example, 'deploy'], `fap: which stage? ${example} has production (web, worker), staging (web)\n  fap deploy <stage> [role], as in fap deploy production or fap deploy production web\n`],
    [['-f', example, 'deploy', 'worker'], 'fap: worker is a role of production, not a stage\n  fap deploy production worker\n'],
    [['-f', example, 'releases', 'web'], 'fap: web is a role of production and staging, not a stage\n  fap releases production web or fap releases staging web\n'],
  ];
  for (const [args, stderr] of cases) {
    const r = await fap(args, { env });
    assert.equal(r.stderr, stderr, `fap ${args.join(' ')}`);
    assert.equal(r.code, 2, `fap ${args.join(' ')}`);
    assert.equal(r.stdout, '', `fap ${args.join(' ')}`);
  }
  // a prefix of a stage is suggested, never taken
  const prefix = await fap(['-f', example, 'releases', 'prod'], { env });
  assert.equal(prefix.code, 2);
  assert.match(prefix.stderr, /unknown stage "prod" \(did you mean "production"\?\)/);
  // --json: the stream's last line is the result, the message on stderr as ever
  const json = await fap(['--json', 'deplyo']);
  assert.equal(json.code, 2);
  assert.deepEqual(JSON.parse(json.stdout.trim().split('\n').at(-1)!), { ...JSON.parse(json.stdout.trim().split('\n').at(-1)!), event: 'result', exitCode: 2, error: "unknown command 'deplyo'" });
});

test('fap alone and --help print the help on stdout and exit 0; a command’s help lists the global options and examples', async () => {
  for (const args of [[], ['--help'], ['help']]) {
    const r = await fap(args);
    assert.equal(r.code, 0, `fap ${args.join(' ')}`);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^Usage: fap \[options\] \[command\]/);
  }
  for (const args of [['deploy', '--help'], ['help', 'deploy']]) {
    const r = await fap(args);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^Usage: fap deploy \[options\] \[stage\] \[role\]/);
    assert.match(r.stdout, /^Global Options:\n(.*\n)* {2}--dry-run /m);
    assert.match(r.stdout, /^Examples:\n {2}fap deploy production /m);
  }
});

test('the deploy file is found from a subdirectory (deploy.yaml too); its relative paths stay relative to it', async () => {
  const root = tmp();
  const sub = join(root, 'src', 'app');
  mkdirSync(sub, { recursive: true });
  mkdirSync(join(root, 'ops'));
  writeFileSync(join(root, 'ops', 'mine.mjs'), "export default { name: 'mine', keys: { mine_greeting: { type: 'string', default: 'hello from ops', description: 'a greeting' } }, on: {} };\n");
  writeFileSync(
    join(root, 'deploy.yaml'),
    'app_name: found\nplugins: [./ops/mine.mjs]\nssh: {identity_file: keys/deploy_ed25519, known_hosts_file: ~/kh}\nstage_role_configs:\n  production:\n    web:\n      hosts: [h1]\n',
  );
  const r = await fap(['config', 'production', 'web', '--set', 'ssh.config_file=ssh_config'], { cwd: sub, env: { FAP_DEPLOYFILE: '', FAP_APP: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^# fap config production web \\(${join(root, 'deploy.yaml').replace(/[/.]/g, '\\$&')}\\)`));
  assert.match(r.stdout, /^app_name: found/m);
  assert.match(r.stdout, /^mine_greeting: hello from ops/m, 'the plugin ./ops/mine.mjs is relative to the deploy file');
  assert.match(r.stdout, new RegExp(`^ {2}identity_file: ${join(root, 'keys', 'deploy_ed25519').replace(/[/.]/g, '\\$&')} `, 'm'), 'relative to the deploy file');
  assert.match(r.stdout, /^ {2}known_hosts_file: ~\/kh /m, '~ is the home directory');
  assert.match(r.stdout, /^ {2}config_file: ssh_config /m, 'a --set path is relative to where fap runs');
  // none up the tree (a directory of its own under the temp dir, whose parents have none)
  const empty = tmp();
  const none = await fap(['deploy', 'production'], { cwd: empty, env: { FAP_DEPLOYFILE: '', FAP_APP: '' } });
  assert.equal(none.code, 2);
  assert.match(none.stderr, new RegExp(`^fap: no deploy\\.yml or deploy\\.yaml here or in a parent directory \\(looked in ${empty.replace(/[/.]/g, '\\$&')}, .*, /\\)\\n {2}run fap init to write one here, or pass -f PATH`));
  // fap init writes here, even below a directory that has one
  const init = await fap(['init'], { cwd: sub, env: { FAP_DEPLOYFILE: '', FAP_APP: '' } });
  assert.equal(init.code, 0, init.stderr);
  assert.ok(existsSync(join(sub, 'deploy.yml')));
});

test('fap help WORD: a word that names no command is an unknown command (exit 2, did-you-mean, --json result); fap help help is the help', async () => {
  const commands = buildProgram().commands.map((c) => c.name());
  const words = fc.sample(fc.stringMatching(/^[a-z][a-z-]{0,9}$/).filter((w) => !commands.includes(w) && w !== 'help'), { numRuns: 4 });
  for (const word of ['deplyo', 'nosuch', ...words]) {
    const r = await fap(['help', word]);
    assert.equal(r.code, 2, `fap help ${word}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^fap: unknown command '${word}'\\n {2}(did you mean fap \\w+\\?|commands: )`));
  }
  assert.match((await fap(['help', 'deplyo'])).stderr, /did you mean fap deploy\?/);
  const json = await fap(['--json', 'help', 'nosuch']);
  assert.equal(json.code, 2);
  assert.deepEqual(JSON.parse(json.stdout.trim().split('\n').at(-1)!), { ...JSON.parse(json.stdout.trim().split('\n').at(-1)!), event: 'result', exitCode: 2, error: "unknown command 'nosuch'" });
  const help = await fap(['help', 'help']);
  assert.equal(help.code, 0);
  assert.equal(help.stderr, '');
  assert.match(help.stdout, /^Usage: fap \[options\] \[command\]/);
});

test('help and the version into a closed pipe (fap --help | head -1): exit 141, nothing said', async () => {
  for (const args of [['--help'], ['--version'], ['help', 'deploy'], ['deploy', '--help'], []]) {
    const child = spawn(process.execPath, [FAP, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    // the reader is gone before fap writes a byte
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    assert.equal(code, 141, `fap ${args.join(' ')}: ${stderr}`);
    assert.equal(stderr, '', `fap ${args.join(' ')}`);
  }
});

test('--hosts with no name in it is a usage error, never every host; -s/-r beside positionals select what they say', async () => {
  const dir = tmp();
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, 'app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [a1, a2]\n    worker:\n      hosts: [a3]\n  staging:\n    web:\n      hosts: [s1]\n');
  for (const hosts of [['--hosts', ''], ['--hosts= '], ['--hosts', ',']]) {
    for (const command of ['deploy', 'config', 'releases']) {
      const r = await fap(['-f', file, '--dry-run', command, 'production', ...hosts]);
      assert.equal(r.code, 2, `fap ${command} ${hosts.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^fap: --hosts (is empty|names no host)/);
      assert.equal(r.stdout, '');
    }
  }
  const config = async (...args: string[]) => fap(['-f', file, 'config', ...args]);
  const web = await config('-s', 'production', 'web');
  assert.equal(web.code, 0, web.stderr);
  assert.match(web.stdout, /^# fap config production web /m);
  for (const [args, message] of [
    [['staging', '-s', 'production'], 'the stage is given twice: -s production and staging'],
    [['-s', 'staging', 'production'], 'the stage is given twice: -s staging and production'],
    [['production', 'web', '-r', 'worker'], 'the role is given twice: -r worker and web'],
  ] as const) {
    const r = await config(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr.split('\n')[0], `fap: ${message}`);
  }
});

test('the deploy file, in words: a named path says who named it; a directory named deploy.yml is passed over; both names: a warning on stderr', async () => {
  const dir = tmp();
  const env = { FAP_DEPLOYFILE: '', FAP_APP: '' };
  const fromEnv = await fap(['config', 'production'], { env: { ...env, FAP_DEPLOYFILE: join(dir, 'nonexist') } });
  assert.equal(fromEnv.code, 2);
  assert.match(fromEnv.stderr, new RegExp(`^fap: ${join(dir, 'nonexist')} \\(from FAP_DEPLOYFILE\\): no such file\\n {2}set FAP_DEPLOYFILE to the deploy file, or unset it`));
  const fromApp = await fap(['config', 'production'], { env: { ...env, FAP_APP: 'SHOP', SHOP_DEPLOYFILE: dir } });
  assert.equal(fromApp.code, 2);
  assert.match(fromApp.stderr, new RegExp(`^fap: ${dir} \\(from SHOP_DEPLOYFILE, as FAP_APP=SHOP\\): is a directory\\n`));
  for (const [f, line] of [['', "fap: -f is empty: give the deploy file's path"], [dir, `fap: ${dir}: is a directory`]]) {
    const r = await fap(['-f', f, 'config', 'production']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.split('\n')[0], line);
    noStack(r.stderr);
  }
  const sub = join(dir, 'sub');
  mkdirSync(join(sub, 'deploy.yml'), { recursive: true });
  const body = 'app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [h1]\n';
  writeFileSync(join(dir, 'deploy.yml'), body);
  const found = await fap(['config', 'production'], { cwd: sub, env });
  assert.equal(found.code, 0, found.stderr);
  assert.match(found.stdout, new RegExp(`^# fap config production web \\(${join(dir, 'deploy.yml')}\\)`));
  writeFileSync(join(dir, 'deploy.yaml'), body);
  const both = await fap(['--json', 'config', 'production'], { cwd: dir, env });
  assert.equal(both.code, 0, both.stderr);
  assert.equal(both.stderr, `warning: ${dir} has both deploy.yml and deploy.yaml: reading ${join(dir, 'deploy.yml')} (remove or rename the other, or pass -f)\n`);
  assert.ok(both.stdout.split('\n').filter(Boolean).every((l) => JSON.parse(l).event), 'stdout is the stream only');
});
