// Pure builders of remote work: each returns named shell steps, every argument quoted. Nothing
// here talks to a host, so --dry-run prints exactly these and unit tests check them directly.
import { posix } from 'node:path';
import { cmd, emitOutput, outputLines, quote, type Step } from '../remote/shell.js';
import type { Paths } from './paths.js';
import type { Heal } from './state.js';

export interface LockOwner {
  user: string;
  origin: string;
  pid: number;
  command: string;
  started_at: string;
  token: string;
}

export const RELEASE_NAME = /^\d{14}$/;

const lockDir = (p: Paths) => posix.join(p.state, 'lock');
const statusFile = (p: Paths, release: string) => posix.join(p.state, 'releases', `${release}.status`);
const metaFile = (p: Paths, release: string) => posix.join(p.state, 'releases', `${release}.meta`);

/**
 * Take the deploy lock atomically: the owner record is written into a private directory that is
 * then renamed to .fap/lock, so the lock never exists without its owner. rename(2) onto an existing
 * lock fails; then the holder is printed and the script exits LOCK_HELD_CODE.
 */
export function lockSteps(p: Paths, owner: LockOwner, lockHeldCode: number): Step[] {
  const dir = lockDir(p);
  const mine = posix.join(p.state, `lock.new.${owner.token}`);
  return [
    { name: 'create deploy root', script: cmd('mkdir', '-p', posix.join(p.state, 'releases'), posix.join(p.state, 'uploads'), p.releases, p.shared) },
    {
      name: 'take deploy lock',
      script: [
        cmd('mkdir', '-p', mine),
        `printf '%s\\n' ${quote(JSON.stringify(owner))} > ${quote(posix.join(mine, 'owner'))}`,
        `if ! mv -T ${quote(mine)} ${quote(dir)} 2>/dev/null; then`,
        `  rm -rf ${quote(mine)}`,
        `  ${emitOutput('lock-held', `"$(tr -d '\\n' 2>/dev/null < ${quote(posix.join(dir, 'owner'))})"`)}`,
        `  exit ${lockHeldCode}`,
        'fi',
      ].join('\n'),
    },
  ];
}

/**
 * Break a stale lock (its owner's process is gone), but only if it is still the lock that was
 * judged stale: it is renamed aside first (atomic), and put back if its token changed meanwhile.
 */
export function breakStaleLockSteps(p: Paths, staleToken: string, myToken: string): Step[] {
  const dir = lockDir(p);
  const aside = posix.join(p.state, `lock.stale.${myToken}`);
  return [
    {
      name: 'take over stale lock',
      script: [
        `if mv -T ${quote(dir)} ${quote(aside)} 2>/dev/null; then`,
        `  if grep -qF ${quote(`"token":"${staleToken}"`)} ${quote(posix.join(aside, 'owner'))} 2>/dev/null; then rm -rf ${quote(aside)}`,
        `  else mv -T ${quote(aside)} ${quote(dir)} 2>/dev/null || rm -rf ${quote(aside)}; fi`,
        'fi',
      ].join('\n'),
    },
  ];
}

/** fap unlock: print the owner record, remove the lock whoever holds it. */
export function forceUnlockSteps(p: Paths): Step[] {
  const dir = lockDir(p);
  return [
    {
      name: 'remove deploy lock',
      script: [
        `if [ -d ${quote(dir)} ]; then`,
        `  ${emitOutput('lock-held', `"$(tr -d '\\n' 2>/dev/null < ${quote(posix.join(dir, 'owner'))})"`)}`,
        `  rm -rf ${quote(dir)}`,
        'fi',
      ].join('\n'),
    },
  ];
}

export type JournalPhase = 'prepare' | 'publish' | 'published' | 'done' | 'reverted';

/**
 * What a run is doing on a host, one file per run in .fap/journal/<token>, so that a run that dies
 * (kill -9, lost connection) can be healed by the next one. prepare: building; publish: switching;
 * published: this host switched and finished publishing. done and reverted are final: the run's
 * outcome on this host was decided with every host in view.
 */
export interface Journal {
  token: string;
  command: string;
  release: string;
  /** what current pointed at before the run ('' for none) */
  prev: string;
  phase: JournalPhase;
  /** when the run started (orders several leftovers) */
  at: string;
  /** every target (Target.key) of the run, so the next run knows who took part */
  hosts: string[];
}

export const FINAL_PHASES: JournalPhase[] = ['done', 'reverted'];
const journalDir = (p: Paths) => posix.join(p.state, 'journal');
/** final journals kept per host, so a host that missed a run can still learn its outcome */
const KEEP_FINAL_JOURNALS = 20;

export function journalSteps(p: Paths, j: Journal): Step[] {
  const body = `token=${j.token}\ncommand=${j.command}\nrelease=${j.release}\nprev=${j.prev}\nphase=${j.phase}\nat=${j.at}\n` + j.hosts.map((h) => `host=${h.replace(/\n/g, ' ')}\n`).join('');
  const file = posix.join(journalDir(p), j.token.replace(/[^A-Za-z0-9]/g, ''));
  const lines = [cmd('mkdir', '-p', journalDir(p)), `printf '%s' ${quote(body)} > ${quote(file + '.tmp')} && mv -f ${quote(file + '.tmp')} ${quote(file)}`];
  if (FINAL_PHASES.includes(j.phase)) {
    // the run is over on this host: files it uploaded go
    lines.push(`rm -f ${quote(posix.join(p.state, 'uploads', j.token))}-*`);
    // forget old final journals, newest kept
    lines.push(`(cd ${quote(journalDir(p))} && ls -1t | sed 1,${KEEP_FINAL_JOURNALS}d | while read -r f; do grep -qE '^phase=(done|reverted)$' "$f" && rm -f "$f"; done) || true`);
  }
  return [{ name: `journal ${j.phase}`, script: lines.join('\n') }];
}

/** Release the lock, but only if this run still owns it. */
export function unlockSteps(p: Paths, token: string): Step[] {
  const owner = posix.join(lockDir(p), 'owner');
  return [
    {
      name: 'release deploy lock',
      script: `if grep -qF ${quote(`"token":"${token}"`)} ${quote(owner)} 2>/dev/null; then rm -rf ${quote(lockDir(p))}; fi`,
    },
  ];
}

/** Report current, the release directories and their recorded state, in one pass. */
export function inspectSteps(p: Paths): Step[] {
  return [
    {
      name: 'read release state',
      script: [
        emitOutput('current', `"$(readlink ${quote(p.current)} 2>/dev/null || true)"`),
        `ls -1 ${quote(p.releases)} 2>/dev/null | ${outputLines('rel')}`,
        `(cd ${quote(posix.join(p.state, 'releases'))} 2>/dev/null && grep -H '' -- *.status *.meta 2>/dev/null || true) | ${outputLines('st')}`,
        `(cd ${quote(journalDir(p))} 2>/dev/null && grep -H '' -- * 2>/dev/null || true) | ${outputLines('journal')}`,
      ].join('\n'),
    },
  ];
}

/** First steps of prepare: refuse early if a linked file is missing, then create the release. */
export function prepareStartSteps(p: Paths, release: string, linkedFiles: string[]): Step[] {
  const steps: Step[] = [];
  if (linkedFiles.length) {
    const lines = ["fap_missing=''"];
    for (const f of linkedFiles) lines.push(`[ -e ${quote(posix.join(p.shared, f))} ] || fap_missing="$fap_missing "${quote(f)}`);
    lines.push(
      `if [ -n "$fap_missing" ]; then echo "linked file(s) missing from ${p.shared.replace(/["$`\\]/g, '\\$&')}:$fap_missing (create them there, then deploy again)" >&2; exit 1; fi`,
    );
    steps.push({ name: 'check linked files', script: lines.join('\n') });
  }
  steps.push({
    name: 'create release directory',
    script: [
      `if [ -e ${quote(p.release)} ]; then echo ${quote(`release ${release} already exists`)} >&2; exit 1; fi`,
      `printf 'building\\n' > ${quote(statusFile(p, release))}`,
      cmd('mkdir', '-p', p.release),
    ].join('\n'),
  });
  return steps;
}

/** After the code is in place: .env and the shared links. */
export function prepareEndSteps(p: Paths, o: { environment: Record<string, unknown>; linkedFiles: string[]; linkedDirs: string[] }): Step[] {
  const steps: Step[] = [];
  const envLines = Object.entries(o.environment).map(([k, v]) => `${k}=${quote(v === null || v === undefined ? '' : String(v))}`);
  steps.push({
    name: 'write .env',
    // rm first: a .env that came with the code (or a symlink) must not keep its mode or redirect the write
    script: `rm -f ${quote(posix.join(p.release, '.env'))}\n(umask 077 && printf '%s\\n'${envLines.map((l) => ' ' + quote(l)).join('')} > ${quote(posix.join(p.release, '.env'))})`,
  });
  const links: string[] = [];
  for (const d of o.linkedDirs) {
    const target = posix.join(p.release, d);
    links.push(cmd('mkdir', '-p', posix.join(p.shared, d), posix.dirname(target)), cmd('rm', '-rf', target), cmd('ln', '-s', posix.join(p.shared, d), target));
  }
  for (const f of o.linkedFiles) {
    const target = posix.join(p.release, f);
    links.push(cmd('mkdir', '-p', posix.dirname(target)), cmd('rm', '-rf', target), cmd('ln', '-s', posix.join(p.shared, f), target));
  }
  if (links.length) steps.push({ name: 'link shared files', script: links.join('\n') });
  return steps;
}

/** The release's record in .fap/, and its revision reported back. */
export function recordSteps(p: Paths, release: string, o: { deployedBy: string; deployedAt: string; command: string }): Step[] {
  return [
    {
      name: 'record release',
      script: [
        // REVISION marks a complete release (flip refuses a release without one)
        `[ -f ${quote(posix.join(p.release, 'REVISION'))} ] || printf 'none\\n' > ${quote(posix.join(p.release, 'REVISION'))}`,
        `fap_rev="$(head -n 1 ${quote(posix.join(p.release, 'REVISION'))} 2>/dev/null || true)"`,
        `printf 'revision=%s\\ndeployed_at=%s\\ndeployed_by=%s\\ncommand=%s\\n' "$fap_rev" ${quote(o.deployedAt)} ${quote(o.deployedBy)} ${quote(o.command)} > ${quote(metaFile(p, release))}`,
        emitOutput('revision', '"$fap_rev"'),
      ].join('\n'),
    },
  ];
}

/** Remove current (a first deploy that has to be undone). */
export function removeCurrentSteps(p: Paths): Step[] {
  return [{ name: 'remove current', script: cmd('rm', '-f', p.current) }];
}

/** Point current at a release atomically: a new symlink (private name) renamed over the old one. */
export function flipSteps(p: Paths, release: string, name = 'switch current'): Step[] {
  const tmp = `${quote(posix.join(p.root, '.current.tmp.'))}$$`;
  return [
    {
      name,
      script: [
        `if [ ! -f ${quote(posix.join(p.releases, release, 'REVISION'))} ]; then echo ${quote(`release ${release} is missing or incomplete`)} >&2; exit 1; fi`,
        // already there (a revert of a host whose flip never happened): nothing to write, even on a full disk
        `if [ "$(readlink ${quote(p.current)} 2>/dev/null)" != ${quote(`releases/${release}`)} ]; then`,
        `  ln -sfn ${quote(`releases/${release}`)} ${tmp}`,
        `  mv -fT ${tmp} ${quote(p.current)}`,
        'fi',
      ].join('\n'),
    },
  ];
}

/**
 * A health check on the host after its publish: the command is retried every `interval` seconds
 * until it succeeds or `timeout` seconds have passed; then its last output is the error.
 */
export function healthCheckSteps(p: Paths, command: string, timeout: number, interval: number): Step[] {
  return [
    {
      name: 'health check',
      script: [
        `fap_deadline=$(( $(date +%s) + ${Math.max(1, Math.floor(timeout))} ))`,
        'while :; do',
        `  if fap_out=$(cd ${quote(p.current)} && sh -c ${quote(command)} 2>&1); then break; fi`,
        `  if [ "$(date +%s)" -ge "$fap_deadline" ]; then printf '%s\\n' "$fap_out" | tail -n 5 >&2; echo ${quote(`health check failed for ${timeout}s: ${command}`)} >&2; exit 1; fi`,
        `  sleep ${Math.max(1, Math.floor(interval))}`,
        'done',
      ].join('\n'),
    },
  ];
}

export function setStatusSteps(p: Paths, release: string, status: string): Step[] {
  return [{ name: `mark ${release} ${status}`, script: `printf '%s\\n' ${quote(status)} > ${quote(statusFile(p, release))}` }];
}

export function appendLogSteps(p: Paths, line: string): Step[] {
  return [{ name: 'append revisions.log', script: `printf '%s\\n' ${quote(line)} >> ${quote(p.revisionsLog)}` }];
}

/** Delete releases (directories and their records). Names are validated release names. */
export function removeReleasesSteps(p: Paths, names: string[], stepName = 'prune old releases'): Step[] {
  const safe = names.filter((n) => RELEASE_NAME.test(n));
  if (!safe.length) return [];
  const args: string[] = [];
  for (const n of safe) args.push(posix.join(p.releases, n), statusFile(p, n), metaFile(p, n));
  // chunked so a prune of thousands of releases stays within the argument limits
  const lines: string[] = [];
  for (let i = 0; i < args.length; i += 300) lines.push(cmd('rm', '-rf', '--', ...args.slice(i, i + 300)));
  return [{ name: stepName, script: lines.join('\n') }];
}

export function revisionsLogLine(o: { at: string; action: string; release: string; revision?: string; by: string; extra?: string }): string {
  return [o.at, o.action, `release=${o.release}`, `revision=${o.revision || '-'}`, `by=${o.by}`, o.extra ?? ''].join(' ').trim().replace(/\s+/g, ' ');
}

/** Heal what an interrupted run left on this host (see planHeal): final journal phase either way. */
export function healSteps(p: Paths, heal: Heal, at: string, by: string): Step[] {
  const j = heal.journal;
  if (heal.keep) return journalSteps(p, { ...j, phase: 'done' });
  const steps: Step[] = [];
  if (heal.flipBackTo) steps.push(...flipSteps(p, heal.flipBackTo, `heal: switch current back to ${heal.flipBackTo}`));
  else if (heal.flipBackTo === '') steps.push(...removeCurrentSteps(p));
  if (heal.release === 'remove') steps.push(...removeReleasesSteps(p, [j.release], `heal: remove unfinished release ${j.release}`));
  if (heal.release === 'mark-failed') steps.push(...setStatusSteps(p, j.release, 'failed'));
  if (j.command === 'rollback' && j.prev) steps.push(...setStatusSteps(p, j.prev, 'ok'));
  steps.push(...appendLogSteps(p, revisionsLogLine({ at, action: 'heal', release: heal.flipBackTo || j.prev || '-', by, extra: `interrupted=${j.command}:${j.release}:${j.phase}` })));
  steps.push(...journalSteps(p, { ...j, phase: 'reverted' }));
  return steps;
}
