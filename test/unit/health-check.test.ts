// A failing health check, run for real through the session driver and the Runner (finding C4 of
// the 15th attack pass): the failure's headline is the cause in what the user's command printed on
// its last attempt (its first fatal:/error: line, else its last line), however long that output and
// wherever the cause is in it; its exit status is named; fap's own words and what earlier steps of
// the script printed are never taken for the command's output.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { causeLine, HostError } from '../../src/errors.js';
import { EventBus } from '../../src/events.js';
import { layout } from '../../src/release/paths.js';
import { healthCheckSteps } from '../../src/release/scripts.js';
import type { Connection } from '../../src/remote/connection.js';
import { excerpt, Runner } from '../../src/remote/runner.js';
import { RUN_MARK, sessionCommand, sessionMarks, type Step } from '../../src/remote/shell.js';

/** One script through the session driver in a local shell (as sshd would run it), asynchronously. */
function runInSession(script: string): Promise<{ code: number; stdout: string; stderr: string; marks: { output: string; failed: string } }> {
  const nonce = randomBytes(6).toString('hex');
  const key = randomBytes(8).toString('hex');
  const m = sessionMarks(key);
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', sessionCommand(nonce)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => {
      const cut = (s: string) => s.slice(0, s.lastIndexOf('\n' + m.done));
      const code = Number(out.slice(out.lastIndexOf(m.done) + m.done.length).trim());
      resolve({ code, stdout: cut(out), stderr: cut(err), marks: { output: m.output, failed: m.failed } });
    });
    child.stdin.end(`${key}\n${script}${RUN_MARK}${nonce}\n`);
  });
}

/** Lines a failing check may print: noise, blank lines, cause lines in several spellings, fap-like words. */
const lineArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }).filter((s) => !/[\n\r]/.test(s)) },
  fc.constantFrom('', '  ', 'curl: (7) Failed to connect to 127.0.0.1 port 9', 'health check failed for 1s', 'still starting'),
  fc.tuple(fc.constantFrom('fatal: ', 'error: ', 'Error: ', '  error: '), fc.string({ maxLength: 20 }).filter((s) => !/[\n\r]/.test(s))).map(([p, s]) => p + s),
);
/** up to 60 lines: often more than the 8 shown, so a cause early in them must not be cut off */
const caseArb = fc.record({ lines: fc.array(lineArb, { maxLength: 60 }), status: fc.integer({ min: 1, max: 125 }) });

test('a failing health check: the cause and the 8 lines from it are its last attempt\'s output, with its exit status; never fap\'s words nor an earlier step\'s (24 cases)', async () => {
  const cases = fc.sample(caseArb, { numRuns: 24, seed: Number(process.env.FC_SEED ?? Date.now() % 100000) });
  // always the same two: the attack's examples (a cause among 43 lines; no output at all)
  cases.push({ lines: ['1', '2', 'error: the real cause', ...Array.from({ length: 41 }, (_, i) => String(100 + i))], status: 3 }, { lines: [], status: 1 });
  await Promise.all(
    cases.map(async ({ lines, status }, i) => {
      const root = mkdtempSync(join(tmpdir(), 'fap-health-'));
      const p = layout(root, '20240101000000');
      mkdirSync(p.current, { recursive: true });
      const text = lines.join('\n');
      writeFileSync(join(p.current, 'out.txt'), text);
      // an earlier step of the same script says things that look like causes, on both streams
      const steps: Step[] = [
        { name: 'restart', script: "echo 'error: an earlier step, not the check' >&2; echo 'fatal: earlier stdout'" },
        ...healthCheckSteps(p, `cat out.txt; exit ${status}`, 1, 1),
      ];
      const conn = { runScript: (s: string) => runInSession(s) } as unknown as Connection;
      const e = await new Runner(new EventBus(), false).run(conn, 'h', 'publish', steps).then(
        () => assert.fail(`case ${i}: the check passed`),
        (x: unknown) => x,
      );
      assert.ok(e instanceof HostError, String(e));
      assert.equal(e.step, 'health check');
      // what the command printed, as $(...) keeps it (trailing line breaks dropped)
      const said = text.replace(/\s+$/, '');
      const cause = causeLine(said);
      const detail = e.message.slice('h: health check: '.length);
      if (cause) assert.equal(detail, `${cause} (exit status ${status}; still failing after 1s)`, `case ${i}`);
      else assert.equal(detail, `exit status ${status}, no output (still failing after 1s)`, `case ${i}`);
      assert.equal(e.stderrTail, excerpt(said.replace(/^\n+/, ''), cause), `case ${i}: the output shown`);
      if (cause) assert.ok(e.stderrTail.split('\n').some((l) => l.trim() === cause), 'the cause is in the lines shown');
      assert.doesNotMatch(e.stderrTail + e.message, /earlier step|earlier stdout|fap_/, `case ${i}`);
      assert.equal(e.command, `cat out.txt; exit ${status}`);
    }),
  );
});

/** Run one health check (timeout 2 s) in a local session; its error and how long it took. */
async function failingCheck(command: string): Promise<{ e: HostError; ms: number }> {
  const root = mkdtempSync(join(tmpdir(), 'fap-health-'));
  const p = layout(root, '20240101000000');
  mkdirSync(p.current, { recursive: true });
  const conn = { runScript: (s: string) => runInSession(s) } as unknown as Connection;
  const t0 = Date.now();
  const e = await new Runner(new EventBus(), false).run(conn, 'h', 'publish', healthCheckSteps(p, command, 2, 1)).then(
    () => assert.fail('the check passed'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof HostError, String(e));
  return { e, ms: Date.now() - t0 };
}

test('a health check that hangs is ended when its time is up, and says so (found by the attack pass: a hung check held the deploy 100 s, then passed)', { skip: spawnSyncOk('timeout') ? false : 'no timeout(1) on this machine' }, async () => {
  const { e, ms } = await failingCheck('echo starting; sleep 100');
  assert.ok(ms < 10_000, `ended after ${ms} ms`);
  assert.match(e.message, /\(exit status 124; still failing after 2s\)$/);
  assert.match(e.stderrTail, /starting\n\(ended: it was still running when the 2s were up\)/);
});

test('a health check that prints megabytes: only the last 64 KiB of its output are kept', async () => {
  const { e, ms } = await failingCheck('yes abcdefghij | head -c 5000000; echo; echo "error: the end"; exit 9');
  assert.ok(ms < 15_000, `took ${ms} ms`);
  assert.match(e.message, /error: the end \(exit status 9; still failing after 2s\)$/);
  assert.ok(e.stderrTail.length < 70_000, `${e.stderrTail.length} characters kept`);
});

function spawnSyncOk(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
}

test("a check that exits 124 itself is not said to have been ended; a hung one's note is a line of its own", { skip: spawnSyncOk('timeout') ? false : 'no timeout(1) on this machine' }, async () => {
  const own = await failingCheck('echo mine; exit 124');
  assert.match(own.e.message, /mine \(exit status 124; still failing after 2s\)$/);
  assert.doesNotMatch(own.e.stderrTail, /ended:/);
  const hung = await failingCheck('printf starting; sleep 100');
  assert.match(hung.e.stderrTail, /^starting\n\(ended: it was still running when the 2s were up\)$/m);
});
