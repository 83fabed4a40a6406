// A stage released from CI with --curl-url: every other command works without the URL (the curl
// plugin's artifact requirement belongs to building a release), and the curl plugin contributes
// nothing to rollback or restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();

describe('commands after fap release --curl-url', { skip }, () => {
  let fleet: Fleet;
  let server: Server;
  let base = '';
  const builds = new Map<string, Buffer>();

  before(async () => {
    fleet = await startFleet(2);
    for (const v of ['v1', 'v2']) {
      const build = mkdtempSync(join(tmpdir(), 'fap-build-'));
      writeFileSync(join(build, 'app.py'), `print("${v}")\n`);
      const tgz = join(mkdtempSync(join(tmpdir(), 'fap-artifact-')), `${v}.tgz`);
      assert.equal(spawnSync('tar', ['-czf', tgz, '-C', build, '.']).status, 0);
      builds.set(`/${v}.tgz`, readFileSync(tgz));
    }
    server = createServer((req, res) => {
      const body = builds.get(req.url ?? '');
      if (body) return void res.end(body);
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
  const currents = (app: string) => [0, 1].map((i) => readlinkSync(onHost(i, app, 'current')));

  for (const plugins of [['curl']]) {
    test(`plugins: [${plugins}]: rollback, restart, run, releases, config, cleanup, unlock need no --curl-url; check asks for it, as release does`, async () => {
      const app = `ci-${plugins[0]}`;
      // git enabled in the file (release swaps it for curl) needs a repo it never uses here
      const file = writeDeployFile(fleet, { repo: '/nonexistent/repo.git', top: { app_name: app, plugins } });
      const first = await fap(['-f', file, '--json', 'release', 'production', '--curl-url', `${base}/v1.tgz`]);
      assert.equal(first.code, 0, first.stderr);
      const v1 = currents(app);
      const second = await fap(['-f', file, '--json', 'release', 'production', '--curl-url', `${base}/v2.tgz`]);
      assert.equal(second.code, 0, second.stderr);
      assert.notDeepEqual(currents(app), v1);

      const rollback = await fap(['-f', file, '--json', 'rollback', 'production']);
      assert.equal(rollback.code, 0, rollback.stderr);
      assert.deepEqual(currents(app), v1, 'rolled back to the first artifact on every host');
      for (let i = 0; i < 2; i++) assert.equal(readFileSync(onHost(i, app, 'current', 'app.py'), 'utf8'), 'print("v1")\n');
      // nothing of plugins: [curl] restarts anything: refused before any host is contacted
      const restart = await fap(['-f', file, '--json', 'restart', 'production']);
      assert.equal(restart.code, 2, restart.stderr);
      assert.match(restart.stderr, /nothing to restart in production/);
      // the curl plugin hooks deploy.updating only, which a rollback does not emit
      for (const r of [rollback]) {
        const events = jsonEvents(r.stdout);
        assert.ok(!events.some((e) => e.event === 'deploy.updating'), 'no deploy.updating');
        assert.ok(!events.some((e) => e.event === 'script' && /curl/.test(String(e.script))), 'no curl step');
      }
      const run = await fap(['-f', file, 'run', 'production', 'web', '--', 'cat', 'app.py']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /print\("v1"\)/);
      for (const command of ['releases', 'config', 'cleanup', 'unlock']) {
        const r = await fap(['-f', file, command, 'production']);
        assert.equal(r.code, 0, `${command}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /needs an artifact|needs "repo"/, command);
      }
      // the doctor answers "can a release be made?": as release, it needs the artifact it would take
      const bareCheck = await fap(['-f', file, 'check', 'production']);
      assert.equal(bareCheck.code, 2, bareCheck.stderr);
      assert.match(bareCheck.stderr, /needs an artifact: .*--curl-url URL/);
      const check = await fap(['-f', file, '--json', 'check', 'production', '--curl-url', `${base}/v2.tgz`]);
      assert.doesNotMatch(check.stderr, /needs an artifact|needs "repo"/);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.ok(!existsSync(onHost(0, app, '.fap', 'lock')));
      // and building still needs the artifact (or, with git, the repository)
      const bare = await fap(['-f', file, 'release', 'production']);
      assert.notEqual(bare.code, 0);
    });
  }
});
