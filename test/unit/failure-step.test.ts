// Where a host's failure happened, as printed (finding C6 of the 15th attack pass): a connection
// lost while a script ran names the phase it was in (`FAILED at publish: connection lost ...`, not
// a bare `FAILED: ...`), and a failure of the phase that cleans up after another (revert, discard)
// says that phase once: `FAILED at revert: cannot connect ...`, never `FAILED at revert failed: ...`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConnectError, FapError, HostError } from '../../src/errors.js';
import { EventBus, type StampedEvent } from '../../src/events.js';
import type { Target } from '../../src/release/plan.js';
import { Run } from '../../src/release/run.js';
import { Transaction } from '../../src/release/transaction.js';
import type { Connection } from '../../src/remote/connection.js';
import { Runner } from '../../src/remote/runner.js';
import { plainLine, type ReporterOptions } from '../../src/report/plain.js';

const o: ReporterOptions = { json: false, verbose: false, quiet: false, color: false, tty: false };
const target = { key: 'web1', connKey: 'web1', host: { name: 'web1' }, role: 'web', config: {} } as unknown as Target;

/** How a host can fail: a step of the script, the connection lost mid-script (in `phase`), the host not reached at all. */
const failureArb = fc.oneof(
  fc.record({ kind: fc.constant('step' as const), step: fc.constantFrom('health check', 'git: update mirror', 'switch current back to 20240101000000') }),
  fc.record({ kind: fc.constant('lost' as const), phase: fc.constantFrom('publish', 'prepare', 'revert', 'finish', 'lock') }),
  fc.record({ kind: fc.constant('unreachable' as const) }),
);

/** The error as the Runner or the connection gives it. */
async function errorOf(f: { kind: 'step'; step: string } | { kind: 'lost'; phase: string } | { kind: 'unreachable' }): Promise<FapError> {
  if (f.kind === 'step') return new HostError('web1', f.step, 'fatal: it broke');
  if (f.kind === 'unreachable') return new ConnectError('web1', 'cannot connect to web1:22: connection refused (is sshd running on that port?)');
  const conn = { runScript: () => Promise.reject(new ConnectError('web1', 'connection lost while a command was running')) } as unknown as Connection;
  return new Runner(new EventBus(), false).run(conn, 'web1', f.phase, [{ name: 'health check', script: 'true' }]).then(
    () => assert.fail('the script cannot succeed'),
    (e: FapError) => e,
  );
}

test('every failure printed says where it happened, once: a lost connection its phase, a revert or discard failure "at revert"/"at discard" (200 cases)', async () => {
  await fc.assert(
    fc.asyncProperty(failureArb, fc.constantFrom(undefined, 'revert', 'discard'), async (failure, cleanup) => {
      const bus = new EventBus();
      const failed: StampedEvent[] = [];
      bus.on((e) => e.event === 'host.failed' && failed.push(e));
      const run = new Run(bus, { command: 'deploy', commandLine: 'fap deploy production', parallel: 1, verbose: false, dryRun: false, options: {}, lockWaitMs: 0 });
      const error = await errorOf(failure);
      const res = await Transaction.run(run, [target], async (tx) => {
        tx.record([{ target, ok: false, error }], { step: cleanup });
        return tx.result(false, undefined, 'stopped');
      });
      assert.equal(failed.length, 1);
      const line = plainLine(failed[0], o)!.split('\n')[0];
      const want = failure.kind === 'step' ? failure.step : (cleanup ?? (failure.kind === 'lost' ? failure.phase : 'connect'));
      assert.ok(want && line.startsWith(`[web1] FAILED at ${want}: `), `names where (${want}): ${line}`);
      assert.equal(line.split(/\bfailed\b/i).length - 1, 1, `"failed" said once: ${line}`);
      // the result keeps saying what failed, and the step it was at
      const rep = res.hosts[0];
      assert.equal(rep.step, want);
      assert.equal(rep.error, (cleanup ? `${cleanup} failed: ` : '') + error.message);
    }),
    { numRuns: 200 },
  );
});

test('a connection lost mid-script names the phase it was in; one that already says where keeps it', async () => {
  const lost = new ConnectError('web1', 'connection lost while a command was running');
  assert.equal(lost.during('publish').step, 'publish');
  assert.equal(lost.during('publish').message, 'web1: connection lost while a command was running');
  assert.equal(lost.during('publish').during('revert').step, 'publish');
  assert.equal(new ConnectError('web1', 'x', true).during('lock').notStarted, true);
});
