// The words a command ends with and the grouping of what hosts say alike (issue 15 items 8-10, 15):
// pure functions, each wording checked, open-ended inputs generated.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ago, formatDuration } from '../../src/duration.js';
import { count, hostCount } from '../../src/words.js';
import { deployedText, pruneText, sourceText } from '../../src/release/summary.js';
import { refusalText } from '../../src/release/rollback.js';
import { commonGoodReleases, type HostState } from '../../src/release/state.js';
import { lineGrouper, type ReporterOptions } from '../../src/report/plain.js';
import type { FapEvent, StampedEvent } from '../../src/events.js';
import { colorFor } from '../../src/report/color.js';
import { formatReleasesTable } from '../../src/release/releases.js';
import { formatCheckTable } from '../../src/release/check.js';

const SHA = '3f2a9c1e5b7d9f0a1c3e5b7d9f0a1c3e5b7d9f0a';

describe('the final line', () => {
  test('git with a branch: branch@short commit; default branch: the commit; an artifact: its revision', () => {
    assert.equal(sourceText([SHA, SHA], 'main'), 'main@3f2a9c1');
    assert.equal(sourceText([SHA], undefined), '3f2a9c1');
    const sha256 = 'ab'.repeat(32);
    assert.equal(sourceText([sha256], 'main'), `revision ${sha256.slice(0, 12)}`, 'a 64-digit sha256 is not a commit: no branch');
    assert.equal(sourceText([undefined, 'none'], 'main'), undefined, 'no host reported one');
    assert.equal(deployedText('20261130211140', 'main@3f2a9c1'), 'deployed main@3f2a9c1 as 20261130211140');
    assert.equal(deployedText('20261130211140', undefined), 'deployed 20261130211140');
    assert.equal(deployedText('20261130211140', '3f2a9c1', 'would deploy'), 'would deploy 3f2a9c1 as 20261130211140');
  });

  test('hosts that built from different commits are all named, never one picked', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[0-9a-f]{40}$/), { minLength: 2, maxLength: 5 }), fc.option(fc.stringMatching(/^[a-z][a-z0-9/._-]{0,20}$/), { nil: undefined }), (shas, branch) => {
        const text = sourceText(shas, branch)!;
        for (const s of shas) assert.ok(text.includes(s.slice(0, 7)), text);
        assert.match(text, /different revisions/);
      }),
    );
  });

  test('durations and counts read as people say them', () => {
    assert.equal(formatDuration(557), '557 ms');
    assert.equal(formatDuration(3149), '3.1 s');
    assert.equal(formatDuration(42_000), '42 s');
    assert.equal(formatDuration(303_000), '5 min 3 s');
    assert.equal(formatDuration(7_500_000), '2 h 5 min');
    assert.equal(formatDuration(-5), '0 ms');
    assert.equal(count(1, 'host'), '1 host');
    assert.equal(count(0, 'host'), '0 hosts');
    assert.equal(count(2, 'release'), '2 releases');
    assert.equal(hostCount(['a', 'b', 'a']), '2 hosts');
    fc.assert(
      fc.property(fc.nat({ max: 10 ** 9 }), (ms) => {
        const t = formatDuration(ms);
        assert.match(t, /^\d+(\.\d)? (ms|s)$|^\d+ min( \d+ s)?$|^\d+ h( \d+ min)?$/);
        assert.doesNotMatch(t, /\(s\)/);
      }),
    );
  });

  test('release times relative to now', () => {
    const now = new Date('2026-12-02T12:00:00Z');
    const at = (s: number) => new Date(now.getTime() - s * 1000);
    assert.equal(ago(at(3), now), 'just now');
    assert.equal(ago(at(42), now), '42 s ago');
    assert.equal(ago(at(300), now), '5 min ago');
    assert.equal(ago(at(3 * 3600), now), '3 h ago');
    assert.equal(ago(at(12 * 86400), now), '12 days ago');
    assert.equal(ago(at(-3600), now), 'in the future');
    assert.equal(ago(new Date('not a date'), now), '');
  });
});

describe('dry run and cleanup: what would be pruned', () => {
  test('nothing, the same on every host, or per host', () => {
    assert.equal(pruneText([{ host: 'a', names: [] }, { host: 'b', names: [] }]), 'would prune nothing');
    assert.equal(pruneText([{ host: 'a', names: ['r1', 'r2'] }, { host: 'b', names: ['r1', 'r2'] }]), 'would prune r1, r2 on every host');
    assert.equal(pruneText([{ host: 'a', names: ['r1'] }]), 'would prune r1 on a');
    assert.equal(pruneText([{ host: 'a', names: ['r1'] }, { host: 'b', names: [] }]), 'would prune r1 on a');
    assert.equal(pruneText([{ host: 'a', names: ['r1'] }, { host: 'b', names: ['r2'] }]), 'would prune r1 on a; r2 on b');
  });

  test('every release to be pruned is named, with its host', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ host: fc.stringMatching(/^h[0-9]{1,2}$/), names: fc.uniqueArray(fc.stringMatching(/^2026\d{10}$/), { maxLength: 3 }) }), { minLength: 1, maxLength: 6 }), (prunes) => {
        const text = pruneText(prunes);
        for (const p of prunes) for (const n of p.names) assert.ok(text.includes(n), `${n} in ${text}`);
        if (prunes.every((p) => !p.names.length)) assert.equal(text, 'would prune nothing');
      }),
    );
  });
});

describe('a refused rollback', () => {
  const state = (names: string[], failed: string[] = []): HostState => ({ releases: [...names.map((name) => ({ name, status: 'ok' as const })), ...failed.map((name) => ({ name, status: 'failed' as const }))], journals: [] });

  test('the same reason on every host is said once, naming the hosts; a missing --to lists the good releases all hosts have', () => {
    const problems = [
      { host: 'web1', message: 'web1: release 20991231000000 does not exist there' },
      { host: 'web2', message: 'web2: release 20991231000000 does not exist there' },
    ];
    const states = [state(['20261201000000', '20261202000000', '20261203000000']), state(['20261202000000', '20261203000000'], ['20261201000000'])];
    const text = refusalText(problems, states, '20991231000000');
    assert.equal(text, 'release 20991231000000 does not exist on web1, web2; good releases on every host, newest first: 20261203000000, 20261202000000 (fap releases shows all)');
    assert.equal(text.match(/does not exist/g)?.length, 1);
  });

  test('reasons without a host (hosts disagree) pass through; no candidates when no release is on every host', () => {
    assert.equal(refusalText([{ host: 'web1', message: 'hosts disagree about current (web1=a, web2=b)' }], []), 'hosts disagree about current (web1=a, web2=b)');
    const text = refusalText([{ host: 'a', message: 'a: release 20991231000000 does not exist there' }], [state(['20261201000000']), state(['20261202000000'])], '20991231000000');
    assert.match(text, /no good release is on every host/);
  });

  test('common good releases: on every host, good, newest first', () => {
    fc.assert(
      fc.property(fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { maxLength: 10 }), { minLength: 1, maxLength: 4 }), (hosts) => {
        const name = (i: number) => `202612${String(i).padStart(2, '0')}000000`.slice(0, 14);
        const states = hosts.map((h) => state(h.map(name)));
        const common = commonGoodReleases(states);
        for (const n of common) for (const s of states) assert.ok(s.releases.some((r) => r.name === n));
        assert.deepEqual(common, [...common].sort().reverse());
        const everywhere = hosts[0].filter((i) => hosts.every((h) => h.includes(i))).length;
        assert.equal(common.length, everywhere);
      }),
    );
  });
});

describe('what every host says alike is said once', () => {
  const o: ReporterOptions = { json: false, verbose: false, quiet: false, color: false, tty: false };
  const stamp = (e: FapEvent): StampedEvent => ({ ...e, ts: '2026-12-02T12:00:00Z' }) as StampedEvent;
  const run = (events: FapEvent[], opts: ReporterOptions = o) => {
    const lines: string[] = [];
    const g = lineGrouper(opts, (l) => lines.push(l));
    for (const e of events) g(stamp(e));
    g.flush();
    return lines;
  };
  const journal = { token: 't', command: 'deploy', release: '20261202000000', prev: '20261201000000', phase: 'publish' as const, at: '2026-12-02T11:00:00Z', hosts: [] };
  const heal = (host: string, action = 'cleaning up an interrupted deploy'): FapEvent => ({ event: 'heal', host, interrupted: journal, action });

  test('identical heals print once with their hosts, before the phase line that follows; different ones apart', () => {
    const lines = run([heal('web1'), { event: 'host.done', host: 'web1', phase: 'lock' }, heal('web2'), heal('web3', 'something else'), { event: 'phase.finished', phase: 'lock', ms: 100, ok: 3, failed: 0 }]);
    assert.deepEqual(lines, [
      '[web1, web2] heal: cleaning up an interrupted deploy (the run started 2026-12-02T11:00:00Z)',
      '[web3] heal: something else (the run started 2026-12-02T11:00:00Z)',
      'lock: 3 ok (0.1s)',
    ]);
  });

  test('whatever hosts say, each thing said appears once and every host that said it is named', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ host: fc.constantFrom('a', 'b', 'c', 'd'), message: fc.constantFrom('m1', 'm2', 'disk almost full') }), { maxLength: 12 }), (said) => {
        const lines = run([...said.map((s): FapEvent => ({ event: 'warning', host: s.host, message: s.message })), { event: 'result', ok: true, command: 'deploy', exitCode: 0, hosts: [] }]);
        const messages = new Set(said.map((s) => s.message));
        assert.equal(lines.length, messages.size, lines.join('\n'));
        for (const m of messages) {
          const line = lines.find((l) => l.endsWith(`warning: ${m}`))!;
          for (const s of said.filter((x) => x.message === m)) assert.ok(line.includes(s.host), `${s.host} in ${line}`);
        }
      }),
    );
  });

  test('a dry run shows scripts only with -v, each distinct script once with its hosts', () => {
    const script = (host: string, text: string, phase = 'prepare'): FapEvent => ({ event: 'script', host, phase, script: text, verbose: true, dryRun: true });
    const events: FapEvent[] = [script('web1', 'set -e\nA'), script('web2', 'set -e\nA'), script('web3', 'set -e\nB'), { event: 'phase.finished', phase: 'prepare', ms: 0, ok: 3, failed: 0 }];
    assert.deepEqual(run(events, { ...o, dryRun: true }), [], 'no scripts and no phase lines without -v');
    assert.deepEqual(run(events, { ...o, dryRun: true, verbose: true }), ['[web1, web2] prepare script:\n    set -e\n    A', '[web3] prepare script:\n    set -e\n    B']);
  });
});

describe('tables', () => {
  test('colour: --no-color and NO_COLOR off, FORCE_COLOR on a pipe, else a terminal only', () => {
    assert.equal(colorFor({ isTTY: true }, undefined, {}), true);
    assert.equal(colorFor({ isTTY: false }, undefined, {}), false);
    assert.equal(colorFor({ isTTY: false }, undefined, { FORCE_COLOR: '1' }), true);
    assert.equal(colorFor({ isTTY: true }, undefined, { FORCE_COLOR: '0' }), false);
    assert.equal(colorFor({ isTTY: true }, undefined, { NO_COLOR: '1' }), false);
    assert.equal(colorFor({ isTTY: true }, undefined, { NO_COLOR: '' }), true, 'an empty NO_COLOR is unset (no-color.org)');
    assert.equal(colorFor({ isTTY: true }, false, { FORCE_COLOR: '1' }), false, '--no-color wins');
  });

  test('fap releases: when relative to now, failed red, current green, columns aligned either way', () => {
    const now = new Date('2026-12-02T12:00:00Z');
    const rows = [
      {
        host: 'web1',
        role: 'web',
        state: {
          current: '20261202115500',
          journals: [],
          releases: [
            { name: '20261202110000', status: 'failed' as const, revision: SHA, deployed_at: '2026-12-02T11:00:00Z', deployed_by: 'ana@laptop' },
            { name: '20261202115500', status: 'ok' as const, revision: SHA, deployed_at: '2026-12-02T11:55:00Z', deployed_by: 'ana@laptop' },
          ],
        },
      },
    ];
    const plain = formatReleasesTable(rows, { now });
    assert.match(plain, /^HOST +ROLE +RELEASE +REVISION +STATUS +CURRENT +DEPLOYED +BY$/m);
    assert.match(plain, /20261202110000 +3f2a9c1e5b7d +failed +1 h ago +ana@laptop/);
    assert.match(plain, /20261202115500 +3f2a9c1e5b7d +ok +\* +5 min ago +ana@laptop/);
    assert.doesNotMatch(plain, /\u001b/);
    const coloured = formatReleasesTable(rows, { now, color: true });
    assert.ok(coloured.includes('\u001b[31mfailed'), coloured);
    assert.ok(coloured.includes('\u001b[32m*'), coloured);
    // eslint-disable-next-line no-control-regex
    assert.equal(coloured.replace(/\u001b\[\d+m/g, ''), plain, 'the same table under the colours');
  });

  test('fap check: FAIL red, warn yellow', () => {
    const hosts = [{ host: 'web1', role: 'web', checks: [{ name: 'connect', status: 'ok' as const, detail: '' }, { name: 'disk', status: 'warn' as const, detail: 'low' }, { name: 'tool git', status: 'FAIL' as const, detail: 'missing' }] }];
    const coloured = formatCheckTable(hosts as Parameters<typeof formatCheckTable>[0], { color: true });
    assert.ok(coloured.includes('\u001b[31mFAIL'));
    assert.ok(coloured.includes('\u001b[33mwarn'));
    assert.doesNotMatch(formatCheckTable(hosts as Parameters<typeof formatCheckTable>[0]), /\u001b/);
  });
});

test('a branch that is a commit id is not said twice', () => {
  assert.equal(sourceText([SHA], SHA.slice(0, 7)), '3f2a9c1');
  assert.equal(sourceText([SHA], SHA), '3f2a9c1');
  assert.equal(sourceText([SHA.slice(0, 7)], SHA.slice(0, 7)), '3f2a9c1', 'a dry run of an unresolvable short id: the id itself');
  assert.equal(sourceText([SHA], 'main'), 'main@3f2a9c1');
});

test("fap releases shows a host's escape sequences, never sends them to the terminal", () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('\u001b', '[', '3', '1', 'm', ']', '0', ';', '\u0007', 'a', '\r', '\u009b') }), (evil) => {
      const rows = [{ host: 'web1', role: 'web', state: { current: '20261202115500', foreignCurrent: evil, journals: [], releases: [{ name: '20261202115500', status: 'ok' as const, deployed_by: evil, deployed_at: evil }] } }];
      const table = formatReleasesTable(rows as Parameters<typeof formatReleasesTable>[0], { color: false });
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(table, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    }),
  );
});

test('a grouped line does not repeat the host a message names itself', () => {
  const lines: string[] = [];
  const g = lineGrouper({ json: false, verbose: false, quiet: false, color: false, tty: false }, (l) => lines.push(l));
  g({ event: 'warning', host: 'web1', message: 'web1: host key NOT verified', ts: '' } as StampedEvent);
  g.flush();
  assert.deepEqual(lines, ['[web1] warning: host key NOT verified']);
});

test('fap releases: an unreadable host is one short cell and one line under the table naming it once', () => {
  const why = 'cannot connect to 10.0.0.9:22: connection refused (is sshd running on that port?)';
  const table = formatReleasesTable([
    { host: 'web1', role: 'web', state: { current: '20261202115500', journals: [], releases: [{ name: '20261202115500', status: 'ok' as const }] } },
    { host: '10.0.0.9', role: 'web', error: `10.0.0.9: ${why}` },
  ] as Parameters<typeof formatReleasesTable>[0]);
  const lines = table.split('\n');
  assert.ok(lines.filter((l) => !l.startsWith('error:')).every((l) => l.length < 90), table);
  assert.match(table, /^10\.0\.0\.9 +web +- +- +unreadable$/m);
  assert.ok(lines.includes(`error: could not read 10.0.0.9: ${why}`), table);
  assert.equal(table.split('10.0.0.9:22').length - 1, 1);
});
