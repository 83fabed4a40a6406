// Unit tests for fap check (src/release/check.ts): the tools a configuration needs, the script run
// for real by /bin/sh in a temporary root (read-only, never failing), and the pure evaluation of its
// answers into rows. Plus the `requires` schema in resolve.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseDeployText } from '../../src/config/load.js';
import { resolveRole } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';
import {
  checkSteps,
  checkSummary,
  commandProgram,
  CORE_TOOLS,
  evaluateCheck,
  formatCheckTable,
  parseDfAvailableKb,
  parseToolVersion,
  probeCause,
  probedTools,
  requiredTools,
  type CheckInput,
  type CheckRow,
  type ToolNeed,
} from '../../src/release/check.js';
import { layout } from '../../src/release/paths.js';
import { buildPlan } from '../../src/release/plan.js';
import { bundledPlugins, pluginKeys } from '../../src/plugin/load.js';
import type { Plugin } from '../../src/signals.js';
import { composeScript, parseFailedStep, parseOutputs } from '../../src/remote/shell.js';

const bundled = await bundledPlugins();

const base = mkdtempSync(join(tmpdir(), 'fap-unit-check-'));
after(() => rmSync(base, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory whose name needs quoting. */
function freshDir(): string {
  const d = join(base, `app ${counter++} it's "$(touch PWNED)" \`x\``);
  mkdirSync(d, { recursive: true });
  return d;
}

function runCheck(root: string, linked: string[], tools: ToolNeed[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync('/bin/sh', ['-c', composeScript(checkSteps(layout(root, 'x'), linked, probedTools(tools)))], { encoding: 'utf8', cwd: base, env });
  return { status: r.status, outputs: parseOutputs(r.stdout).outputs, step: parseFailedStep(r.stderr).step };
}

/** A deep listing of a directory, to see that the script wrote nothing. */
function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

const ok = (rows: CheckRow[], name: string) => rows.find((r) => r.name === name);
const CONNECTED = { ok: true as const, user: 'deploy', checking: 'strict', knownHosts: '/k/known_hosts' };

function input(o: Partial<CheckInput> & { outputs?: Map<string, string[]> }): CheckInput {
  return { paths: layout('/srv/shop', 'x'), user: 'deploy', connection: CONNECTED, linkedFiles: [], tools: [], minFreeMb: 100, ...o };
}

/** Outputs as the script would give them for a healthy host. */
function healthy(tools: ToolNeed[], extra: Record<string, string[]> = {}): Map<string, string[]> {
  const m = new Map<string, string[]>([
    ['root', ['exists']],
    ['base', ['/srv/shop']],
    ['writable', ['/srv/shop', '/srv/shop/releases', '/srv/shop/shared']],
    ['current', ['releases/20240101000000']],
    ['df', ['/dev/sda1   1000000 500000 512000  50% /srv']],
  ]);
  probedTools(tools).forEach((t, i) => {
    m.set(`tool.${i}.path`, [`/usr/bin/${t.name}`]);
    if (t.version) m.set(`tool.${i}.version`, [`${t.name} version 2.39.2`]);
  });
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
}

describe('the tools a configuration needs', () => {
  /** The tools of a role as fap resolves it from deploy.yml (the plugins' defaults included). */
  const toolsOf = async (yml: string) => {
    const text = `app_name: shop\npath: /srv/my shop\nuser: deploy\nsudo_user: deploy\n${yml}stage_role_configs:\n  production:\n    web:\n      hosts: [a]\n`;
    const rc = resolveRole({ loaded: parseDeployText(text, 'deploy.yml'), stage: 'production', env: {}, pluginKeys: pluginKeys(bundled), plugins: bundled }, 'web');
    return requiredTools([{ config: rc.values, plugins: rc.enabledPlugins.map((n) => bundled.get(n)!) }]).map((n) => n.name).sort();
  };

  test('the Python plugins: the program that makes the venv, bash where an activate or mkvirtualenv needs it, virtualenv-tools', async () => {
    // fapistrano-0.9.5 virtualenv.py:29 `%(virtualenv_executive)s %(virtualenv_venv_path)s`: that program, not python3
    assert.deepEqual(await toolsOf("plugins: [virtualenv]\nvirtualenv_executive: /usr/bin/env virtualenv\n"), ['virtualenv']);
    assert.deepEqual(await toolsOf("plugins: [virtualenv]\nvirtualenv_executive: virtualenv -p python3.11\n"), ['virtualenv']);
    assert.deepEqual(await toolsOf('plugins: [virtualenv]\n'), ['python3']);
    // the default activate (`source <venv>/bin/activate`, a path with a space here) runs as POSIX `.`: no bash
    assert.deepEqual(await toolsOf('plugins: [virtualenv]\nvirtualenv_executable: python3.12\n'), ['python3.12']);
    // any other activate text runs under bash (python-env.ts withActivate)
    assert.deepEqual(await toolsOf("plugins: [virtualenv]\nvirtualenv_activate: 'source %(virtualenv_venv_path)s/bin/activate && export PIP_NO_CACHE_DIR=1'\n"), ['bash', 'python3']);
    // fapistrano-0.9.5 virtualenvwrapper.py:30 `source %(virtualenvwrapper_source)s && mkvirtualenv`: a bash function
    assert.deepEqual(await toolsOf('plugins: [virtualenvwrapper]\n'), ['bash']);
    // fapistrano-0.9.5 virtualenvtools.py:9 setdefault('virtualenvtools_executable', 'virtualenv-tools')
    assert.deepEqual(await toolsOf('plugins: [virtualenvtools]\n'), ['virtualenv-tools']);
    assert.deepEqual(await toolsOf('plugins: [virtualenvtools]\nvirtualenvtools_executable: /opt/tools/bin/python -m virtualenv_tools\n'), ['/opt/tools/bin/python']);
  });

  test('plugins imply their tools; requires adds and tightens', () => {
    const needs = requiredTools([
      {
        config: { requires: { git: '>=2.20', python3: '>=3.8', 'no-such-tool': null }, virtualenv_executable: '/usr/bin/env python3.12', supervisorctl_command: 'sudo -n -u root supervisorctl -c /etc/s.conf' },
        plugins: ['git', 'virtualenv', 'supervisorctl'].map((n) => bundled.get(n)!),
      },
    ]);
    const by = Object.fromEntries(needs.map((n) => [n.name, n]));
    assert.deepEqual(Object.keys(by).sort(), ['git', 'no-such-tool', 'python3', 'python3.12', 'sudo', 'supervisorctl', 'tar']);
    assert.equal(by.git.range, '>=2.20');
    assert.deepEqual(by.git.why, ['git plugin', 'requires']);
    assert.equal(by.tar.range, '*');
    assert.equal(by['no-such-tool'].range, '*', 'an empty range means any version');
    assert.deepEqual(by.sudo.why, ['supervisorctl plugin']);
  });

  test('roles sharing a host: every role’s plugins and ranges', () => {
    const needs = requiredTools([
      { config: { requires: { tar: '>=1.30' } }, plugins: [] },
      { config: { requires: { tar: '<2' } }, plugins: [bundled.get('curl')!] },
    ]);
    const by = Object.fromEntries(needs.map((n) => [n.name, n]));
    assert.deepEqual(Object.keys(by).sort(), ['curl', 'sha256sum', 'tar']);
    assert.equal(by.tar.range, '>=1.30 <2', 'both roles’ ranges must hold');
  });

  test('the plugins of every command are checked (release_plugins, Fapistrano’s dotted names)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fap-check-lists-'));
    const file = join(dir, 'deploy.yml');
    writeFileSync(file, 'app_name: shop\npath: /srv/shop\nplugins: [fapistrano.virtualenv]\nrelease_plugins: [curl]\ncurl_url: https://ci.example/build.tgz\nrollback_plugins: [fapistrano.plugins.supervisorctl]\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n');
    const plan = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'check' });
    const work = plan.targets[0].roles[0];
    assert.deepEqual(work.plugins.map((p) => p.name), ['virtualenv']);
    assert.deepEqual(work.allPlugins.map((p) => p.name), ['virtualenv', 'curl', 'supervisorctl']);
    assert.deepEqual(requiredTools([{ config: work.config, plugins: work.allPlugins }]).map((n) => n.name), ['python3', 'curl', 'tar', 'sha256sum', 'supervisorctl']);
    rmSync(dir, { recursive: true, force: true });
  });

  test('curl_url set beside git: fap release runs curl, so check looks for its tools and its keys do not warn (found by the attack pass)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fap-check-replaces-'));
    const file = join(dir, 'deploy.yml');
    writeFileSync(file, 'app_name: shop\npath: /srv/shop\nrepo: /srv/repo.git\ncurl_url: https://ci.example/build.tgz\nstage_role_configs:\n  production:\n    web:\n      hosts: [a]\n');
    const plan = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'check' });
    const work = plan.targets[0].roles[0];
    assert.deepEqual(work.plugins.map((p) => p.name), ['git']);
    assert.deepEqual(work.allPlugins.map((p) => p.name), ['git', 'curl']);
    assert.deepEqual(requiredTools([{ config: work.config, plugins: work.allPlugins }]).map((n) => n.name), ['git', 'tar', 'curl', 'sha256sum']);
    assert.deepEqual(plan.warnings, []);
    rmSync(dir, { recursive: true, force: true });
  });

  test('every plugin a command runs is one fap check looks at, for any plugin lists and artifact keys (generative; found by the attack pass: curl_url without git)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fap-check-agree-'));
    const file = join(dir, 'deploy.yml');
    const names = ['git', 'curl', 'virtualenv', 'supervisorctl', 'fapistrano.plugins.git', 'fapistrano.curl'];
    const list = fc.option(fc.uniqueArray(fc.constantFrom(...names), { maxLength: 3 }), { nil: undefined });
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(list, list, fc.boolean(), fc.boolean(), fc.boolean(), async (plugins, releasePlugins, repo, url, artifact) => {
        const doc = [
          'app_name: shop',
          'path: /srv/shop',
          plugins ? `plugins: [${plugins.join(', ')}]` : '',
          releasePlugins ? `release_plugins: [${releasePlugins.join(', ')}]` : '',
          repo ? 'repo: /srv/repo.git' : '',
          url ? 'curl_url: https://ci.example/build.tgz' : '',
          artifact ? `curl_artifact: ${file}` : '',
          'stage_role_configs: {production: {web: {hosts: [a]}}}',
        ];
        writeFileSync(file, doc.filter(Boolean).join('\n') + '\n');
        const planFor = (command: string) => buildPlan({ deployfile: file, stage: 'production', env: {}, command }).catch((e: unknown) => (e instanceof ConfigError ? undefined : Promise.reject(e)));
        const check = await planFor('check');
        if (!check) return;
        const checked = new Set(check.targets[0].roles[0].allPlugins.map((p) => p.name));
        for (const command of ['deploy', 'release', 'rollback', 'restart']) {
          const plan = await planFor(command);
          if (!plan) continue;
          compared++;
          for (const p of plan.targets[0].roles[0].plugins) assert.ok(checked.has(p.name), `fap ${command} runs ${p.name}, fap check does not look at it:\n${doc.filter(Boolean).join('\n')}`);
        }
      }),
      { numRuns: 150 },
    );
    assert.ok(compared > 100, `only ${compared} command plans were compared`);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a plugin’s declared tools are what is checked: command lines give their program, and sudo', () => {
    const own: Plugin = { name: 'own', on: {}, tools: (c) => [String(c.own_command), undefined, 'rsync'] };
    const needs = requiredTools([{ config: { own_command: 'sudo -u app /usr/bin/env LANG=C /opt/bin/reload --all' }, plugins: [own] }]);
    assert.deepEqual(needs, [
      { name: 'sudo', range: '*', why: ['own plugin'] },
      { name: '/opt/bin/reload', range: '*', why: ['own plugin'] },
      { name: 'rsync', range: '*', why: ['own plugin'] },
    ]);
    assert.deepEqual(requiredTools([{ config: {}, plugins: [{ name: 'quiet', on: {} }] }]), [], 'a plugin that declares no tools adds none');
  });

  test('commandProgram skips sudo, its options and env', () => {
    assert.deepEqual(commandProgram('supervisorctl -c /x'), { program: 'supervisorctl', sudo: false });
    assert.deepEqual(commandProgram('sudo supervisorctl'), { program: 'supervisorctl', sudo: true });
    assert.deepEqual(commandProgram('sudo -u root -n /usr/bin/supervisorctl'), { program: '/usr/bin/supervisorctl', sudo: true });
    assert.deepEqual(commandProgram('/usr/bin/env PYTHONWARNINGS=ignore python3.12'), { program: 'python3.12', sudo: false });
    assert.deepEqual(commandProgram(''), { program: undefined, sudo: false });
  });

  test('core tools are probed without versions, needed ones with', () => {
    const probed = probedTools([{ name: 'git', range: '*', why: ['git plugin'] }, { name: 'sed', range: '>=4', why: ['requires'] }]);
    assert.deepEqual(
      probed.filter((t) => !t.version).map((t) => t.name),
      CORE_TOOLS.filter((t) => t !== 'sed'),
    );
    assert.deepEqual(
      probed.filter((t) => t.version).map((t) => t.name),
      ['git', 'sed'],
    );
  });
});

describe('parsing what hosts answer', () => {
  test('the first x.y[.z] of a version line', () => {
    assert.equal(parseToolVersion('git version 2.39.2'), '2.39.2');
    assert.equal(parseToolVersion('Python 3.11.7'), '3.11.7');
    assert.equal(parseToolVersion('tar (GNU tar) 1.34'), '1.34.0');
    assert.equal(parseToolVersion('curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1'), '7.88.1');
    assert.equal(parseToolVersion('v20.11.1'), '20.11.1');
    assert.equal(parseToolVersion('no digits here'), undefined);
    assert.equal(parseToolVersion(undefined), undefined);
  });

  test('available KB from df -Pk, mount points with spaces too', () => {
    assert.equal(parseDfAvailableKb('/dev/vda   264212084 23031548  83359364      22% /'), 83359364);
    assert.equal(parseDfAvailableKb('tmpfs 1024 0 1024 0% /mnt/my disk'), 1024);
    assert.equal(parseDfAvailableKb(''), undefined);
    assert.equal(parseDfAvailableKb('df: /x: No such file or directory'), undefined);
  });
});

describe('evaluateCheck', () => {
  const git: ToolNeed = { name: 'git', range: '>=2.0', why: ['requires'] };

  test('a healthy host: every row ok', () => {
    const tools = [git, { name: 'tar', range: '*', why: ['git plugin'] }];
    const rows = evaluateCheck(input({ tools, linkedFiles: ['configs/app.conf'], outputs: healthy(tools, { 'linked.0': ['present'] }) }));
    assert.deepEqual(
      rows.map((r) => [r.name, r.status]),
      [
        ['connection', 'ok'],
        ['deploy path', 'ok'],
        ['current release', 'ok'],
        ['linked file configs/app.conf', 'ok'],
        ['core tools', 'ok'],
        ['tool git', 'ok'],
        ['tool tar', 'ok'],
        ['free disk', 'ok'],
      ],
    );
    assert.match(ok(rows, 'connection')!.detail, /host key verified \(\/k\/known_hosts\)/);
    assert.equal(ok(rows, 'current release')!.detail, '20240101000000');
    assert.equal(ok(rows, 'tool git')!.detail, '2.39.2 at /usr/bin/git (needs >=2.0)');
    assert.match(ok(rows, 'free disk')!.detail, /^500 MB free on \/srv\/shop/);
    assert.equal(checkSummary([{ host: 'h1', role: 'web', path: '/srv/shop', checks: rows }]).ok, true);
  });

  test('an unreachable host: one failing row, nothing else', () => {
    const rows = evaluateCheck(input({ connection: { ok: false, error: 'unknown host key ssh-ed25519 SHA256:abc (not in /k)' }, linkedFiles: ['a'], tools: [git] }));
    assert.deepEqual(rows, [{ name: 'connection', status: 'FAIL', detail: 'unknown host key ssh-ed25519 SHA256:abc (not in /k)' }]);
  });

  test('host key warnings: added by accept-new, or not checked at all', () => {
    const added = evaluateCheck(input({ connection: { ...CONNECTED, checking: 'accept-new', warning: 'added ssh-ed25519 SHA256:x to /k' }, outputs: healthy([]) }));
    assert.equal(ok(added, 'connection')!.status, 'warn');
    assert.match(ok(added, 'connection')!.detail, /added ssh-ed25519/);
    const off = evaluateCheck(input({ connection: { ...CONNECTED, checking: 'off' }, outputs: healthy([]) }));
    assert.equal(ok(off, 'connection')!.status, 'warn');
    const summary = checkSummary([{ host: 'h', role: 'web', path: '/p', checks: off }]);
    assert.equal(summary.ok, true, 'a warning does not fail the check');
    assert.match(summary.text, /1 warning/);
  });

  test('missing linked file, missing tool, version out of range, unknown version', () => {
    const tools: ToolNeed[] = [
      { name: 'git', range: '>=99', why: ['requires'] },
      { name: 'no-such-tool', range: '*', why: ['requires'] },
      { name: 'mystery', range: '^1', why: ['requires'] },
    ];
    const outs = healthy(tools, { 'linked.0': ['missing'] });
    const n = probedTools(tools).findIndex((t) => t.name === 'no-such-tool');
    outs.delete(`tool.${n}.path`);
    outs.delete(`tool.${n}.version`);
    outs.set(`tool.${n}.missing`, ['']);
    const m = probedTools(tools).findIndex((t) => t.name === 'mystery');
    outs.set(`tool.${m}.version`, ['']);
    const rows = evaluateCheck(input({ tools, linkedFiles: ['configs/app.conf'], outputs: outs }));
    assert.equal(ok(rows, 'linked file configs/app.conf')!.status, 'FAIL');
    assert.match(ok(rows, 'linked file configs/app.conf')!.detail, /missing: \/srv\/shop\/shared\/configs\/app\.conf/);
    assert.deepEqual(ok(rows, 'tool git'), { name: 'tool git', status: 'FAIL', detail: '2.39.2 at /usr/bin/git does not satisfy >=99 (requires)' });
    assert.equal(ok(rows, 'tool no-such-tool')!.status, 'FAIL');
    assert.match(ok(rows, 'tool no-such-tool')!.detail, /^not found/);
    assert.equal(ok(rows, 'tool mystery')!.status, 'FAIL');
    assert.match(ok(rows, 'tool mystery')!.detail, /version is unknown/);
    const s = checkSummary([{ host: 'h1', role: 'web', path: '/srv/shop', checks: rows }]);
    assert.equal(s.ok, false);
    assert.match(s.text, /4 of \d+ checks failed on 1 of 1 host: h1 linked file configs\/app\.conf, h1 tool git/);
  });

  test('a missing core tool fails one row that names it', () => {
    const outs = healthy([]);
    outs.delete(`tool.${CORE_TOOLS.indexOf('readlink')}.path`);
    const rows = evaluateCheck(input({ outputs: outs }));
    assert.equal(ok(rows, 'core tools')!.status, 'FAIL');
    assert.match(ok(rows, 'core tools')!.detail, /not found: readlink/);
  });

  test('deploy path: to be created, not writable, not a directory; free disk below the minimum', () => {
    const later = evaluateCheck(input({ outputs: healthy([], { root: ['missing'], base: ['/srv'], writable: ['/srv'], current: [''] }) }));
    assert.equal(ok(later, 'deploy path')!.status, 'ok');
    assert.match(ok(later, 'deploy path')!.detail, /does not exist yet; will be created \(\/srv is writable\)/);
    const cannot = evaluateCheck(input({ outputs: healthy([], { root: ['missing'], base: ['/'], writable: [], unwritable: ['/'] }) }));
    assert.equal(ok(cannot, 'deploy path')!.status, 'FAIL');
    assert.match(ok(cannot, 'deploy path')!.detail, /cannot be created: \/ is not writable by deploy/);
    const ro = evaluateCheck(input({ outputs: healthy([], { unwritable: ['/srv/shop/shared'] }) }));
    assert.match(ok(ro, 'deploy path')!.detail, /not writable by deploy: \/srv\/shop\/shared/);
    const file = evaluateCheck(input({ outputs: healthy([], { root: ['notdir'] }) }));
    assert.match(ok(file, 'deploy path')!.detail, /exists but is not a directory/);
    const full = evaluateCheck(input({ minFreeMb: 1000, outputs: healthy([]) }));
    assert.equal(ok(full, 'free disk')!.status, 'FAIL');
    assert.match(ok(full, 'free disk')!.detail, /500 MB free .*check_min_free_mb: 1000/);
    const nodf = evaluateCheck(input({ outputs: healthy([], { df: [''] }) }));
    assert.equal(ok(nodf, 'free disk')!.status, 'warn');
  });

  test('a script that could not run is one failing row after the connection', () => {
    const rows = evaluateCheck(input({ scriptError: 'connection lost while a command was running' }));
    assert.deepEqual(
      rows.map((r) => [r.name, r.status]),
      [
        ['connection', 'ok'],
        ['checks', 'FAIL'],
      ],
    );
  });

  test('the table: one row per check, host by host', () => {
    const table = formatCheckTable([
      { host: 'a', role: 'web', path: '/p', checks: [{ name: 'connection', status: 'ok', detail: 'fine' }] },
      { host: 'bb', role: 'web', path: '/p', checks: [{ name: 'connection', status: 'FAIL', detail: 'refused' }] },
    ]);
    assert.equal(table, ['HOST  CHECK       STATUS  DETAIL', 'a     connection  ok      fine', 'bb    connection  FAIL    refused'].join('\n'));
  });
});

describe('the check script, run by /bin/sh', () => {
  const tools: ToolNeed[] = [
    { name: 'sh', range: '*', why: ['requires'] },
    { name: 'no-such-tool-fap', range: '*', why: ['requires'] },
  ];

  test('answers about an existing root, writes nothing, never fails', () => {
    const root = freshDir();
    mkdirSync(join(root, 'shared/configs'), { recursive: true });
    mkdirSync(join(root, 'releases/20240101000000'), { recursive: true });
    writeFileSync(join(root, 'shared/configs/app.conf'), 'x');
    symlinkSync('releases/20240101000000', join(root, 'current'));
    const before = listing(root);
    const r = runCheck(root, ['configs/app.conf', "it's missing.conf"], tools);
    assert.equal(r.status, 0);
    assert.equal(r.step, undefined);
    assert.deepEqual(listing(root), before, 'nothing written (the probe file is gone)');
    assert.ok(!listing(base).includes('PWNED'));
    const o = r.outputs;
    assert.deepEqual(o.get('root'), ['exists']);
    assert.deepEqual(o.get('writable'), [root, join(root, 'releases'), join(root, 'shared')]);
    assert.deepEqual(o.get('current'), ['releases/20240101000000']);
    assert.deepEqual(o.get('linked.0'), ['present']);
    assert.deepEqual(o.get('linked.1'), ['missing']);
    assert.ok(parseDfAvailableKb(o.get('df')?.[0]) !== undefined, `df: ${o.get('df')}`);
    const probed = probedTools(tools);
    assert.ok(o.get(`tool.${probed.findIndex((t) => t.name === 'sh')}.path`)?.[0]);
    assert.ok(o.has(`tool.${probed.findIndex((t) => t.name === 'no-such-tool-fap')}.missing`));
    const rows = evaluateCheck(input({ paths: layout(root, 'x'), linkedFiles: ['configs/app.conf', "it's missing.conf"], tools, outputs: o }));
    assert.deepEqual(
      rows.filter((x) => x.status === 'FAIL').map((x) => x.name),
      ["linked file it's missing.conf", 'tool no-such-tool-fap'],
    );
  });

  test('a root that does not exist: the nearest existing parent, still nothing written', () => {
    const dir = freshDir();
    const before = listing(dir);
    const r = runCheck(join(dir, 'not/yet'), [], []);
    assert.equal(r.status, 0);
    assert.deepEqual(r.outputs.get('root'), ['missing']);
    assert.deepEqual(r.outputs.get('base'), [dir]);
    assert.deepEqual(r.outputs.get('writable'), [dir]);
    assert.deepEqual(r.outputs.get('current'), ['']);
    assert.deepEqual(listing(dir), before);
  });

  test('a root that is a file, and a version only -V gives', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'root'), '');
    // a tool that only answers its version to -V
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'fapthing'), '#!/bin/sh\nif [ "$1" = -V ]; then echo "fapthing v1.2"; else echo "usage: fapthing" >&2; exit 2; fi\n');
    chmodSync(join(bin, 'fapthing'), 0o755);
    const t: ToolNeed[] = [{ name: 'fapthing', range: '^1.2', why: ['requires'] }];
    const r = runCheck(join(dir, 'root'), [], t, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    assert.equal(r.status, 0);
    assert.deepEqual(r.outputs.get('root'), ['notdir']);
    const i = probedTools(t).findIndex((x) => x.name === 'fapthing');
    assert.deepEqual(r.outputs.get(`tool.${i}.version`), ['fapthing v1.2']);
    const rows = evaluateCheck(input({ paths: layout(join(dir, 'root'), 'x'), tools: t, outputs: r.outputs }));
    assert.equal(ok(rows, 'tool fapthing')!.status, 'ok');
    assert.equal(ok(rows, 'deploy path')!.status, 'FAIL');
  });
});

describe('plugins\' probes (git repository, artifact URL) and the environment row', () => {
  test('run by /bin/sh in the check script: each probe\'s exit status and output are its row; the script never fails', () => {
    const root = freshDir();
    const probes = [
      { name: 'fine', script: "echo 'reachable: here'" },
      // git writes its cause first and a generic line last: the cause is the detail
      { name: 'git-like', script: "echo \"fatal: '/nowhere.git' does not appear to be a git repository\" >&2; echo 'fatal: Could not read from remote repository.' >&2; echo '' >&2; echo 'and the repository exists.' >&2; exit 128" },
      { name: 'reads stdin', script: 'cat; echo "got EOF"' },
      { name: 'quiet failure', script: 'exit 3' },
    ];
    const r = spawnSync('/bin/sh', ['-c', composeScript(checkSteps(layout(root, 'x'), [], [], probes))], { encoding: 'utf8', cwd: base, timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const rows = evaluateCheck(input({ paths: layout(root, 'x'), outputs: parseOutputs(r.stdout).outputs, probes }));
    const got = Object.fromEntries(rows.filter((x) => probes.some((p) => p.name === x.name)).map((x) => [x.name, [x.status, x.detail]]));
    assert.deepEqual(got, {
      fine: ['ok', 'reachable: here'],
      'git-like': ['FAIL', "fatal: '/nowhere.git' does not appear to be a git repository"],
      'reads stdin': ['ok', 'got EOF'],
      'quiet failure': ['FAIL', 'failed with no message'],
    });
  });

  test('the cause of a failure: the first fatal:/error:/curl: (N) line, else the last line (generative)', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z ]{0,20}$/), { maxLength: 5 }), fc.constantFrom('fatal: no such repository', 'error: HTTP 404 from http://x/a.tgz', 'curl: (7) Failed to connect'), fc.array(fc.stringMatching(/^[a-z ]{1,20}$/), { maxLength: 5 }), (before, cause, afterLines) => {
        assert.equal(probeCause([...before, cause, ...afterLines, 'fatal: a later one']), cause);
      }),
    );
    assert.equal(probeCause(['one', 'two', '']), 'two');
    assert.equal(probeCause([]), 'failed with no message');
  });

  test('a probe that gives no answer in time, and a timeout exit: named as such', () => {
    const rows = evaluateCheck(input({ outputs: healthy([], { 'probe.0.rc': ['124'], 'probe-0-out': [''] }), probes: [{ name: 'git repository' }] }));
    assert.deepEqual(ok(rows, 'git repository'), { name: 'git repository', status: 'FAIL', detail: 'no answer within 30 s' });
  });

  test('environment: a row only when the role reads ${VAR}s; every unset one named', () => {
    assert.equal(ok(evaluateCheck(input({ outputs: healthy([]) })), 'environment'), undefined);
    assert.deepEqual(ok(evaluateCheck(input({ outputs: healthy([]), environment: [] })), 'environment'), { name: 'environment', status: 'ok', detail: 'every ${VAR} it reads is set' });
    const bad = ok(evaluateCheck(input({ outputs: healthy([]), environment: ['deploy.yml:7:3: environment.A: set A', 'deploy.yml:8:3: environment.B: set B'] })), 'environment');
    assert.deepEqual(bad, { name: 'environment', status: 'FAIL', detail: 'unset: deploy.yml:7:3: environment.A: set A; deploy.yml:8:3: environment.B: set B' });
  });

  test('git and curl declare their probes from the configuration; none without a repo or URL', () => {
    const git = bundled.get('git')!;
    const curl = bundled.get('curl')!;
    const ctx = { paths: layout('/srv/shop', 'x'), quote: (w: string | number) => `'${w}'` };
    assert.deepEqual(git.probes!({ repo: '/srv/git/shop.git', branch: 'main' }, ctx).map((p) => p.name), ['git repository']);
    assert.deepEqual(git.probes!({}, ctx), []);
    assert.deepEqual(curl.probes!({ curl_url: 'https://ci/x.tgz', curl_options: '', curl_timeout: 300 }, ctx).map((p) => p.name), ['artifact URL']);
    assert.deepEqual(curl.probes!({ curl_artifact: './x.tgz' }, ctx), []);
    // credentials reach neither the probe's command line nor its messages
    const withToken = git.probes!({ repo: 'https://ci:t0ken-x@git.example.com/shop.git', branch: 'main' }, ctx)[0].script;
    assert.ok(!/ls-remote[^\n]*t0ken-x/.test(withToken) && !/echo[^\n]*t0ken-x/.test(withToken), withToken);
  });
});

describe('requires and check_min_free_mb in deploy.yml', () => {
  const resolve = (text: string) => resolveRole({ loaded: parseDeployText(text, 'deploy.yml'), stage: 'production', env: {} }, 'web');
  const file = (...extra: string[]) => ['app_name: shop', ...extra, 'stage_role_configs:', '  production:', '    web:', '      hosts: [h1]'].join('\n') + '\n';

  test('a map of free-form tool names to semver ranges, merged entry by entry', () => {
    const rc = resolve(file('requires:', '  git: ">=2.20"', '  python3: 3.8', '  supervisorctl: "*"').replace('      hosts: [h1]', '      hosts: [h1]\n      requires: {git: ">=2.30"}'));
    // python3: 3.8 is the range "3.8" as written
    assert.deepEqual(rc.values.requires, { git: '>=2.30', python3: '3.8', supervisorctl: '*' });
    assert.equal(rc.values.check_min_free_mb, 100);
  });

  test('a bad range is a configuration error at its position', () => {
    assert.throws(
      () => resolve(file('requires:', '  git: ">=2.20"', '  python3: ">== three"')),
      (e: unknown) => e instanceof ConfigError && e.message === 'deploy.yml:4:3: requires.python3: ">== three" is not a semver range (e.g. ">=2.20", "^3.8", "*")',
    );
    assert.throws(() => resolve(file('requires:', '  "bad name; rm": "*"')), (e: unknown) => e instanceof ConfigError && /deploy\.yml:3:3: .*is not a command name/.test(e.message));
    assert.throws(() => resolve(file('check_min_free_mb: -1')), (e: unknown) => e instanceof ConfigError && /deploy\.yml:2:1: check_min_free_mb: must be at least 0/.test(e.message));
  });
});
