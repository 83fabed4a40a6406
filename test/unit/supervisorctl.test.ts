// The supervisorctl plugin's restart step, run by a real /bin/sh against a stand-in supervisorctl
// that records its calls and answers as supervisorctl does: with supervisor_output what it answers
// reaches the operator as supervisorctl log lines (Fapistrano's show('output')), without it nothing
// does unless it fails.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { EventBus } from '../../src/events.js';
import { buildPlan, withRelease } from '../../src/release/plan.js';
import { Run } from '../../src/release/run.js';
import { composeScript, LOG_OUTPUT_PREFIX, parseFailedStep, parseOutputs } from '../../src/remote/shell.js';

const dir = mkdtempSync(join(tmpdir(), 'fap-supervisorctl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const calls = join(dir, 'calls');
const fake = join(dir, 'supervisorctl');
// answers like supervisorctl 4; FAKE_FAIL=<command> makes that command fail
writeFileSync(
  fake,
  [
    '#!/bin/sh',
    `echo "$*" >> '${calls}'`,
    'if [ "$1" = "$FAKE_FAIL" ]; then echo "error: <class \'socket.error\'>, [Errno 111] Connection refused" >&2; exit 2; fi',
    'case "$1" in',
    '  reread) echo "shop: changed" ;;',
    '  update) echo "shop: stopped"; echo "shop: updated process group" ;;',
    '  restart) echo "shop: stopped"; echo "shop: started" ;;',
    '  status) echo "shop                             RUNNING   pid 4242, uptime 0:00:01" ;;',
    'esac',
  ].join('\n') + '\n',
);
chmodSync(fake, 0o755);

let n = 0;
/** Run the step fap builds for fap restart with these keys; its log lines, calls and failure. */
async function restart(keys: Record<string, unknown>, env: Record<string, string> = {}) {
  const file = join(dir, `deploy-${n++}.yml`);
  writeFileSync(file, stringify({ app_name: 'shop', path: '/srv/shop', plugins: ['supervisorctl'], supervisorctl_command: fake, ...keys, stage_role_configs: { production: { web: { hosts: ['h1'] } } } }));
  const plan = await buildPlan({ deployfile: file, stage: 'production', env: {}, command: 'restart' });
  const run = new Run(new EventBus(), { command: 'restart', commandLine: 'fap restart production', parallel: 1, verbose: false, dryRun: false, options: {}, lockWaitMs: 0 });
  const steps = await run.signalSteps(withRelease(plan.targets[0], 'r'), 'r', ['deploy.restarting']);
  writeFileSync(calls, '');
  const r = spawnSync('/bin/sh', ['-c', composeScript(steps)], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  const { outputs, rest } = parseOutputs(r.stdout);
  return { status: r.status, log: outputs.get(`${LOG_OUTPUT_PREFIX}supervisorctl`) ?? [], rest, stderr: r.stderr, step: parseFailedStep(r.stderr).step, calls: readFileSync(calls, 'utf8').trim().split('\n') };
}

test('supervisor_output shows what supervisorctl answers to reread, update, restart and status', async () => {
  const r = await restart({ supervisor_output: true, supervisor_refresh: true, supervisor_check_status: true });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.calls, ['reread', 'update', 'restart shop', 'status shop']);
  assert.deepEqual(r.log, ['shop: changed', 'shop: stopped', 'shop: updated process group', 'shop: stopped', 'shop: started', 'shop                             RUNNING   pid 4242, uptime 0:00:01']);
  assert.equal(r.rest.trim(), '', 'nothing else on stdout');
});

test('without supervisor_output (the default) the restart says nothing', async () => {
  const r = await restart({});
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.calls, ['restart shop']);
  assert.deepEqual(r.log, []);
});

test('with supervisor_output a failing supervisorctl still fails the step, with its answer as the reason', async () => {
  for (const failing of ['reread', 'update', 'restart']) {
    const r = await restart({ supervisor_output: true, supervisor_refresh: true }, { FAKE_FAIL: failing });
    assert.equal(r.status, 1, failing);
    assert.equal(r.step, 'supervisorctl: restart programs');
    assert.match(r.stderr, /Connection refused/, failing);
    assert.equal(r.calls.at(-1)?.split(' ')[0], failing, 'nothing runs after the failure');
  }
});
