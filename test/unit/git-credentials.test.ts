// A token in an https repo URL reaches git only through the askpass helper: never an argv (what ps
// shows, here every git command line and every process git starts, via a wrapper and GIT_TRACE),
// never <path>/repo/config, never REVISION. Against a real git smart-HTTP server (git http-backend
// behind a Node server that demands the credential), with the git plugin's steps run by /bin/sh.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { EventBus } from '../../src/events.js';
import { buildPlan, withRelease } from '../../src/release/plan.js';
import { Run } from '../../src/release/run.js';
import { prepareStartSteps } from '../../src/release/scripts.js';
import { composeScript } from '../../src/remote/shell.js';
import { git, makeRepo } from '../helpers.js';

const base = mkdtempSync(join(tmpdir(), 'fap-gitcred-'));
const USER = 'deployer';
const TOKEN = 'ghp_S3cr3tT0ken%2Fwith@odd';
const DECODED = decodeURIComponent(TOKEN);
const projects = join(base, 'srv');
let port = 0;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const expected = 'Basic ' + Buffer.from(`${USER}:${DECODED}`).toString('base64');
  if (req.headers.authorization !== expected) {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fap"' }).end();
    return;
  }
  const url = new URL(req.url!, 'http://x');
  const cgi = spawn('git', ['http-backend'], {
    env: { ...process.env, GIT_PROJECT_ROOT: projects, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: url.pathname, QUERY_STRING: url.search.slice(1), REQUEST_METHOD: req.method!, CONTENT_TYPE: req.headers['content-type'] ?? '', REMOTE_USER: USER, GIT_PROTOCOL: String(req.headers['git-protocol'] ?? '') },
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let sent = false;
  cgi.stdout.on('data', (chunk: Buffer) => {
    if (sent) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of head.subarray(0, end).toString().split('\r\n')) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (/^status$/i.test(k)) status = parseInt(v, 10);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + 4));
    sent = true;
  });
  cgi.on('close', () => res.end());
});

before(async () => {
  mkdirSync(projects);
  const repo = makeRepo({ 'app.py': 'print("v1")\n' });
  git(projects, 'clone', '-q', '--bare', repo.dir, join(projects, 'app.git'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(base, { recursive: true, force: true });
});

/** Run the git plugin's steps for a fresh release, with a git wrapper logging every argv and GIT_TRACE on. */
async function deployOnce(dir: string, release: string): Promise<{ code: number; stderr: string; argv: string; trace: string }> {
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, stringify({ app_name: 'shop', path: join(dir, 'www'), plugins: ['git'], repo: `http://${USER}:${TOKEN}@127.0.0.1:${port}/app.git`, stage_role_configs: { production: { web: { hosts: ['h1'] } } } }));
  const plan = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'deploy' });
  const t = withRelease(plan.targets[0], release);
  const run = new Run(new EventBus(), { command: 'deploy', commandLine: 'fap deploy', parallel: 1, verbose: false, dryRun: false, options: {}, lockWaitMs: 0 });
  mkdirSync(join(t.paths.state, 'releases'), { recursive: true });
  const script = composeScript([...prepareStartSteps(t.paths, release, [], run.token), ...(await run.signalSteps(t, release, ['deploy.updating']))]);
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const realGit = (await import('node:child_process')).execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  writeFileSync(join(bin, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${join(dir, 'argv.log')}\nexec ${realGit} "$@"\n`);
  chmodSync(join(bin, 'git'), 0o755);
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const child = spawn('/bin/sh', ['-c', script], { env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, TMPDIR: tmp, GIT_TRACE: join(dir, 'trace.log') } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  assert.deepEqual(readdirSync(tmp), [], 'the askpass directory is removed');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { code, stderr, argv: read('argv.log'), trace: read('trace.log') };
}

const leaks = (s: string) => [TOKEN, DECODED, 'S3cr3tT0ken'].filter((x) => s.includes(x));

test('a token in the repo URL: clone and fetch authenticate, and no argv, repo/config or REVISION holds it', async () => {
  const dir = mkdtempSync(join(base, 'case-'));
  const first = await deployOnce(dir, '20260101000000');
  assert.equal(first.code, 0, first.stderr);
  // a mirror an older fap left with the credential in its config is cleaned by the next deploy
  git(join(dir, 'www', 'repo'), 'config', 'remote.origin.url', `http://${USER}:${TOKEN}@127.0.0.1:${port}/app.git`);
  const second = await deployOnce(dir, '20260101000001');
  assert.equal(second.code, 0, second.stderr);
  for (const r of [first, second]) {
    assert.deepEqual(leaks(r.argv), [], r.argv);
    assert.deepEqual(leaks(r.trace), [], 'GIT_TRACE (every process git ran)');
    assert.deepEqual(leaks(r.stderr), []);
  }
  assert.match(second.argv, /clone --mirror --quiet --depth 1 --no-single-branch -- http:\/\/127\.0\.0\.1:\d+\/app\.git/);
  assert.match(second.argv, /fetch --prune --quiet --depth 1 -- origin/);
  const config = readFileSync(join(dir, 'www', 'repo', 'config'), 'utf8');
  assert.deepEqual(leaks(config), [], config);
  for (const rel of ['20260101000000', '20260101000001']) {
    assert.equal(readFileSync(join(dir, 'www', 'releases', rel, 'app.py'), 'utf8'), 'print("v1")\n');
    assert.match(readFileSync(join(dir, 'www', 'releases', rel, 'REVISION'), 'utf8'), /^[0-9a-f]{40}\n$/);
  }
});

test('without the credential the server refuses (the test server really checks it)', async () => {
  const r = await new Promise<number>((resolve) => {
    const c = spawn('git', ['ls-remote', `http://127.0.0.1:${port}/app.git`], { env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '' } });
    c.on('close', (code) => resolve(code ?? -1));
  });
  assert.notEqual(r, 0);
});
