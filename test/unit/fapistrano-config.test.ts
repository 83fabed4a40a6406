// Fapistrano's configuration, as fap reads it: its defaults, no plugins unless repo is set, user
// variables, its spellings (with a notice), sudo_prefix, and a list key given as one string.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../src/errors.js';
import { parseDeployText } from '../../src/config/load.js';
import { bindRelease, resolveRole, type ResolveInput } from '../../src/config/resolve.js';
import { CORE_KEYS, distance, nearest, STRUCTURE_KEYS, type KeySpec } from '../../src/config/schema.js';
import { formatConfig } from '../../src/config/show.js';
import { bundledPlugins, pluginKeys as keysOf } from '../../src/plugin/load.js';
import { buildPlan } from '../../src/release/plan.js';
import { asUser, effectiveSudo, octalEscape, parseSudoPrefix } from '../../src/remote/shell.js';

const bundled = await bundledPlugins();
const pluginKeys = keysOf(bundled);
const KNOWN = [...Object.keys(CORE_KEYS), ...Object.keys(pluginKeys), ...Object.values({ ...CORE_KEYS, ...pluginKeys } as Record<string, KeySpec>).flatMap((s) => s.aliases ?? [])];

function resolve(text: string, o: { sets?: string[]; command?: string; role?: string } = {}) {
  const input: ResolveInput = { loaded: parseDeployText(text, 'deploy.yml'), stage: 'production', sets: o.sets, env: {}, pluginKeys, plugins: bundled, command: o.command };
  return resolveRole(input, o.role ?? 'web');
}

function configError(fn: () => unknown, re: RegExp): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, re);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return e;
  }
  assert.fail(`no error, expected ${re}`);
}

const HOSTS = 'stage_role_configs:\n  production:\n    web:\n      hosts: [a]\n';
// Fapistrano's smallest example: no repo, no plugins
const SMALLEST = `project_name: foo\napp_name: foo\n${HOSTS}`;

describe("Fapistrano's defaults", () => {
  test('user, sudo_user, sudo_prefix, path, use_ssh_config, keep_releases, show_output, dry_run', () => {
    const r = resolve(SMALLEST);
    assert.equal(r.values.user, 'deploy'); // fapistrano-0.9.5 configuration.py:67 setdefault('user', 'deploy')
    assert.equal(r.values.use_ssh_config, true); // configuration.py:68 setdefault('use_ssh_config', True)
    assert.equal(r.values.sudo_user, 'deploy'); // configuration.py:70 setdefault('sudo_user', 'deploy')
    assert.equal(r.values.sudo_prefix, 'sudo -i'); // configuration.py:71 setdefault('sudo_prefix', 'sudo -i ')
    assert.equal(r.values.path, '/home/deploy/www/foo'); // configuration.py:73 '/home/%(sudo_user)s/www/%(app_name)s'
    assert.equal(r.values.keep_releases, 5); // configuration.py:82 setdefault('keep_releases', 5)
    assert.equal(r.values.show_output, false); // configuration.py:66 setdefault('show_output', False)
    assert.equal(r.values.dry_run, false); // configuration.py:84 setdefault('dry_run', False)
    for (const k of ['user', 'sudo_user', 'path', 'keep_releases']) assert.equal(r.origins[k].layer, 'default', k);
  });

  test('path follows sudo_user, not the login user', () => {
    // configuration.py:73: the deploy root is in sudo_user's home
    assert.equal(resolve(`app_name: foo\nuser: alice\nsudo_user: app\n${HOSTS}`).values.path, '/home/app/www/foo');
  });

  test('no plugins unless repo is set, then git; the smallest example plans for release and rollback', async () => {
    // fapistrano-0.9.5 configuration.py:109 `confs.get(operation + '_plugins') or confs.get('plugins') or []`
    assert.deepEqual(resolve(SMALLEST).values.plugins, []);
    assert.deepEqual(resolve(`app_name: foo\nrepo: /r.git\n${HOSTS}`).values.plugins, ['git']);
    assert.deepEqual(resolve(`app_name: foo\nrepo: /r.git\nplugins: []\n${HOSTS}`).values.plugins, []);
    const f = join(mkdtempSync(join(tmpdir(), 'fap-fapcfg-')), 'deploy.yml');
    writeFileSync(f, SMALLEST);
    for (const command of ['release', 'rollback', 'deploy']) {
      const p = await buildPlan({ deployfile: f, stage: 'production', env: {}, command });
      assert.deepEqual(p.targets[0].roles[0].plugins, [], command);
    }
  });

  test('fap release --curl-url brings curl in with or without a plugin list', () => {
    const curl = ['curl_url=https://ci.example/app.tgz'];
    assert.deepEqual(resolve(SMALLEST, { sets: curl, command: 'release' }).values.plugins, ['curl']);
    assert.deepEqual(resolve(`app_name: foo\nrepo: /r.git\n${HOSTS}`, { sets: curl, command: 'release' }).values.plugins, ['curl']);
  });

  test('<command>_plugins for once, shell and run (fap once is fap run)', () => {
    const text = `app_name: foo\nplugins: [git]\nrepo: /r\nonce_plugins: [virtualenv]\nshell_plugins: [supervisorctl]\n${HOSTS}`;
    assert.deepEqual(resolve(text, { command: 'once' }).values.plugins, ['virtualenv']);
    assert.deepEqual(resolve(text, { command: 'run' }).values.plugins, ['virtualenv']);
    assert.deepEqual(resolve(text, { command: 'shell' }).values.plugins, ['supervisorctl']);
    assert.deepEqual(resolve(text, { command: 'deploy' }).values.plugins, ['git']);
    assert.deepEqual(resolve(`app_name: foo\nrun_plugins: []\nplugins: [git]\nrepo: /r\n${HOSTS}`, { command: 'once' }).values.plugins, []);
  });
});

describe('user variables', () => {
  const ident = fc.stringMatching(/^[a-z][a-z0-9_]{2,18}$/).filter((k) => !KNOWN.includes(k) && !STRUCTURE_KEYS.has(k) && !k.startsWith('x-') && nearest(k, KNOWN) === undefined && !['stage', 'role', 'new_release'].includes(k) && !k.endsWith('_path'));
  const value = fc.stringMatching(/^[A-Za-z0-9.-]{1,20}$/);

  test('any key far from every known key is a variable at top, stage or role level, usable in %(key)s', () => {
    fc.assert(
      fc.property(ident, value, fc.constantFrom('top', 'stage', 'role'), (k, v, level) => {
        const line = `${k}: ${JSON.stringify(v)}`;
        const text =
          level === 'top'
            ? `app_name: foo\n${line}\npath: /srv/%(${k})s\n${HOSTS}`
            : level === 'stage'
              ? `app_name: foo\npath: /srv/%(${k})s\nstage_role_configs:\n  production:\n    ${line}\n    web:\n      hosts: [a]\n`
              : `app_name: foo\npath: /srv/%(${k})s\nstage_role_configs:\n  production:\n    web:\n      ${line}\n      hosts: [a]\n`;
        const r = resolve(text);
        assert.equal(r.values.path, `/srv/${v}`);
        assert.equal(r.variables[k], v);
        assert.equal(r.values[k], undefined, 'never given to plugins as a key');
        assert.equal(r.origins[k].layer, level);
        assert.match(formatConfig(r, { ...CORE_KEYS, ...pluginKeys }, parseDeployText(text, 'deploy.yml')), new RegExp(`^${k}: \\S+ # user variable \\(${level}\\)`, 'm'));
      }),
      { numRuns: 150 },
    );
  });

  test('every known key with one edit is an error naming a key one edit away', () => {
    const edited = fc
      .tuple(fc.constantFrom(...KNOWN), fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_'))
      .map(([k, i, op, c]) => {
        const at = i % (k.length + (op === 'insert' ? 1 : 0));
        const out = op === 'insert' ? k.slice(0, at) + c + k.slice(at) : op === 'delete' ? k.slice(0, at) + k.slice(at + 1) : k.slice(0, at) + c + k.slice(at + 1);
        return { k, out };
      })
      .filter(({ out }) => !KNOWN.includes(out) && !out.startsWith('x-') && /^[a-z_]/.test(out) && !STRUCTURE_KEYS.has(out));
    fc.assert(
      fc.property(edited, fc.constantFrom('top', 'stage', 'role'), ({ out }, level) => {
        const line = `${out}: 1`;
        const text =
          level === 'top'
            ? `app_name: foo\n${line}\n${HOSTS}`
            : level === 'stage'
              ? `app_name: foo\nstage_role_configs:\n  production:\n    ${line}\n    web:\n      hosts: [a]\n`
              : `app_name: foo\nstage_role_configs:\n  production:\n    web:\n      ${line}\n      hosts: [a]\n`;
        const e = configError(() => resolve(text), new RegExp(`unknown key "${out}" \\(did you mean "([a-z0-9_]+)"\\?\\)`));
        const named = /did you mean "([a-z0-9_]+)"/.exec(e.message)![1];
        assert.ok(distance(out, named) <= 1, `${out} -> ${named}`);
      }),
      { numRuns: 400 },
    );
  });

  test("Fapistrano's example: domain, then %(domain)s", () => {
    const r = resolve(`app_name: foo\ndomain: shop.example.com\nenvironment:\n  URL: https://%(domain)s/\n${HOSTS}`);
    assert.equal((r.values.environment as Record<string, string>).URL, 'https://shop.example.com/');
  });

  test('--set of a user variable, and a --set near miss', () => {
    assert.equal(resolve(`app_name: foo\ndomain: a\npath: /srv/%(domain)s\n${HOSTS}`, { sets: ['domain=b'] }).values.path, '/srv/b');
    configError(() => resolve(SMALLEST, { sets: ['keep_relases=2'] }), /--set keep_relases=2: unknown key "keep_relases" \(did you mean "keep_releases"\?\)/);
  });
});

describe("Fapistrano's spellings and keys", () => {
  test('virtualenv_pip_upgrade is read as virtualenv_upgrade_pip, with one notice naming fap\'s spelling', async () => {
    const text = `app_name: foo\nplugins: [virtualenv]\nvirtualenv_pip_upgrade: false\n${HOSTS}`;
    const r = resolve(text);
    assert.equal(r.values.virtualenv_upgrade_pip, false);
    assert.deepEqual(
      r.warnings.filter((w) => /virtualenv_pip_upgrade/.test(w)),
      ["deploy.yml:3: virtualenv_pip_upgrade is Fapistrano's name for virtualenv_upgrade_pip; fap reads it"],
    );
    // the old wrong suggestion: virtualenv_pip_upgrade -> virtualenv_pip_options
    configError(() => resolve(`app_name: foo\nplugins: [virtualenv]\nvirtualenv_pip_upgrad: false\n${HOSTS}`), /did you mean "virtualenv_pip_upgrade"/);
    // once per run, however many roles read it
    const f = join(mkdtempSync(join(tmpdir(), 'fap-fapcfg-')), 'deploy.yml');
    writeFileSync(f, `app_name: foo\nplugins: [virtualenv]\nvirtualenv_pip_upgrade: false\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n    worker:\n      hosts: [b]\n`);
    const p = await buildPlan({ deployfile: f, stage: 'production', env: {}, command: 'deploy' });
    assert.equal(p.warnings.filter((w) => /virtualenv_pip_upgrade/.test(w)).length, 1);
  });

  test('a list key given one string is a one-item list, with a notice', () => {
    // Fapistrano's guide: `linked_files: app/settings/production.py`
    const r = resolve(`app_name: foo\nlinked_files: app/settings/production.py\n${HOSTS}`);
    assert.deepEqual(r.values.linked_files, ['app/settings/production.py']);
    assert.ok(r.warnings.some((w) => /^deploy\.yml:2: linked_files is a single string; fap reads it as a one-item list/.test(w)), r.warnings.join('\n'));
    assert.deepEqual(resolve(`app_name: foo\nplugins: git\nrepo: /r\n${HOSTS}`).values.plugins, ['git']);
  });

  test('%(new_release)s is the run\'s release name; setting new_release is refused', () => {
    // fapistrano-0.9.5 configuration.py:79-80: release_path is %(releases_path)s/%(new_release)s
    const r = resolve(`app_name: foo\npath: /srv/foo\nenvironment:\n  REL: "%(new_release)s"\n${HOSTS}`);
    assert.equal(bindRelease((r.values.environment as Record<string, string>).REL, '20260101T000000Z'), '20260101T000000Z');
    configError(() => resolve(`app_name: foo\nnew_release: x\n${HOSTS}`), /^deploy\.yml:2:1: new_release: new_release is the name fap gives this run's release; it cannot be set/);
  });

  test('env_role_configs is accepted with a notice that it has no effect', () => {
    // fapistrano-0.9.5 configuration.py:81 setdefault('env_role_configs', {}) (never read)
    const r = resolve(`app_name: foo\nenv_role_configs: {}\n${HOSTS}`);
    assert.ok(r.warnings.some((w) => /env_role_configs has no effect/.test(w)));
  });
});

describe('sudo_prefix and the effective sudo user', () => {
  test('accepted forms and their flags', () => {
    assert.deepEqual(parseSudoPrefix('sudo -i '), ['-i']);
    assert.deepEqual(parseSudoPrefix('sudo'), []);
    assert.deepEqual(parseSudoPrefix('/usr/bin/sudo -iH -n'), ['-i', '-H']);
    assert.deepEqual(parseSudoPrefix('sudo --login -E'), ['-i', '-E']);
  });

  test('anything that could prompt, read stdin or pick another user is refused in one line at its key', () => {
    for (const bad of ['sudo -S', 'sudo -A', 'sudo -u root', 'sudo -s', 'su -', 'sudo -i; rm -rf /', 'doas', 'sudo -k']) {
      assert.throws(() => parseSudoPrefix(bad), (e: Error) => /^sudo_prefix/.test(e.message) && !e.message.includes('\n'), bad);
    }
    configError(() => resolve(`app_name: foo\nsudo_prefix: sudo -S\n${HOSTS}`), /^deploy\.yml:2:1: sudo_prefix: sudo_prefix: "-S" is not supported/);
  });

  /** Words sudo_prefix accepts, each with the flags it stands for (-n is fap's own, so none). */
  const SUDO_WORDS: Record<string, string[]> = {
    '-i': ['-i'],
    '-H': ['-H'],
    '-E': ['-E'],
    '-n': [],
    '--login': ['-i'],
    '--set-home': ['-H'],
    '--preserve-env': ['-E'],
    '--non-interactive': [],
    '-iH': ['-i', '-H'],
    '-EHi': ['-E', '-H', '-i'],
    '-nE': ['-E'],
  };
  const wellFormedPrefix = fc.tuple(fc.constantFrom('sudo', '/usr/bin/sudo', ' sudo'), fc.array(fc.constantFrom(...Object.keys(SUDO_WORDS)), { maxLength: 4 }), fc.constantFrom(' ', '  ', '\t'));

  test('every well-formed sudo_prefix is accepted with the flags it names, each once, in order', () => {
    fc.assert(
      fc.property(wellFormedPrefix, ([sudo, words, gap]) => {
        const expected = [...new Set(words.flatMap((w) => SUDO_WORDS[w]))];
        assert.deepEqual(parseSudoPrefix([sudo, ...words].join(gap) + gap), expected);
      }),
    );
  });

  test('whatever the text, only -i, -H and -E reach the host', () => {
    let accepted = 0;
    const anyText = fc.oneof(fc.string(), wellFormedPrefix.map(([sudo, words, gap]) => [sudo, ...words].join(gap)), fc.array(fc.constantFrom('sudo', '-i', '-S', '-u', 'root', '--login', ';', '-iS', '--user=x'), { maxLength: 4 }).map((w) => w.join(' ')));
    fc.assert(
      fc.property(anyText, (s) => {
        let flags: string[];
        try {
          flags = parseSudoPrefix(s);
        } catch {
          return;
        }
        assert.ok(flags.every((f) => ['-i', '-H', '-E'].includes(f)), JSON.stringify(flags));
        const line = asUser('true', { user: 'app', flags });
        assert.match(line, /^sudo -n (-[iHE] )*-u app -- /);
        accepted++;
      }),
    );
    assert.ok(accepted > 10, `${accepted} of 100 accepted`); // a third of the texts are well formed
  });

  test('no sudo when sudo_user is the user logged in as', () => {
    // fapistrano-0.9.5 utils.py:29 `if not sudo_user or sudo_user == env.user: fabrun(...)`
    assert.equal(effectiveSudo('deploy', 'deploy', 'sudo -i'), undefined);
    assert.equal(effectiveSudo(undefined, 'deploy'), undefined);
    assert.deepEqual(effectiveSudo('app', 'deploy', 'sudo -i'), { user: 'app', flags: ['-i'] });
  });

  test('the -i encoding: printf %b gives back any text exactly', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0')), (s) => {
        const r = spawnSync('/bin/sh', ['-c', 'printf %bx "$1"', 'sh', octalEscape(s)], { encoding: 'utf8' });
        assert.equal(r.stdout.slice(0, -1), s);
        assert.doesNotMatch(octalEscape(s), /[$\n]|[^\x20-\x7e]/);
      }),
      { numRuns: 60 },
    );
  });
});


describe("Fapistrano's layout keys", () => {
  // fapistrano-0.9.5 configuration.py:74-80 and git.py:13: current_path, releases_path, shared_path,
  // release_path, environment_file, revision_file. Written out with Fapistrano's values (a config
  // that spells out every default) they are read as they are; another place is refused by name,
  // never silently ignored while fap deploys elsewhere.
  const DEFAULTS = [
    "current_path: '%(path)s/current'",
    "releases_path: '%(path)s/releases'",
    "shared_path: '%(path)s/shared/'",
    "release_path: '%(releases_path)s/%(new_release)s'",
    "environment_file: '%(release_path)s/.env'",
    'revision_file: REVISION',
  ];
  test("Fapistrano's own values are accepted, and are not user variables", () => {
    const r = resolve(`app_name: foo\n${DEFAULTS.join('\n')}\n${HOSTS}`);
    assert.equal(r.values.path, '/home/deploy/www/foo');
    for (const line of DEFAULTS) assert.ok(!(line.split(':')[0] in r.variables), line);
  });
  test('current_path, releases_path, shared_path may name other places: the plan lays the host out there', async () => {
    const r = resolve(`app_name: foo\ncurrent_path: '%(path)s/live/'\nreleases_path: /srv/rels\nshared_path: /srv//shared-foo\nrelease_path: '%(releases_path)s/%(new_release)s'\nenvironment:\n  AT: '%(current_path)s|%(release_path)s'\n${HOSTS}`);
    assert.equal(r.values.current_path, '/home/deploy/www/foo/live');
    assert.equal(r.values.releases_path, '/srv/rels');
    assert.equal(r.values.shared_path, '/srv/shared-foo');
    assert.match(String((r.values.environment as Record<string, string>).AT), /^\/home\/deploy\/www\/foo\/live\/\|\/srv\/rels\/\u0000release\u0000$/);
    // fap config's header names the places a deploy uses (found by the attack pass: it showed the defaults)
    const text = `app_name: foo\ncurrent_path: /srv/live\nreleases_path: /srv/rels\n${HOSTS}`;
    assert.match(formatConfig(resolve(text), { ...CORE_KEYS, ...pluginKeys }, parseDeployText(text, 'deploy.yml')), /^# current_path: \/srv\/live {2}shared_path: \/home\/deploy\/www\/foo\/shared {2}release_path: \/srv\/rels\/<release>$/m);
    const { layout } = await import('../../src/release/paths.js');
    const p = layout(String(r.values.path), 'R', r.values);
    assert.deepEqual([p.current, p.releases, p.release, p.shared, p.state], ['/home/deploy/www/foo/live', '/srv/rels', '/srv/rels/R', '/srv/shared-foo', '/home/deploy/www/foo/.fap']);
  });
  for (const [line, re] of [
    ["current_path: 'live'", /current_path must be an absolute path on the host, got "live"/],
    ['releases_path: /', /releases_path \/ would hold the deploy root/],
    ['shared_path: /home/deploy', /shared_path \/home\/deploy would hold the deploy root \/home\/deploy\/www\/foo/],
    ["releases_path: '%(path)s/shared/r'", /releases_path \/home\/deploy\/www\/foo\/shared\/r overlaps shared_path \/home\/deploy\/www\/foo\/shared/],
    ["current_path: '%(path)s/releases/live'", /current_path .* overlaps releases_path/],
    ["shared_path: '%(path)s/.fap/s'", /shared_path .* overlaps the lock and journal directory \/home\/deploy\/www\/foo\/\.fap/],
    // found by the attack pass: current_path on revisions.log let a deploy fail and its revert wedge the host
    ["current_path: '%(path)s/revisions.log'", /current_path .* overlaps fap's log \/home\/deploy\/www\/foo\/revisions\.log/],
    ["releases_path: '%(path)s/repo'", /releases_path .* overlaps the git mirror/],
    ["current_path: '%(path)s/c-%(new_release)s'", /current_path cannot depend on the release/],
    ["release_path: '/srv/x/%(new_release)s'", /release_path: fap keeps this at \/home\/deploy\/www\/foo\/releases\/<release>; another place \(\/srv\/x\/<release>\) is not supported: set releases_path to move the releases/],
    ["environment_file: '%(shared_path)s/.env'", /environment_file: .*\(\/home\/deploy\/www\/foo\/shared\/\.env\)/],
    ['revision_file: REV.txt', /revision_file: fap writes the revision to REVISION .*\(REV\.txt\)/],
  ] as const) {
    test(`${line.split(':')[0]}: ${line.split(': ')[1]} is refused, at its line`, () => {
      const e = configError(() => resolve(`app_name: foo\n${line}\n${HOSTS}`), re);
      assert.equal(e.where?.line, 2);
    });
  }
  test('release_path and environment_file follow a moved releases_path', () => {
    const r = resolve(`app_name: foo\nreleases_path: /srv/r\nrelease_path: '/srv/r/%(new_release)s'\nenvironment_file: '%(release_path)s/.env'\n${HOSTS}`);
    assert.equal(r.values.releases_path, '/srv/r');
  });
  test('any place set for the three keys is apart from the others and the lock, or refused (generative)', () => {
    const seg = fc.constantFrom('a', 'b', 'releases', 'shared', 'current', '.fap', 'revisions.log', 'repo', 'x y', 'deploy', 'www', 'foo');
    const place = fc.array(seg, { minLength: 0, maxLength: 4 }).map((p) => '/home/deploy/' + p.join('/'));
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom('current_path', 'releases_path', 'shared_path'), place, (key, where) => {
        let r;
        try {
          r = resolve(`app_name: foo\n${key}: '${where}'\n${HOSTS}`);
        } catch (e) {
          assert.ok(e instanceof ConfigError, String(e));
          assert.equal((e as ConfigError).where?.line, 2);
          return;
        }
        accepted++;
        assert.equal(r.values[key], where, 'the place set is the place used');
        const within = (a: string, b: string) => a === b || a.startsWith(b + '/');
        const p = [String(r.values.current_path ?? '/home/deploy/www/foo/current'), String(r.values.releases_path ?? '/home/deploy/www/foo/releases'), String(r.values.shared_path ?? '/home/deploy/www/foo/shared'), '/home/deploy/www/foo/.fap', '/home/deploy/www/foo/revisions.log', '/home/deploy/www/foo/repo'];
        for (const [i, a] of p.entries()) for (const b of p.slice(i + 1)) assert.ok(!within(a, b) && !within(b, a), `${a} / ${b}`);
        assert.ok(!within('/home/deploy/www/foo', p[0]) && !within('/home/deploy/www/foo', p[1]) && !within('/home/deploy/www/foo', p[2]));
      }),
    );
    assert.ok(accepted > 30, `${accepted} of 100 places accepted`); // most places are apart from the others
  });
  test('roles on one host: one deploy root agrees on its places; two roots never share one', async () => {
    const plan = (yml: string) => {
      const f = join(mkdtempSync(join(tmpdir(), 'fap-fapcfg-')), 'deploy.yml');
      writeFileSync(f, `app_name: foo\n${yml}`);
      return buildPlan({ deployfile: f, stage: 'production', env: {}, command: 'deploy' });
    };
    const roles = (web: string, worker: string) => `stage_role_configs:\n  production:\n    web:\n      hosts: [a]\n${web}    worker:\n      hosts: [a]\n${worker}`;
    // same path, different current_path: one release could not flip two links
    await assert.rejects(plan(roles("      current_path: /srv/web\n", '')), /roles "web" and "worker" both deploy to a:.* but disagree on current_path/);
    // two paths, one releases_path: two locks over one directory
    await assert.rejects(plan(roles("      path: /srv/a\n      releases_path: /srv/rels\n", "      path: /srv/b\n      releases_path: /srv/rels\n")), /roles "web" \(path \/srv\/a\) and "worker" \(path \/srv\/b\) on a would both use \/srv\/rels, under two locks/);
    // a place inside the other root's places
    await assert.rejects(plan(roles("      path: /srv/a\n      shared_path: /srv/b/shared/s\n", '      path: /srv/b\n')), /would both use \/srv\/b\/shared\/s/);
    // found by the attack pass: one role's places on another root's own files (either direction)
    await assert.rejects(plan(roles('      path: /srv/a\n', '      path: /srv/b\n      current_path: /srv/a/revisions.log\n')), /would both use \/srv\/a\/revisions\.log/);
    await assert.rejects(plan(roles('      path: /srv/a\n', '      path: /srv/b\n      releases_path: /srv/a/.fap/x\n')), /would both use \/srv\/a\/\.fap/);
    await assert.rejects(plan(roles('      path: /srv/a\n', '      path: /srv/a/repo/x\n')), /would both use \/srv\/a\/repo/);
    const nested = await plan(roles('      path: /srv/a\n', '      path: /srv/a/worker\n'));
    assert.deepEqual(nested.targets.map((t) => t.paths.root), ['/srv/a', '/srv/a/worker'], 'a root nested apart from the other root\'s places');
    // apart: fine, and each target lays out its own places
    const ok = await plan(roles("      path: /srv/a\n      releases_path: /srv/ra\n", '      path: /srv/b\n'));
    assert.deepEqual(ok.targets.map((t) => t.paths.releases), ['/srv/ra', '/srv/b/releases']);
  });
  test('--set and a --key option are checked the same way', () => {
    configError(() => resolve(`app_name: foo\n${HOSTS}`, { sets: ['current_path=tmp/x'] }), /--set current_path: current_path must be an absolute path/);
    assert.equal(resolve(`app_name: foo\n${HOSTS}`, { sets: ['current_path=/tmp/x'] }).values.current_path, '/tmp/x');
  });
});

describe('user variables named like secrets', () => {
  test('their values are redacted wherever they go, also interpolated into a neutral name', async () => {
    const { redact } = await import('../../src/redact.js');
    const value = `pw-${process.pid}-Zq9`;
    const r = resolve(`app_name: foo\ndb_password: ${value}\nenvironment:\n  DATABASE_URL: 'postgres://app:%(db_password)s@db/app'\n${HOSTS}`);
    assert.equal((r.values.environment as Record<string, string>).DATABASE_URL, `postgres://app:${value}@db/app`);
    // (a URL written as an environment value has its userinfo masked whole, as repo and curl_url do)
    assert.doesNotMatch(redact(`url postgres://app:${value}@db/app`), new RegExp(value));
    assert.match(redact(`url postgres://app:${value}@db/app`), /^url postgres:\/\/(app:)?\*\*\*@db\/app$/);
    assert.equal(r.variables.db_password, value, 'still a user variable');
  });
});

describe('short user variables', () => {
  // found by the attack pass: `auth: v` was refused as "did you mean path?" (two edits); Fapistrano
  // accepted any key (configuration.py:120-121). One edit from a key is still a typo.
  test('a short name two edits from a key is a variable; one edit is still an error', () => {
    for (const name of ['auth', 'role_', 'hots2', 'user9x']) {
      if (name.length > 5) continue;
      const r = resolve(`app_name: foo\n${name}: v\n${HOSTS}`);
      assert.equal(r.variables[name], 'v', name);
    }
    configError(() => resolve(`app_name: foo\nhost: x\n${HOSTS}`), /unknown key "host" \(did you mean "hosts"\?\)/);
    configError(() => resolve(`app_name: foo\npaht: /srv\n${HOSTS}`), /did you mean "path"/);
    configError(() => resolve(`app_name: foo\nkeep_release: 3\n${HOSTS}`), /did you mean "keep_releases"/);
  });
});

describe('git_shallow_clone as a boolean (note item 9)', () => {
  // fapistrano-0.9.5 git.py:57 `if env.git_shallow_clone:` — false meant a full clone (git.py:61, git.py:69);
  // true reached git as `--depth True` (git.py:58), which git refuses: fap reads true as depth 1
  const GIT = `app_name: shop\nuser: deploy\nsudo_user: deploy\nplugins: [git]\nrepo: https://git.example.com/shop.git\nbranch: main\n`;
  const depth = (line: string, sets?: string[]) => resolve(GIT + line + HOSTS, { sets }).values.git_shallow_clone;

  test('true is depth 1, false is 0 (full history), in deploy.yml and as --git-shallow-clone=true (--set)', () => {
    assert.equal(depth('git_shallow_clone: true\n'), 1);
    assert.equal(depth('git_shallow_clone: false\n'), 0);
    assert.equal(depth('git_shallow_clone: True\n'), 1);
    assert.equal(depth(''), 1, 'default');
    assert.equal(depth('', ['git_shallow_clone=false']), 0);
    assert.equal(depth('git_shallow_clone: false\n', ['git_shallow_clone=true']), 1);
    assert.equal(depth('', ['git_shallow_clone=5']), 5);
  });

  test('--git-shallow-clone=true on the command line is the --set that resolves to depth 1', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    const { argvSpec, rewriteArgv } = await import('../../src/cli/argv.js');
    const { knownKeyNames } = await import('../../src/cli/keys.js');
    for (const [arg, want] of [['--git-shallow-clone=true', 1], ['--git-shallow-clone=false', 0]] as const) {
      const r = rewriteArgv(['release', 'production', arg], argvSpec(buildProgram()), await knownKeyNames('/nonexistent/deploy.yml'));
      const i = r.args.indexOf('--set');
      assert.ok(i >= 0, JSON.stringify(r));
      assert.equal(depth('', [r.args[i + 1]]), want);
    }
  });

  test('accepted: true, false, whole numbers >= 0; anything else refused in one line naming the key', () => {
    const accepted = fc.oneof(fc.boolean(), fc.nat());
    fc.assert(
      fc.property(accepted, (v) => {
        assert.equal(depth(`git_shallow_clone: ${JSON.stringify(v)}\n`), v === true ? 1 : v === false ? 0 : v);
        assert.equal(depth('', [`git_shallow_clone=${v}`]), v === true ? 1 : v === false ? 0 : v);
      }),
    );
    const refusedValue = fc.oneof(
      fc.integer({ max: -1 }),
      fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }),
      fc.constantFrom('"true"', '"false"', '"yes"', 'yes', 'off', '"1.5"', '[1]', '{a: 1}', '"deep"'),
      fc.stringMatching(/^[a-z][a-z ]{0,8}[a-z]$/).filter((s) => !['true', 'false', 'null'].includes(s.toLowerCase()) && !/^(true|false)$/i.test(s)),
    );
    fc.assert(
      fc.property(refusedValue, (v) => {
        const text = typeof v === 'number' ? String(v) : v;
        configError(() => depth(`git_shallow_clone: ${text}\n`), /git_shallow_clone: (expected a whole number, true or false|must be at least 0)/);
      }),
    );
  });
});
