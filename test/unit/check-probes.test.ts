// fap check's plugin probes run for real here (sh, curl, git on this machine): the artifact URL
// against a local HTTP server that answers HEAD and GET as told, the repository against a local
// repository with branches and tags of every kind.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { artifactProbe } from '../../plugins/curl/index.js';
import { repositoryProbe } from '../../plugins/git/index.js';
import { quote } from '../../src/remote/shell.js';

const missing = (tool: string) => (spawnSync(tool, ['--version']).error ? `no ${tool} on this machine` : false);

/** the probe's exit status and its last line, as fap check reads them */
function runProbe(script: string): Promise<{ code: number; line: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code: code ?? -1, line: out.trim().split('\n').at(-1) ?? '' }));
  });
}

let server: Server;
let port = 0;
/** what the server answers HEAD and GET with, per path */
const answers = new Map<string, { head: number; get: number }>();

before(async () => {
  server = createServer((req, res) => {
    const a = answers.get(req.url ?? '') ?? { head: 404, get: 404 };
    res.statusCode = req.method === 'HEAD' ? a.head : a.get;
    res.end(req.method === 'HEAD' ? undefined : 'x');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server?.close());

// found by the attack pass: an S3 presigned GET URL answers HEAD 403, and the probe failed a URL
// the release then downloaded; any 4xx to HEAD is now asked again as a ranged GET, which decides
test('artifact URL: a 4xx or 501 to HEAD is asked again as a ranged GET, and only the GET decides; any other HEAD answer decides', { skip: missing('curl') }, async () => {
  let n = 0;
  const status = fc.constantFrom(200, 204, 206, 301, 400, 401, 403, 404, 405, 410, 429, 500, 501, 503);
  await fc.assert(
    fc.asyncProperty(status, status, async (head, get) => {
      const path = `/a${n++}.tgz`;
      answers.set(path, { head, get });
      const r = await runProbe(artifactProbe(`http://127.0.0.1:${port}${path}`, undefined, '', 10, quote));
      const asked = head >= 400 && head < 500 || head === 501;
      const decisive = asked ? get : head;
      // a 3xx without a Location passes, as the probe takes any 2xx or 3xx
      assert.equal(r.code === 0, decisive < 400, `HEAD ${head}, GET ${get}: ${r.line}`);
      assert.match(r.line, new RegExp(`HTTP ${decisive}`), `HEAD ${head}, GET ${get}`);
      if (asked && get !== head) assert.match(r.line, new RegExp(`HEAD answered ${head}; a ranged GET`));
      else assert.doesNotMatch(r.line, /ranged GET/);
    }),
    { numRuns: 40 },
  );
});

// found by the attack pass: branch v2.0, an annotated tag, showed the tag object's id
test('git repository: a branch, a lightweight tag or an annotated tag is shown at the commit it names', { skip: missing('git') }, async () => {
  const repo = mkdtempSync(join(tmpdir(), 'fap-probe-repo-'));
  const git = (...args: string[]) => spawnSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}$/).filter((s) => !s.endsWith('.') && !s.endsWith('.lock') && !s.includes('..'));
  let i = 0;
  await fc.assert(
    fc.asyncProperty(name, fc.constantFrom('branch', 'tag', 'annotated'), async (base, kind) => {
      const ref = `${base}-${i++}`;
      git('commit', '-q', '--allow-empty', '-m', ref);
      const commit = git('rev-parse', 'HEAD').stdout.trim();
      if (kind === 'branch') git('branch', ref);
      else if (kind === 'tag') git('tag', ref);
      else git('tag', '-a', ref, '-m', ref);
      const r = await runProbe(repositoryProbe(repo, ref, quote));
      assert.equal(r.code, 0, r.line);
      assert.ok(r.line.endsWith(`${ref} at ${commit.slice(0, 7)}`), `${kind} ${ref}: ${r.line} (commit ${commit})`);
    }),
    { numRuns: 15 },
  );
});
