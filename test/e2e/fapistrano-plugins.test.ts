// Fapistrano's git, curl and Python-environment plugin keys on a real 2-host sshd fleet, offline:
// real git mirrors (main- and master-based, shallow), curl from file:// URLs, real venvs made by
// python3 -m venv, Debian's virtualenv and virtualenvwrapper, pip installing hand-made wheels from
// local --find-links directories (and Debian's /usr/share/python-wheels for pip itself).
// Every deploy file sets user, sudo_user and plugins explicitly.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, git, makeRepo, writeDeployFile, saidBy } from '../helpers.js';

const WHEELS = '/usr/share/python-wheels';
const WRAPPER = '/usr/share/virtualenvwrapper/virtualenvwrapper.sh';
const skip =
  fleetUnsupportedReason() ??
  (spawnSync('nsenter', ['--version']).status !== 0 ? 'needs nsenter to look inside a fleet host' : undefined) ??
  (spawnSync('/usr/bin/virtualenv', ['--version']).status !== 0 ? "needs Debian's virtualenv (apt-get install python3-virtualenv)" : undefined) ??
  (!existsSync(WRAPPER) ? 'needs virtualenvwrapper (apt-get install virtualenvwrapper)' : undefined);

/** Write <name>-<version>-py3-none-any.whl into dir (a valid wheel with RECORD hashes). */
function buildWheel(dir: string, name: string, version: string): void {
  const script = `
import base64, hashlib, os, sys, zipfile
out, name, version = sys.argv[1:4]
di = '%s-%s.dist-info' % (name, version)
files = {
    name + '/__init__.py': 'VERSION = "%s"\\n' % version,
    di + '/METADATA': 'Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n' % (name, version),
    di + '/WHEEL': 'Wheel-Version: 1.0\\nGenerator: fap-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
}
record = []
with zipfile.ZipFile(os.path.join(out, '%s-%s-py3-none-any.whl' % (name, version)), 'w') as z:
    for f, body in files.items():
        data = body.encode()
        z.writestr(f, data)
        record.append('%s,sha256=%s,%d' % (f, base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode(), len(data)))
    record.append(di + '/RECORD,,')
    z.writestr(di + '/RECORD', '\\n'.join(record) + '\\n')
`;
  const r = spawnSync('python3', ['-', dir, name, version], { input: script, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the test wheel failed: ${r.stderr}`);
}

describe('Fapistrano plugin keys on a 2-host fleet', { skip }, () => {
  let fleet: Fleet;
  let scratch: string;
  let wheels: string;

  before(async () => {
    fleet = await startFleet(2);
    // outside the deploy directory: every host sees it at the same path
    scratch = mkdtempSync(join(tmpdir(), 'fap-fapi-plugins-'));
    chmodSync(scratch, 0o755);
    wheels = join(scratch, 'wheels');
    mkdirSync(wheels);
    buildWheel(wheels, 'fapdemo', '1.0');
    buildWheel(wheels, 'fapextra', '2.0');
  });
  after(async () => {
    await fleet?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const root = (app: string) => join(fleet.deployDir, app);
  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(root(app), ...p));
  const current = (i: number, app: string) => readlinkSync(onHost(i, app, 'current'));
  const hostRe = (i: number) => fleet.hosts[i].name.replace(/\./g, '\\.');
  const run = (i: number, ...argv: string[]) => spawnSync('nsenter', ['-t', String(fleet.hosts[i].process.pid), '-m', '--', ...argv], { encoding: 'utf8' });
  const file = (app: string, top: Record<string, unknown>, repo?: string) =>
    writeDeployFile(fleet, { repo, top: { app_name: app, user: fleet.user, sudo_user: fleet.user, branch: undefined, ...top } });
  const pipOffline = () => `--no-index --find-links ${wheels} --find-links ${WHEELS}`;

  // ---- git -------------------------------------------------------------------------------------

  test('no branch key: a master-based and a main-based repository both deploy their default branch, and the output names it', async () => {
    // fapistrano-0.9.5 git.py:11 setdefault('branch', 'master'); fap follows the remote's HEAD instead
    for (const head of ['master', 'main']) {
      const app = `git-${head}`;
      const repo = makeRepo({ 'app.py': `print("${head}")\n` });
      if (head === 'master') git(repo.dir, 'branch', '-m', 'main', 'master');
      git(repo.dir, 'branch', 'other');
      const sha = git(repo.dir, 'rev-parse', 'HEAD');
      const r = await fap(['-f', file(app, { plugins: ['git'] }, repo.dir), 'deploy', 'production']);
      assert.equal(r.code, 0, r.stderr);
      for (const i of [0, 1]) {
        assert.match(r.stderr, saidBy(hostRe(i), `git: no branch set: deploying the default branch of the repository, ${head}\\n`));
        assert.equal(readFileSync(onHost(i, app, 'current', 'REVISION'), 'utf8').trim(), sha);
        assert.equal(readFileSync(onHost(i, app, 'current', 'app.py'), 'utf8'), `print("${head}")\n`);
      }
    }
  });

  test("no branch key: when the remote's default branch changes from master to main, the next deploy follows it", async () => {
    const app = 'git-moved';
    const repo = makeRepo({ 'app.py': 'print("main")\n' });
    git(repo.dir, 'checkout', '-q', '-b', 'master');
    const masterSha = repo.commit({ 'app.py': 'print("master")\n' });
    const f = file(app, { plugins: ['git'] }, repo.dir);
    const first = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(readFileSync(onHost(0, app, 'current', 'REVISION'), 'utf8').trim(), masterSha);
    git(repo.dir, 'checkout', '-q', 'main');
    const mainSha = repo.commit({ 'app.py': 'print("main 2")\n' });
    const second = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /git: no branch set: deploying the default branch of the repository, main\n/);
    for (const i of [0, 1]) assert.equal(readFileSync(onHost(i, app, 'current', 'REVISION'), 'utf8').trim(), mainSha);
  });

  test("no branch key: a repository whose HEAD is a detached commit deploys master (Fapistrano's default), or says to set branch", async () => {
    // fapistrano-0.9.5 git.py:11 setdefault('branch', 'master'); a non-bare repository left detached
    // has no default branch to follow (ls-remote --symref shows no ref for HEAD)
    const repo = makeRepo({ 'app.py': 'print("main")\n' });
    git(repo.dir, 'checkout', '-q', '-b', 'master');
    const masterSha = repo.commit({ 'app.py': 'print("master")\n' });
    git(repo.dir, 'checkout', '-q', 'main');
    // the mirror is first cloned while HEAD is main, then HEAD goes detached: the stale HEAD is not followed
    const f = file('git-detached', { plugins: ['git'] }, repo.dir);
    assert.equal((await fap(['-f', f, 'deploy', 'production'])).code, 0);
    git(repo.dir, 'checkout', '-q', '--detach', 'HEAD~0');
    const r = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /git: the repository's HEAD is a detached commit, not a branch: deploying master \(Fapistrano's default\)/);
    for (const i of [0, 1]) assert.equal(readFileSync(onHost(i, 'git-detached', 'current', 'REVISION'), 'utf8').trim(), masterSha);

    // no master either: one line naming what to set, nothing published
    const lone = makeRepo({ 'app.py': 'print(1)\n' });
    git(lone.dir, 'checkout', '-q', '--detach', 'HEAD');
    const g = file('git-detached-lone', { plugins: ['git'] }, lone.dir);
    const bad = await fap(['-f', g, 'deploy', 'production']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /default branch "master" not found in .*; set branch for production web in deploy\.yml/);
    for (const i of [0, 1]) assert.ok(!existsSync(onHost(i, 'git-detached-lone', 'current')));
  });

  test('git_shallow_clone (default 1): a shallow mirror; an older tag deploys, an older untagged commit deploys after one full fetch', async () => {
    // fapistrano-0.9.5 git.py:10 setdefault('git_shallow_clone', 1); git.py:58 clone --mirror --depth N --no-single-branch
    const app = 'git-shallow';
    const repo = makeRepo({ 'app.py': 'print(1)\n' });
    const old = git(repo.dir, 'rev-parse', 'HEAD');
    repo.commit({ 'app.py': 'print(2)\n' });
    git(repo.dir, 'tag', 'v2');
    const v2 = git(repo.dir, 'rev-parse', 'HEAD');
    repo.commit({ 'app.py': 'print(3)\n' });
    const tip = repo.commit({ 'app.py': 'print(4)\n' });
    // file:// so git honours --depth (a plain path is a local clone, always full)
    const url = `file://${repo.dir}`;
    const f = file(app, { plugins: ['git'] }, url);
    const r1 = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(r1.code, 0, r1.stderr);
    for (const i of [0, 1]) {
      assert.ok(existsSync(onHost(i, app, 'repo', 'shallow')), 'the mirror is shallow');
      assert.equal(run(i, 'git', '-C', join(root(app), 'repo'), 'rev-list', '--count', tip).stdout.trim(), '1', 'one commit deep');
      assert.equal(readFileSync(onHost(i, app, 'current', 'REVISION'), 'utf8').trim(), tip);
    }
    const r2 = await fap(['-f', f, '--set', 'branch=v2', 'deploy', 'production']);
    assert.equal(r2.code, 0, r2.stderr);
    for (const i of [0, 1]) {
      assert.equal(readFileSync(onHost(i, app, 'current', 'REVISION'), 'utf8').trim(), v2);
      assert.ok(existsSync(onHost(i, app, 'repo', 'shallow')), 'a tag needs no deeper fetch');
    }
    const r3 = await fap(['-f', f, '--set', `branch=${old}`, 'deploy', 'production']);
    assert.equal(r3.code, 0, r3.stderr);
    for (const i of [0, 1]) {
      assert.match(r3.stderr, saidBy(hostRe(i), `git: ${old} is not in the shallow mirror; fetching the full history`));
      assert.equal(readFileSync(onHost(i, app, 'current', 'REVISION'), 'utf8').trim(), old);
      assert.equal(readFileSync(onHost(i, app, 'current', 'app.py'), 'utf8'), 'print(1)\n');
      assert.ok(!existsSync(onHost(i, app, 'repo', 'shallow')), 'the mirror now has the full history');
    }
  });

  test('git_shallow_clone: 0 keeps a full mirror', async () => {
    // fapistrano-0.9.5 git.py:61 clone --mirror without --depth when git_shallow_clone is falsy
    const app = 'git-full';
    const repo = makeRepo({ 'app.py': 'print(1)\n' });
    const tip = repo.commit({ 'app.py': 'print(2)\n' });
    const r = await fap(['-f', file(app, { plugins: ['git'], git_shallow_clone: 0 }, `file://${repo.dir}`), 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    for (const i of [0, 1]) {
      assert.ok(!existsSync(onHost(i, app, 'repo', 'shallow')));
      assert.equal(run(i, 'git', '-C', join(root(app), 'repo'), 'rev-list', '--count', tip).stdout.trim(), '2');
    }
  });

  test('repo_path puts the mirror there; a directory there that is not a mirror is refused and left as it was', async () => {
    // fapistrano-0.9.5 git.py:13 setdefault('repo_path', '%(path)s/repo')
    const app = 'git-repo-path';
    const repo = makeRepo({ 'app.py': 'print(1)\n' });
    const f = file(app, { plugins: ['git'], repo_path: '%(path)s/mirrors/shop.git' }, repo.dir);
    const r = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    for (const i of [0, 1]) {
      assert.ok(existsSync(onHost(i, app, 'mirrors', 'shop.git', 'HEAD')));
      assert.ok(!existsSync(onHost(i, app, 'repo')));
    }
    const app2 = 'git-repo-path-taken';
    mkdirSync(onHost(0, app2, 'data'), { recursive: true });
    writeFileSync(onHost(0, app2, 'data', 'keep.txt'), 'precious\n');
    const bad = await fap(['-f', file(app2, { plugins: ['git'], repo_path: '%(path)s/data' }, repo.dir), 'deploy', 'production']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /repo_path .*\/data exists but is not a git mirror; remove it or set another repo_path/);
    assert.equal(readFileSync(onHost(0, app2, 'data', 'keep.txt'), 'utf8'), 'precious\n');
    const inside = await fap(['-f', file('git-repo-path-bad', { plugins: ['git'], repo_path: '%(path)s/shared/repo' }, repo.dir), 'deploy', 'production']);
    assert.equal(inside.code, 2, inside.stderr);
    assert.match(inside.stderr, /repo_path .*\/shared\/repo overlaps .*\/shared; give the mirror a directory of its own/);
  });

  // ---- curl ------------------------------------------------------------------------------------

  test('curl_output: the artifact is kept in the release under that name, not the URL basename', async () => {
    // fapistrano-0.9.5 curl.py:54-55 `-o %(curl_output)s`, run in the release (curl.py:50)
    const jar = join(scratch, 'bayarea-1.4.2-SNAPSHOT.jar');
    writeFileSync(jar, 'PK jar bytes\n');
    for (const [app, output] of [
      ['curl-out', 'bayarea.jar'],
      ['curl-out-dir', 'lib/bayarea.jar'],
    ]) {
      const r = await fap(['-f', file(app, { plugins: ['curl'], curl_url: `file://${jar}`, curl_output: output }), 'deploy', 'production']);
      assert.equal(r.code, 0, r.stderr);
      for (const i of [0, 1]) {
        assert.equal(readFileSync(onHost(i, app, 'current', output), 'utf8'), 'PK jar bytes\n');
        assert.ok(!existsSync(onHost(i, app, 'current', 'bayarea-1.4.2-SNAPSHOT.jar')));
      }
    }
    const both = await fap(['-f', file('curl-out-x', { plugins: ['curl'], curl_url: `file://${jar}`, curl_output: 'a.tgz', curl_extract_tgz: true }), 'deploy', 'production']);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /curl_output names the file kept in the release, but curl_extract_tgz unpacks it and keeps none; set one or the other/);
    const escape = await fap(['-f', file('curl-out-y', { plugins: ['curl'], curl_url: `file://${jar}`, curl_output: '../../x.jar' }), 'deploy', 'production']);
    assert.equal(escape.code, 2, escape.stderr);
    assert.match(escape.stderr, /curl_output "\.\.\/\.\.\/x\.jar" must name a file inside the release/);
  });

  // ---- virtualenv ------------------------------------------------------------------------------

  test("virtualenv_executive: Debian's virtualenv builds the venv at virtualenv_venv_path; pip runs after the default `source .../activate`", async () => {
    // fapistrano-0.9.5 virtualenv.py:10 '/usr/bin/env virtualenv', :13 venv_path, :15 activate, :29 `<executive> <venv>`
    const app = 'venv-executive';
    const repo = makeRepo({ 'app.py': 'import fapdemo\n', 'requirements.txt': 'fapdemo==1.0\n' });
    const f = file(
      app,
      { plugins: ['git', 'virtualenv'], virtualenv_executive: '/usr/bin/env virtualenv', virtualenv_venv_path: '%(release_path)s/.venv', virtualenv_pip_options: pipOffline() },
      repo.dir,
    );
    const r = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    for (const i of [0, 1]) {
      const venv = join(root(app), current(i, app), '.venv');
      assert.match(readFileSync(onHost(i, app, current(i, app), '.venv', 'pyvenv.cfg'), 'utf8'), /^virtualenv = \d+\./m, "made by virtualenv, not python -m venv");
      const out = run(i, join(venv, 'bin', 'python'), '-c', 'import fapdemo, sys; print(fapdemo.VERSION, sys.prefix)');
      assert.equal(out.stdout.trim(), `1.0 ${venv}`, out.stderr);
      assert.ok(!existsSync(onHost(i, app, current(i, app), 'venv')));
    }
  });

  test('virtualenv_activate other than `source FILE` runs under bash, as Fapistrano ran it', async () => {
    const app = 'venv-activate-bash';
    const repo = makeRepo({ 'app.py': 'print(1)\n', 'requirements.txt': 'fapdemo==1.0\n' });
    // [[ ]] and $BASH_VERSION exist in bash only: under sh this activate fails and so does the deploy
    const f = file(
      app,
      {
        plugins: ['git', 'virtualenv'],
        virtualenv_activate: 'source %(virtualenv_venv_path)s/bin/activate && [[ -n $BASH_VERSION ]]',
        virtualenv_upgrade_pip: false,
        virtualenv_pip_options: pipOffline(),
      },
      repo.dir,
    );
    const r = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    const out = run(0, join(root(app), 'current', 'venv', 'bin', 'python'), '-c', 'import fapdemo; print(fapdemo.VERSION)');
    assert.equal(out.stdout.trim(), '1.0', out.stderr);
  });

  test('virtualenv: executive and executable together, or a venv path outside the release, are one-line errors before any host is touched', async () => {
    const repo = makeRepo();
    const both = await fap(['-f', file('venv-both', { plugins: ['git', 'virtualenv'], virtualenv_executive: 'virtualenv', virtualenv_executable: 'python3' }, repo.dir), 'deploy', 'production']);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /set virtualenv_executive \(Fapistrano: a command run as <it> <venv>\) or virtualenv_executable \(a Python run as <it> -m venv <venv>\), not both/);
    assert.doesNotMatch(both.stderr, /^\s+at /m, 'no stack trace');
    const outside = await fap(['-f', file('venv-out', { plugins: ['git', 'virtualenv'], virtualenv_venv_path: '%(shared_path)s/venv' }, repo.dir), 'deploy', 'production']);
    assert.equal(outside.code, 2, outside.stderr);
    assert.match(outside.stderr, /virtualenv_venv_path must be inside the release \(under %\(release_path\)s\)/);
    for (const i of [0, 1]) assert.ok(!existsSync(onHost(i, 'venv-both')) && !existsSync(onHost(i, 'venv-out')));
  });

  // ---- virtualenvwrapper ----------------------------------------------------------------------

  test('virtualenvwrapper: mkvirtualenv once, pip upgraded, requirements installed into ONE shared venv that a rollback keeps', async () => {
    // fapistrano-0.9.5 virtualenvwrapper.py:9-16 keys, :29-30 mkvirtualenv when missing, :35 upgrade, :40 pip install -r
    const app = 'wrapper';
    const repo = makeRepo({ 'app.py': 'print(1)\n', 'requirements.txt': 'fapdemo==1.0\n' });
    const home = join(fleet.deployDir, 'virtualenvs');
    // Debian's wrapper belongs to Debian's python3 and virtualenv; a host whose shell puts another
    // python3 first (root's .bashrc with pyenv, read by bash under sshd) must name them, as
    // virtualenvwrapper's own docs say: the source file a user keeps for it does
    const source = join(fleet.deployDir, 'virtualenvwrapper-env.sh');
    for (let i = 0; i < 2; i++) {
      writeFileSync(fleet.hostPath(i, source), `export VIRTUALENVWRAPPER_PYTHON=/usr/bin/python3 VIRTUALENVWRAPPER_VIRTUALENV=/usr/bin/virtualenv\n. ${WRAPPER}\n`);
    }
    const f = file(
      app,
      {
        plugins: ['git', 'virtualenvwrapper'],
        virtualenvwrapper_source: source,
        virtualenvwrapper_home: home,
        virtualenvwrapper_pip_options: pipOffline(),
      },
      repo.dir,
    );
    const r1 = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(r1.code, 0, r1.stderr);
    const venv = join(home, app);
    for (const i of [0, 1]) {
      const out = run(i, join(venv, 'bin', 'python'), '-c', 'import fapdemo, pip; print(fapdemo.VERSION)');
      assert.equal(out.stdout.trim(), '1.0', out.stderr);
      assert.match(readFileSync(fleet.hostPath(i, join(venv, 'pyvenv.cfg')), 'utf8'), /^virtualenv = /m, 'made by mkvirtualenv (virtualenv)');
    }
    const first = current(0, app);
    repo.commit({ 'requirements.txt': 'fapdemo==1.0\nfapextra==2.0\n' });
    const r2 = await fap(['-f', f, 'deploy', 'production']);
    assert.equal(r2.code, 0, r2.stderr);
    for (const i of [0, 1]) assert.match(r2.stderr, saidBy(hostRe(i), `virtualenvwrapper: using the shared venv ${venv.replace(/[.]/g, '\\.')} \\(changed in place: a rollback keeps what this deploy installs\\)`));
    const rb = await fap(['-f', f, 'rollback', 'production']);
    assert.equal(rb.code, 0, rb.stderr);
    for (const i of [0, 1]) {
      assert.equal(current(i, app), first);
      // the documented (Fapistrano) behaviour: the shared venv still has the newer deploy's package
      const out = run(i, join(venv, 'bin', 'python'), '-c', 'import fapextra; print(fapextra.VERSION)');
      assert.equal(out.stdout.trim(), '2.0', out.stderr);
    }
  });

  // ---- virtualenvtools ------------------------------------------------------------------------

  test('virtualenvtools: a venv built elsewhere comes in the artifact and is relocated into the release, with either strategy', async () => {
    // virtualenv-tools is on PyPI only, which this machine cannot reach. So the executable here is a
    // small real script doing what virtualenv-tools does for these flags: --update-path NEW VENV
    // rewrites the shebangs under VENV/bin and VIRTUAL_ENV in bin/activate from the old path to NEW;
    // --reinitialize VENV re-creates the venv's python (python3 -m venv) at its place. It records
    // its arguments, so the test checks what fap ran, and the venv is then used for real.
    // fapistrano-0.9.5 virtualenvtools.py:8-10 keys, :17 --update-path, :19-20 rm bin/python* + --reinitialize
    const tool = join(scratch, 'virtualenv-tools');
    const calls = join(scratch, 'virtualenv-tools.calls');
    writeFileSync(
      tool,
      `#!/usr/bin/env python3
import os, re, subprocess, sys
args = sys.argv[1:]
with open(${JSON.stringify(calls)}, 'a') as f:
    f.write(os.getcwd() + ' ' + ' '.join(args) + '\\n')
if args[0] == '--reinitialize':
    venv = args[1]
    subprocess.check_call([sys.executable, '-m', 'venv', '--without-pip', venv])
    sys.exit(0)
assert args[0] == '--update-path' and len(args) == 3, args
new, venv = args[1], args[2]
activate = os.path.join(venv, 'bin', 'activate')
old = re.search(r'^VIRTUAL_ENV=["\\']?([^"\\'\\n]*)', open(activate).read(), re.M).group(1)
for name in os.listdir(os.path.join(venv, 'bin')):
    p = os.path.join(venv, 'bin', name)
    if os.path.islink(p) or not os.path.isfile(p):
        continue
    data = open(p, 'rb').read()
    if data.startswith(b'#!') or name.startswith('activate'):
        open(p, 'wb').write(data.replace(old.encode(), new.encode()))
`,
      { mode: 0o755 },
    );
    // the build: a venv at a CI path, with a console script whose shebang names that path
    const build = join(scratch, 'build');
    const ci = join(build, 'venv');
    assert.equal(spawnSync('python3', ['-m', 'venv', '--without-pip', ci]).status, 0);
    writeFileSync(join(ci, 'bin', 'whereami'), `#!${ci}/bin/python\nimport sys\nprint(sys.prefix)\n`, { mode: 0o755 });
    const tgz = join(scratch, 'build.tgz');
    assert.equal(spawnSync('tar', ['-czf', tgz, '-C', build, 'venv']).status, 0);
    rmSync(build, { recursive: true });

    for (const strategy of ['update-path', 'reinitialize']) {
      const app = `vtools-${strategy}`;
      writeFileSync(calls, '');
      const f = file(app, { plugins: ['curl', 'virtualenvtools'], curl_url: `file://${tgz}`, virtualenvtools_executable: tool, virtualenvtools_strategy: strategy });
      const r = await fap(['-f', f, 'deploy', 'production']);
      assert.equal(r.code, 0, r.stderr);
      const lines = readFileSync(calls, 'utf8').trim().split('\n');
      assert.equal(lines.length, 2, 'run once per host');
      for (const i of [0, 1]) {
        const venvI = join(root(app), 'releases', current(i, app).replace(/^.*\//, ''), 'venv');
        const relI = join(root(app), 'releases', current(i, app).replace(/^.*\//, ''));
        assert.ok(lines.includes(strategy === 'update-path' ? `${relI} --update-path ${venvI} ${venvI}` : `${relI} --reinitialize ${venvI}`), lines.join('\n'));
        const activate = readFileSync(fleet.hostPath(i, join(venvI, 'bin', 'activate')), 'utf8');
        assert.match(activate, new RegExp(`^VIRTUAL_ENV=["']?${venvI.replace(/[.]/g, '\\.')}["']?$`, 'm'), 'activate names the new place');
        const py = run(i, join(venvI, 'bin', 'python'), '-c', 'import sys; print(sys.prefix)');
        assert.equal(py.stdout.trim(), venvI, py.stderr);
        if (strategy === 'update-path') {
          const script = run(i, join(venvI, 'bin', 'whereami'));
          assert.equal(script.stdout.trim(), venvI, `a console script runs from the new place: ${script.stderr}`);
        }
      }
    }
  });

  test('virtualenvtools: a venv path outside the release is refused before any host is touched', async () => {
    const r = await fap(['-f', file('vtools-out', { plugins: ['curl', 'virtualenvtools'], curl_url: 'file:///nonexistent.tgz', virtualenvtools_venv_path: '/opt/venv' }), 'deploy', 'production']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /virtualenvtools_venv_path must be inside the release/);
  });
});
