// The slack plugin against a real HTTP server on loopback standing in for Slack: one message per
// deploy, failed deploy and rollback, in Fapistrano's shape ({text, channel, icon_emoji},
// fapistrano-0.9.5 plugins/slack.py:25-36); a failing or silent webhook is a warning; the webhook
// URL (its path is the token) never appears in any output: plain, -v, --json, errors, fap config.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from '../suite.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();
const TOKEN = 'T0KEN/B0T/xoxb-SECRET-slack-42';

describe('slack on a 2-host fleet', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  let server: Server;
  let base: string;
  const hits: { path: string; contentType?: string; body: Record<string, unknown> }[] = [];

  before(async () => {
    fleet = await startFleet(2);
    repo = makeRepo();
    // /ok/... answers 200 "ok" (as Slack does), /fail/... 404 no_service, /hang/... never answers
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        hits.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: JSON.parse(raw || '{}') as Record<string, unknown> });
        if (req.url?.startsWith('/hang/')) return;
        if (req.url?.startsWith('/fail/')) res.writeHead(404).end('no_service');
        else res.writeHead(200).end('ok');
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

  function setup(app: string, mode: 'ok' | 'fail' | 'hang', top: Record<string, unknown> = {}): { file: string; path: string } {
    const path = `/${mode}/services/${app}/${TOKEN}`;
    // Fapistrano's spelling of the plugin, as an existing deploy.yml has it
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app, user: fleet.user, sudo_user: fleet.user, plugins: ['git', 'fapistrano.plugins.slack'], slack_webhook: base + path, slack_channel: '#deploys', ...top } });
    return { file, path };
  }
  const hitsFor = (path: string) => hits.filter((h) => h.path === path);
  const noSecret = (r: { stdout: string; stderr: string }, path: string) => {
    for (const out of [r.stdout, r.stderr]) {
      assert.ok(!out.includes(TOKEN), 'the token is never printed');
      assert.ok(!out.includes('xoxb-SECRET'), 'no part of the token either');
      assert.ok(!out.includes(path) && !out.includes(base + path));
    }
  };

  test('a deploy, a second deploy and a rollback each post one message; the URL is never printed', async () => {
    const { file, path } = setup('sl-ok', 'ok');
    const r = await fap(['-f', file, '-v', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    noSecret(r, path);
    const j = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(j.code, 0, j.stderr);
    noSecret(j, path);
    const result = jsonEvents(j.stdout).pop()!;
    const revision = (result.hosts as { revision: string }[])[0].revision;
    const got = hitsFor(path);
    assert.equal(got.length, 2, 'one POST per deploy');
    assert.match(got[1].contentType ?? '', /^application\/json/);
    assert.deepEqual(got[1].body, { text: `[sl-ok-production] Deploy to ${revision} (release ${result.release}) on 2 hosts`, icon_emoji: ':trollface:', channel: '#deploys' });
    const rb = await fap(['-f', file, '-v', 'rollback', 'production']);
    assert.equal(rb.code, 0, rb.stderr);
    noSecret(rb, path);
    // fapistrano-0.9.5 plugins/git2slack.py:33-38 "[%s] Rollback to %s"
    assert.match(String(hitsFor(path)[2].body.text), /^\[sl-ok-production\] Rollback to .*on 2 hosts$/);
    // nothing restarts here: refused before any host is contacted, and nothing posted
    const restart = await fap(['-f', file, 'restart', 'production']);
    assert.equal(restart.code, 2, restart.stderr);
    assert.equal(hitsFor(path).length, 3, 'restart posts nothing');
    const c = await fap(['-f', file, 'config', 'production', 'web']);
    assert.equal(c.code, 0, c.stderr);
    noSecret(c, path);
    const dry = await fap(['-f', file, '--dry-run', '-v', 'deploy', 'production']);
    noSecret(dry, path);
    assert.equal(hitsFor(path).length, 3, '--dry-run posts nothing');
  });

  test('a failed deploy posts which hosts failed and the first error line', async () => {
    const { file, path } = setup('sl-fail', 'ok', { health_check: 'echo not healthy >&2; false', health_check_timeout: 1 });
    const r = await fap(['-f', file, '--json', 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    noSecret(r, path);
    const [h] = hitsFor(path);
    const text = String(h.body.text);
    assert.match(text, /^\[sl-fail-production\] Deploy of release \d{14} FAILED on /);
    for (const host of fleet.hosts) assert.ok(text.split('\n')[0].includes(host.name), `names ${host.name}`);
    assert.match(text.split('\n')[0], /health check: not healthy \(exit status 1; still failing after 1s\)/);
    assert.match(text.split('\n')[1], /put back/);
  });

  test('a webhook that refuses or never answers is a warning; the deploy stands; no URL in the warning', async () => {
    const failing = setup('sl-404', 'fail');
    for (const flags of [['-v'], ['--json']]) {
      const r = await fap(['-f', failing.file, ...flags, 'deploy', 'production']);
      assert.equal(r.code, 0, r.stderr);
      noSecret(r, failing.path);
      assert.match(r.stderr + r.stdout, /slack: message not accepted: the webhook answered 404/);
    }
    const hanging = setup('sl-hang', 'hang', { slack_timeout: 1 });
    const h = await fap(['-f', hanging.file, 'deploy', 'production'], { timeoutMs: 60_000 });
    assert.equal(h.code, 0, h.stderr);
    noSecret(h, hanging.path);
    assert.match(h.stderr, /warning: slack: message not sent: Slack did not answer within 1s \(slack_timeout\)/);
    // an unreachable webhook (nothing listens on port 1)
    const gone = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'sl-gone', user: fleet.user, sudo_user: fleet.user, plugins: ['git', 'slack'], slack_webhook: `http://127.0.0.1:1/services/${TOKEN}` } });
    const g = await fap(['-f', gone, 'deploy', 'production']);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stderr, /warning: slack: message not sent: the webhook could not be reached/);
    assert.ok(!g.stderr.includes(TOKEN) && !g.stdout.includes(TOKEN));
    // a webhook that is not a URL: a configuration error that does not echo it
    const bad = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'sl-bad', user: fleet.user, sudo_user: fleet.user, plugins: ['git', 'slack'], slack_webhook: `hooks.slack.com/services/${TOKEN}` } });
    const b = await fap(['-f', bad, 'deploy', 'production']);
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, /slack_webhook must be an http:\/\/ or https:\/\/ URL/);
    assert.ok(!b.stderr.includes(TOKEN) && !b.stdout.includes(TOKEN));
  });
});
