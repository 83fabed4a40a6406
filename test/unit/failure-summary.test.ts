// How a failure is summarised (issue 15, item 6): the line quoted is the cause (git writes it first,
// then hints), always one whole line and never a secret; identical failures of several hosts are
// one block naming them all; a run stopped by unreachable hosts names each once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { causeLine, ConnectError, HostError, type FapError } from '../../src/errors.js';
import type { StampedEvent } from '../../src/events.js';
import { addSecret, clearSecrets, redact } from '../../src/redact.js';
import { failedHostsText } from '../../src/release/lock.js';
import type { Target } from '../../src/release/plan.js';
import { excerpt } from '../../src/remote/runner.js';
import { FailureGroups, type ReporterOptions } from '../../src/report/plain.js';

const CAUSE = /^(?:remote:\s*)?(?:fatal|error)(?:\[[^\]]*\])?:/i;
const lineBreak = /\r\n|\n|\r/;

/** Lines a failing program may write: noise, hints, blank lines, cause lines in every spelling. */
const lineArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  fc.constantFrom('', '   ', 'hint: run git config --global --add safe.directory /srv/app/repo', 'and the repository exists.', 'Please make sure you have the correct access rights'),
  fc
    .tuple(fc.constantFrom('fatal: ', 'error: ', 'ERROR: ', 'Error: ', '  fatal: ', 'remote: fatal: ', 'error[E0425]: '), fc.string({ maxLength: 20 }))
    .map(([p, s]) => p + s),
);
const outputArb = fc.tuple(fc.array(lineArb, { maxLength: 12 }), fc.constantFrom('\n', '\r\n', '\r')).map(([lines, nl]) => lines.join(nl));

describe('the cause line of a failed program', () => {
  test('git: the first fatal: line, not the last line of its hints', () => {
    const git = [
      "fatal: detected dubious ownership in repository at '/srv/app/repo'",
      'To add an exception for this directory, call:',
      '',
      "\tgit config --global --add safe.directory /srv/app/repo",
      "fatal: Could not read from remote repository.",
      '',
      'Please make sure you have the correct access rights',
      'and the repository exists.',
    ].join('\n');
    assert.equal(causeLine(git), "fatal: detected dubious ownership in repository at '/srv/app/repo'");
    assert.equal(causeLine('Collecting flask\nNo matching distribution found for flask==99\n\n'), 'No matching distribution found for flask==99');
    assert.equal(causeLine(' \n\n'), undefined);
  });

  test('whatever the output: one whole line of it, the first cause line if any, else the last non-empty (500 cases)', () => {
    fc.assert(
      fc.property(outputArb, (out) => {
        const got = causeLine(out);
        const lines = out.split(lineBreak).map((l) => l.trim()).filter(Boolean);
        if (!lines.length) return assert.equal(got, undefined);
        assert.ok(got !== undefined && !lineBreak.test(got), 'one line');
        assert.ok(lines.includes(got), 'a line of the output, whole');
        assert.equal(got, lines.find((l) => CAUSE.test(l)) ?? lines[lines.length - 1]);
      }),
      { numRuns: 500 },
    );
  });

  test('the line quoted never shows a secret, wherever the secret is in the output (300 cases)', () => {
    const secretArb = fc
      .string({ unit: 'binary', minLength: 3, maxLength: 16 })
      // '*' is what a mask is made of; a secret is a value, not surrounding blanks
      .filter((s) => !s.includes('*') && !lineBreak.test(s) && s.trim() === s && s.length >= 3);
    try {
      fc.assert(
        fc.property(secretArb, fc.array(lineArb, { maxLength: 8 }), fc.nat(), fc.constantFrom('fatal: ', 'error: ', '', 'password='), (secret, lines, at, prefix) => {
          clearSecrets();
          addSecret(secret);
          const all = [...lines];
          all.splice(at % (all.length + 1), 0, `${prefix}${secret}`);
          const out = all.join('\n');
          const got = causeLine(out);
          assert.ok(got !== undefined);
          assert.ok(!redact(got).includes(secret), `${JSON.stringify(got)} shows the secret`);
          // and so does the error built from it, as the CLI prints it
          const e = new HostError('web1', 'git: update mirror', got, excerpt(out, got));
          assert.ok(!redact(e.message + '\n' + e.stderrTail).includes(secret));
        }),
        { numRuns: 300 },
      );
    } finally {
      clearSecrets();
    }
  });

  test('the output shown is its last 8 lines, or 8 from the cause line when that came earlier', () => {
    const out = ['fatal: the cause', ...Array.from({ length: 20 }, (_, i) => `hint ${i}`)].join('\n');
    assert.equal(excerpt(out, causeLine(out)), ['fatal: the cause', ...Array.from({ length: 7 }, (_, i) => `hint ${i}`)].join('\n'));
    const plain = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    assert.equal(excerpt(plain, causeLine(plain)), Array.from({ length: 8 }, (_, i) => `line ${i + 12}`).join('\n'));
  });
});

const o: ReporterOptions = { json: false, verbose: false, quiet: false, color: false, tty: false };
const failure = (host: string, kind: number): StampedEvent => ({
  ts: '2026-01-01T00:00:00.000Z',
  event: 'host.failed',
  host,
  role: 'web',
  step: kind % 2 ? 'git: update mirror' : 'health check',
  message: `${host}: ${kind % 2 ? 'git: update mirror' : 'health check'}: fatal: cause ${kind}`,
  stderr: `fatal: cause ${kind}\nhint`,
  command: kind % 2 ? 'git fetch' : 'curl -fs http://localhost/up',
});

describe('identical failures of several hosts', () => {
  test('print once, naming every host that failed that way, in order (200 cases)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 12 }), (kinds) => {
        const hosts = kinds.map((_, i) => `web${i}`);
        const groups = new FailureGroups(o);
        kinds.forEach((k, i) => assert.ok(groups.hold(failure(hosts[i], k))));
        const blocks = groups.flush();
        const distinct = [...new Set(kinds)];
        assert.equal(blocks.length, distinct.length, blocks.join('\n---\n'));
        distinct.forEach((k, b) => {
          const named = hosts.filter((_, i) => kinds[i] === k);
          const text = blocks[b];
          assert.ok(text.startsWith(`[${named.join(', ')}] FAILED at `), text);
          assert.equal(text.split('\n').filter((l) => l.includes(`fatal: cause ${k}`)).length, 2, 'the cause once, and once in the output');
          assert.equal(text.split('\n').filter((l) => l.trim().startsWith('$ ')).length, 1, 'the command once');
        });
        assert.deepEqual(groups.flush(), [], 'flushed once');
      }),
      { numRuns: 200 },
    );
  });

  test('other events are not held', () => {
    const groups = new FailureGroups(o);
    assert.equal(groups.hold({ ts: '', event: 'warning', message: 'x' }), false);
  });
});

describe('a run stopped before changing anything', () => {
  const target = (name: string) => ({ host: { name }, key: name }) as unknown as Target;
  const errs = (kinds: [string, FapError][]) => kinds.map(([name, error]) => ({ target: target(name), error }));
  test('names the hosts, each once; their reasons are their own failure lines', () => {
    assert.equal(failedHostsText(errs([['a', new ConnectError('a', 'connection refused')]]), 1), 'could not connect to a');
    assert.equal(
      failedHostsText(
        errs([
          ['a', new ConnectError('a', 'connection refused')],
          ['b', new ConnectError('b', 'host name not found')],
          ['c', new HostError('c', 'lock', 'mkdir: Permission denied')],
        ]),
        5,
      ),
      'could not connect to 2 of 5 hosts (a, b); could not lock 1 of 5 hosts (c)',
    );
  });
});

test('a failure shows no line longer than LINE_MAX, and a secret cut by the limit is masked whole first', async () => {
  const { clip, LINE_MAX } = await import('../../src/remote/runner.js');
  const { addSecret, clearSecrets } = await import('../../src/redact.js');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 * LINE_MAX }), fc.stringMatching(/^[A-Za-z0-9]{8,40}$/), (at, secret) => {
      clearSecrets();
      addSecret(secret);
      const line = '.'.repeat(at) + secret + '-'.repeat(3 * LINE_MAX);
      const shown = clip(line);
      assert.ok(shown.length <= LINE_MAX + 40, `${shown.length}`);
      // no piece of the secret's start at the cut
      assert.ok(!shown.includes(secret.slice(0, 4)), shown.slice(LINE_MAX - 10, LINE_MAX + 10));
      assert.match(shown, /… \(\d+ more characters\)$/);
    }),
  );
  clearSecrets();
  assert.equal(clip('short'), 'short');
});
