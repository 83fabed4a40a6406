// A rollback emits Fapistrano's sequence (fapistrano-0.9.5 deploy.py:66-97): starting, started,
// reverting, reverted, publishing, (flip), published, finishing_rollback, finished. The bundled
// supervisorctl plugin restarts on deploy.published (plugins/supervisorctl.py:23, as Fapistrano's)
// and, for a failed deploy's revert, on deploy.reverted: in a rollback it must restart once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import supervisorctl from '../../plugins/supervisorctl/index.js';
import { quote } from '../../src/remote/shell.js';
import { layout } from '../../src/release/paths.js';
import type { SignalContext, SignalName } from '../../src/signals.js';

const ROLLBACK: SignalName[] = ['deploy.starting', 'deploy.started', 'deploy.reverting', 'deploy.reverted', 'deploy.publishing', 'deploy.published', 'deploy.finishing_rollback', 'deploy.finished'];

async function restarts(command: string, signals: SignalName[]): Promise<string[]> {
  const steps: string[] = [];
  for (const signal of signals) {
    const ctx = {
      signal,
      command,
      stage: 'production',
      role: 'web',
      host: 'h1',
      release: '261129-101500',
      paths: layout('/srv/app', '261129-101500'),
      config: { supervisorctl_command: 'supervisorctl', supervisor_program: 'app', supervisor_restart: true, supervisor_conf: '', supervisor_target: '/etc/x.conf' },
      options: {},
      dryRun: false,
      script: (name: string) => steps.push(`${signal}: ${name}`),
      upload: () => '',
      quote,
      log: () => {},
      remoteLog: () => '',
      remoteLogLines: () => '',
    } as SignalContext;
    await supervisorctl.on[signal]?.(ctx);
  }
  return steps.filter((s) => s.includes('restart'));
}

test('supervisorctl restarts exactly once in a rollback, after the flip (deploy.published)', async () => {
  assert.deepEqual(await restarts('rollback', ROLLBACK), ['deploy.published: supervisorctl: restart programs']);
});

test('a failed deploy reverted still restarts on deploy.reverted', async () => {
  assert.deepEqual(await restarts('deploy', ['deploy.reverting', 'deploy.reverted']), ['deploy.reverted: supervisorctl: restart programs']);
});
