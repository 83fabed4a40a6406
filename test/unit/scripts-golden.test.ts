// Every script builder of src/release/scripts.ts, rendered for fixed inputs that reach each of its
// branches (another layout, a root that needs quoting, options on and off, secrets), compared with
// test/unit/golden/scripts.txt. Behaviour is tested by running the scripts (scripts.test.ts,
// kernel-scripts.test.ts, the kernel tier); this file makes every change to their text a reviewed
// diff, and runs in milliseconds, so `npm run mutation` can try each mutant of scripts.ts against
// it first. After an intended change: FAP_UPDATE_GOLDEN=1 npm test, then review the diff.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { addSecret } from '../../src/redact.js';
import type { Step } from '../../src/remote/shell.js';
import { layout } from '../../src/release/paths.js';
import * as S from '../../src/release/scripts.js';
import type { Journal } from '../../src/release/state.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'unit', 'golden', 'scripts.txt');
const R1 = '20240101000000';
const R2 = '20240102000000';
const p = layout('/srv/shop', R2);
// Fapistrano's layout keys move current, releases/ and shared/; a root that needs quoting
const moved = layout("/srv/it's app", R2, { current_path: '/var/www/current', releases_path: '/data/releases', shared_path: '/data/shared' });
const owner: S.LockOwner = { user: 'ann', origin: 'laptop', pid: 4242, command: 'fap deploy production', started_at: '2024-01-02T00:00:00.000Z', token: 'tok1' };
const journal = (phase: Journal['phase'], command = 'deploy'): Journal => ({ token: 'tok1', command, release: R2, prev: R1, phase, at: '2024-01-02T00:00:00.000Z', hosts: ['web1', 'web\n2'] });
addSecret('s3cr3t-v4lue');

const cases: [string, () => Step[] | string][] = [
  ['lockSteps create', () => S.lockSteps(p, owner, 75)],
  ['lockSteps existing, moved layout', () => S.lockSteps(moved, owner, 75, { layout: 'existing', nothingDeployedCode: 77, ttlSec: 30, renewSec: 2.7 })],
  ['abandonLockSteps create', () => S.abandonLockSteps(p, 'tok-1')],
  ['abandonLockSteps existing', () => S.abandonLockSteps(moved, 'tok1', 'existing')],
  ['keepLeaseSteps', () => S.keepLeaseSteps(p, 'tok1')],
  ['keepLeaseSteps renew 0.5', () => S.keepLeaseSteps(p, 'tok1', 0.5)],
  ['breakStaleLockSteps lease', () => S.breakStaleLockSteps(p, 'old', 'tok1', { requireExpiredLease: true, ttlSec: 90.5 })],
  ['breakStaleLockSteps identity', () => S.breakStaleLockSteps(moved, 'old', 'tok1', { requireExpiredLease: false })],
  ['forceUnlockSteps', () => S.forceUnlockSteps(p)],
  ['journalSteps prepare', () => S.journalSteps(p, journal('prepare'))],
  ['journalSteps done', () => S.journalSteps(p, journal('done'))],
  ['journalSteps reverted, odd token', () => S.journalSteps(moved, { ...journal('reverted'), token: 'to/k 1' })],
  ['unlockSteps', () => S.unlockSteps(p, 'tok1')],
  ['fenceSteps', () => S.fenceSteps(p, 'tok1')],
  ['fenceSteps attempt 3, wait 4', () => S.fenceSteps(moved, 'tok1', 3.6, 4.2)],
  ['reapSupersededSteps', () => S.reapSupersededSteps(p, 'tok1')],
  ['reapSupersededSteps wait 0', () => S.reapSupersededSteps(p, 'tok1', 0)],
  ['inspectSteps', () => S.inspectSteps(p)],
  ['inspectSteps moved', () => S.inspectSteps(moved)],
  ['sharedWritableSteps', () => S.sharedWritableSteps(moved)],
  ['prepareStartSteps', () => S.prepareStartSteps(p, R2, [], 'tok1')],
  ['prepareStartSteps linked files', () => S.prepareStartSteps(moved, R2, ['config.json', 'a/b "c".txt'], 'tok1')],
  ['prepareEndSteps', () => S.prepareEndSteps(p, { environment: {}, linkedFiles: [], linkedDirs: [] })],
  [
    'prepareEndSteps export, secrets, links',
    () => S.prepareEndSteps(moved, { environment: { A: 1, B: null, C: undefined, D: "it's", TOKEN: 's3cr3t-v4lue', URL: 'https://u:s3cr3t-v4lue@h/x' }, linkedFiles: ['config.json', 'a/b/c.txt'], linkedDirs: ['log', 'x/y'], environmentFormat: 'export' }),
  ],
  ['prepareEndSteps dotenv format', () => S.prepareEndSteps(p, { environment: { A: 'x y' }, linkedFiles: [], linkedDirs: [], environmentFormat: 'dotenv' })],
  ['recordSteps', () => S.recordSteps(p, R2, { deployedBy: 'ann@laptop', deployedAt: '2024-01-02T00:00:00.000Z', command: 'release' })],
  ['removeCurrentSteps', () => S.removeCurrentSteps(moved)],
  ['currentLinkTarget', () => `${S.currentLinkTarget(p, R1)}\n${S.currentLinkTarget(moved, R1)}\n${S.currentLinkTarget(layout('/srv/a', R1, { current_path: '/srv/a/current' }), R1)}`],
  ['flipSteps', () => S.flipSteps(p, R1)],
  ['flipSteps named, moved', () => S.flipSteps(moved, R1, 'switch current back')],
  ['healthCheckSteps', () => S.healthCheckSteps(p, "curl -fs 'http://127.0.0.1/up'", 30.7, 2.2)],
  ['healthCheckSteps minimums', () => S.healthCheckSteps(p, 'true', 0, 0)],
  ['setStatusSteps', () => S.setStatusSteps(p, R2, 'rolled-back')],
  ['appendLogSteps', () => S.appendLogSteps(moved, "a line with 'quotes'")],
  ['removeReleasesSteps', () => S.removeReleasesSteps(p, ['not-a-release', R1, '../x', R2])],
  ['removeReleasesSteps none valid', () => S.removeReleasesSteps(p, ['x'])],
  ['removeReleasesSteps named', () => S.removeReleasesSteps(moved, [R1], 'heal: remove')],
  ['discardReleaseSteps', () => S.discardReleaseSteps(p, R2, 'tok1')],
  ['discardReleaseSteps unrecorded allowed', () => S.discardReleaseSteps(moved, R2, 'tok1', 'heal: remove unfinished', true)],
  ['discardReleaseSteps bad name', () => S.discardReleaseSteps(p, 'x', 'tok1')],
  ['revisionsLogLine', () => [S.revisionsLogLine({ at: 'T', action: 'deploy', release: R2, revision: 'abc', by: 'ann@laptop' }), S.revisionsLogLine({ at: 'T', action: 'revert', release: R1, by: 'b', extra: '  reverted=x   y ' }), S.revisionsLogLine({ at: 'T', action: 'a', release: '-', revision: '', by: 'c', extra: '' })].join('\n')],
  ['healSteps keep', () => S.healSteps(p, { journal: journal('published'), keep: true, release: 'keep' }, 'T', 'ann@laptop')],
  ['healSteps flip back, remove', () => S.healSteps(p, { journal: journal('prepare'), keep: false, flipBackTo: R1, release: 'remove' }, 'T', 'ann@laptop')],
  ['healSteps remove current, mark failed', () => S.healSteps(moved, { journal: { ...journal('publish'), prev: '' }, keep: false, flipBackTo: '', release: 'mark-failed' }, 'T', 'ann@laptop')],
  ['healSteps rollback', () => S.healSteps(p, { journal: journal('publish', 'rollback'), keep: false, release: 'keep' }, 'T', 'ann@laptop')],
  ['constants', () => `LEASE_TTL_SEC=${S.LEASE_TTL_SEC}\nLEASE_RENEW_SEC=${S.LEASE_RENEW_SEC}\nUNLOCK_STEP=${S.UNLOCK_STEP}\nRELEASE_NAME=${S.RELEASE_NAME}\nREAP_FUNCTION=\n${S.REAP_FUNCTION}`],
];

function render(): string {
  return cases
    .map(([name, make]) => {
      const out = make();
      const body = typeof out === 'string' ? out : out.length ? out.map((s) => `--- step: ${s.name}\n${s.script}${s.shown !== undefined ? `\n--- shown:\n${s.shown}` : ''}`).join('\n') : '(no steps)';
      return `### ${name}\n${body}\n`;
    })
    .join('\n');
}

test('every script builder writes exactly the reviewed text (test/unit/golden/scripts.txt)', () => {
  const got = render();
  if (process.env.FAP_UPDATE_GOLDEN === '1' || !existsSync(GOLDEN)) {
    mkdirSync(dirname(GOLDEN), { recursive: true });
    writeFileSync(GOLDEN, got);
    if (process.env.FAP_UPDATE_GOLDEN !== '1') assert.fail(`${GOLDEN} did not exist; written now: review it and commit it`);
    return;
  }
  const want = readFileSync(GOLDEN, 'utf8');
  if (got === want) return;
  // name the first case that differs, then show the whole difference
  const first = cases.find(([name]) => !want.includes(got.slice(got.indexOf(`### ${name}\n`), got.indexOf('\n### ', got.indexOf(`### ${name}\n`)) >>> 0)))?.[0];
  assert.equal(got, want, `${first ?? 'a builder'}: what a script builder writes changed; if intended, FAP_UPDATE_GOLDEN=1 npm test and review git diff test/unit/golden`);
});

test('a prune of thousands of releases is chunked within the argument limits', () => {
  const names = Array.from({ length: 800 }, (_, i) => `2024${String(Math.floor(i / 3600) + 1).padStart(2, '0')}01${String(Math.floor((i % 3600) / 60)).padStart(2, '0')}${String(i % 60).padStart(2, '0')}00`.slice(0, 14));
  const [step] = S.removeReleasesSteps(p, names);
  const lines = step.script.split('\n');
  // 4 paths per release, 300 arguments a line
  assert.equal(lines.length, Math.ceil((new Set(names).size * 4) / 300));
  for (const l of lines) assert.ok(l.startsWith('rm -rf -- '), l);
});
