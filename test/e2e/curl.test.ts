// fap release with artifacts: a real HTTP server on loopback serves a tgz the test builds; the
// hosts download it with curl (or receive it over SFTP), verify, unpack and run postinstall.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, writeDeployFile, esc, saidBy } from '../helpers.js';

const skip = fleetUnsupportedReason();
const PASSWORD = 's3cret-pass-9917';

describe('fap release --curl-url / --artifact', { skip }, () => {
  let fleet: Fleet;
  let server: Server;
  let base = '';
  let tgz: Buffer;
  let tgzFile = '';
  let sha = '';
  const requests: string[] = [];

  before(async () => {
    fleet = await startFleet(2);
    // the build: what CI would produce
    const build = mkdtempSync(join(tmpdir(), 'fap-build-'));
    writeFileSync(join(build, 'app.py'), 'print("from the artifact")\n');
    writeFileSync(join(build, 'install.sh'), 'echo installed > installed.txt\n');
    tgzFile = join(mkdtempSync(join(tmpdir(), 'fap-artifact-')), 'build.tgz');
    const r = spawnSync('tar', ['-czf', tgzFile, '-C', build, '.']);
    assert.equal(r.status, 0, String(r.stderr));
    tgz = readFileSync(tgzFile);
    sha = createHash('sha256').update(tgz).digest('hex');
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url === '/build.tgz') return void res.end(tgz);
      if (req.url === '/private/build.tgz') {
        if (req.headers.authorization !== 'Basic ' + Buffer.from(`ci:${PASSWORD}`).toString('base64')) {
          res.statusCode = 401;
          return void res.end('no');
        }
        return void res.end(tgz);
      }
      res.statusCode = 404;
      res.end('not found');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise((r) => server?.close(r));
    await fleet?.stop();
  });

  const onHost = (i: number, app: string, ...p: string[]) => fleet.hostPath(i, join(fleet.deployDir, app, ...p));
  const current = (i: number, app: string) => (existsSync(onHost(i, app, 'current')) ? readlinkSync(onHost(i, app, 'current')) : undefined);
  const config = (app: string, top: Record<string, unknown> = {}) =>
    writeDeployFile(fleet, { repo: '/nonexistent/repo.git', top: { app_name: app, plugins: ['git'], curl_postinstall_script: 'sh ./install.sh', ...top } });

  /** everything on the host's side that fap wrote: state, logs */
  const hostText = (i: number, app: string) => {
    const out: string[] = [readFileSync(onHost(i, app, 'revisions.log'), 'utf8')];
    const walk = (d: string) => {
      for (const f of readdirSync(d, { withFileTypes: true })) {
        if (f.isDirectory()) walk(join(d, f.name));
        else out.push(readFileSync(join(d, f.name), 'utf8'));
      }
    };
    walk(onHost(i, app, '.fap'));
    return out.join('\n');
  };

  test('downloads, verifies, unpacks and runs postinstall on every host; REVISION is the sha256', async () => {
    const app = 'curl-ok';
    const r = await fap(['-f', config(app), '--json', 'release', 'production', 'web', '--curl-url', `${base}/build.tgz`, '--curl-sha256', sha]);
    assert.equal(r.code, 0, r.stderr);
    const result = jsonEvents(r.stdout).pop()!;
    for (let i = 0; i < 2; i++) {
      assert.equal(readFileSync(onHost(i, app, 'current/REVISION'), 'utf8').trim(), sha);
      assert.equal(readFileSync(onHost(i, app, 'current/app.py'), 'utf8'), 'print("from the artifact")\n');
      assert.equal(readFileSync(onHost(i, app, 'current/installed.txt'), 'utf8'), 'installed\n');
      assert.ok(!existsSync(onHost(i, app, 'current/.fap-artifact')), 'the download is removed after unpacking');
      assert.ok(!existsSync(onHost(i, app, 'repo')), 'git did not run: the artifact replaced it');
    }
    assert.equal(requests.filter((q) => q === 'GET /build.tgz').length, 2, 'each host downloaded once');
    assert.ok(result.ok);
  });

  test('a postinstall script cannot change the recorded revision: REVISION is the sha256 whatever it writes', async () => {
    // found by the attack pass: `echo forged > REVISION` in the script was recorded as the revision
    const app = 'curl-forged';
    const r = await fap(['-f', config(app, { curl_postinstall_script: 'sh ./install.sh; echo forged > REVISION' }), '--json', 'release', 'production', 'web', '--curl-url', `${base}/build.tgz`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((jsonEvents(r.stdout).pop()!.hosts as { revision?: string }[])[0].revision, sha);
    for (let i = 0; i < 2; i++) {
      assert.equal(readFileSync(onHost(i, app, 'current/REVISION'), 'utf8').trim(), sha);
      assert.match(readFileSync(onHost(i, app, 'revisions.log'), 'utf8'), new RegExp(`revision=${sha}`));
    }
  });

  test('curl_postinstall_output: the script\'s stdout and stderr reach the operator as curl lines (--json: log events), secrets redacted; false hides them', async () => {
    // fapistrano-0.9.5 curl.py:18 setdefault('curl_postinstall_output', True); curl.py:64-66 show/hide('output') around the script
    const app = 'curl-post-out';
    const script = `sh ./install.sh; echo "postinstall says hello"; echo; echo "warming cache with ${PASSWORD}" >&2`;
    const top = { curl_postinstall_script: script, curl_user: `ci:${PASSWORD}` };
    const shown = await fap(['-f', config(app, top), 'release', 'production', '--curl-url', `${base}/build.tgz`]);
    assert.equal(shown.code, 0, shown.stderr);
    for (const h of fleet.hosts) {
      assert.match(shown.stderr, saidBy(esc(h.name), 'curl: postinstall says hello\n'));
      assert.match(shown.stderr, saidBy(esc(h.name), 'curl: warming cache with \\*\\*\\*\n'));
    }
    assert.doesNotMatch(shown.stderr, saidBy(esc(fleet.hosts[0].name), 'curl: \n'), 'a blank line is not reported');
    const json = await fap(['-f', config(app, top), '--json', 'release', 'production', '--curl-url', `${base}/build.tgz`]);
    assert.equal(json.code, 0, json.stderr);
    const logs = jsonEvents(json.stdout).filter((e) => e.event === 'log' && e.plugin === 'curl');
    for (const h of fleet.hosts) {
      assert.deepEqual(logs.filter((e) => e.host === h.name).map((e) => e.message), ['postinstall says hello', 'warming cache with ***']);
    }
    for (const r of [shown, json]) assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'the secret was printed');
    const hidden = await fap(['-f', config(app, { ...top, curl_postinstall_output: false }), 'release', 'production', '--curl-url', `${base}/build.tgz`]);
    assert.equal(hidden.code, 0, hidden.stderr);
    assert.doesNotMatch(hidden.stderr, /postinstall says hello|warming cache/);
    assert.equal(readFileSync(onHost(0, app, 'current/installed.txt'), 'utf8'), 'installed\n', 'the script ran');
  });

  test('a failing postinstall script: its output is shown, the step fails with its status, nothing is published', async () => {
    const app = 'curl-post-fail';
    const r = await fap(['-f', config(app, { curl_postinstall_script: 'echo "migrating"; echo "no database" >&2; exit 3' }), 'release', 'production', '--curl-url', `${base}/build.tgz`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /curl: migrating\n/);
    assert.match(r.stderr, /curl: no database\n/);
    assert.match(r.stderr, /FAILED at curl: postinstall script: curl_postinstall_script exited with status 3/);
    assert.equal(current(0, app), undefined);
  });

  test('a 404 fails and switches nothing', async () => {
    const app = 'curl-404';
    const file = config(app);
    assert.equal((await fap(['-f', file, 'release', 'production', '--curl-url', `${base}/build.tgz`])).code, 0);
    const before = [current(0, app), current(1, app)];
    const r = await fap(['-f', file, 'release', 'production', '--curl-url', `${base}/nope.tgz`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FAILED at curl: download artifact: curl: \(22\) The requested URL returned error: 404/);
    assert.deepEqual([current(0, app), current(1, app)], before);
    assert.equal(readdirSync(onHost(0, app, 'releases')).length, 1, 'the failed release was removed');
  });

  test('a sha256 mismatch fails before publish', async () => {
    const app = 'curl-sha';
    const r = await fap(['-f', config(app), 'release', 'production', '--curl-url', `${base}/build.tgz`, '--curl-sha256', 'a'.repeat(64)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`sha256 mismatch: expected a{64}, got ${sha}`));
    assert.equal(current(0, app), undefined);
    assert.equal((await fap(['-f', config(app), 'release', 'production', '--curl-url', `${base}/build.tgz`, '--curl-sha256', 'xyz'])).code, 2);
  });

  test('credentials in the URL or curl_user never appear in any output, log or state', async () => {
    const app = 'curl-auth';
    const url = `http://ci:${PASSWORD}@${base.slice('http://'.length)}/private/build.tgz`;
    for (const args of [['-v'], ['--json', '-v'], ['--dry-run'], ['-v', '--dry-run']]) {
      const r = await fap(['-f', config(app), ...args, 'release', 'production', '--curl-url', url]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), `password printed with ${args.join(' ')}`);
      if (args[0] === '-v') assert.match(r.stderr, /url = "http:\/\/\*\*\*@127\.0\.0\.1/);
    }
    const viaUser = await fap(['-f', config(app, { curl_user: `ci:${PASSWORD}` }), '-v', 'release', 'production', '--curl-url', `${base}/private/build.tgz`]);
    assert.equal(viaUser.code, 0, viaUser.stderr);
    assert.ok(!(viaUser.stdout + viaUser.stderr).includes(PASSWORD));
    const cfg = await fap(['-f', config(app, { curl_user: `ci:${PASSWORD}`, curl_url: url }), 'config', 'production', 'web']);
    assert.ok(!(cfg.stdout + cfg.stderr).includes(PASSWORD));
    for (let i = 0; i < 2; i++) assert.ok(!hostText(i, app).includes(PASSWORD), 'not in .fap/ or revisions.log');
    const wrong = await fap(['-f', config(app), 'release', 'production', '--curl-url', url.replace(PASSWORD, 'wrong')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401/);
  });

  test('--artifact uploads a local file over SFTP once per host', async () => {
    const app = 'curl-upload';
    const r = await fap(['-f', config(app), '--json', 'release', 'production', '--artifact', tgzFile]);
    assert.equal(r.code, 0, r.stderr);
    const uploads = jsonEvents(r.stdout).filter((e) => e.event === 'upload');
    assert.equal(uploads.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.equal(readFileSync(onHost(i, app, 'current/REVISION'), 'utf8').trim(), sha);
      assert.equal(readFileSync(onHost(i, app, 'current/installed.txt'), 'utf8'), 'installed\n');
      assert.deepEqual(readdirSync(onHost(i, app, '.fap/uploads')), [], 'uploads are cleaned up');
    }
    assert.equal((await fap(['-f', config(app), 'release', 'production', '--artifact', '/nonexistent.tgz'])).code, 2);
  });

  test('without --curl-url, fap release is the git pipeline', async () => {
    const app = 'curl-none';
    const r = await fap(['-f', config(app), 'release', 'production']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /git: update mirror/);
    mkdirSync(onHost(0, app, 'x'), { recursive: true });
  });
});
