// The virtualenv plugin on a real 3-host sshd fleet, fully offline: a real `python3 -m venv` on each
// host, and pip installing a wheel this test writes by hand (zipfile) from a local --find-links dir.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, makeRepo, writeDeployFile, saidBy } from '../helpers.js';

const skip = fleetUnsupportedReason() ?? (spawnSync('nsenter', ['--version']).status === 0 ? undefined : 'needs nsenter to look inside a fleet host');

/** Write fapdemo-1.0-py3-none-any.whl into dir (a valid wheel: METADATA, WHEEL, RECORD with hashes). */
function buildWheel(dir: string): void {
  const script = `
import base64, hashlib, os, sys, zipfile
out = sys.argv[1]
files = {
    'fapdemo/__init__.py': 'VERSION = "1.0"\\n',
    'fapdemo-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: fapdemo\\nVersion: 1.0\\nSummary: fap test package\\n',
    'fapdemo-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: fap-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
}
record = []
with zipfile.ZipFile(os.path.join(out, 'fapdemo-1.0-py3-none-any.whl'), 'w', zipfile.ZIP_DEFLATED) as z:
    for name, body in files.items():
        data = body.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        record.append('%s,sha256=%s,%d' % (name, digest, len(data)))
    record.append('fapdemo-1.0.dist-info/RECORD,,')
    z.writestr('fapdemo-1.0.dist-info/RECORD', '\\n'.join(record) + '\\n')
`;
  const r = spawnSync('python3', ['-', dir], { input: script, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the test wheel failed: ${r.stderr}`);
}

describe('virtualenv plugin on a 3-host fleet', { skip }, () => {
  let fleet: Fleet;
  let wheels: string;

  before(async () => {
    fleet = await startFleet(3);
    // outside the deploy directory, so every host sees it at the same path
    wheels = mkdtempSync(join(tmpdir(), 'fap-wheels-'));
    buildWheel(wheels);
  });
  after(async () => {
    await fleet?.stop();
    if (wheels) rmSync(wheels, { recursive: true, force: true });
  });

  const root = (app: string) => join(fleet.deployDir, app);
  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(root(app), ...p));
  const current = (i: number, app: string) => readlinkSync(onHost(i, app, 'current'));
  const releases = (i: number, app: string) => readdirSync(onHost(i, app, 'releases')).sort();

  /** Run a command inside host i's view of the filesystem (its mount namespace). */
  function onHostRun(i: number, ...argv: string[]) {
    return spawnSync('nsenter', ['-t', String(fleet.hosts[i].process.pid), '-m', '--', ...argv], { encoding: 'utf8' });
  }

  function deployFile(app: string, repoDir: string, top: Record<string, unknown> = {}): string {
    return writeDeployFile(fleet, {
      repo: repoDir,
      top: {
        app_name: app,
        plugins: ['git', 'virtualenv'],
        virtualenv_upgrade_pip: false,
        virtualenv_pip_options: `--no-index --find-links ${wheels}`,
        ...top,
      },
    });
  }

  const hostRe = (i: number) => fleet.hosts[i].name.replace(/\./g, '\\.');

  test('builds <release>/venv on every host and installs requirements.txt from a local wheel', async () => {
    const app = 'venv-ok';
    const repo = makeRepo({ 'app.py': 'import fapdemo\n', 'requirements.txt': 'fapdemo==1.0\n' });
    const r = await fap(['-f', deployFile(app, repo.dir), 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    const rel = current(0, app);
    for (let i = 0; i < 3; i++) {
      assert.equal(current(i, app), rel);
      const py = join(root(app), 'current', 'venv', 'bin', 'python');
      const out = onHostRun(i, py, '-c', 'import fapdemo, os, sys; print(fapdemo.VERSION); print(os.path.realpath(sys.prefix))');
      assert.equal(out.status, 0, out.stderr);
      const [version, prefix] = out.stdout.trim().split('\n');
      assert.equal(version, '1.0');
      assert.equal(prefix, join(root(app), rel, 'venv'), 'the venv lives inside the release');
      assert.ok(existsSync(onHost(i, app, rel, 'venv', 'pyvenv.cfg')));
    }
  });

  test('a requirement pip cannot install fails the deploy: current unchanged, new release removed everywhere', async () => {
    const app = 'venv-fail';
    const repo = makeRepo({ 'app.py': 'print(1)\n', 'requirements.txt': 'fapdemo==1.0\n' });
    const file = deployFile(app, repo.dir);
    const ok = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(ok.code, 0, ok.stderr);
    const before = [0, 1, 2].map((i) => current(i, app));
    const releasesBefore = [0, 1, 2].map((i) => releases(i, app));

    repo.commit({ 'requirements.txt': 'fapdemo==9.9\n' });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    for (let i = 0; i < 3; i++) {
      assert.match(r.stderr, saidBy(hostRe(i), `FAILED at virtualenv: install requirements`));
      assert.equal(current(i, app), before[i], 'current is not moved');
      assert.deepEqual(releases(i, app), releasesBefore[i], 'the unpublished release is removed');
      assert.ok(!existsSync(onHost(i, app, '.fap/lock')), 'lock released');
    }
    assert.match(r.stderr, /No matching distribution found for fapdemo==9\.9/, "pip's own error is shown");
    assert.match(r.stderr, /no host was switched/);
  });

  test('a configured requirements file that is missing fails the deploy and names the file', async () => {
    const app = 'venv-missing';
    const repo = makeRepo({ 'app.py': 'print(1)\n', 'requirements.txt': 'fapdemo==1.0\n' });
    const file = deployFile(app, repo.dir, { virtualenv_requirements: '%(release_path)s/requirements/production.txt' });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    for (let i = 0; i < 3; i++) {
      assert.match(r.stderr, saidBy(hostRe(i), `FAILED at virtualenv: check requirements: .*requirements file ${root(app)}/releases/\\d{14}/requirements/production\\.txt \\(virtualenv_requirements\\) not found on this host`));
      assert.ok(!existsSync(onHost(i, app, 'current')), 'nothing published');
      assert.deepEqual(releases(i, app), [], 'the unpublished release is removed');
    }
  });

  test('without a requirements.txt (the default) the venv is built and the install is skipped with a log line', async () => {
    const app = 'venv-noreq';
    const repo = makeRepo({ 'app.py': 'print(1)\n' });
    const r = await fap(['-f', deployFile(app, repo.dir), 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 3; i++) {
      assert.match(r.stderr, saidBy(hostRe(i), `virtualenv: no ${root(app)}/releases/\\d{14}/requirements\\.txt; no requirements installed`));
      const out = onHostRun(i, join(root(app), 'current', 'venv', 'bin', 'python'), '-c', 'print("ok")');
      assert.equal(out.stdout.trim(), 'ok', out.stderr);
    }
  });

  test('--dry-run shows the venv steps with quoted paths and options as written; nothing is touched', async () => {
    const app = 'venv dry';
    const repo = makeRepo({ 'app.py': 'print(1)\n' });
    const file = deployFile(app, repo.dir, {
      virtualenv_executable: '/usr/bin/env python3',
      virtualenv_requirements: 'requirements/prod.txt',
      virtualenv_upgrade_pip: true,
    });
    const r = await fap(['-f', file, '-v', '--dry-run', 'deploy', 'production', 'web']);
    assert.equal(r.code, 0, r.stderr);
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // '<root>/venv dry/releases/<release>  (the closing quote follows the rest of the path)
    const relRe = esc(`'${root(app)}/releases/`) + '\\d{14}';
    assert.match(r.stderr, new RegExp(`FAP_STEP='virtualenv: check requirements'\\n\\s*\\[ -f ${relRe}/requirements/prod\\.txt' \\]`));
    // a symlinked venv path is refused; an executable with a space runs as written, inside sh -c
    // a venv that came with the code is kept (fapistrano-0.9.5 virtualenv.py:28)
    assert.match(r.stderr, new RegExp(`FAP_STEP='virtualenv: create venv'\\n\\s*if \\[ -L ${relRe}/venv' \\]; then .* refusing to build the venv through it' >&2; exit 1; fi\\n\\s*if \\[ -e ${relRe}/venv' \\]; then .*; else sh -c '/usr/bin/env python3 "\\$@"' fap-virtualenv -m venv ${relRe}/venv'; fi`));
    // after virtualenv_activate's default, `source <venv>/bin/activate`, as POSIX `.` with the path quoted (fapistrano-0.9.5 virtualenv.py:15,32)
    const act = `\\( \\. ${relRe}/venv/bin/activate' && `;
    assert.match(r.stderr, new RegExp(`FAP_STEP='virtualenv: upgrade pip'\\n\\s*${act}${relRe}/venv/bin/python' -m pip install --disable-pip-version-check --upgrade pip --no-index --find-links ${esc(wheels)} \\)\\n`));
    assert.match(r.stderr, new RegExp(`FAP_STEP='virtualenv: install requirements'\\n\\s*${act}${relRe}/venv/bin/python' -m pip install --disable-pip-version-check -r ${relRe}/requirements/prod\\.txt' --no-index --find-links ${esc(wheels)} \\)\\n`));
    for (let i = 0; i < 3; i++) assert.ok(!existsSync(onHost(i, app)), 'a dry run touches no host');
  });

  test('an empty virtualenv_executable is a configuration error before any host is contacted', async () => {
    const repo = makeRepo();
    const r = await fap(['-f', deployFile('venv-check', repo.dir, { virtualenv_executable: '' }), 'deploy', 'production']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /virtualenv_executable is empty/);
    for (let i = 0; i < 3; i++) assert.ok(!existsSync(onHost(i, 'venv-check')));
  });
});
