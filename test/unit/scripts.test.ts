// Unit tests for src/release/scripts.ts: the builders' text, and their effects when run for real by
// /bin/sh in a temporary deploy root (whose path is deliberately hostile to unquoted shell text).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { composeScript, parseFailedStep, parseOutputs, quote, type Step } from '../../src/remote/shell.js';
import { layout, type Paths } from '../../src/release/paths.js';
import {
  appendLogSteps,
  flipSteps,
  inspectSteps,
  lockSteps,
  prepareEndSteps,
  prepareStartSteps,
  RELEASE_NAME,
  recordSteps,
  removeCurrentSteps,
  removeReleasesSteps,
  revisionsLogLine,
  setStatusSteps,
  unlockSteps,
  type LockOwner,
} from '../../src/release/scripts.js';
import { parseState } from '../../src/release/state.js';

const base = mkdtempSync(join(tmpdir(), 'fap-unit-scripts-'));
after(() => rmSync(base, { recursive: true, force: true }));

let counter = 0;
/** A fresh deploy root whose name needs quoting: spaces, quotes, $(), backticks. */
function freshRoot(): string {
  const root = join(base, `app ${counter++} it's "$(touch PWNED)" \`x\``);
  mkdirSync(root, { recursive: true });
  return root;
}

function run(steps: Step[], cwd = base) {
  const r = spawnSync('/bin/sh', ['-c', composeScript(steps)], { encoding: 'utf8', cwd });
  const { outputs, rest } = parseOutputs(r.stdout);
  const failed = parseFailedStep(r.stderr);
  return { status: r.status, stdout: rest, outputs, stderr: failed.stderr, step: failed.step };
}

function noInjection() {
  assert.ok(!existsSync(join(base, 'PWNED')), 'a $() in a path was executed');
}

const R1 = '20240101000000';
const R2 = '20240102000000';

const owner = (token: string, user = 'alice'): LockOwner => ({
  user,
  origin: "laptop's \"box\"",
  pid: 4242,
  command: 'fap deploy production --set x=$(y)',
  started_at: '2024-01-01T00:00:00.000Z',
  token,
});

/** Everything lockSteps + prepareStartSteps need to exist. */
function bootstrap(p: Paths) {
  const r = run([...lockSteps(p, owner('t0'), 3), ...unlockSteps(p, 't0')]);
  assert.equal(r.status, 0, r.stderr);
}

describe('builders quote every path', () => {
  const p = layout('/srv/my app/it\'s', R1);
  const all: [string, Step[]][] = [
    ['lockSteps', lockSteps(p, owner('tok'), 3)],
    ['unlockSteps', unlockSteps(p, 'tok')],
    ['inspectSteps', inspectSteps(p)],
    ['prepareStartSteps', prepareStartSteps(p, R1, ['config/db.yml'], 'tok')],
    ['prepareEndSteps', prepareEndSteps(p, { environment: { A: '1' }, linkedFiles: ['f'], linkedDirs: ['d'] })],
    ['recordSteps', recordSteps(p, R1, { deployedBy: 'me', deployedAt: 'now', command: 'deploy' })],
    ['removeCurrentSteps', removeCurrentSteps(p)],
    ['flipSteps', flipSteps(p, R1)],
    ['setStatusSteps', setStatusSteps(p, R1, 'ok')],
    ['appendLogSteps', appendLogSteps(p, 'line')],
    ['removeReleasesSteps', removeReleasesSteps(p, [R1])],
  ];
  for (const [name, steps] of all) {
    test(`${name}: named steps, no bare path with a space`, () => {
      assert.ok(steps.length > 0);
      for (const s of steps) {
        assert.ok(s.name.length > 0);
        assert.ok(s.script.includes("'/srv/my app/it'\\''s"), `${name}/${s.name} lacks a quoted root:\n${s.script}`);
        // the unquoted form of the root must never appear outside quotes
        // the unquoted form of the root never appears outside quotes (the message line escapes it inside "...")
        const code = s.script.split('\n').filter((l) => !l.includes('missing from'));
        assert.ok(!code.some((l) => /(^|\s)\/srv\/my app/.test(l)), `${name}/${s.name} has an unquoted root`);
      }
    });
  }

  test('specific quoted paths appear', () => {
    assert.ok(lockSteps(p, owner('tok'), 3)[1].script.includes(` ${quote('/srv/my app/it\'s/.fap/lock')} `));
    assert.ok(flipSteps(p, R1)[0].script.includes(quote('/srv/my app/it\'s/current')));
    assert.ok(removeReleasesSteps(p, [R1])[0].script.includes(quote(`/srv/my app/it's/releases/${R1}`)));
    assert.ok(removeReleasesSteps(p, [R1])[0].script.includes(quote(`/srv/my app/it's/.fap/releases/${R1}.status`)));
  });
});

describe('lockSteps / unlockSteps', () => {
  test('takes the lock, creates the layout and records the owner', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    const me = owner('tok-1');
    const r = run(lockSteps(p, me, 3));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.step, undefined);
    for (const d of [p.releases, p.shared, join(p.state, 'releases'), join(p.state, 'lock')]) assert.ok(statSync(d).isDirectory(), d);
    assert.deepEqual(JSON.parse(readFileSync(join(p.state, 'lock', 'owner'), 'utf8')), me);
    assert.equal(r.outputs.get('lock-held'), undefined);
    noInjection();
  });

  test('a second attempt exits with the given code and reports the owner', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    const first = owner('tok-first');
    assert.equal(run(lockSteps(p, first, 3)).status, 0);
    for (const code of [3, 77]) {
      const r = run(lockSteps(p, owner('tok-second', 'bob'), code));
      assert.equal(r.status, code);
      assert.equal(r.step, 'take deploy lock');
      const held = r.outputs.get('lock-held');
      assert.equal(held?.length, 1);
      assert.deepEqual(JSON.parse(held![0]), first);
    }
    // the owner is still the first run
    assert.deepEqual(JSON.parse(readFileSync(join(p.state, 'lock', 'owner'), 'utf8')), first);
  });

  test('is atomic: of many concurrent attempts exactly one wins', async () => {
    const root = freshRoot();
    const p = layout(root, R1);
    assert.equal(run(lockSteps(p, owner('setup'), 3).slice(0, 1)).status, 0); // just the directories
    const N = 12;
    const codes = await Promise.all(
      Array.from(
        { length: N },
        (_, i) =>
          new Promise<{ code: number | null; out: string; token: string }>((resolve) => {
            const token = `tok-${i}`;
            const child = spawn('/bin/sh', ['-c', composeScript(lockSteps(p, owner(token), 9))]);
            let out = '';
            child.stdout.on('data', (d) => (out += d));
            child.on('close', (code) => resolve({ code, out, token }));
          }),
      ),
    );
    const winners = codes.filter((c) => c.code === 0);
    assert.equal(winners.length, 1, JSON.stringify(codes.map((c) => c.code)));
    assert.equal(codes.filter((c) => c.code === 9).length, N - 1);
    const recorded = JSON.parse(readFileSync(join(p.state, 'lock', 'owner'), 'utf8')) as LockOwner;
    assert.equal(recorded.token, winners[0].token);
  });

  test('unlock only with the right token', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    const lock = join(p.state, 'lock');
    assert.equal(run(lockSteps(p, owner('0123456789abcdef01234567'), 3)).status, 0);

    // a token must match the owner record's token field exactly: not a substring, not another field
    for (const wrong of ['fedcba9876543210fedcba98', '0123456789abcdef01234568', '0123456789abcdef0123456.', '.*', "x' || true; rm -rf '", '', 'alice', '"user"', '0123456789abcdef']) {
      const r = run(unlockSteps(p, wrong));
      assert.equal(r.status, 0, r.stderr);
      assert.ok(existsSync(join(lock, 'owner')), `unlocked with wrong token ${wrong}`);
    }
    const ok = run(unlockSteps(p, '0123456789abcdef01234567'));
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(!existsSync(lock));
    // unlocking again (no lock) is harmless, and a new lock can be taken
    assert.equal(run(unlockSteps(p, '0123456789abcdef01234567')).status, 0);
    assert.equal(run(lockSteps(p, owner('next'), 3)).status, 0);
    assert.ok(existsSync(lock));
  });
});

/** A complete release: its directory with a REVISION. */
function makeRelease(p: Paths, name: string) {
  mkdirSync(join(p.releases, name), { recursive: true });
  writeFileSync(join(p.releases, name, 'REVISION'), `sha-${name}\n`);
}

describe('flipSteps', () => {
  test('makes current a relative symlink releases/<name>, replacing the previous one', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    makeRelease(p, R1);
    makeRelease(p, R2);
    writeFileSync(join(p.releases, R2, 'marker'), 'two');

    let r = run(flipSteps(p, R1));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lstatSync(p.current).isSymbolicLink());
    assert.equal(readlinkSync(p.current), `releases/${R1}`);

    r = run(flipSteps(p, R2));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readlinkSync(p.current), `releases/${R2}`);
    assert.equal(readFileSync(join(p.current, 'marker'), 'utf8'), 'two');
    assert.equal(realpathSync(p.current), realpathSync(join(p.releases, R2)));
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('.current.tmp')), [], 'temporary link left behind');
    assert.ok(!existsSync(join(p.releases, R1, R2)), 'link created inside the old release');
    noInjection();
  });

  test('refuses a missing release and leaves current alone', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    makeRelease(p, R1);
    assert.equal(run(flipSteps(p, R1)).status, 0);
    const r = run(flipSteps(p, R2));
    assert.notEqual(r.status, 0);
    assert.equal(r.step, 'switch current');
    assert.match(r.stderr, new RegExp(`release ${R2} is missing or incomplete`));
    assert.equal(readlinkSync(p.current), `releases/${R1}`);
  });

  test('inspectSteps reads back what flip did', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    bootstrap(p);
    makeRelease(p, R1);
    mkdirSync(join(p.releases, 'not-a-release'), { recursive: true });
    const r = run([...flipSteps(p, R1), ...setStatusSteps(p, R1, 'ok'), ...inspectSteps(p)]);
    assert.equal(r.status, 0, r.stderr);
    const st = parseState(r.outputs);
    assert.equal(st.current, R1);
    assert.deepEqual(st.releases, [{ name: R1, status: 'ok', revision: undefined, deployed_at: undefined, deployed_by: undefined, made_by: 'fap' }]);
    assert.deepEqual(st.journals, []);
  });

  test('refuses a release without REVISION (incomplete)', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    makeRelease(p, R1);
    mkdirSync(join(p.releases, R2), { recursive: true });
    assert.equal(run(flipSteps(p, R1)).status, 0);
    const r = run(flipSteps(p, R2));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /is missing or incomplete/);
    assert.equal(readlinkSync(p.current), `releases/${R1}`);
  });

  test('removeCurrentSteps removes the link only', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    makeRelease(p, R1);
    assert.equal(run([...flipSteps(p, R1), ...removeCurrentSteps(p)]).status, 0);
    assert.ok(!existsSync(p.current));
    assert.ok(existsSync(join(p.releases, R1)));
  });
});

describe('prepareStartSteps', () => {
  test('a missing linked file fails, naming the file, before creating the release', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    bootstrap(p);
    writeFileSync(join(p.shared, 'present.conf'), 'x');
    const r = run(prepareStartSteps(p, R1, ['present.conf', 'config/db.yml', "it's here.txt"], 'tok'));
    assert.equal(r.status, 1);
    assert.equal(r.step, 'check linked files');
    assert.ok(r.stderr.includes('config/db.yml'), r.stderr);
    assert.ok(r.stderr.includes("it's here.txt"), r.stderr);
    assert.ok(!r.stderr.includes('present.conf'), r.stderr);
    assert.ok(r.stderr.includes(`missing from ${p.shared}:`), `shared path printed literally: ${r.stderr}`);
    assert.ok(!existsSync(p.release));
    assert.ok(!existsSync(join(p.state, 'releases', `${R1}.status`)));
    noInjection();
  });

  test('with all linked files present, creates the release marked building', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    bootstrap(p);
    mkdirSync(join(p.shared, 'config'), { recursive: true });
    writeFileSync(join(p.shared, 'config', 'db.yml'), 'x');
    const r = run(prepareStartSteps(p, R1, ['config/db.yml'], 'tok'));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(statSync(p.release).isDirectory());
    assert.equal(readFileSync(join(p.state, 'releases', `${R1}.status`), 'utf8'), 'building\n');
  });

  test('no linked files: no check step', () => {
    const steps = prepareStartSteps(layout('/x', R1), R1, [], 'tok');
    assert.deepEqual(
      steps.map((s) => s.name),
      ['create release directory'],
    );
  });

  test('refuses an existing release', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    bootstrap(p);
    mkdirSync(p.release, { recursive: true });
    writeFileSync(join(p.release, 'keep'), 'x');
    const r = run(prepareStartSteps(p, R1, [], 'tok'));
    assert.equal(r.status, 1);
    assert.equal(r.step, 'create release directory');
    assert.match(r.stderr, new RegExp(`release ${R1} already exists`));
    assert.ok(existsSync(join(p.release, 'keep')));
  });
});

describe('prepareEndSteps', () => {
  const environment: Record<string, unknown> = {
    PLAIN: 'hello',
    SPACES: '  two  spaces  ',
    SQ: "it's",
    DQ: 'say "hi"',
    SUBST: '$(touch PWNED)',
    BACKTICK: '`touch PWNED`',
    DOLLAR: '$HOME ${HOME} $$',
    NEWLINES: 'line1\nline2\n\nline4',
    BACKSLASH: 'a\\b\\nc\\',
    EMPTY: '',
    NULLISH: null,
    NUM: 8080,
    BOOL: true,
    UNICODE: 'ünï ✓',
    MIXED: `'"'$(x)\`y\`\\\n"'`,
  };
  const expected = (v: unknown) => (v === null || v === undefined ? '' : String(v));

  test('a .env that came with the code (0644, or a symlink) is replaced, not written through', async () => {
    const root = freshRoot();
    const p = layout(root, R1);
    mkdirSync(p.release, { recursive: true });
    const envFile = join(p.release, '.env');
    writeFileSync(envFile, 'FROM_REPO=1\n', { mode: 0o644 });
    assert.equal(run(prepareEndSteps(p, { environment: { A: 'secret-a' }, linkedFiles: [], linkedDirs: [] })).status, 0);
    assert.equal(statSync(envFile).mode & 0o777, 0o600);
    assert.equal(readFileSync(envFile, 'utf8'), "A=secret-a\n");
    const elsewhere = join(root, 'elsewhere');
    writeFileSync(elsewhere, 'untouched\n');
    rmSync(envFile);
    (await import('node:fs')).symlinkSync(elsewhere, envFile);
    assert.equal(run(prepareEndSteps(p, { environment: { A: 'secret-b' }, linkedFiles: [], linkedDirs: [] })).status, 0);
    assert.equal(readFileSync(elsewhere, 'utf8'), 'untouched\n');
    assert.ok(!lstatSync(envFile).isSymbolicLink());
    assert.equal(statSync(envFile).mode & 0o777, 0o600);
  });

  test('.env has mode 0600 and every value survives sourcing literally', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    mkdirSync(p.release, { recursive: true });
    const r = run(prepareEndSteps(p, { environment, linkedFiles: [], linkedDirs: [] }));
    assert.equal(r.status, 0, r.stderr);
    const envFile = join(p.release, '.env');
    assert.equal(statSync(envFile).mode & 0o777, 0o600);
    const keys = Object.keys(environment);
    const src = spawnSync('/bin/sh', ['-c', `set -e; . ./.env; for k in ${keys.join(' ')}; do eval "printf '%s\\0' \\"\\$$k\\""; done`], {
      cwd: p.release,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: '/nonexistent-home' },
    });
    assert.equal(src.status, 0, src.stderr);
    const values = src.stdout.split('\0').slice(0, -1);
    assert.deepEqual(values, keys.map((k) => expected(environment[k])));
    assert.ok(!existsSync(join(p.release, 'PWNED')));
    noInjection();
  });

  test('.env with bash too', { skip: !existsSync('/bin/bash') && 'no bash' }, () => {
    const root = freshRoot();
    const p = layout(root, R1);
    mkdirSync(p.release, { recursive: true });
    assert.equal(run(prepareEndSteps(p, { environment, linkedFiles: [], linkedDirs: [] })).status, 0);
    const src = spawnSync('/bin/bash', ['-c', `set -a; . ./.env; printf '%s\\0' "$MIXED" "$NEWLINES"`], { cwd: p.release, encoding: 'utf8' });
    assert.equal(src.status, 0, src.stderr);
    assert.deepEqual(src.stdout.split('\0').slice(0, -1), [environment.MIXED, environment.NEWLINES]);
  });

  test('an empty environment writes an empty-line .env', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    mkdirSync(p.release, { recursive: true });
    const steps = prepareEndSteps(p, { environment: {}, linkedFiles: [], linkedDirs: [] });
    assert.deepEqual(
      steps.map((s) => s.name),
      ['write .env'],
    );
    assert.equal(run(steps).status, 0);
    assert.equal(readFileSync(join(p.release, '.env'), 'utf8'), '\n');
    assert.equal(statSync(join(p.release, '.env')).mode & 0o777, 0o600);
  });

  test('links shared files and directories into the release', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    mkdirSync(join(p.shared, 'config'), { recursive: true });
    writeFileSync(join(p.shared, 'config', 'db yml'), 'shared-db');
    mkdirSync(join(p.release, 'log'), { recursive: true });
    writeFileSync(join(p.release, 'log', 'from-repo'), 'x');
    writeFileSync(join(p.release, 'config-placeholder'), 'x');
    const r = run(prepareEndSteps(p, { environment: {}, linkedFiles: ['config/db yml'], linkedDirs: ['log', 'tmp/cache'] }));
    assert.equal(r.status, 0, r.stderr);
    const dbLink = join(p.release, 'config', 'db yml');
    assert.ok(lstatSync(dbLink).isSymbolicLink());
    assert.equal(readlinkSync(dbLink), join(p.shared, 'config', 'db yml'));
    assert.equal(readFileSync(dbLink, 'utf8'), 'shared-db');
    for (const d of ['log', 'tmp/cache']) {
      const l = join(p.release, d);
      assert.ok(lstatSync(l).isSymbolicLink(), d);
      assert.equal(readlinkSync(l), join(p.shared, d));
      assert.ok(statSync(join(p.shared, d)).isDirectory(), `shared/${d} created`);
    }
    assert.ok(!existsSync(join(p.release, 'log', 'from-repo')), 'repo copy replaced by the link');
    noInjection();
  });
});

describe('recordSteps / setStatusSteps / appendLogSteps', () => {
  test('write the release record and report the revision', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    bootstrap(p);
    mkdirSync(p.release, { recursive: true });
    writeFileSync(join(p.release, 'REVISION'), 'abc123\nignored\n');
    const line = revisionsLogLine({ at: '2024-01-01T00:00:00Z', action: 'deploy', release: R1, revision: 'abc123', by: "me@it's" });
    const r = run([
      ...recordSteps(p, R1, { deployedBy: "me@it's", deployedAt: '2024-01-01T00:00:00Z', command: 'deploy $(x)' }),
      ...setStatusSteps(p, R1, 'ok'),
      ...appendLogSteps(p, line),
      ...appendLogSteps(p, line),
      ...inspectSteps(p),
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.outputs.get('revision'), ['abc123']);
    assert.equal(
      readFileSync(join(p.state, 'releases', `${R1}.meta`), 'utf8'),
      "revision=abc123\ndeployed_at=2024-01-01T00:00:00Z\ndeployed_by=me@it's\ncommand=deploy $(x)\n",
    );
    assert.equal(readFileSync(p.revisionsLog, 'utf8'), `${line}\n${line}\n`);
    const st = parseState(r.outputs);
    assert.equal(st.releases[0].status, 'ok');
    assert.equal(st.releases[0].revision, 'abc123');
    assert.equal(st.releases[0].deployed_by, "me@it's");
  });

  test('revisionsLogLine collapses whitespace and fills a missing revision', () => {
    assert.equal(revisionsLogLine({ at: 'T', action: 'rollback', release: R1, by: 'me' }), `T rollback release=${R1} revision=- by=me`);
    assert.equal(revisionsLogLine({ at: 'T', action: 'revert', release: R1, revision: 'r', by: 'me', extra: ' x=1 ' }), `T revert release=${R1} revision=r by=me x=1`);
  });
});

describe('removeReleasesSteps', () => {
  test('RELEASE_NAME is exactly 14 digits', () => {
    assert.ok(RELEASE_NAME.test(R1));
    for (const bad of ['2024010100000', '202401010000000', 'abc', '', '../20240101000000']) assert.ok(!RELEASE_NAME.test(bad), bad);
  });

  test('nothing valid to remove: no steps at all', () => {
    assert.deepEqual(removeReleasesSteps(layout('/x', R1), []), []);
    assert.deepEqual(removeReleasesSteps(layout('/x', R1), ['..', '*', 'current', '/']), []);
  });

  test('removes only valid release names, with their records', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    bootstrap(p);
    const bogus = ['..', '.', '*', 'current', '2024010100000', `../${R1}`, `${R1}/..`, ' ', '-rf', '/'];
    for (const n of [R1, R2, 'keepme', '2024010100000']) {
      mkdirSync(join(p.releases, n, 'sub'), { recursive: true });
      writeFileSync(join(p.state, 'releases', `${n}.status`), 'ok\n');
      writeFileSync(join(p.state, 'releases', `${n}.meta`), 'revision=x\n');
    }
    writeFileSync(join(root, 'sentinel'), 'x');
    const steps = removeReleasesSteps(p, [R1, ...bogus], 'prune it');
    assert.equal(steps.length, 1);
    assert.equal(steps[0].name, 'prune it');
    for (const b of ['..', '*', 'current', '-rf', '2024010100000 ']) assert.ok(!steps[0].script.includes(`/releases/${b}`), b);
    const r = run(steps);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(p.releases).sort(), ['2024010100000', R2, 'keepme'].sort());
    assert.deepEqual(readdirSync(join(p.state, 'releases')).sort(), ['2024010100000.meta', '2024010100000.status', `${R2}.meta`, `${R2}.status`, 'keepme.meta', 'keepme.status'].sort());
    assert.ok(existsSync(join(root, 'sentinel')));
    assert.ok(existsSync(p.shared));
  });

  test('default step name, and thousands of names are chunked and all removed', () => {
    const root = freshRoot();
    const p = layout(root, R1);
    bootstrap(p);
    const many = Array.from({ length: 1000 }, (_, i) => String(20240101000000 + i * 100));
    for (const n of many) mkdirSync(join(p.releases, n));
    const steps = removeReleasesSteps(p, many);
    assert.equal(steps[0].name, 'prune old releases');
    const rmLines = steps[0].script.split('\n');
    assert.equal(rmLines.length, Math.ceil((many.length * 4) / 300));
    for (const l of rmLines) assert.ok(l.startsWith('rm -rf -- '), l.slice(0, 40));
    // fed on stdin: as a single `sh -c` argument a script this size exceeds the kernel's per-argument limit
    const r = spawnSync('/bin/sh', [], { input: composeScript(steps), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(p.releases), []);
  });
});
