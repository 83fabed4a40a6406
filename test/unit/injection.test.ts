// No configuration value ever runs on a host. Every key that reaches a remote script (enumerated
// from the key specs, so a new key must be classified here) is set to generated hostile text:
// newlines, quotes, $(...), backticks, heredoc terminators, fap's own markers. The deploy's scripts
// (lock, prepare with every plugin, publish, restart, revert, check, unlock) are built exactly as
// fap builds them and run by the real session driver in /bin/sh (dash), with git, curl, python3,
// supervisorctl and sudo shadowed by harmless stubs on PATH. The canary command never runs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { CORE_KEYS, type KeySpec } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { EventBus } from '../../src/events.js';
import { bundledKeys } from '../../src/plugin/load.js';
import { checkSteps, probedTools, requiredTools } from '../../src/release/check.js';
import { buildPlan, withRelease, type Target } from '../../src/release/plan.js';
import { Run } from '../../src/release/run.js';
import { discardReleaseSteps, fenceSteps, flipSteps, journalSteps, lockSteps, prepareEndSteps, prepareStartSteps, recordSteps, unlockSteps } from '../../src/release/scripts.js';
import { composeScript, effectiveSudo, RUN_MARK, sessionCommand, sessionMarks, type Step } from '../../src/remote/shell.js';
import type { SignalName } from '../../src/signals.js';

const base = mkdtempSync(join(tmpdir(), 'fap-inject-'));
after(() => rmSync(base, { recursive: true, force: true }));
const CANARY = 'FAPCANARY';
const RELEASE = '20260101000000';

// ---- the stubs: each does just enough for the script to go on, and never evaluates an argument
const stubs = join(base, 'bin');
const tree = join(base, 'tree');
mkdirSync(stubs);
mkdirSync(join(tree, 'configs'), { recursive: true });
writeFileSync(join(tree, 'configs', 'supervisor_production_web.conf'), '[program:shop]\n');
writeFileSync(join(tree, 'requirements.txt'), '');
// a venv that comes with the code (virtualenvtools relocates it)
mkdirSync(join(tree, 'venv', 'bin'), { recursive: true });
writeFileSync(join(tree, 'venv', 'bin', 'activate'), '');
writeFileSync(join(tree, 'venv', 'bin', 'python'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
const stub = (name: string, body: string) => {
  // a version on --version: fap check asks once, not three ways
  writeFileSync(join(stubs, name), `#!/bin/sh\nif [ "$1" = --version ]; then echo "${name} 1.0.0"; exit 0; fi\n${body}\nexit 0\n`);
  chmodSync(join(stubs, name), 0o755);
};
stub(
  'git',
  [
    'while [ $# -gt 0 ]; do case "$1" in -C|-c) shift 2 ;; *) break ;; esac; done',
    'sub=$1; shift',
    'case "$sub" in',
    '  clone) for a in "$@"; do last=$a; done; mkdir -p "$last"; : > "$last/HEAD" ;;',
    '  rev-parse) echo 0123456789abcdef0123456789abcdef01234567 ;;',
    '  archive) while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done; tar -cf "$out" -C "$FAP_STUB_TREE" . ;;',
    'esac',
  ].join('\n'),
);
stub('curl', 'cat >/dev/null\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\nprintf artifact > "$out"');
stub('python3', 'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; printf \'#!/bin/sh\\nexit 0\\n\' > "$3/bin/python"; chmod +x "$3/bin/python"; : > "$3/bin/activate"; fi');
stub('virtualenv-tools', '');
stub('supervisorctl', 'case "$*" in *status*) echo "shop RUNNING pid 1" ;; *restart*) echo "shop: started" ;; esac');
stub('sudo', 'while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done; shift; exec "$@"');

/** What a hostile value is made of: pieces that end quotes, heredocs, lines, scripts; and anything. */
const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(`$(touch ${CANARY})`, `\`touch ${CANARY}\``, `'; touch ${CANARY}; '`, `"; touch ${CANARY}; "`, `\ntouch ${CANARY}\n`, `$(touch$IFS'${CANARY}')`) },
  fc.constantFrom('\nFAP_CURL_CONFIG\n', '\nEOF\n', "\n'EOF'\n", '\nFAP_EOF\n', `\n${RUN_MARK}\n`, '\\', "'", '"', '\n', '\r', ';', '&', '|', '$', '`', ' ', '#', '%', '-', '/', '..', '*'),
  fc.string({ maxLength: 8 }),
);
const hostile = fc.array(piece, { minLength: 1, maxLength: 6 }).map((a) => a.join('')).filter((s) => !s.includes('\u0000'));
/** Always tried, for every key (on the old code each of these ran the canary through some key). */
const NASTY = [
  `u:p\nFAP_CURL_CONFIG\ntouch ${CANARY}\n`,
  `--compressed $(touch ${CANARY})`,
  `x\`touch ${CANARY}\`y`,
  `a'; touch ${CANARY}; echo '`,
  `$(touch$IFS'${CANARY}')`,
  `x\ntouch ${CANARY}`,
];

const keys: Record<string, KeySpec> = { ...CORE_KEYS, ...(await bundledKeys()) };
/** Keys whose value is a command the user writes to be run: running what they say is their job. */
const COMMANDS = ['health_check', 'curl_postinstall_script', 'supervisorctl_command', 'virtualenv_executable', 'virtualenv_executive', 'virtualenv_activate', 'virtualenvwrapper_activate', 'virtualenvtools_executable'];
/** Keys that never reach a host's shell (read on this machine, only interpolated into other keys, or an enum choosing a format). */
const LOCAL = ['project_name', 'plugins', 'deploy_plugins', 'release_plugins', 'rollback_plugins', 'restart_plugins', 'once_plugins', 'shell_plugins', 'run_plugins', 'batch_size', 'lock_wait', 'hosts', 'ssh', 'notify_url', 'slack_webhook', 'slack_channel', 'slack_icon_emoji', 'curl_sha256', 'curl_artifact', 'environment_format', 'virtualenvtools_strategy'];
// sudo_prefix reaches the host only as flags from a fixed set (parseSudoPrefix; shell.test.ts);
// env_role_configs is never read; new_release cannot be set
LOCAL.push('sudo_prefix', 'env_role_configs', 'new_release');
/** Every other string, list, map or environment key is tested, shaped to pass the checks that are not about quoting. */
const SHAPE: Record<string, (v: string, c: Case) => unknown> = {
  path: (v, c) => `${c.root}/${v}`,
  linked_files: (v) => [v],
  linked_dirs: (v) => [v],
  environment: (v) => ({ APP_VALUE: v }),
  requires: (v) => ({ [v]: '*' }),
  curl_url: (v) => `https://example.invalid/${v}`,
  localshared_source: (v, c) => `${c.dir}/src/${v}`,
  supervisor_target: (v, c) => `${c.dir}/sv/${v}`,
  repo: (v) => v,
  repo_path: (v, c) => `${c.root}/mirror/${v}`,
  virtualenv_venv_path: (v, c) => `${c.root}/releases/${RELEASE}/${v}`,
  virtualenvtools_venv_path: (v, c) => `${c.root}/releases/${RELEASE}/${v}`,
  virtualenvwrapper_source: (v, c) => `${c.dir}/${v}`,
  virtualenvwrapper_home: (v, c) => `${c.dir}/venvs/${v}`,
  virtualenvwrapper_project: (v, c) => `${c.dir}/venvs/${v}`,
};
const TESTED = Object.entries(keys)
  .filter(([k, s]) => ['string', 'list', 'map', 'env'].includes(s.type) && !COMMANDS.includes(k) && !LOCAL.includes(k))
  .map(([k]) => k);

interface Case {
  dir: string;
  root: string;
}

/** A value as deploy.yml spells it so that fap's own interpolation yields exactly v. */
const literal = (v: unknown): unknown =>
  typeof v === 'string' ? v.replace(/\$/g, '$$$$').replace(/%/g, '%%') : Array.isArray(v) ? v.map(literal) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [literal(k), literal(x)])) : v;

function newCase(): Case {
  const dir = mkdtempSync(join(base, 'case-'));
  const root = join(dir, 'www');
  mkdirSync(join(dir, 'src', 'configs'), { recursive: true });
  mkdirSync(join(dir, 'src', 'media'));
  writeFileSync(join(dir, 'src', 'configs', 'app.conf'), 'x=1\n');
  // a stand-in for virtualenvwrapper.sh: mkvirtualenv makes the venv with the python3 stub
  writeFileSync(join(dir, 'virtualenvwrapper.sh'), 'mkvirtualenv() { python3 -m venv "$WORKON_HOME/$1"; }\n');
  // shared/ as a previous deploy left it (core keys' cases also copy it with localshared)
  mkdirSync(join(root, 'shared', 'configs'), { recursive: true });
  writeFileSync(join(root, 'shared', 'configs', 'app.conf'), 'x=1\n');
  return { dir, root };
}

/** The plugins a key's case enables: a plugin's key, its plugin (and git for the code); a core key, all of them. */
function pluginsFor(key?: string): string[] {
  const owner = key ? keys[key]?.plugin : undefined;
  if (!owner) return ['git', 'curl', 'localshared', 'virtualenv', 'supervisorctl'];
  return owner === 'git' || owner === 'curl' ? [owner] : ['git', owner];
}

function deployFile(c: Case, key?: string, value?: string): string {
  const doc: Record<string, unknown> = {
    app_name: 'shop',
    path: c.root,
    plugins: pluginsFor(key),
    repo: join(c.dir, 'origin.git'),
    curl_url: 'https://example.invalid/app.bin',
    curl_user: 'user:pass',
    curl_options: '--compressed',
    virtualenv_pip_options: '--no-index',
    virtualenvwrapper_source: join(c.dir, 'virtualenvwrapper.sh'),
    virtualenvwrapper_home: join(c.dir, 'venvs'),
    localshared_source: join(c.dir, 'src'),
    linked_files: ['configs/app.conf'],
    linked_dirs: ['media'],
    environment: { APP_ENV: 'production' },
    supervisor_target: join(c.dir, 'sv', 'shop.conf'),
    supervisor_refresh: true,
    supervisor_check_status: true,
  };
  if (key !== undefined && value !== undefined) {
    doc[key] = literal(SHAPE[key] ? SHAPE[key](value!, c) : value);
    // a linked file must exist in the source for the deploy to get past its check
    if (key === 'linked_files') {
      try {
        mkdirSync(join(c.dir, 'src', value!, '..'), { recursive: true });
        writeFileSync(join(c.dir, 'src', value!), 'x');
      } catch {
        /* a name the file system refuses: the check fails, after the value was used */
      }
    }
  }
  const file = join(c.dir, 'deploy.yml');
  writeFileSync(file, stringify({ ...doc, stage_role_configs: { production: { web: { hosts: ['127.0.0.1'] } } } }));
  return file;
}

/** Every phase's steps of a deploy, a restart, a revert and a check on one target, as fap builds them. */
async function phases(t: Target, withCheck: boolean): Promise<Step[][]> {
  const run = new Run(new EventBus(), { command: 'deploy', commandLine: 'fap deploy production', parallel: 1, verbose: false, dryRun: false, options: {}, lockWaitMs: 0 });
  const sig = (names: SignalName[]) => run.signalSteps(t, RELEASE, names);
  const p = t.paths;
  const linkedFiles = (t.config.linked_files as string[]) ?? [];
  const journal = { token: run.token, command: 'deploy', release: RELEASE, prev: '', at: 'now', hosts: [t.key] };
  // every script of a locked run starts with the fence (scripts.ts fenceSteps), as Run.exec sends it
  const fenced = (steps: Step[]) => [...fenceSteps(p, run.token), ...steps];
  return [
    lockSteps(p, run.lockOwner(), 3),
    fenced([
      ...journalSteps(p, { ...journal, phase: 'prepare' }),
      ...(await sig(['deploy.starting', 'deploy.started'])),
      ...prepareStartSteps(p, RELEASE, linkedFiles, run.token),
      ...(await sig(['deploy.updating'])),
      ...prepareEndSteps(p, { environment: (t.config.environment as Record<string, unknown>) ?? {}, linkedFiles, linkedDirs: (t.config.linked_dirs as string[]) ?? [] }),
      ...(await sig(['deploy.updated'])),
      ...recordSteps(p, RELEASE, { deployedAt: 'now', deployedBy: 'me@here', command: 'deploy' }),
    ]),
    // restart, revert and rollback steps that equal the publish ones are run once (signalSteps drops repeats)
    fenced([...flipSteps(p, RELEASE), ...(await sig(['deploy.publishing', 'deploy.published', 'deploy.finishing', 'deploy.finished', 'deploy.restarting', 'deploy.restarted', 'deploy.reverting', 'deploy.reverted', 'deploy.finishing_rollback', 'deploy.failed']))]),
    fenced(discardReleaseSteps(p, RELEASE, run.token)),
    ...(withCheck ? [checkSteps(p, linkedFiles, probedTools(requiredTools(t.roles.map((r) => ({ config: r.config, plugins: r.allPlugins })))))] : []),
    fenced([...journalSteps(p, { ...journal, phase: 'done' }), ...unlockSteps(p, run.token)]),
  ];
}

/** Run the phases through the real session driver (one /bin/sh, scripts on stdin), as on a host. */
function runSession(c: Case, t: Target, scripts: string[]): { codes: string[]; stderr: string } {
  const nonce = randomBytes(8).toString('hex');
  // the session's key comes first on stdin, as Connection sends it; results carry it
  const key = randomBytes(8).toString('hex');
  const input = key + '\n' + scripts.map((s) => `${s}${RUN_MARK}${nonce}\n`).join('');
  const sudo = effectiveSudo(t.config.sudo_user as string | undefined, t.user, t.config.sudo_prefix as string | undefined);
  const r = spawnSync('/bin/sh', ['-c', sessionCommand(nonce, sudo)], {
    cwd: c.dir,
    input,
    encoding: 'utf8',
    env: { PATH: `${stubs}:${process.env.PATH}`, HOME: c.dir, FAP_STUB_TREE: tree, LC_ALL: 'C' },
  });
  return { codes: [...r.stdout.matchAll(new RegExp(`${sessionMarks(key).done}(\\d+)`, 'g'))].map((m) => m[1]), stderr: r.stderr };
}

function canaries(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === CANARY) found.push(join(d, e.name));
      else if (e.isDirectory() && !e.isSymbolicLink()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return found;
}

/** Build and run one case; undefined: the configuration was refused (a ConfigError). */
async function attempt(key?: string, value?: string): Promise<{ scripts: string[]; codes: string[]; stderr: string; c: Case } | undefined> {
  const c = newCase();
  let plan;
  try {
    plan = await buildPlan({ deployfile: deployFile(c, key, value), stage: 'production', env: {}, needsEnvironment: true, command: 'deploy' });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `${key}=${JSON.stringify(value)}: not a ConfigError: ${(e as Error)?.stack}`);
    rmSync(c.dir, { recursive: true, force: true });
    return undefined;
  }
  const t = withRelease(plan.targets[0], RELEASE);
  // fap check reads the deploy root, linked files and tool names (requires, commands): core keys only
  const scripts = (await phases(t, !key || !keys[key].plugin)).map((s) => composeScript(s));
  const r = runSession(c, t, scripts);
  scripts.push(sessionCommand('nonce', effectiveSudo(t.config.sudo_user as string | undefined, t.user, t.config.sudo_prefix as string | undefined)));
  const hit = canaries(c.dir);
  assert.deepEqual(hit, [], `${key}=${JSON.stringify(value)} ran the canary:\n${r.stderr}`);
  rmSync(c.dir, { recursive: true, force: true });
  return { scripts, c, ...r };
}

test('every key is classified: a command, local only, or tested here', () => {
  const all = Object.entries(keys).filter(([, s]) => ['string', 'list', 'map', 'env', 'hosts'].includes(s.type)).map(([k]) => k);
  for (const k of all) assert.ok(COMMANDS.includes(k) || LOCAL.includes(k) || TESTED.includes(k), k);
  for (const k of ['repo', 'branch', 'curl_url', 'curl_user', 'curl_options', 'virtualenv_pip_options', 'virtualenv_requirements', 'supervisor_program', 'supervisor_conf', 'supervisor_target', 'linked_files', 'environment', 'path', 'sudo_user', 'localshared_source']) {
    assert.ok(TESTED.includes(k), k);
  }
});

test('the harness: the base configuration deploys through every phase with the stubs, and a quoting hole would be seen', async () => {
  const ok = await attempt();
  assert.ok(ok);
  assert.deepEqual(ok.codes, ['0', '0', '0', '0', '0', '0'], ok.stderr);
  // a step that put a value unquoted would run the canary, and this test would catch it
  const c = newCase();
  spawnSync('/bin/sh', ['-c', composeScript([{ name: 'unquoted', script: `echo ${NASTY[4]}` }])], { cwd: c.dir });
  assert.equal(canaries(c.dir).length, 1);
});

for (const key of TESTED) {
  test(`${key}: no hostile value runs anything on the host`, async () => {
    let reached = 0;
    // with this key's plugins and no hostile value, every phase succeeds: a failure is the value's doing
    const clean = await attempt(key);
    assert.ok(clean && clean.codes.every((x) => x === '0') && clean.codes.length === clean.scripts.length - 1, `${key}: the base case fails: ${clean?.stderr}`);
    await fc.assert(
      fc.asyncProperty(hostile, async (v) => {
        const r = await attempt(key, v);
        if (r && v.includes(CANARY) && r.scripts.join('').includes(CANARY)) reached++;
      }),
      // each case runs a whole deploy in a shell (about 50 processes): FAP_INJECTION_RUNS=200 for a deeper search
      { numRuns: Number(process.env.FAP_INJECTION_RUNS ?? 6), examples: NASTY.map((v) => [v]) },
    );
    // the value got into the scripts at least once (the test is not vacuous)
    // (requires: its names are validated to [A-Za-z0-9_./+-], so hostile ones are all refused)
    assert.ok(reached > 0 || key === 'requires', `${key}: no value reached a script`);
  });
}
