// Unit tests for src/config/load.ts + src/config/resolve.ts through parseDeployText: layering,
// interpolation and the positions carried by every configuration error.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { formatConfig } from '../../src/config/show.js';
import { parseDeployText } from '../../src/config/load.js';
import { pluginKeys } from '../../src/plugin/load.js';
import type { Plugin } from '../../src/signals.js';
import { allKeys, bindRelease, pluginNamesFor, RELEASE_TOKEN, resolveRole, selectRoles, type ResolveInput } from '../../src/config/resolve.js';

const FILE = 'deploy.yml';
const load = (text: string) => parseDeployText(text, FILE);

function resolve(text: string, o: { stage?: string; role?: string; sets?: string[]; env?: NodeJS.ProcessEnv } = {}) {
  const input: ResolveInput = { loaded: load(text), stage: o.stage ?? 'production', sets: o.sets, env: o.env ?? {} };
  return resolveRole(input, o.role ?? 'web');
}

/** Assert fn throws a ConfigError whose message matches all patterns; returns it. */
function configError(fn: () => unknown, ...patterns: RegExp[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  for (const re of patterns) assert.match(caught.message, re);
  return caught;
}

const BASIC = `app_name: shop
stage_role_configs:
  production:
    web:
      hosts: [web1]
`;

describe('parseDeployText', () => {
  test('keeps data and positions', () => {
    const l = load(BASIC);
    assert.equal(l.file, FILE);
    assert.equal(l.data.app_name, 'shop');
    assert.deepEqual(l.pos(['app_name']), { line: 1, col: 1 });
    assert.deepEqual(l.pos(['stage_role_configs', 'production', 'web', 'hosts']), { line: 5, col: 7 });
    assert.deepEqual(l.pos(['stage_role_configs', 'production', 'web', 'hosts', 0]), { line: 5, col: 15 });
  });

  test('l.error prefixes file:line:col and the key path', () => {
    const e = load(BASIC).error(['stage_role_configs', 'production', 'web', 'hosts', 0], 'bad');
    assert.equal(e.message, 'deploy.yml:5:15: stage_role_configs.production.web.hosts[0]: bad');
    assert.equal(e.exitCode, 2);
  });

  test('duplicate key: error with line:col of the duplicate', () => {
    configError(() => load('app_name: a\npath: /x\napp_name: b\n'), /^deploy\.yml:3:1: duplicate key/);
    configError(
      () => load('app_name: a\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n      hosts: [b]\n'),
      /^deploy\.yml:6:7: duplicate key/,
    );
  });

  test('YAML syntax errors carry a position', () => {
    configError(() => load('app_name: [a\npath: x\n'), /^deploy\.yml:\d+:\d+: YAML syntax/);
  });

  test('empty file and non-map top level', () => {
    configError(() => load(''), /^deploy\.yml:1:1: the file is empty/);
    configError(() => load('# only a comment\n'), /the file is empty/);
    configError(() => load('- a\n- b\n'), /^deploy\.yml:1:1: the top level must be a map/);
    configError(() => load('just a string\n'), /the top level must be a map/);
  });
});

describe('resolveRole precedence', () => {
  const LAYERED = `app_name: shop
keep_releases: 4
linked_dirs: [top]
environment:
  A: top
  B: top
  C: top
stage_role_configs:
  production:
    keep_releases: 3
    environment:
      B: stage
      C: stage
    web:
      hosts: [web1]
      keep_releases: 2
      environment:
        C: role
    worker:
      hosts: [w1]
  staging:
    keep_releases: 9
    web:
      hosts: [s1]
`;

  test('default < top < stage-wide < role', () => {
    const web = resolve(LAYERED);
    assert.equal(web.values.keep_releases, 2);
    assert.equal(web.origins.keep_releases.layer, 'role');
    assert.deepEqual(web.origins.keep_releases.pos, { line: 16, col: 7 });
    assert.deepEqual(web.values.environment, { A: 'top', B: 'stage', C: 'role' });
    assert.deepEqual(web.values.linked_dirs, ['top']);
    assert.equal(web.origins.linked_dirs.layer, 'top');
    assert.deepEqual(web.values.linked_files, []);
    assert.equal(web.origins.linked_files.layer, 'default');

    const worker = resolve(LAYERED, { role: 'worker' });
    assert.equal(worker.values.keep_releases, 3);
    assert.equal(worker.origins.keep_releases.layer, 'stage');
    assert.deepEqual(worker.values.environment, { A: 'top', B: 'stage', C: 'stage' });

    const staging = resolve(LAYERED, { stage: 'staging' });
    assert.equal(staging.values.keep_releases, 9);
    assert.deepEqual(staging.values.environment, { A: 'top', B: 'top', C: 'top' });
    assert.deepEqual(
      staging.hosts.map((h) => h.name),
      ['s1'],
    );
  });

  test('the default applies when nothing sets a key', () => {
    const r = resolve(BASIC);
    assert.equal(r.values.keep_releases, 5);
    assert.equal(r.origins.keep_releases.layer, 'default');
    // fapistrano-0.9.5 configuration.py:67 setdefault('user', 'deploy')
    assert.equal(r.values.user, 'deploy');
  });

  test('--set beats everything, and can reach into maps', () => {
    const r = resolve(LAYERED, { sets: ['keep_releases=7', 'environment.A=cli', 'environment.D=new'] });
    assert.equal(r.values.keep_releases, 7);
    assert.equal(r.origins.keep_releases.layer, '--set');
    assert.deepEqual(r.values.environment, { A: 'cli', B: 'stage', C: 'role', D: 'new' });
  });

  test('--set values are parsed as YAML scalars', () => {
    const r = resolve(BASIC, { sets: ['linked_dirs=[a, b]', 'app_name=other'] });
    assert.deepEqual(r.values.linked_dirs, ['a', 'b']);
    assert.equal(r.values.app_name, 'other');
  });

  test('--set errors', () => {
    configError(() => resolve(BASIC, { sets: ['keep_releases'] }), /--set keep_releases: expected KEY=VALUE/);
    configError(() => resolve(BASIC, { sets: ['keep_relaeses=3'] }), /--set keep_relaeses=3: unknown key "keep_relaeses" \(did you mean "keep_releases"\?\)/);
    configError(() => resolve(BASIC, { sets: ['keep_releases=five'] }), /keep_releases: expected a whole number/);
  });

  test('the deploy_to alias sets path', () => {
    const r = resolve('app_name: shop\ndeploy_to: /srv/%(app_name)s\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n');
    assert.equal(r.values.path, '/srv/shop');
  });

  test('x- keys are ignored at every level', () => {
    const r = resolve('app_name: shop\nx-anchors: {a: 1}\nstage_role_configs:\n  production:\n    x-note: hi\n    web:\n      x-foo: 1\n      hosts: [a]\n');
    assert.equal(r.values['x-anchors'], undefined);
    assert.equal(r.values['x-foo'], undefined);
  });
});

describe('resolveRole interpolation', () => {
  test('%(app_name)s and %(sudo_user)s in the default path', () => {
    // fapistrano-0.9.5 configuration.py:73 setdefault('path', '/home/%(sudo_user)s/www/%(app_name)s')
    assert.equal(resolve(BASIC).values.path, '/home/deploy/www/shop');
  });

  test('%(app_name)s in a path set per stage, and %(stage)s / %(role)s', () => {
    const r = resolve(`app_name: shop
stage_role_configs:
  production:
    path: /srv/%(app_name)s-%(stage)s
    web:
      hosts: [a]
      environment:
        WHERE: "%(role)s@%(stage)s in %(current_path)s, 100%%"
        REL: "%(release_path)s"
`);
    assert.equal(r.values.path, '/srv/shop-production');
    const env = r.values.environment as Record<string, string>;
    assert.equal(env.WHERE, 'web@production in /srv/shop-production/current, 100%');
    assert.equal(env.REL, `/srv/shop-production/releases/${RELEASE_TOKEN}`);
    assert.equal(bindRelease(env.REL, '20240101000000'), '/srv/shop-production/releases/20240101000000');
  });

  test('a chain of references resolves regardless of order', () => {
    const r = resolve('user: u\npath: /x/%(app_name)s\napp_name: "%(user)s-app"\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n');
    assert.equal(r.values.app_name, 'u-app');
    assert.equal(r.values.path, '/x/u-app');
  });

  test('unknown %(key)s: error at the key, with a suggestion', () => {
    configError(
      () => resolve('app_name: shop\npath: /srv/%(app_nme)s\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'),
      /^deploy\.yml:2:1: path: unknown key %\(app_nme\)s \(did you mean "app_name"\?\)/,
    );
  });

  test('cycle detection names the cycle', () => {
    configError(
      () => resolve('app_name: "%(path)s"\npath: "/srv/%(app_name)s"\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'),
      // whichever key the walk starts from, the message names the whole loop at that key's position
      /^deploy\.yml:(1:1: app_name: interpolation cycle: app_name -> path -> app_name|2:1: path: interpolation cycle: path -> app_name -> path)$/,
    );
    configError(
      () => resolve('app_name: shop\nuser: "%(user)s"\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'),
      /interpolation cycle: user -> user$/,
    );
    configError(
      () => resolve('app_name: shop\npath: "%(current_path)s/x"\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'),
      /interpolation cycle: path -> path/,
    );
  });

  test('${VAR} forms are expanded per layer', () => {
    const r = resolve(
      `app_name: shop
environment:
  DB: \${DB_URL}
  MODE: \${MODE:-prod}
  LIT: "$\${NOT_A_VAR}"
stage_role_configs:
  production:
    web:
      hosts: [a]
      environment:
        NEED: \${NEED:?set NEED please}
`,
      { env: { DB_URL: 'postgres://x' } },
    );
    assert.deepEqual(r.values.environment, { DB: 'postgres://x', MODE: 'prod', LIT: '${NOT_A_VAR}', NEED: '' });
    assert.ok(r.envKeys.has('environment'));
    assert.equal(r.envProblems.length, 1);
    assert.equal(r.envProblems[0].message, 'set NEED please');
    assert.match(r.envProblems[0].where.message, /^deploy\.yml:11:9: stage_role_configs\.production\.web\.environment\.NEED: set NEED please/);
  });
});

describe('resolveRole errors carry deploy.yml:LINE:COL', () => {
  test('unknown top-level key with did-you-mean', () => {
    const e = configError(
      () => resolve('app_name: shop\nkeep_relases: 3\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'),
      /unknown key "keep_relases" \(did you mean "keep_releases"\?\)/,
    );
    assert.match(e.message, /^deploy\.yml:2:1: keep_relases: /);
    assert.deepEqual(e.where, { file: FILE, line: 2, col: 1, keyPath: 'keep_relases' });
  });

  test('unknown key inside a role', () => {
    configError(
      () => resolve('app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n      linked_file: [x]\n'),
      /^deploy\.yml:6:7: stage_role_configs\.production\.web\.linked_file: unknown key "linked_file" \(did you mean "linked_files"\?\)/,
    );
  });

  test('an unknown key with nothing close is a user variable, not an error', () => {
    const r = resolve('app_name: shop\nzzzzzzzzzz: 1\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n');
    // a user variable is only ever interpolated: it keeps the text written (1.10 stays 1.10)
    assert.equal(r.variables.zzzzzzzzzz, '1');
    assert.equal(r.values.zzzzzzzzzz, undefined);
  });

  test('unknown ssh sub-key', () => {
    configError(
      () => resolve('app_name: shop\nssh:\n  host_key_cheking: off\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'),
      /^deploy\.yml:3:3: ssh\.host_key_cheking: unknown key "ssh\.host_key_cheking" \(did you mean "host_key_checking"\?\)/,
    );
  });

  test('keep_releases: five', () => {
    configError(
      () => resolve('app_name: shop\nstage_role_configs:\n  production:\n    keep_releases: five\n    web:\n      hosts: [a]\n'),
      /^deploy\.yml:4:5: stage_role_configs\.production\.keep_releases: expected a whole number, got a string "five"/,
    );
  });

  test('keep_releases below the minimum, and as a numeric string', () => {
    configError(() => resolve('app_name: shop\nkeep_releases: 0\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'), /^deploy\.yml:2:1: keep_releases: must be at least 1, got 0/);
    assert.equal(resolve('app_name: shop\nkeep_releases: "3"\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n').values.keep_releases, 3, 'a numeric string is a number once validated (schema.ts ValueOf)');
  });

  test('type errors for other keys', () => {
    configError(() => resolve('app_name: shop\nlinked_files: {a: 1}\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'), /^deploy\.yml:2:1: linked_files: expected a list, got a map/);
    configError(
      () => resolve('app_name: shop\nssh:\n  host_key_checking: sometimes\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'),
      /^deploy\.yml:3:3: ssh\.host_key_checking: "sometimes" is not one of strict, accept-new, off/,
    );
    configError(() => resolve('app_name: shop\nenvironment:\n  BAD-NAME: 1\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'), /^deploy\.yml:3:3: environment\.BAD-NAME: "BAD-NAME" is not a valid environment variable name/);
  });

  test('bad host: error at the list item', () => {
    configError(
      () => resolve('app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts:\n        - web1\n        - web2:99999\n'),
      /^deploy\.yml:7:11: stage_role_configs\.production\.web\.hosts\[1\]: port 99999 is out of range/,
    );
  });

  test('hosts parsed from all forms', () => {
    const r = resolve('app_name: shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [a, "u@b:2", "[::1]:2222", {host: c, port: 3}]\n');
    assert.deepEqual(
      r.hosts.map((h) => h.name),
      ['a', 'u@b:2', '[::1]:2222', 'c:3'],
    );
  });

  test('missing app_name', () => {
    configError(() => resolve('path: /srv/x\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'), /^deploy\.yml:1:1: app_name: app_name is required/);
    configError(() => resolve('app_name: ""\npath: /srv/x\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n'), /app_name is required/);
  });

  test('missing or malformed stage_role_configs', () => {
    configError(() => resolve('app_name: shop\n'), /missing "stage_role_configs"/);
    configError(() => resolve('app_name: shop\nstage_role_configs: [a]\n'), /^deploy\.yml:2:1: stage_role_configs: must be a map of stages/);
    configError(() => resolve('app_name: shop\nstage_role_configs:\n  production: 3\n'), /^deploy\.yml:3:3: stage_role_configs\.production: a stage must be a map of roles/);
  });
});

describe('selectRoles', () => {
  const TEXT = `app_name: shop
stage_role_configs:
  production:
    keep_releases: 3
    web:
      hosts: [a]
    worker:
      hosts: [b]
  staging:
    web:
      hosts: [c]
  empty:
    keep_releases: 2
`;
  const keys = allKeys();

  test('all roles of a stage (stage-wide keys are not roles), or one', () => {
    assert.deepEqual(selectRoles(load(TEXT), 'production', undefined, keys), ['web', 'worker']);
    assert.deepEqual(selectRoles(load(TEXT), 'production', 'worker', keys), ['worker']);
  });

  test('unknown stage lists the known ones, with a suggestion', () => {
    const e = configError(() => selectRoles(load(TEXT), 'prodution', undefined, keys), /unknown stage "prodution" \(did you mean "production"\?\); known stages: production, staging, empty/);
    assert.match(e.message, /^deploy\.yml:2:1: /);
    configError(() => selectRoles(load(TEXT), 'qa', undefined, keys), /unknown stage "qa"; known stages: production, staging, empty$/);
  });

  test('unknown role lists the stage roles', () => {
    configError(() => selectRoles(load(TEXT), 'production', 'wbe', keys), /^deploy\.yml:3:3: stage_role_configs\.production: unknown role "wbe" \(did you mean "web"\?\); roles of production: web, worker$/);
    configError(() => selectRoles(load(TEXT), 'staging', 'worker', keys), /unknown role "worker".*; roles of staging: web$/);
  });

  test('a stage without roles', () => {
    configError(() => selectRoles(load(TEXT), 'empty', undefined, keys), /^deploy\.yml:12:3: stage_role_configs\.empty: stage "empty" has no roles/);
    configError(() => selectRoles(load(TEXT), 'empty', 'web', keys), /unknown role "web"; roles of empty: \(none\)/);
  });
});

describe('what plugins declare: enabledBy and replaces', () => {
  // two plugins the core knows nothing of: what they declare is all that decides
  const base: Plugin = { name: 'base', on: {}, enabledBy: 'base_repo', keys: { base_repo: { type: 'string', description: 'x' }, base_branch: { type: 'string', description: 'x' } } };
  const stand: Plugin = { name: 'stand', on: {}, replaces: { plugin: 'base', when: ['stand_url'], commands: ['release'] }, keys: { stand_url: { type: 'string', description: 'x' } } };
  const plugins = new Map([
    ['base', base],
    ['stand', stand],
  ]);
  const run = (text: string, command: string, sets: string[] = []) =>
    resolveRole({ loaded: load(`app_name: a\n${text}stage_role_configs:\n  production:\n    web:\n      hosts: [a]\n`), stage: 'production', env: {}, sets, command, plugins, pluginKeys: pluginKeys(plugins) }, 'web');

  test('a plugin enabled by a key is the default plugin list while that key is set', () => {
    assert.deepEqual(run('base_repo: r\n', 'deploy').values.plugins, ['base']);
    assert.deepEqual(run('', 'deploy').values.plugins, []);
    assert.deepEqual(run('base_repo: r\nplugins: []\n', 'deploy').values.plugins, [], 'a plugin list is the list');
  });

  test('a stand-in takes the other’s place for its commands when one of its keys is set, and the other’s keys stay quiet', () => {
    const swapped = run('base_repo: r\nbase_branch: main\n', 'release', ['stand_url=u']);
    assert.deepEqual(swapped.values.plugins, ['stand']);
    assert.deepEqual(swapped.warnings, []);
    assert.deepEqual(run('plugins: [x, base]\n', 'release', ['stand_url=u']).values.plugins, ['x', 'stand']);
    assert.deepEqual(run('plugins: [stand, base]\n', 'release', ['stand_url=u']).values.plugins, ['stand']);
    assert.deepEqual(run('plugins: [x]\n', 'release', ['stand_url=u']).values.plugins, ['stand', 'x']);
    // another command, or no key of the stand-in set: nothing changes
    assert.deepEqual(run('base_repo: r\n', 'deploy', ['stand_url=u']).values.plugins, ['base']);
    assert.deepEqual(run('base_repo: r\n', 'release').values.plugins, ['base']);
    assert.match(run('base_repo: r\nplugins: []\n', 'deploy').warnings.join('\n'), /base_repo belongs to the base plugin, which is not enabled/);
  });
});

describe('pluginNamesFor', () => {
  test('the plugins named by the file, the stage and its roles (a plugin enabled by a key loads on demand)', () => {
    assert.deepEqual(pluginNamesFor(load(BASIC), 'production'), []);
    const l = load('app_name: a\nplugins: [git, ./x.js]\nstage_role_configs:\n  production:\n    plugins: [stagep]\n    web:\n      plugins: [rolep, git]\n      hosts: [a]\n  other:\n    web:\n      plugins: [otherp]\n');
    assert.deepEqual(pluginNamesFor(l, 'production'), ['git', './x.js', 'stagep', 'rolep']);
  });
});

describe('fixes found by review', () => {
  const base = (extra: string) => parseDeployText(`app_name: shop\n${extra}stage_role_configs:\n  production:\n    web:\n      hosts: [a]\n`, 'deploy.yml');

  test('values from ${VAR} are used literally, never %-interpolated', () => {
    const loaded = base('environment:\n  DB_PASSWORD: ${FAP_T_PW}\n  OTHER: ${FAP_T_X}\n');
    const rc = resolveRole({ loaded, stage: 'production', env: { FAP_T_PW: 'p%%w0rd', FAP_T_X: 'x%(nope)sy' } }, 'web');
    assert.deepEqual(rc.values.environment, { DB_PASSWORD: 'p%%w0rd', OTHER: 'x%(nope)sy' });
  });

  test('a self-referencing key is blamed on itself, with its position', () => {
    const loaded = base('user: "%(user)s"\n');
    assert.throws(() => resolveRole({ loaded, stage: 'production', env: {} }, 'web'), /^Error: deploy\.yml:2:1: user: interpolation cycle: user -> user|deploy\.yml:2:1: user: interpolation cycle: user -> user/);
  });

  test('a missing app_name says so, not something about path', () => {
    const loaded = parseDeployText('stage_role_configs:\n  production:\n    web:\n      hosts: [a]\n', 'deploy.yml');
    assert.throws(() => resolveRole({ loaded, stage: 'production', env: {} }, 'web'), /app_name is required/);
  });
});

describe('~ (null) for a key with a default', () => {
  // found by the attack pass: keep_releases: ~ was used as null and pruned all but one release
  test('every core key with a default resolves to that default, written in the file or with --set', () => {
    // (hosts: the role below sets it)
    const withDefault = Object.entries(allKeys()).filter(([k, s]) => s.default !== undefined && !s.plugin && k !== 'hosts');
    assert.ok(withDefault.length > 10);
    for (const [key] of withDefault) {
      const base = [key !== 'app_name' ? 'app_name: shop' : '', key !== 'path' ? 'path: /srv/shop' : ''].filter(Boolean).join('\n');
      const inFile = resolve(`${base}\n${key}: ~\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n`);
      // the default, resolved (interpolated) as when the key is not written at all
      const unset = resolve(`${base}\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n`).values[key as keyof typeof inFile.values];
      assert.notEqual(unset, null, key);
      assert.deepEqual(inFile.values[key as keyof typeof inFile.values], unset, `${key}: ~ in the file`);
      const set = resolve('app_name: shop\npath: /srv/shop\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n', { sets: [`${key}=~`] });
      assert.deepEqual(set.values[key as keyof typeof set.values], unset, `--set ${key}=~`);
    }
  });

  test('fap config says where the ~ that reset a key is (found by the attack pass: it showed a bare "default")', () => {
    const text = 'app_name: shop\npath: /srv/shop\nkeep_releases: 3\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n      keep_releases: ~\n';
    const shown = formatConfig(resolve(text), allKeys(), parseDeployText(text, 'deploy.yml'));
    assert.match(shown, /^keep_releases: 5 # default \(reset by ~ at deploy\.yml:8:7\)$/m);
    const bySet = formatConfig(resolve(text, { sets: ['keep_releases=~'] }), allKeys(), parseDeployText(text, 'deploy.yml'));
    assert.match(bySet, /^keep_releases: 5 # default \(reset by ~ in --set\)$/m);
  });
});

describe('~ (null) resets at the layer that writes it (found by the second attack pass)', () => {
  const doc = (extra: string) => `app_name: shop\npath: /srv/shop\nrepo: /srv/repo.git\n${extra}stage_role_configs:\n  production:\n    web:\n      hosts: [a]\n`;
  test('a default that refers to another key is interpolated as any default', () => {
    const r = resolve(doc('project_name: ~\n'));
    assert.equal(r.values.project_name, 'shop');
  });
  test('a map sub-key: its own default, the others kept', () => {
    const r = resolve(doc('ssh: {connect_retries: ~, connect_timeout: 5}\n'));
    assert.equal(r.values.ssh.connect_retries, 2);
    assert.equal(r.values.ssh.connect_timeout, 5);
    const whole = resolve(doc('ssh: {connect_timeout: 5}\n'), { sets: ['ssh=~'] });
    assert.equal(whole.values.ssh.connect_timeout, 20);
    assert.equal(whole.values.ssh.host_key_checking, 'strict');
  });
  test('a key without a default is unset, never the string "null"; a role unsets what the top level set', () => {
    const r = resolve(doc('lock_wait: ~\nhealth_check: curl -f localhost\n').replace('hosts: [a]', 'hosts: [a]\n      health_check: ~'));
    assert.equal(r.values.lock_wait, undefined);
    assert.equal(r.values.health_check, undefined);
  });
  test('plugins: ~ is the default list (as if not written), not none', () => {
    const r = resolve(doc('plugins: ~\n'));
    assert.deepEqual(r.values.plugins, resolve(doc('')).values.plugins);
    assert.notEqual(r.values.plugins, null);
  });
});

test('YAML library warnings never reach stderr: a --set value like %(path)s, a collection as a key (found by the attack pass)', async () => {
  const warnings: string[] = [];
  const on = (w: Error) => warnings.push(w.message);
  process.on('warning', on);
  try {
    const text = 'app_name: shop\npath: /srv/shop\n? [complex, key]\n: 1\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n';
    const r = resolve(text, { sets: ['app_name=%(path)s', 'branch=%(app_name)s-x'] });
    assert.equal(r.values.app_name, '/srv/shop');
    await new Promise((done) => setImmediate(done));
  } finally {
    process.off('warning', on);
  }
  assert.deepEqual(warnings, []);
});
