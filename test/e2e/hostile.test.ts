// Hostile input on the fleet: names and values full of shell syntax are quoted or refused, nothing
// outside <path> is touched (canaries), and no command runs that the deploy file did not write.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, git, makeRepo, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();
const PWNED = 'PWNED-by-fap-test';

describe('hostile input', { skip }, () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet(2);
  });
  after(async () => {
    await fleet?.stop();
  });

  /** every file a host has outside the app's deploy root, with its content */
  const outside = (app: string) =>
    fleet.hosts.map((h) => {
      const files: string[] = [];
      const walk = (d: string) => {
        for (const f of readdirSync(d, { withFileTypes: true })) {
          const p = join(d, f.name);
          if (p === join(h.root, app)) continue;
          if (f.isDirectory()) walk(p);
          else files.push(`${p}=${f.isFile() ? readFileSync(p, 'utf8') : ''}`);
        }
      };
      walk(h.root);
      return files.sort().join('\n');
    });
  const injected = () => fleet.hosts.some((h) => existsSync(join(h.root, PWNED))) || existsSync(join('/tmp', PWNED)) || existsSync(join(process.cwd(), PWNED));

  test('quotes, $(), backticks, newlines and spaces in names and values', async () => {
    const app = "sh'op $(touch PWNED-by-fap-test) `x`";
    const weird = "conf/it's a $(touch PWNED-by-fap-test) `file`.conf";
    const repo = makeRepo({ 'app.py': 'x\n' });
    git(repo.dir, 'checkout', '-q', '-b', "feat/$(touch${IFS}PWNED-by-fap-test)'q'");
    repo.commit({ 'app.py': 'feature\n' });
    for (let i = 0; i < 2; i++) {
      for (const c of ['canary-a', 'canary-b']) writeFileSync(join(fleet.hosts[i].root, c), `${c}\n`);
      const shared = fleet.hostPath(i, join(fleet.deployDir, app, 'shared', 'conf'));
      mkdirSync(shared, { recursive: true });
      writeFileSync(join(shared, "it's a $(touch PWNED-by-fap-test) `file`.conf"), 'ok\n');
    }
    const before = outside(app);
    const file = writeDeployFile(fleet, {
      repo: repo.dir,
      top: {
        app_name: app,
        path: join(fleet.deployDir, '%(app_name)s'),
        // $$ is a literal $ in deploy.yml (${...} reads the environment)
        branch: "feat/$$(touch$${IFS}PWNED-by-fap-test)'q'",
        linked_files: [weird],
        linked_dirs: ['log dir/$(touch PWNED-by-fap-test)'],
        environment: { A: "'; touch PWNED-by-fap-test; '", B: '$(touch PWNED-by-fap-test)\n`touch PWNED-by-fap-test`', C: '$${HOME} "quoted"' },
      },
    });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 2; i++) {
      const root = fleet.hostPath(i, join(fleet.deployDir, app));
      const rel = join(root, readlinkSync(join(root, 'current')));
      assert.equal(readFileSync(join(rel, 'app.py'), 'utf8'), 'feature\n', 'the odd branch was deployed, as a name');
      assert.equal(readlinkSync(join(rel, weird)), join(fleet.deployDir, app, 'shared', weird), 'linked, quoted');
      assert.ok(existsSync(join(root, 'shared', 'log dir', '$(touch PWNED-by-fap-test)')));
    }
    const run = await fap(['-f', file, '--hosts', fleet.hosts[0].name, 'run', 'production', 'web', '--', 'sh', '-c', 'printf "%s|%s|%s" "$A" "$B" "$C"']);
    assert.equal(run.stdout, "'; touch PWNED-by-fap-test; '|$(touch PWNED-by-fap-test)\n`touch PWNED-by-fap-test`|${HOME} \"quoted\"");
    assert.ok(!injected(), 'no injected command ran');
    assert.deepEqual(outside(app), before, 'nothing outside <path> changed');
  });

  test('paths that escape <path>, absolute linked files, bad release names and hosts are refused before connecting', async () => {
    const repo = makeRepo();
    const cases: [Record<string, unknown>, string[], RegExp, Record<string, unknown>?][] = [
      [{ linked_files: ['../../etc/passwd'] }, ['deploy', 'production'], /must be a relative path inside shared\//],
      [{ linked_files: ['/etc/passwd'] }, ['deploy', 'production'], /must be a relative path inside shared\//],
      [{ linked_dirs: ['log/../../x'] }, ['deploy', 'production'], /must be a relative path inside shared\//],
      [{ path: 'relative/dir' }, ['deploy', 'production'], /path must be absolute/],
      [{}, ['rollback', 'production', '--to', '$(touch PWNED-by-fap-test)'], /is not a release name/],
      [{}, ['rollback', 'production', '--to', '../20260101000000'], /is not a release name/],
      [{}, ['deploy', 'production'], /is not a valid host name/, { hosts: ['web1;touch PWNED-by-fap-test'] }],
      [{}, ['deploy', 'production'], /is not a valid user name/, { hosts: ['$(touch PWNED-by-fap-test)@web1'] }],
      [{ environment: { 'A;B': 'x' } }, ['deploy', 'production'], /not a valid environment variable name/],
      [{ branch: '--upload-pack=touch PWNED-by-fap-test' }, ['deploy', 'production'], /may not start with "-"/],
    ];
    for (const [top, args, message, role] of cases) {
      const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'refused', ...top }, role });
      const r = await fap(['-f', file, ...args]);
      assert.equal(r.code, 2, `${JSON.stringify(top)} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.ok(!injected());
    for (let i = 0; i < 2; i++) assert.ok(!existsSync(fleet.hostPath(i, join(fleet.deployDir, 'refused'))), 'no host was contacted');
  });

  test('runs on different deploy paths proceed together; on the same path exactly one does', async () => {
    const repo = makeRepo();
    const files = ['par-a', 'par-b', 'par-c'].map((app) => writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app } }));
    const rs = await Promise.all(files.map((f) => fap(['-f', f, 'deploy', 'production'])));
    assert.deepEqual(rs.map((r) => r.code), [0, 0, 0], rs.map((r) => r.stderr).join('\n'));
  });
});
