// The --json stream of real runs on the fleet, every line type-checked against the FapEvent union
// (test/events-check.ts): a verbose deploy, a dry run, a deploy that fails in prepare, one that
// fails in publish and reverts, a rollback, releases, check, run and config. (fap run's command
// prints nothing here: its output goes to stdout as it is, even with --json.)
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeFaultPlugin } from '../fault-plugin.js';
import { badLines, eventErrors } from '../events-check.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, makeRepo, writeDeployFile } from '../helpers.js';

const skip = fleetUnsupportedReason();
let fleet: Fleet;
before(async () => {
  if (!skip) fleet = await startFleet(2);
});
after(async () => {
  await fleet?.stop();
});

test('every --json line of real runs fits the event union', { skip }, async () => {
  const repo = makeRepo();
  const dir = mkdtempSync(join(tmpdir(), 'fap-events-'));
  const plugin = writeFaultPlugin(dir);
  const file = (top: Record<string, unknown> = {}) => writeDeployFile(fleet, { dir: mkdtempSync(join(dir, 'cfg-')), repo: repo.dir, top: { app_name: 'events', plugins: ['git', join(dir, plugin)], ...top } });
  const ok = file();
  const runs: [string, string[], number][] = [
    [ok, ['-v', 'deploy', 'production'], 0],
    [ok, ['deploy', 'production'], 0],
    [ok, ['--dry-run', 'deploy', 'production'], 0],
    [file({ fault_signal: 'deploy.updated' }), ['deploy', 'production'], 1],
    [file({ fault_signal: 'deploy.published', fault_hosts: [fleet.hosts[1].name] }), ['deploy', 'production'], 1],
    [ok, ['rollback', 'production'], 0],
    [ok, ['releases', 'production'], 0],
    [ok, ['check', 'production'], 0],
    [ok, ['run', 'production', 'web', 'true'], 0],
    [ok, ['config', 'production'], 0],
  ];
  const lines: string[] = [];
  for (const [f, args, code] of runs) {
    const r = await fap(['-f', f, '--json', ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    lines.push(...r.stdout.trim().split('\n'));
  }
  const errors = eventErrors(lines);
  assert.deepEqual(badLines(errors), [], errors.map((e) => e.message).join('\n'));
  const events = lines.map((l) => JSON.parse(l) as { event: string; command?: string; release?: string });
  const seen = new Set(events.map((e) => e.event));
  for (const name of ['run.started', 'host.connected', 'release.planned', 'phase.started', 'phase.finished', 'deploy.starting', 'deploy.finished', 'script', 'host.done', 'host.failed', 'deploy.failed', 'deploy.reverting', 'deploy.reverted', 'run.command', 'run.exit', 'config', 'result']) {
    assert.ok(seen.has(name), `the runs emitted ${name}`);
  }
  assert.ok(events.some((e) => e.event === 'deploy.failed' && e.release), 'the release-level deploy.failed');
  assert.deepEqual(events.filter((e) => e.event === 'result').map((e) => e.command), ['deploy', 'deploy', 'deploy', 'deploy', 'deploy', 'rollback', 'releases', 'check', 'run', 'config']);
});
