// Pure builders of remote work: each returns named shell steps, every argument quoted. Nothing
// here talks to a host, so --dry-run prints exactly these and unit tests check them directly.
import { posix } from 'node:path';
import { cmd, emitOutput, FAILURE_OUTPUT, FAILURE_STATUS, outputLines, quote, type Step } from '../remote/shell.js';
import { MASK, redact } from '../redact.js';
import { isWithin, type Paths } from './paths.js';
import { FINAL_PHASES, type Heal, type Journal } from './state.js';
import { makerOf, RELEASE_NAME } from './names.js';

export interface LockOwner {
  user: string;
  origin: string;
  pid: number;
  command: string;
  started_at: string;
  token: string;
  /** the machine's boot (/proc/sys/kernel/random/boot_id): a pid means nothing across reboots */
  boot_id?: string;
  /** the PID namespace (readlink /proc/self/ns/pid): a pid means nothing in another one */
  pid_ns?: string;
  /** the process's start time (/proc/self/stat field 22): tells a reused pid from the holder */
  pid_start?: string;
}

/** A lock's lease older than this (by the host's clock) means its holder's session is gone. */
export const LEASE_TTL_SEC = 60;
/** How often the holder's session renews the lease. */
export const LEASE_RENEW_SEC = 5;

export interface LockScriptOptions {
  /**
   * 'create' (deploy, release: commands that build a release) creates the layout; 'existing'
   * (rollback, cleanup, restart) locks only a path that has releases/, and otherwise reports
   * `nothing-deployed` and exits nothingDeployedCode without creating anything.
   */
  layout?: 'create' | 'existing';
  nothingDeployedCode?: number;
  ttlSec?: number;
  renewSec?: number;
}

export { RELEASE_NAME } from './names.js';

const lockDir = (p: Paths) => posix.join(p.state, 'lock');
const statusFile = (p: Paths, release: string) => posix.join(p.state, 'releases', `${release}.status`);
const metaFile = (p: Paths, release: string) => posix.join(p.state, 'releases', `${release}.meta`);
const runFile = (p: Paths, release: string) => posix.join(p.state, 'releases', `${release}.run`);
const tokenPattern = (token: string) => quote(`"token":"${token}"`);

/** Shell function: seconds since a file's mtime by the host's clock (fails if it is missing). */
const AGE_FN = [
  'fap_age() {',
  '  fap_m=$(stat -c %Y "$1" 2>/dev/null || stat -f %m "$1" 2>/dev/null) || return 1',
  '  [ -n "$fap_m" ] || return 1',
  '  fap_a=$(( $(date +%s) - fap_m )); [ "$fap_a" -ge 0 ] || fap_a=0',
  '  echo "$fap_a"',
  '}',
].join('\n');

/**
 * Start this session's lease renewer unless one runs: every renewSec it touches lock/lease while
 * the lock carries our token and the session's driver ($$: the long-lived shell that runs each
 * script in a subshell) lives. When fap dies or its connection drops, the driver ends, the
 * renewing stops, and the lease expires: that, not a pid, is what proves a remote holder gone.
 */
function renewerScript(p: Paths, token: string, renewSec: number): string {
  const dir = lockDir(p);
  const lease = posix.join(dir, 'lease');
  const mark = `${quote(posix.join(dir, 'renewer.'))}$$`;
  const loop = [
    'fap_drv=$$',
    `(trap - EXIT; while sleep ${Math.max(1, Math.floor(renewSec))}; do`,
    '  kill -0 "$fap_drv" 2>/dev/null || exit 0',
    `  grep -qF ${tokenPattern(token)} ${quote(posix.join(dir, 'owner'))} 2>/dev/null || exit 0`,
    `  touch -c ${quote(lease)} 2>/dev/null || exit 0`,
    'done) </dev/null >/dev/null 2>&1 &',
    `echo $! > ${mark}`,
  ].join('\n');
  return [
    `if grep -qF ${tokenPattern(token)} ${quote(posix.join(dir, 'owner'))} 2>/dev/null && ! { [ -f ${mark} ] && kill -0 "$(cat ${mark} 2>/dev/null)" 2>/dev/null; }; then`,
    `  touch -c ${quote(lease)} 2>/dev/null || true`,
    loop.replace(/^/gm, '  '),
    'fi',
  ].join('\n');
}

/**
 * Take the deploy lock atomically: the owner record and the lease are written into a private
 * directory that is then renamed to .fap/lock, so the lock never exists without them. rename(2)
 * onto an existing lock fails; then the holder and its lease's age (host clock; empty: no lease, a
 * lock of an older fap) are printed and the script exits lockHeldCode. Taken, the lock's lease is
 * renewed by this session until it ends.
 */
export function lockSteps(p: Paths, owner: LockOwner, lockHeldCode: number, o: LockScriptOptions = {}): Step[] {
  const dir = lockDir(p);
  const mine = posix.join(p.state, `lock.new.${owner.token}`);
  // .fap/ is private (owner records, journals, uploads); releases/ and shared/ keep the umask
  const privateState = [`(umask 077 && ${cmd('mkdir', '-p', posix.join(p.state, 'releases'), posix.join(p.state, 'uploads'))})`, cmd('chmod', '700', p.state)];
  const create =
    o.layout === 'existing'
      ? [
          // a path never deployed to: nothing to lock, and nothing may be created there
          `if [ ! -d ${quote(p.releases)} ]; then`,
          `  ${emitOutput('nothing-deployed', quote(p.root))}`,
          `  exit ${o.nothingDeployedCode ?? 76}`,
          'fi',
          ...privateState,
        ]
      : [cmd('mkdir', '-p', p.releases, p.shared, posix.dirname(p.current)), ...privateState];
  const abandoned = quote(abandonedMark(p, owner.token));
  const givenUp = `echo 'fap gave this lock attempt up (its connection was lost); not locking' >&2`;
  return [
    {
      name: 'create deploy root',
      // fap gave this attempt up (its connection was lost while it ran): a session that runs on must not lock
      script: [`if [ -e ${abandoned} ]; then ${givenUp}; exit 1; fi`, ...create].join('\n'),
    },
    {
      name: 'take deploy lock',
      script: [
        AGE_FN,
        `(umask 077 && ${cmd('mkdir', '-p', mine)})`,
        `printf '%s\\n' ${quote(JSON.stringify(owner))} > ${quote(posix.join(mine, 'owner'))}`,
        `: > ${quote(posix.join(mine, 'lease'))}`,
        'fap_try=0',
        `while ! mv -T ${quote(mine)} ${quote(dir)} 2>/dev/null; do`,
        `  fap_owner=$(tr -d '\\n' 2>/dev/null < ${quote(posix.join(dir, 'owner'))}) || fap_owner=''`,
        `  fap_lease=$(fap_age ${quote(posix.join(dir, 'lease'))}) || fap_lease=''`,
        // the holder let go between the rename and the read: try again (a few times)
        `  if [ -d ${quote(dir)} ] || [ "$fap_try" -ge 5 ]; then`,
        `    rm -rf ${quote(mine)}`,
        `    ${emitOutput('lock-held', '"$fap_owner"')}`,
        `    ${emitOutput('lock-lease', '"$fap_lease"')}`,
        `    exit ${lockHeldCode}`,
        '  fi',
        '  fap_try=$((fap_try + 1))',
        'done',
        // given up while the lock was being taken: give it straight back (fap's release-on-exit may have run already)
        `if [ -e ${abandoned} ]; then rm -rf ${quote(dir)}; ${givenUp}; exit 1; fi`,
        // marks of abandoned attempts are needed only while such a session could still run
        `find ${quote(p.state)} -maxdepth 1 -name 'lock.abandoned.*' -mtime +2 -exec rm -f {} + 2>/dev/null || true`,
        renewerScript(p, owner.token, o.renewSec ?? LEASE_RENEW_SEC),
      ].join('\n'),
    },
  ];
}

const abandonedMark = (p: Paths, token: string) => posix.join(p.state, `lock.abandoned.${token.replace(/[^A-Za-z0-9]/g, '')}`);

/**
 * fap gave up a lock attempt whose script got no answer (the connection was lost while it ran):
 * mark it abandoned, so a session that runs on (a half-open connection: the host has not noticed
 * yet) does not take the lock after fap has left, or gives it straight back (lockSteps checks the
 * mark before it starts and once it holds the lock). Written only where the lock script could
 * have locked: a path it creates, or one with releases/.
 */
export function abandonLockSteps(p: Paths, token: string, layout: LockScriptOptions['layout'] = 'create'): Step[] {
  const mark = `(umask 077 && ${cmd('mkdir', '-p', p.state)} && : > ${quote(abandonedMark(p, token))})`;
  return [{ name: 'abandon lock attempt', script: layout === 'existing' ? `if [ -d ${quote(p.releases)} ]; then ${mark}; fi` : mark }];
}

/**
 * Restart the lease renewer in this session if the lock is still ours (a script run over a new
 * connection: the renewer of the old session ended with it). A no-op when the lock is not ours.
 */
export function keepLeaseSteps(p: Paths, token: string, renewSec = LEASE_RENEW_SEC): Step[] {
  return [{ name: 'keep deploy lease', script: renewerScript(p, token, renewSec) }];
}

/**
 * Break a lock whose holder is provably gone, so that exactly one breaker wins and a live lock is
 * never removed. The breaker first claims the lock instance: mkdir .fap/lock/breaking.N (atomic;
 * claims live inside the lock, so they vanish with it). breaking.N+1 may be claimed only when
 * breaking.N is older than the TTL (its breaker died), so claims are never removed and two fresh
 * ones cannot coexist. Holding the claim, the breaker checks that the lock still carries the
 * stale token (and, for a lease verdict, that the lease is still expired by the host's clock),
 * renames the lock aside, and deletes it only if what it moved is that instance with its claim;
 * anything else is put back. A loser changes nothing; the caller re-reads the lock.
 * Prints lock-broken=1 when this breaker removed it.
 */
export function breakStaleLockSteps(p: Paths, staleToken: string, myToken: string, o: { requireExpiredLease: boolean; ttlSec?: number }): Step[] {
  const dir = lockDir(p);
  const ttl = Math.max(1, Math.floor(o.ttlSec ?? LEASE_TTL_SEC));
  const aside = posix.join(p.state, `lock.stale.${myToken}`);
  const claim = (base: string) => `${quote(posix.join(base, 'breaking.'))}"$fap_n"`;
  const leaseExpired = o.requireExpiredLease ? ` && fap_l=$(fap_age ${quote(posix.join(dir, 'lease'))}) && [ "$fap_l" -ge ${ttl} ]` : '';
  return [
    {
      name: 'take over stale lock',
      script: [
        AGE_FN,
        "fap_n=1; fap_won=''",
        `while [ -d ${quote(dir)} ]; do`,
        // (the lock may go away between the mkdir and the write: then we lose)
        `  if mkdir ${claim(dir)} 2>/dev/null; then { printf '%s\\n' ${quote(myToken)} > ${claim(dir)}/by; } 2>/dev/null && fap_won=1; break; fi`,
        // taken by a breaker that is alive (a fresh claim), or the lock went away: we lose
        `  fap_c=$(fap_age ${claim(dir)}) || break`,
        `  [ "$fap_c" -ge ${ttl} ] || break`,
        '  fap_n=$((fap_n + 1))',
        'done',
        'if [ -n "$fap_won" ]; then',
        `  if grep -qF ${tokenPattern(staleToken)} ${quote(posix.join(dir, 'owner'))} 2>/dev/null${leaseExpired} && mv -T ${quote(dir)} ${quote(aside)} 2>/dev/null; then`,
        `    if grep -qxF ${quote(myToken)} ${claim(aside)}/by 2>/dev/null && grep -qF ${tokenPattern(staleToken)} ${quote(posix.join(aside, 'owner'))} 2>/dev/null; then`,
        `      rm -rf ${quote(aside)}`,
        `      ${emitOutput('lock-broken', '1')}`,
        // not the instance we claimed (cannot happen while our claim is fresh): never delete it
        `    else mv -T ${quote(aside)} ${quote(dir)} 2>/dev/null || echo ${quote(`fap: a lock moved aside could not be put back: ${aside}`)} >&2; fi`,
        // the lock was renewed or replaced since it was judged: give our claim up, if it is ours
        `  elif grep -qxF ${quote(myToken)} ${claim(dir)}/by 2>/dev/null; then rm -rf ${claim(dir)}; fi`,
        'fi',
      ].join('\n'),
    },
  ];
}

/**
 * --dry-run: who holds the deploy lock, read only (owner record and lease age), so a dry run never
 * plans from the state of a run that is still working there.
 */
export function lockPeekSteps(p: Paths): Step[] {
  const dir = lockDir(p);
  return [
    {
      name: 'read deploy lock',
      script: [
        AGE_FN,
        `if [ -d ${quote(dir)} ]; then`,
        `  ${emitOutput('lock-held', `"$(tr -d '\n' 2>/dev/null < ${quote(posix.join(dir, 'owner'))})"`)}`,
        `  ${emitOutput('lock-lease', `"$(fap_age ${quote(posix.join(dir, 'lease'))} || true)"`)}`,
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

const journalDir = (p: Paths) => posix.join(p.state, 'journal');
/** final journals kept per host, so a host that missed a run can still learn its outcome */
const KEEP_FINAL_JOURNALS = 10;

export function journalSteps(p: Paths, j: Journal): Step[] {
  const body = `token=${j.token}\ncommand=${j.command}\nrelease=${j.release}\nprev=${j.prev}\nphase=${j.phase}\nat=${j.at}\n` + j.hosts.map((h) => `host=${h.replace(/\n/g, ' ')}\n`).join('');
  const file = posix.join(journalDir(p), j.token.replace(/[^A-Za-z0-9]/g, ''));
  // a private temp name: a superseded session writing the same journal can never mix into ours
  const tmp = `${quote(file + '.tmp.')}$$`;
  const lines = [fenceCheck(p), `(umask 077 && mkdir -p ${quote(journalDir(p))})`, `printf '%s' ${quote(body)} > ${tmp} && mv -f ${tmp} ${quote(file)}`];
  if (FINAL_PHASES.includes(j.phase)) {
    // the run is over on this host: files it uploaded go
    lines.push(`rm -f ${quote(posix.join(p.state, 'uploads', j.token))}-*`);
    // forget old final journals, newest kept
    lines.push(`(cd ${quote(journalDir(p))} && ls -1t | sed 1,${KEEP_FINAL_JOURNALS}d | while read -r f; do grep -qE '^phase=(done|reverted)$' "$f" && rm -f "$f"; done) || true`);
  }
  return [{ name: `journal ${j.phase}`, script: lines.join('\n') }];
}

/** The name of unlockSteps' step: a script that contains it gives the lock back (Run.exec). */
export const UNLOCK_STEP = 'release deploy lock';

/**
 * Release the lock, but only if this run still owns it: renamed aside first, then removed only if
 * what was moved carries our token (a lock that changed hands meanwhile is put back untouched).
 */
export function unlockSteps(p: Paths, token: string): Step[] {
  const dir = lockDir(p);
  const aside = posix.join(p.state, `lock.released.${token}`);
  return [
    {
      name: UNLOCK_STEP,
      script: [
        // in a fenced session (a script that ran other locked work first): only while this session
        // is still the lock's fence. A session fap lost must not give back a lock a newer attempt of
        // the same run holds (same token); one fap sends on its own (unfenced) always may.
        fenceCheck(p),
        `if grep -qF ${tokenPattern(token)} ${quote(posix.join(dir, 'owner'))} 2>/dev/null && mv -T ${quote(dir)} ${quote(aside)} 2>/dev/null; then`,
        `  if grep -qF ${tokenPattern(token)} ${quote(posix.join(aside, 'owner'))} 2>/dev/null; then rm -rf ${quote(aside)}; else mv -T ${quote(aside)} ${quote(dir)} 2>/dev/null || true; fi`,
        'fi',
      ].join('\n'),
    },
  ];
}

const fenceFile = (p: Paths) => posix.join(lockDir(p), 'fence');

/**
 * Shell function: stop a superseded session (its driver leads its process group) and wait until it
 * is gone; a zombie counts as gone, it can no longer act. TERM first, KILL after the given seconds.
 */
export const REAP_FUNCTION = [
  // a fap session driver (its argv[0] is fap-session; a zombie's cmdline is empty, a reused pid's differs)
  'fap_alive() { grep -qa fap-session "/proc/$1/cmdline" 2>/dev/null; }',
  'fap_reap() {',
  '  fap_alive "$1" || return 0',
  '  kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true',
  '  fap_n=0',
  '  while fap_alive "$1"; do',
  '    fap_n=$((fap_n + 1))',
  '    if [ "$fap_n" -eq $(($2 * 10)) ]; then kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null || true; fi',
  '    if [ "$fap_n" -gt $(($2 * 10 + 50)) ]; then echo "a superseded session of this run (pid $1) cannot be stopped" >&2; return 1; fi',
  '    sleep 0.1 2>/dev/null || sleep 1',
  '  done',
  '}',
].join('\n');

/**
 * Fencing. Every script a locked run sends first proves the run still holds the lock, then makes
 * its session (the remote driver's pid, `$$` in the script) the lock's fence: TOKEN.ATTEMPT.PID,
 * where ATTEMPT counts the run's connections to the host (a reconnect is a newer attempt). Steps
 * that move `current` or write the journal re-check the fence, so a script of a superseded session
 * of this run (its connection dropped, fap reconnected) stops before it can act. The superseded
 * session is then stopped and reaped before this script goes on: a revert never runs beside the
 * script it replaces. An older attempt's script that reaches the host late (it was still in
 * flight) finds a newer attempt's fence and stops, instead of taking the fence back and reaping
 * its successor; if it wrote its fence in the instant between, the newer one sees that after
 * reaping, reaps it too and writes its own again.
 */
export function fenceSteps(p: Paths, token: string, attempt = 1, reapWaitSec = 10): Step[] {
  const fence = fenceFile(p);
  const tmp = `${quote(fence + '.')}$$`;
  const n = Math.max(1, Math.floor(attempt));
  const superseded = `if [ "$fap_a" -gt ${n} ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; exit 1; fi`;
  const write = `printf '%s\n' "$fap_fence" > ${tmp} && mv -f ${tmp} ${quote(fence)}`;
  return [
    {
      name: 'check deploy lock',
      script: [
        `if ! grep -qF ${quote(`"token":"${token}"`)} ${quote(posix.join(lockDir(p), 'owner'))} 2>/dev/null; then echo ${quote(`this run no longer holds the deploy lock on ${p.root} (removed with fap unlock, or taken over)`)} >&2; exit 1; fi`,
        // fap_att FENCE: the attempt a fence of this run names, in $fap_a (0: none, or another run's)
        `fap_att() { fap_a=0; case "$1" in ${quote(token + '.')}*.*) fap_a="\${1#${quote(token + '.')}}"; fap_a="\${fap_a%%.*}" ;; esac; case "$fap_a" in ''|*[!0-9]*) fap_a=0 ;; esac; }`,
        `fap_prev_fence="$(cat ${quote(fence)} 2>/dev/null || true)"`,
        'fap_att "$fap_prev_fence"',
        superseded,
        `fap_fence=${quote(`${token}.${n}.`)}$$`,
        write,
        reapText(token, reapWaitSec),
        `fap_now="$(cat ${quote(fence)} 2>/dev/null || true)"`,
        'if [ "$fap_now" != "$fap_fence" ]; then',
        '  fap_att "$fap_now"',
        `  ${superseded}`,
        '  fap_prev_fence="$fap_now"',
        reapText(token, reapWaitSec).replace(/^/gm, '  '),
        `  ${write}`,
        'fi',
      ].join('\n'),
    },
  ];
}

/**
 * Before the lock is given back: stop a superseded session of this run that may still be running
 * on the host, so nothing of this run acts after the lock is free.
 */
export function reapSupersededSteps(p: Paths, token: string, reapWaitSec = 10): Step[] {
  return [{ name: 'stop superseded session', script: [`fap_prev_fence="$(cat ${quote(fenceFile(p))} 2>/dev/null || true)"`, reapText(token, reapWaitSec)].join('\n') }];
}

/** Reap the session named by $fap_prev_fence (TOKEN.ATTEMPT.PID) when it is another session of this run. */
function reapText(token: string, waitSec: number): string {
  const mine = quote(token + '.');
  return [
    REAP_FUNCTION,
    `case "$fap_prev_fence" in ${mine}*) fap_old="\${fap_prev_fence##*.}" ;; *) fap_old='' ;; esac`,
    `if [ -n "$fap_old" ] && [ "$fap_old" != "$$" ]; then fap_reap "$fap_old" ${Math.max(1, Math.floor(waitSec))}; fi`,
  ].join('\n');
}

/** Shell text that stops a script whose attempt is no longer the lock's fence (no-op unfenced). */
function fenceCheck(p: Paths): string {
  const fence = quote(fenceFile(p));
  // no fence at all: the lock itself is gone (fap unlock, or taken over), not a newer attempt of ours
  const why = `if [ -e ${fence} ]; then echo 'superseded by a newer attempt of this run; stopping' >&2; else echo 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping' >&2; fi`;
  return `if [ -n "\${fap_fence:-}" ] && [ "$(cat ${fence} 2>/dev/null)" != "$fap_fence" ]; then ${why}; exit 1; fi`;
}

/** Report current, the release directories and their recorded state, in one pass. */
export function inspectSteps(p: Paths): Step[] {
  return [
    {
      name: 'read release state',
      script: [
        emitOutput('current', `"$(readlink ${quote(p.current)} 2>/dev/null || true)"`),
        // does current lead into releases/? Compared physically (a Fapistrano absolute link may
        // spell the root through a symlink); a current fap cannot name it could not put back
        `if [ -L ${quote(p.current)} ]; then fap_t=$(readlink ${quote(p.current)} || true); case $fap_t in /*) ;; *) fap_t=${quote(posix.dirname(p.current))}/$fap_t ;; esac`,
        `  fap_d=$(cd -P "$(dirname "$fap_t")" 2>/dev/null && pwd -P || true); fap_r=$(cd -P ${quote(p.releases)} 2>/dev/null && pwd -P || true)`,
        `  if [ -n "$fap_d" ] && [ "$fap_d" = "$fap_r" ]; then ${emitOutput('current-in', "'releases'")}; else ${emitOutput('current-in', "'elsewhere'")}; fi`,
        `elif [ -e ${quote(p.current)} ]; then ${emitOutput('current-in', "'not-a-link'")}; fi`,
        `ls -1 ${quote(p.releases)} 2>/dev/null | ${outputLines('rel')}`,
        // Fapistrano kept a release's revision only in its REVISION file (fapistrano-0.9.5 plugins/git.py:92-94)
        `(cd ${quote(p.releases)} 2>/dev/null && for fap_d in ${'[0-9]'.repeat(6)}-${'[0-9]'.repeat(6)}; do [ -f "$fap_d/REVISION" ] && [ ! -L "$fap_d/REVISION" ] && printf '%s:%s\\n' "$fap_d" "$(head -c 64 "$fap_d/REVISION" | head -n 1)"; done; true) | ${outputLines('frev')}`,
        `(cd ${quote(posix.join(p.state, 'releases'))} 2>/dev/null && grep -H '' -- *.status *.meta 2>/dev/null || true) | ${outputLines('st')}`,
        // a finished run's journal is read for its outcome only: its host list is not needed
        `(cd ${quote(journalDir(p))} 2>/dev/null && awk 'FNR==1{f=0} /^phase=(done|reverted)$/{f=1} /^host=/&&f{next} {print FILENAME ":" $0}' * 2>/dev/null || true) | ${outputLines('journal')}`,
      ].join('\n'),
    },
  ];
}

/**
 * shared_writable (fapistrano-0.9.5 deploy.py:149-152: mkdir shared/log, chmod -R g+w shared):
 * find does not follow symlinks (a link in shared/ may point anywhere), and only files this user
 * owns are changed (chmod of another's file would fail the deploy).
 */
export function sharedWritableSteps(p: Paths): Step[] {
  return [
    {
      name: 'make shared/ group-writable',
      script: [cmd('mkdir', '-p', posix.join(p.shared, 'log')), `find ${quote(p.shared)} -xdev ! -type l -user "$(id -u)" ! -perm -g+w -exec chmod g+w {} + 2>/dev/null || true`].join('\n'),
    },
  ];
}

/** First steps of prepare: refuse early if a linked file is missing, then create the release. */
export function prepareStartSteps(p: Paths, release: string, linkedFiles: string[], token: string): Step[] {
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
      // which run made the release: a discard removes only its own (see discardReleaseSteps)
      `printf '%s\\n' ${quote(token)} > ${quote(runFile(p, release))}`,
      `printf 'building\\n' > ${quote(statusFile(p, release))}`,
      cmd('mkdir', '-p', p.release),
    ].join('\n'),
  });
  return steps;
}

/** After the code is in place: .env and the shared links. */
export function prepareEndSteps(p: Paths, o: { environment: Record<string, unknown>; linkedFiles: string[]; linkedDirs: string[]; environmentFormat?: string }): Step[] {
  const steps: Step[] = [];
  // export: Fapistrano wrote `export K="V"` (fapistrano-0.9.5 deploy.py:143), unescaped; here quoted
  const prefix = o.environmentFormat === 'export' ? 'export ' : '';
  const envScript = (show: (value: string) => string) => {
    const envLines = Object.entries(o.environment).map(([k, v]) => {
      const value = show(v === null || v === undefined ? '' : String(v));
      return `${prefix}${k}=${value === MASK ? MASK : quote(value)}`; // a wholly secret value reads K=*** (printed, never run)
    });
    // rm first: a .env that came with the code (or a symlink) must not keep its mode or redirect the write
    return `rm -f ${quote(posix.join(p.release, '.env'))}\n(umask 077 && printf '%s\\n'${envLines.map((l) => ' ' + quote(l)).join('')} > ${quote(posix.join(p.release, '.env'))})`;
  };
  // the host gets the values; what fap prints (-v, --dry-run, a failure) has each secret as *** before
  // quoting, so no form of it (nested quotes, a multi-line key) is ever in the printed text
  const script = envScript((v) => v);
  const shown = envScript(redact);
  steps.push({ name: 'write .env', script, ...(shown !== script ? { shown } : {}) });
  const links: string[] = [];
  for (const d of o.linkedDirs) {
    const target = posix.join(p.release, d);
    links.push(...noSymlinkParents(p.release, d), cmd('mkdir', '-p', posix.join(p.shared, d), posix.dirname(target)), cmd('rm', '-rf', target), cmd('ln', '-s', posix.join(p.shared, d), target));
  }
  for (const f of o.linkedFiles) {
    const target = posix.join(p.release, f);
    links.push(...noSymlinkParents(p.release, f), cmd('mkdir', '-p', posix.dirname(target)), cmd('rm', '-rf', target), cmd('ln', '-s', posix.join(p.shared, f), target));
  }
  if (links.length) steps.push({ name: 'link shared files', script: links.join('\n') });
  return steps;
}

/**
 * Lines that fail the step when a directory on the way to `rel` inside the release is a symlink
 * (one that came with the code could point at /etc): rm -rf and mkdir -p would follow it. The last
 * component may be a symlink: rm removes the link itself.
 */
function noSymlinkParents(release: string, rel: string): string[] {
  const parts = rel.split('/').slice(0, -1);
  return parts.map((_, i) => {
    const dir = posix.join(release, ...parts.slice(0, i + 1));
    return `if [ -L ${quote(dir)} ]; then echo ${quote(`linked path ${rel}: ${dir} is a symlink in the release; refusing to follow it`)} >&2; exit 1; fi`;
  });
}

/** The release's record in .fap/, and its revision reported back. */
export function recordSteps(p: Paths, release: string, o: { deployedBy: string; deployedAt: string; command: string }): Step[] {
  const revision = posix.join(p.release, 'REVISION');
  const revisionTmp = posix.join(p.release, '.fap-revision.tmp');
  return [
    {
      name: 'record release',
      script: [
        // REVISION marks a complete release (flip refuses a release without one). A symlink (that
        // came with the code) is replaced by a fresh file renamed over it, never written through.
        `if [ -L ${quote(revision)} ] || [ ! -f ${quote(revision)} ]; then`,
        `  rm -f ${quote(revisionTmp)}`,
        `  printf 'none\\n' > ${quote(revisionTmp)}`,
        `  mv -fT ${quote(revisionTmp)} ${quote(revision)}`,
        'fi',
        `fap_rev="$(head -n 1 ${quote(revision)} 2>/dev/null || true)"`,
        `printf 'revision=%s\\ndeployed_at=%s\\ndeployed_by=%s\\ncommand=%s\\n' "$fap_rev" ${quote(o.deployedAt)} ${quote(o.deployedBy)} ${quote(o.command)} > ${quote(metaFile(p, release))}`,
        emitOutput('revision', '"$fap_rev"'),
      ].join('\n'),
    },
  ];
}

/** Remove current (a first deploy that has to be undone). */
export function removeCurrentSteps(p: Paths): Step[] {
  return [{ name: 'remove current', script: `${fenceCheck(p)}\n${cmd('rm', '-f', p.current)}` }];
}

/**
 * What current's symlink holds for a release: relative when current and releases/ share a
 * directory tree under the deploy root (the link survives moving the root), absolute otherwise
 * (current_path or releases_path set elsewhere).
 */
export function currentLinkTarget(p: Paths, release: string): string {
  const dir = posix.join(p.releases, release);
  return isWithin(p.current, p.root) && isWithin(p.releases, p.root) ? posix.relative(posix.dirname(p.current), dir) : dir;
}

/**
 * Point current at a release atomically: a new symlink (private name) renamed over the old one.
 * A fap release must be complete (REVISION); one Fapistrano made has no such marker (its git
 * plugin wrote REVISION, curl nothing: fapistrano-0.9.5 plugins/git.py:94), so there the directory
 * existing is enough.
 */
export function flipSteps(p: Paths, release: string, name = 'switch current'): Step[] {
  const tmp = `${quote(posix.join(posix.dirname(p.current), '.current.tmp.'))}$$`;
  const dir = posix.join(p.releases, release);
  const complete = makerOf(release) === 'fapistrano' ? `[ -d ${quote(dir)} ] && [ ! -L ${quote(dir)} ]` : `[ -f ${quote(posix.join(dir, 'REVISION'))} ]`;
  const link = currentLinkTarget(p, release);
  return [
    {
      name,
      script: [
        fenceCheck(p),
        `if ! { ${complete}; }; then echo ${quote(`release ${release} is missing or incomplete`)} >&2; exit 1; fi`,
        // already there (a revert of a host whose flip never happened): nothing to write, even on a full disk
        `if [ "$(readlink ${quote(p.current)} 2>/dev/null)" != ${quote(link)} ]; then`,
        `  ln -sfn ${quote(link)} ${tmp}`,
        `  mv -fT ${tmp} ${quote(p.current)}`,
        'fi',
      ].join('\n'),
    },
  ];
}

/**
 * A health check on the host after its publish: the command is retried every `interval` seconds
 * until it succeeds or `timeout` seconds have passed. Then its last attempt's output, whole, and
 * its exit status are the failure (FAILURE_OUTPUT, FAILURE_STATUS): the cause is found in what the
 * command said, never in fap's own words.
 */
export function healthCheckSteps(p: Paths, command: string, timeout: number, interval: number): Step[] {
  const seconds = Math.max(1, Math.floor(timeout));
  return [
    {
      name: 'health check',
      // a failure quotes the user's command and its output, not this retry loop
      command,
      failureNote: `still failing after ${seconds}s`,
      script: [
        `fap_deadline=$(( $(date +%s) + ${seconds} ))`,
        // each attempt ends when the time is up (a check with no timeout of its own, a hung curl,
        // held the deploy for as long as it hung: found by the attack pass), and only the last
        // 64 KiB of its output are kept (one that printed megabytes held them all in fap)
        'if command -v timeout >/dev/null 2>&1; then fap_to=timeout; else fap_to=; fi',
        'fap_hc=$(mktemp) || exit 1',
        'while :; do',
        '  fap_left=$(( fap_deadline - $(date +%s) )); [ "$fap_left" -ge 1 ] || fap_left=1',
        // cd's own complaint (current is gone) is the command's output too
        '  fap_start=$(date +%s)',
        `  fap_rc=0; { cd ${quote(p.current)} && \${fap_to:+$fap_to -k 2 "$fap_left"} sh -c ${quote(command)}; } > "$fap_hc" 2>&1 < /dev/null || fap_rc=$?`,
        '  if [ "$fap_rc" -eq 0 ]; then break; fi',
        `  if [ "$(date +%s)" -ge "$fap_deadline" ]; then`,
        // timeout's 124 after running the whole time left (a command's own exit 124 is its own; with
        // whole seconds, a last second left needs two seen to be sure); the note on a line of its own
        `    if [ -n "$fap_to" ] && [ "$fap_rc" -eq 124 ] && [ $(( $(date +%s) - fap_start )) -ge $(( fap_left + (fap_left < 2) )) ]; then { if [ -n "$(tail -c 1 "$fap_hc")" ]; then echo; fi; echo "(ended: it was still running when the ${seconds}s were up)"; } >> "$fap_hc"; fi`,
        // (a last line without its newline gets one: the status mark goes on a line of its own)
        // (no output at all is one empty line: the runner then knows the check said nothing)
        `    { tail -c 65536 "$fap_hc"; if [ -n "$(tail -c 1 "$fap_hc")" ] || [ ! -s "$fap_hc" ]; then echo; fi; } | ${outputLines(FAILURE_OUTPUT)}`,
        `    ${emitOutput(FAILURE_STATUS, '"$fap_rc"')}`,
        '    rm -f "$fap_hc"',
        '    exit 1',
        '  fi',
        `  sleep ${Math.max(1, Math.floor(interval))}`,
        'done',
        'rm -f "$fap_hc"',
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
  for (const n of safe) args.push(posix.join(p.releases, n), statusFile(p, n), metaFile(p, n), runFile(p, n));
  // chunked so a prune of thousands of releases stays within the argument limits
  const lines: string[] = [];
  for (let i = 0; i < args.length; i += 300) lines.push(cmd('rm', '-rf', '--', ...args.slice(i, i + 300)));
  return [{ name: stepName, script: lines.join('\n') }];
}

/**
 * Remove a release this run (token) created and never published. A release of the same name that
 * another run made (the "already exists" refusal) is left alone; so is one made before fap
 * recorded its maker, unless `allowUnrecorded` (a heal, which has the journal as proof).
 */
export function discardReleaseSteps(p: Paths, release: string, token: string, stepName = 'remove unpublished release', allowUnrecorded = false): Step[] {
  const remove = removeReleasesSteps(p, [release], stepName);
  if (!remove.length) return [];
  const mine = `[ "$(cat ${quote(runFile(p, release))} 2>/dev/null)" = ${quote(token)} ]`;
  const cond = allowUnrecorded ? `{ [ ! -e ${quote(runFile(p, release))} ] || ${mine}; }` : mine;
  return [{ name: stepName, script: `if ${cond}; then\n${remove[0].script}\nfi` }];
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
  if (heal.release === 'remove') steps.push(...discardReleaseSteps(p, j.release, j.token, `heal: remove unfinished release ${j.release}`, true));
  if (heal.release === 'mark-failed') steps.push(...setStatusSteps(p, j.release, 'failed'));
  if (j.command === 'rollback' && j.prev) steps.push(...setStatusSteps(p, j.prev, 'ok'));
  steps.push(...appendLogSteps(p, revisionsLogLine({ at, action: 'heal', release: heal.flipBackTo || j.prev || '-', by, extra: `interrupted=${j.command}:${j.release}:${j.phase}` })));
  steps.push(...journalSteps(p, { ...j, phase: 'reverted' }));
  return steps;
}
