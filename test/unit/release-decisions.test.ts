// The release model (src/release/state.ts) on small literal cases, each with the exact result
// expected: how a leftover run is healed (planHeal, decideRun), how many hosts a publish batch
// takes (batchSize), where a rollback goes or why not (chooseRollback), what a host's listing says
// (parseState). heal.test.ts checks the heal and rollback generatively over every interrupted run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  batchSize,
  chooseRollback,
  currentShown,
  decideRun,
  EMPTY_STATE,
  FINAL_PHASES,
  isGood,
  nextReleaseName,
  parseState,
  planHeal,
  pruneList,
  rollbackTarget,
  unfinished,
  unrecordedDirty,
  unrecordedUnverified,
  type HostState,
  type Journal,
} from '../../src/release/state.js';

const A = '20240101000000';
const B = '20240102000000';
const C = '20240103000000';
const H0 = 'deploy@h0:22:/srv/app';
const H1 = 'deploy@h1:22:/srv/app';
const H2 = 'deploy@h2:22:/srv/app';

/** A deploy of B from A (or a rollback: release is where it goes, prev where it was). */
const run = (phase: Journal['phase'], o: Partial<Journal> = {}): Journal => ({ token: 'T1', command: 'deploy', release: B, prev: A, phase, at: '2024-01-02T00:00:00Z', hosts: [H0, H1], ...o });
const host = (current: string | undefined, journals: Journal[], releases: HostState['releases'] = [{ name: A, status: 'ok' }, { name: B, status: 'building' }]): HostState => ({ current, releases, journals });

describe('planHeal: literal cases', () => {
  test('nothing unfinished: no heal, the states as they are', () => {
    const done = host(B, [run('done')]);
    const none: HostState = { releases: [] };
    const { heals, healed, problems } = planHeal(new Map([[H0, done], [H1, none]]));
    assert.equal(heals.size, 0);
    assert.deepEqual(problems, []);
    assert.equal(healed.get(H0), done);
    assert.equal(healed.get(H1), none);
  });

  test('a deploy stopped in prepare: its release is removed, current stays, the journal goes', () => {
    const j0 = run('prepare');
    const j1 = run('prepare');
    const { heals, healed, problems } = planHeal(new Map([[H0, host(A, [j0])], [H1, host(A, [j1])]]));
    assert.deepEqual(problems, []);
    assert.deepEqual(heals.get(H0), { journal: j0, keep: false, flipBackTo: undefined, release: 'remove' });
    assert.deepEqual(heals.get(H1), { journal: j1, keep: false, flipBackTo: undefined, release: 'remove' });
    assert.deepEqual(healed.get(H0), { current: A, releases: [{ name: A, status: 'ok' }], journals: [] });
  });

  test('a deploy stopped in publish: switched hosts go back and the release is marked failed; a host still in prepare loses it', () => {
    const j0 = run('publish');
    const j1 = run('prepare');
    const { heals, healed } = planHeal(new Map([[H0, host(B, [j0])], [H1, host(A, [j1])]]));
    assert.deepEqual(heals.get(H0), { journal: j0, keep: false, flipBackTo: A, release: 'mark-failed' });
    assert.deepEqual(heals.get(H1), { journal: j1, keep: false, flipBackTo: undefined, release: 'remove' });
    assert.deepEqual(healed.get(H0), { current: A, releases: [{ name: A, status: 'ok' }, { name: B, status: 'failed' }], journals: [] });
    assert.deepEqual(healed.get(H1), { current: A, releases: [{ name: A, status: 'ok' }], journals: [] });
  });

  test('a deploy published on every host is kept, current untouched', () => {
    const j0 = run('published');
    const j1 = run('published');
    const s0 = host(B, [j0], [{ name: B, status: 'ok' }]);
    const { heals, healed } = planHeal(new Map([[H0, s0], [H1, host(B, [j1])]]));
    assert.deepEqual(heals.get(H0), { journal: j0, keep: true, release: 'keep' });
    assert.deepEqual(healed.get(H0), { current: B, releases: [{ name: B, status: 'ok' }], journals: [] });
  });

  test('the first deploy (no prev): current is removed where it was switched', () => {
    const j0 = run('publish', { prev: '' });
    const j1 = run('prepare', { prev: '' });
    const { heals, healed } = planHeal(new Map([[H0, host(B, [j0], [{ name: B, status: 'ok' }])], [H1, host(undefined, [j1], [{ name: B, status: 'building' }])]]));
    assert.equal(heals.get(H0)?.flipBackTo, '');
    assert.deepEqual(healed.get(H0), { current: undefined, releases: [{ name: B, status: 'failed' }], journals: [] });
    assert.deepEqual(healed.get(H1), { current: undefined, releases: [], journals: [] });
  });

  test('a redeploy of the release current is on (prev = release) does not flip', () => {
    const j0 = run('publish', { prev: B });
    const j1 = run('prepare', { prev: B });
    const { heals } = planHeal(new Map([[H0, host(B, [j0])], [H1, host(B, [j1])]]));
    assert.equal(heals.get(H0)?.flipBackTo, undefined);
  });

  test('a rollback stopped midway: switched hosts go back to where it started, which is good again; no release is removed or failed', () => {
    const releases: HostState['releases'] = [{ name: A, status: 'ok' }, { name: B, status: 'rolled-back' }];
    const j0 = run('publish', { command: 'rollback', release: A, prev: B });
    const j1 = run('prepare', { command: 'rollback', release: A, prev: B });
    const { heals, healed } = planHeal(new Map([[H0, host(A, [j0], releases)], [H1, host(B, [j1], releases)]]));
    assert.deepEqual(heals.get(H0), { journal: j0, keep: false, flipBackTo: B, release: 'keep' });
    assert.deepEqual(heals.get(H1), { journal: j1, keep: false, flipBackTo: undefined, release: 'keep' });
    assert.deepEqual(healed.get(H0), { current: B, releases: [{ name: A, status: 'ok' }, { name: B, status: 'ok' }], journals: [] });
    assert.deepEqual(healed.get(H1), { current: B, releases: [{ name: A, status: 'ok' }, { name: B, status: 'ok' }], journals: [] });
  });

  test('the oldest unfinished run is healed; later ones and finished ones stay', () => {
    const old = run('prepare');
    const finished = run('done', { token: 'T0' });
    const later = run('prepare', { token: 'T2', release: C, at: '2024-01-03T00:00:00Z' });
    const s = host(A, [finished, old, later]);
    assert.deepEqual(unfinished(s), [old, later]);
    const { heals, healed } = planHeal(new Map([[H0, s], [H1, host(A, [run('prepare')])]]));
    assert.equal(heals.get(H0)?.journal, old);
    assert.deepEqual(healed.get(H0)?.journals, [finished, later]);
  });

  test('a run partly out of view: one problem naming the hosts it needs, nobody healed', () => {
    const hosts = [H0, H1, H2];
    const s0 = host(B, [run('published', { hosts })]);
    const s1 = host(B, [run('publish', { hosts })]);
    const { heals, healed, problems } = planHeal(new Map([[H0, s0], [H1, s1]]));
    assert.equal(heals.size, 0);
    assert.equal(healed.get(H0), s0);
    assert.equal(healed.get(H1), s1);
    assert.equal(problems.length, 1, 'one problem per run, not per host');
    assert.deepEqual(problems[0].missing, [H2]);
    assert.equal(problems[0].journal.token, 'T1');
    assert.equal(problems[0].message, `an interrupted deploy of ${B} also involved ${H2}, whose record of it this run cannot see`);
  });
});

describe('decideRun: literal cases', () => {
  const states = (...phases: (Journal['phase'] | undefined)[]) => new Map(phases.map((p, i) => [[H0, H1, H2][i], host(A, p ? [run(p, { hosts: [H0, H1, H2] })] : [])]));
  const j = run('prepare', { hosts: [H0, H1, H2] });

  test('reverted or done anywhere decides, even with participants out of view', () => {
    assert.equal(decideRun(states('published', 'reverted'), j), 'revert');
    assert.equal(decideRun(states('publish', 'done'), j), 'keep');
    assert.equal(decideRun(states('done', 'reverted'), j), 'revert');
  });

  test('every participant in view: keep only when all published', () => {
    assert.equal(decideRun(states('published', 'published', 'published'), j), 'keep');
    assert.equal(decideRun(states('published', 'published', 'publish'), j), 'revert');
    assert.equal(decideRun(states('prepare', 'prepare', 'prepare'), j), 'revert');
  });

  test('a participant in view with no record: revert if everyone else is in prepare, else the record is needed', () => {
    assert.equal(decideRun(states('prepare', undefined, 'prepare'), j), 'revert');
    assert.deepEqual(decideRun(states('published', undefined, 'prepare'), j), { missing: [H1] });
    assert.deepEqual(decideRun(states('publish', undefined, undefined), j), { missing: [H1, H2] });
  });

  test('participants out of view: the missing ones', () => {
    assert.deepEqual(decideRun(states('published'), j), { missing: [H1, H2] });
  });

  test('a journal without its hosts (older fap) takes the hosts in view as the participants', () => {
    const s = new Map([[H0, host(B, [run('published', { hosts: [] })])], [H1, host(B, [run('published', { hosts: [] })])]]);
    assert.equal(decideRun(s, run('published', { hosts: [] })), 'keep');
  });
});

describe('batchSize: literal cases', () => {
  test('not set: every host at once (at least one)', () => {
    assert.equal(batchSize(10, undefined), 10);
    assert.equal(batchSize(10, null), 10);
    assert.equal(batchSize(10, ''), 10);
    assert.equal(batchSize(0, undefined), 1);
  });

  test('a number of hosts, at most all, spaces and leading zeros allowed', () => {
    assert.equal(batchSize(10, 3), 3);
    assert.equal(batchSize(10, '3'), 3);
    assert.equal(batchSize(10, ' 4 '), 4);
    assert.equal(batchSize(10, '007'), 7);
    assert.equal(batchSize(10, 10), 10);
    assert.equal(batchSize(10, 25), 10);
    assert.equal(batchSize(1, 1), 1);
  });

  test('a percentage of the hosts, rounded up, between one host and all', () => {
    assert.equal(batchSize(10, '25%'), 3);
    assert.equal(batchSize(10, '30%'), 3);
    assert.equal(batchSize(10, '31%'), 4);
    assert.equal(batchSize(4, '50%'), 2);
    assert.equal(batchSize(3, '1%'), 1);
    assert.equal(batchSize(10, '100%'), 10);
    assert.equal(batchSize(10, '250%'), 10);
  });

  test('anything else is refused, naming what was given', () => {
    for (const bad of ['0', '0%', '00', '-1', '1.5', 'abc', '5 %', '%', '25%%', 'x5', '5x']) {
      assert.throws(() => batchSize(10, bad), { message: `batch size "${bad}" must be a whole number of hosts or a percentage like 25%` }, bad);
    }
    assert.throws(() => batchSize(10, 0), { message: 'batch size "0" must be a whole number of hosts or a percentage like 25%' });
  });
});

describe('chooseRollback: literal cases', () => {
  const target = (i: number) => ({ key: [H0, H1, H2][i], host: { name: `h${i}` } });
  const st = (current: string | undefined, statuses: Record<string, HostState['releases'][number]['status']>): HostState => ({ current, releases: Object.entries(statuses).map(([name, status]) => ({ name, status })) });

  test('the good release before current, on every host', () => {
    const s = st(C, { [A]: 'ok', [B]: 'failed', [C]: 'ok' });
    const { choice, problems } = chooseRollback([target(0), target(1)], new Map([[H0, s], [H1, s]]), {});
    assert.deepEqual(problems, []);
    assert.deepEqual([...choice], [[H0, { from: C, to: A }], [H1, { from: C, to: A }]]);
  });

  test('each reason a host cannot go, in its words', () => {
    const cases: [HostState, { to?: string }, string][] = [
      [st(A, { [A]: 'ok' }), {}, 'h0: no earlier good release to roll back to'],
      [st(A, { [A]: 'ok' }), { to: B }, `h0: release ${B} does not exist there`],
      [st(C, { [B]: 'failed', [C]: 'ok' }), { to: B }, `h0: release ${B} is failed, not a good release`],
      [st(C, { [B]: 'building', [C]: 'ok' }), { to: B }, `h0: release ${B} is building, not a good release`],
    ];
    for (const [s, o, message] of cases) {
      const r = chooseRollback([target(0)], new Map([[H0, s]]), o);
      assert.deepEqual(r.problems, [{ host: 'h0', message }]);
      assert.equal(r.choice.size, 0);
    }
  });

  test('--to the release a host is on leaves it as it is, quietly', () => {
    const r = chooseRollback([target(0), target(1)], new Map([[H0, st(B, { [A]: 'ok', [B]: 'ok' })], [H1, st(A, { [A]: 'ok', [B]: 'ok' })]]), { to: A, force: true });
    assert.deepEqual(r.problems, []);
    assert.deepEqual([...r.choice], [[H0, { from: B, to: A }]]);
  });

  test('hosts that disagree: one problem naming every host and its current; --force goes ahead', () => {
    const states = new Map([[H0, st(B, { [A]: 'ok', [B]: 'ok' })], [H1, st(A, { [A]: 'ok', [B]: 'ok' })]]);
    const r = chooseRollback([target(0), target(1), target(2)], states, {});
    assert.deepEqual(r.problems, [{ host: 'h0', message: `hosts disagree about current (h0=${B}, h1=${A}, h2=(none)); fix it with fap rollback --to RELEASE --force, or fap deploy` }]);
    assert.equal(r.choice.size, 0);
    const forced = chooseRollback([target(0), target(1), target(2)], states, { force: true });
    assert.deepEqual([...forced.choice], [[H0, { from: B, to: A }]]);
    assert.deepEqual(forced.problems, [
      { host: 'h1', message: 'h1: no earlier good release to roll back to' },
      { host: 'h2', message: 'h2: no earlier good release to roll back to' },
    ]);
  });

  test('a rollback from no current goes to the newest good release', () => {
    const r = chooseRollback([target(0)], new Map([[H0, st(undefined, { [A]: 'ok', [B]: 'ok', [C]: 'failed' })]]), {});
    assert.deepEqual([...r.choice], [[H0, { from: undefined, to: B }]]);
  });
});

describe('parseState: what a host says, literally', () => {
  const outputs = (o: Record<string, string[]>) => new Map(Object.entries(o));
  // Fapistrano's names are local time: these are older than A in every time zone
  const F1 = '231230-120000';
  const F2 = '231231-120000';

  test('records: status, meta (= kept in values, lines without = ignored), revision from meta before git', () => {
    const s = parseState(
      outputs({
        current: ['releases/' + B],
        rel: [B, A, F1],
        st: [`${A}.status:ok`, `${A}.meta:revision=abc1234`, `${A}.meta:noequals`, `${A}.meta:=x`, `${B}.status: failed `, `x${A}.status:ok`, `${A}.status:ok trailing`, `${F1}.status:ok`],
        frev: [`${F1}:deadbee`, `${F1}:0000000`, `240103-000000:1234567`, `${F1}:short`, `x${F1}:1234567`],
      }),
    );
    assert.deepEqual(s, {
      current: B,
      releases: [
        { name: F1, status: 'ok', revision: 'deadbee', deployed_at: new Date(2023, 11, 30, 12).toISOString(), deployed_by: undefined, made_by: 'fapistrano' },
        { name: A, status: 'unknown', revision: 'abc1234', deployed_at: undefined, deployed_by: undefined, made_by: 'fap' },
        { name: B, status: 'failed', revision: undefined, deployed_at: undefined, deployed_by: undefined, made_by: 'fap' },
      ],
      journals: [],
    });
  });

  test('a git revision read from a Fapistrano release: only for a release with none recorded', () => {
    const s = parseState(outputs({ rel: [F1, F2], st: [`${F1}.meta:revision=1111111`], frev: [`${F1}:2222222`, `${F2}:3333333  `] }));
    assert.deepEqual(
      s.releases.map((r) => r.revision),
      ['1111111', '3333333'],
    );
  });

  test('Fapistrano releases newer than current and unrecorded are dirty (failed); with no current, unverified', () => {
    const withCurrent = parseState(outputs({ current: ['/srv/app/releases/' + F1], rel: [F1, F2] }));
    assert.deepEqual(
      withCurrent.releases.map((r) => [r.name, r.status, r.dirty, r.unverified]),
      [
        [F1, 'unknown', undefined, undefined],
        [F2, 'failed', true, undefined],
      ],
    );
    assert.deepEqual(unrecordedDirty(withCurrent), [F2]);
    assert.deepEqual(unrecordedUnverified(withCurrent), []);
    const noCurrent = parseState(outputs({ rel: [F1, F2] }));
    assert.deepEqual(
      noCurrent.releases.map((r) => [r.name, r.status, r.dirty, r.unverified]),
      [
        [F1, 'unverified', undefined, true],
        [F2, 'unverified', undefined, true],
      ],
    );
    assert.deepEqual(unrecordedUnverified(noCurrent), [F1, F2]);
    assert.deepEqual(unrecordedDirty(noCurrent), []);
    // once fap recorded a release newer than them, they are history, not dirty
    const recorded = parseState(outputs({ current: ['releases/' + F1], rel: [A, F2, F1], st: [`${A}.status:ok`] }));
    assert.deepEqual(
      recorded.releases.map((r) => [r.name, r.status]),
      [
        [F1, 'unknown'],
        [F2, 'unknown'],
        [A, 'ok'],
      ],
    );
    // a recorded Fapistrano release is never dirty
    assert.equal(parseState(outputs({ current: ['releases/' + F1], rel: [F1, F2], st: [`${F2}.status:ok`] })).releases[1].status, 'ok');
  });

  test('current that leads elsewhere or is not a link: foreign, shown as such', () => {
    const elsewhere = parseState(outputs({ current: ['/other/app/releases/' + A], 'current-in': ['elsewhere'], rel: [A] }));
    assert.equal(elsewhere.current, undefined);
    assert.equal(elsewhere.foreignCurrent, '/other/app/releases/' + A);
    assert.equal(currentShown(elsewhere), '/other/app/releases/' + A);
    const dir = parseState(outputs({ current: ['releases/' + A], 'current-in': ['not-a-link'], rel: [A] }));
    assert.equal(dir.current, undefined);
    assert.equal(dir.foreignCurrent, '(a directory or file, not a symlink)');
    const odd = parseState(outputs({ current: ['/srv/www'], rel: [A] }));
    assert.equal(odd.foreignCurrent, '/srv/www');
    const fine = parseState(outputs({ current: ['releases/' + A], 'current-in': ['here'], rel: [A] }));
    assert.equal(fine.current, A);
    assert.equal('foreignCurrent' in fine, false);
    assert.equal(currentShown(fine), A);
    assert.equal(currentShown({ releases: [] }), '(none)');
  });

  test('journals: fields, several host lines, defaults, oldest first; malformed ones dropped', () => {
    const s = parseState(
      outputs({
        journal: [
          'T2:token=T2',
          'T2:release=' + C,
          'T2:phase=published',
          'T2:at=2024-01-03T00:00:00Z',
          'T1:token=T1',
          'T1:command=rollback',
          'T1:release=' + A,
          'T1:prev=' + B,
          'T1:phase=publish',
          'T1:at=2024-01-02T00:00:00Z',
          'T1:host=' + H0,
          'T1:host=' + H1,
          'T1:note=a=b',
          // no token, a release that is not one, an unknown phase, a prev that is no release
          'T3:release=' + A,
          'T3:phase=prepare',
          'T4:token=T4',
          'T4:release=nope',
          'T4:phase=prepare',
          'T5:token=T5',
          'T5:release=' + A,
          'T5:phase=halfway',
          'T6:token=T6',
          'T6:release=' + A,
          'T6:prev=../x',
          'T6:phase=done',
          'T6:at=2024-01-01T00:00:00Z',
          'garbage',
          'T7:Token=T7',
          ':token=x',
          'T8:token',
        ],
      }),
    );
    assert.deepEqual(s.journals, [
      { token: 'T6', command: 'deploy', release: A, prev: '', phase: 'done', at: '2024-01-01T00:00:00Z', hosts: [] },
      { token: 'T1', command: 'rollback', release: A, prev: B, phase: 'publish', at: '2024-01-02T00:00:00Z', hosts: [H0, H1] },
      { token: 'T2', command: 'deploy', release: C, prev: '', phase: 'published', at: '2024-01-03T00:00:00Z', hosts: [] },
    ]);
    assert.deepEqual(unfinished(s).map((j) => j.token), ['T1', 'T2']);
    const noAt = parseState(outputs({ journal: ['T9:token=T9', 'T9:release=' + A, 'T9:phase=reverted'] }));
    assert.deepEqual(noAt.journals, [{ token: 'T9', command: 'deploy', release: A, prev: '', phase: 'reverted', at: '', hosts: [] }]);
    assert.deepEqual(unfinished(noAt), []);
    assert.deepEqual(unfinished({ releases: [] }), []);
  });
});

describe('the rest of the release model, literally', () => {
  const st = (current: string | undefined, statuses: Record<string, HostState['releases'][number]['status']>): HostState => ({ current, releases: Object.entries(statuses).map(([name, status]) => ({ name, status })) });

  test('good releases: ok, rolled-back, unverified, unknown', () => {
    const all: HostState['releases'][number]['status'][] = ['building', 'ok', 'failed', 'rolled-back', 'unverified', 'unknown'];
    assert.deepEqual(
      all.filter((status) => isGood({ name: A, status })),
      ['ok', 'rolled-back', 'unverified', 'unknown'],
    );
    assert.deepEqual(FINAL_PHASES, ['done', 'reverted']);
    assert.deepEqual(EMPTY_STATE, { releases: [], journals: [] });
  });

  test('a plain rollback never picks a rolled-back or unverified release; without current, the newest other good one', () => {
    assert.equal(rollbackTarget(st(C, { [A]: 'ok', [B]: 'rolled-back', [C]: 'ok' })), A);
    assert.equal(rollbackTarget(st(C, { [A]: 'unknown', [B]: 'unverified', [C]: 'ok' })), A);
    assert.equal(rollbackTarget(st(undefined, { [A]: 'ok', [B]: 'unverified' })), A);
    assert.equal(rollbackTarget(st(undefined, { [A]: 'rolled-back' })), undefined);
  });

  test('prune: keep 0 keeps only current, the rollback target and the release in flight; keep 1 the newest good one too', () => {
    const s = st(C, { [A]: 'ok', [B]: 'ok', [C]: 'ok', '20240104000000': 'building', '20240105000000': 'ok' });
    assert.deepEqual(pruneList(s, 0), [A, '20240104000000', '20240105000000']);
    assert.deepEqual(pruneList(s, 0, '20240104000000'), [A, '20240105000000']);
    assert.deepEqual(pruneList(s, 1), [A, '20240104000000']);
    assert.deepEqual(pruneList(st(undefined, { [A]: 'failed', [B]: 'ok' }), 0), [A]);
  });

  test('the next release name: now, or one second past the newest on any host (Fapistrano names by age)', () => {
    const now = new Date(Date.UTC(2024, 0, 2, 0, 0, 0));
    assert.equal(nextReleaseName(now, [st(undefined, { [A]: 'ok' })]), B);
    assert.equal(nextReleaseName(now, [st(undefined, { [A]: 'ok' }), st(undefined, { [B]: 'ok' })]), '20240102000001');
    assert.equal(nextReleaseName(now, []), B);
  });
});
