// The --json stream of real fap processes, every line type-checked against the FapEvent union
// (test/events-check.ts): root-free, against a host whose port refuses connections, so every
// command runs its failure path to its `result` (fap config: its config lines, then a result).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { badLines, eventErrors } from '../events-check.js';
import { fap } from '../helpers.js';

test('every --json line of every command fits the event union (unreachable host)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-events-'));
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, stringify({ app_name: 'shop', path: join(dir, 'srv'), user: 'nobody', sudo_user: 'nobody', plugins: ['git'], repo: '/nonexistent.git', ssh: { connect_retries: 0, connect_timeout: 5 }, stage_role_configs: { production: { web: { hosts: ['127.0.0.1:1'] } } } }));
  const lines: string[] = [];
  const commands = [['deploy', 'production'], ['--dry-run', 'deploy', 'production'], ['check', 'production'], ['releases', 'production'], ['run', 'production', 'web', 'true'], ['rollback', 'production'], ['unlock', 'production'], ['config', 'production']];
  for (const args of commands) {
    const r = await fap(['-f', file, '--json', ...args]);
    assert.ok(r.stdout.trim(), `${args.join(' ')}: no events (${r.stderr})`);
    const out = r.stdout.trim().split('\n');
    assert.equal(JSON.parse(out.at(-1)!).event, 'result', `${args.join(' ')} ends with its result`);
    lines.push(...out);
  }
  const errors = eventErrors(lines);
  assert.deepEqual(badLines(errors), [], errors.map((e) => e.message).join('\n'));
  const results = lines.map((l) => JSON.parse(l)).filter((e) => e.event === 'result');
  assert.deepEqual(results.map((e) => e.command), ['deploy', 'deploy', 'check', 'releases', 'run', 'rollback', 'unlock', 'config']);
});
