// The notify plugin against a real HTTP server on loopback: one POST per deploy with the run's
// summary; a failing or silent webhook is a warning that never prints the (secret) URL.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { writeFaultPlugin } from '../fault-plugin.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();
const TOKEN = 'SECRET-TOKEN-123';

interface Hit {
  path: string;
  method: string;
  contentType?: string;
  body: Record<string, unknown>;
  at: number;
}

describe('notify on a 2-host fleet', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  let server: Server;
  let base: string;
  const hits: Hit[] = [];

  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo();
    // /ok/... answers 204, /fail/... 500, /hang/... never answers
    server = createServer((req: IncomingMessage, res) => {
      const at = Date.now();
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          body = { unparsable: raw };
        }
        hits.push({ path: req.url ?? '', method: req.method ?? '', contentType: req.headers['content-type'], body, at });
        if (req.url?.startsWith('/hang/')) return;
        res.writeHead(req.url?.startsWith('/fail/') ? 500 : 204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await fleet?.stop();
  });

  /** a deploy file with notify (and the fault plugin) posting to <base>/<mode>/hook/<app>/TOKEN */
  function setup(app: string, mode: 'ok' | 'fail' | 'hang', top: Record<string, unknown> = {}): { file: string; path: string } {
    const dir = mkdtempSync(join(tmpdir(), 'fap-notify-'));
    const fault = writeFaultPlugin(dir);
    const path = `/${mode}/hook/${app}/${TOKEN}`;
    const file = writeDeployFile(fleet, { dir, repo: repo.dir, top: { app_name: app, plugins: ['git', fault, 'notify'], notify_url: base + path, ...top } });
    return { file, path };
  }
  const hitsFor = (path: string) => hits.filter((h) => h.path === path);

  test('a successful deploy posts one summary: ok, the release of the result event', async () => {
    const { file, path } = setup('nt-ok', 'ok');
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    const result = jsonEvents(r.stdout).pop()!;
    assert.equal(result.event, 'result');
    const got = hitsFor(path);
    assert.equal(got.length, 1, 'exactly one POST');
    const [h] = got;
    assert.equal(h.method, 'POST');
    assert.match(h.contentType ?? '', /^application\/json/);
    assert.equal(h.body.event, 'deploy.finished');
    assert.equal(h.body.ok, true);
    assert.equal(h.body.release, result.release);
    assert.equal(h.body.command, 'deploy');
    assert.equal(h.body.stage, 'production');
    assert.equal(h.body.app, 'nt-ok');
    assert.match(String(h.body.by), /^[^@\s]+@\S+$/);
    assert.ok(!Number.isNaN(Date.parse(String(h.body.startedAt))) && Date.parse(String(h.body.finishedAt)) >= Date.parse(String(h.body.startedAt)));
    const hosts = h.body.hosts as { host: string; outcome: string }[];
    assert.deepEqual(hosts.map((x) => x.host).sort(), fleet.hosts.map((x) => x.name).sort());
    assert.ok(hosts.every((x) => x.outcome === 'deployed'));
    assert.ok(!jsonEvents(r.stdout).some((e) => e.event === 'warning'), 'no warning');
    assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN));

    // a rollback notifies too; restart does not
    const rb = await fap(['-f', file, 'rollback', 'production']);
    assert.equal(rb.code, 1, 'nothing to roll back to');
    assert.equal(hitsFor(path).length, 2);
    assert.equal(hitsFor(path)[1].body.event, 'rollback.failed');
    assert.equal(hitsFor(path)[1].body.ok, false);
    for (const cmd of ['restart', 'cleanup']) {
      const m = await fap(['-f', file, cmd, 'production']);
      // nothing restarts here: restart is refused before contacting a host
      assert.equal(m.code, cmd === 'restart' ? 2 : 0, `${cmd}: ${m.stderr}`);
    }
    assert.equal(hitsFor(path).length, 2, 'restart and cleanup send nothing');
  });

  test('a failing deploy posts one summary with ok false and event deploy.failed', async () => {
    const { file, path } = setup('nt-fail', 'ok');
    const r = await fap(['-f', file, '--json', '--set', 'fault_signal=deploy.updated', '--set', `fault_hosts=[${fleet.hosts[1].name}]`, 'deploy', 'production']);
    assert.equal(r.code, 1);
    const result = jsonEvents(r.stdout).pop()!;
    const got = hitsFor(path);
    assert.equal(got.length, 1);
    assert.equal(got[0].body.event, 'deploy.failed');
    assert.equal(got[0].body.ok, false);
    assert.equal(got[0].body.release, result.release);
    assert.match(String(got[0].body.summary), /no host was switched/);
    const failed = (got[0].body.hosts as { host: string; outcome: string; step?: string }[]).find((x) => x.host === fleet.hosts[1].name)!;
    assert.equal(failed.outcome, 'failed');
    assert.equal(failed.step, 'fault: injected fault');
  });

  test('a webhook answering 500: the deploy still succeeds, a warning names no secret', async () => {
    const { file, path } = setup('nt-500', 'fail');
    const r = await fap(['-f', file, '-v', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(hitsFor(path).length, 1);
    assert.match(r.stderr, /warning: notify: .*500/);
    assert.ok(!r.stdout.includes(TOKEN), 'token not on stdout');
    assert.ok(!r.stderr.includes(TOKEN), 'token not on stderr');
    assert.ok(!r.stderr.includes(path));
    const j = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(j.code, 0, j.stderr);
    assert.equal(jsonEvents(j.stdout).pop()!.ok, true);
    assert.ok(jsonEvents(j.stdout).some((e) => e.event === 'warning' && /notify: .*500/.test(String(e.message))));
    assert.ok(!j.stdout.includes(TOKEN) && !j.stderr.includes(TOKEN));
    // fap config shows it redacted, too
    const c = await fap(['-f', file, 'config', 'production', 'web']);
    assert.equal(c.code, 0, c.stderr);
    assert.ok(!c.stdout.includes(TOKEN) && !c.stderr.includes(TOKEN));
  });

  test('a webhook that never answers: a warning after notify_timeout, the deploy succeeds', async () => {
    const { file, path } = setup('nt-hang', 'hang', { notify_timeout: 1 });
    const r = await fap(['-f', file, 'deploy', 'production'], { timeoutMs: 60_000 });
    const exited = Date.now();
    assert.equal(r.code, 0, r.stderr);
    const got = hitsFor(path);
    assert.equal(got.length, 1);
    assert.ok(exited - got[0].at < 5_000, `fap gave up ${exited - got[0].at} ms after the request arrived`);
    assert.match(r.stderr, /warning: notify: .*did not answer within 1s/);
    assert.ok(!r.stderr.includes(TOKEN) && !r.stdout.includes(TOKEN));
  });
});
