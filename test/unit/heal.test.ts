// The heal decision (state.ts planHeal/decideRun) and the rollback choice (rollback.ts
// chooseRollback) are pure: checked here over every state an interrupted run can leave, and every
// partial view a later run can have of it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { chooseRollback } from '../../src/release/state.js';
import type { Journal, JournalPhase } from '../../src/release/state.js';
import { planHeal, type HostState } from '../../src/release/state.js';
import type { Target } from '../../src/release/plan.js';

const PREV = '20240101000000';
const REL = '20240102000000';
const key = (i: number) => `deploy@h${i}:22:/srv/app`;

function journal(phase: JournalPhase, hosts: string[], command = 'deploy'): Journal {
  return { token: 'run1', command, release: REL, prev: PREV, phase, at: '2024-01-02T00:00:00Z', hosts };
}

/** One host's state after the interrupted run left `phase` on it (undefined: never reached). */
function hostState(phase: JournalPhase | undefined, hosts: string[]): HostState {
  const switched = phase === 'publish' || phase === 'published' || phase === 'done';
  return {
    current: switched ? REL : PREV,
    releases: [
      { name: PREV, status: 'ok' },
      ...(phase ? [{ name: REL, status: phase === 'prepare' ? ('building' as const) : ('ok' as const) }] : []),
    ],
    journals: phase ? [journal(phase, hosts)] : [],
  };
}

/**
 * Journal phases an interrupted deploy can leave on its participants, following the protocol:
 * prepare everywhere (a host may not have been reached), then publish batch by batch, then finish
 * (done) or revert (reverted), each of which may itself be cut short.
 */
const runLeftovers = fc.integer({ min: 1, max: 6 }).chain((n) =>
  fc
    .record({
      stage: fc.constantFrom('prepare', 'publish', 'finish', 'revert'),
      batch: fc.integer({ min: 1, max: n }),
      cut: fc.integer({ min: 0, max: n }),
      reached: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      progress: fc.array(fc.constantFrom(0, 1, 2), { minLength: n, maxLength: n }),
    })
    .map(({ stage, batch, cut, reached, progress }) => {
      const phases: (JournalPhase | undefined)[] = [];
      for (let i = 0; i < n; i++) {
        if (stage === 'prepare') phases.push(reached[i] ? 'prepare' : undefined);
        else if (stage === 'publish') {
          // hosts before the cut published; the batch after it is in flight; later ones wait
          if (i < cut) phases.push('published');
          else if (i < cut + batch) phases.push((['prepare', 'publish', 'published'] as const)[progress[i]]);
          else phases.push('prepare');
        } else if (stage === 'finish') phases.push(i < cut ? 'done' : 'published');
        else phases.push(i < cut ? 'reverted' : (['prepare', 'publish', 'published'] as const)[progress[i]]);
      }
      return phases;
    }),
);

function statesOf(phases: (JournalPhase | undefined)[], view: number[]): Map<string, HostState> {
  const hosts = phases.map((_, i) => key(i));
  return new Map(view.map((i) => [key(i), hostState(phases[i], hosts)]));
}

/** keep / revert per host, or 'refused' */
function decisions(phases: (JournalPhase | undefined)[], view: number[]): Map<string, string> | 'refused' {
  const { heals, problems } = planHeal(statesOf(phases, view));
  if (problems.length) return 'refused';
  const out = new Map<string, string>();
  for (const i of view) {
    const h = heals.get(key(i));
    if (h) out.set(key(i), h.keep ? 'keep' : 'revert');
  }
  return out;
}

describe('planHeal', () => {
  test('the whole view always decides, and one way for every host', () => {
    fc.assert(
      fc.property(runLeftovers, (phases) => {
        const all = phases.map((_, i) => i);
        const d = decisions(phases, all);
        assert.notEqual(d, 'refused');
        assert.ok((new Set((d as Map<string, string>).values())).size <= 1, `one outcome for the run: ${JSON.stringify([...(d as Map<string, string>)])}`);
      }),
      { numRuns: 500 },
    );
  });

  test('the outcome is keep exactly when every host finished publishing (or one recorded done)', () => {
    fc.assert(
      fc.property(runLeftovers, (phases) => {
        const d = decisions(phases, phases.map((_, i) => i)) as Map<string, string>;
        const shouldKeep = !phases.includes('reverted') && (phases.includes('done') || phases.every((p) => p === 'published'));
        for (const v of d.values()) assert.equal(v, shouldKeep ? 'keep' : 'revert', JSON.stringify(phases));
      }),
      { numRuns: 500 },
    );
  });

  test('a partial view (--hosts, one role) either refuses or decides as the whole view does', () => {
    fc.assert(
      fc.property(
        runLeftovers.chain((phases) => fc.tuple(fc.constant(phases), fc.subarray(phases.map((_, i) => i), { minLength: 1 }))),
        ([phases, view]) => {
          const whole = decisions(phases, phases.map((_, i) => i)) as Map<string, string>;
          const part = decisions(phases, view);
          if (part === 'refused') return;
          for (const [h, v] of part) assert.equal(v, whole.get(h), `${h} in view ${view} of ${JSON.stringify(phases)}`);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('a partial view names the hosts it needs', () => {
    const phases: JournalPhase[] = ['published', 'publish'];
    const { problems, heals } = planHeal(statesOf(phases, [0]));
    assert.equal(heals.size, 0, 'nothing healed');
    assert.deepEqual(problems[0].missing, [key(1)]);
    assert.match(problems[0].message, /h1/);
  });

  test('a rollback that finished everywhere is kept; current is never moved by its heal', () => {
    const hosts = [key(0), key(1)];
    const st: HostState = { current: PREV, releases: [{ name: PREV, status: 'ok' }, { name: REL, status: 'rolled-back' }], journals: [{ ...journal('published', hosts, 'rollback'), release: PREV, prev: REL }] };
    const { heals } = planHeal(new Map([[key(0), st], [key(1), st]]));
    assert.equal(heals.get(key(0))?.keep, true);
  });
});

function target(i: number): Target {
  return { key: key(i), host: { name: `h${i}`, hostname: `h${i}` }, connKey: `h${i}`, user: 'deploy', sshExplicit: [], stage: 'production', role: 'web', config: {}, roles: [], paths: {} as Target['paths'] } as unknown as Target;
}

describe('chooseRollback', () => {
  const A = '20240101000000';
  const B = '20240102000000';
  const C = '20240103000000';
  const st = (current: string, statuses: Record<string, 'ok' | 'failed' | 'rolled-back' | 'building'>): HostState => ({
    current,
    releases: Object.entries(statuses).map(([name, status]) => ({ name, status })),
  });

  test('never lands on a failed, building or rolled-back release without --to', () => {
    const statuses = fc.constantFrom('ok', 'failed', 'rolled-back', 'building') as fc.Arbitrary<'ok' | 'failed' | 'rolled-back' | 'building'>;
    fc.assert(
      fc.property(fc.tuple(statuses, statuses), ([sa, sb]) => {
        const states = new Map([[key(0), st(C, { [A]: sa, [B]: sb, [C]: 'ok' })]]);
        const { choice } = chooseRollback([target(0)], states, {});
        const to = choice.get(key(0))?.to;
        if (to) assert.equal(({ [A]: sa, [B]: sb } as Record<string, string>)[to], 'ok');
      }),
    );
  });

  test('--to may choose a rolled-back release (rolling forward again)', () => {
    const states = new Map([[key(0), st(A, { [A]: 'ok', [B]: 'rolled-back' })]]);
    assert.deepEqual(chooseRollback([target(0)], states, { to: B }).choice.get(key(0)), { from: A, to: B });
    assert.match(chooseRollback([target(0)], states, {}).problems[0].message, /no earlier good release/);
  });

  test('hosts that disagree are refused unless --force', () => {
    const states = new Map([
      [key(0), st(B, { [A]: 'ok', [B]: 'ok' })],
      [key(1), st(A, { [A]: 'ok', [B]: 'ok' })],
    ]);
    assert.match(chooseRollback([target(0), target(1)], states, {}).problems[0].message, /disagree/);
    const forced = chooseRollback([target(0), target(1)], states, { force: true, to: A });
    assert.deepEqual(forced.problems, []);
    assert.deepEqual([...forced.choice.keys()], [key(0)], 'the host already on A stays');
  });
});

test('a rollback interrupted before it reached one host: the hosts it moved are put back (found by the model test, seed 1000375)', () => {
  const hosts = [key(1), key(2)];
  // a rollback from REL to PREV: h2 journaled and switched to PREV; h1 was never reached (no record)
  const rolled: Journal = { token: 'run2', command: 'rollback', release: PREV, prev: REL, phase: 'published', at: '2024-01-03T00:00:00Z', hosts };
  const states = new Map<string, HostState>([
    [key(1), { current: REL, releases: [{ name: PREV, status: 'ok' }, { name: REL, status: 'ok' }], journals: [] }],
    [key(2), { current: PREV, releases: [{ name: PREV, status: 'ok' }, { name: REL, status: 'rolled-back' }], journals: [rolled] }],
  ]);
  const { heals, healed, problems } = planHeal(states);
  assert.deepEqual(problems, []);
  assert.equal(heals.get(key(2))?.flipBackTo, REL);
  assert.equal(healed.get(key(1))?.current, REL);
  assert.equal(healed.get(key(2))?.current, REL);
  assert.equal(healed.get(key(2))?.releases.find((r) => r.name === REL)?.status, 'ok');
});
