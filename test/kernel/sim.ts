// Simulated hosts for the kernel tier (deterministic simulation, FoundationDB-style): a host is an
// in-memory filesystem (simfs.ts) plus its sessions, and SimTransport runs the composed phase
// scripts on it without a process. A script is split into its named steps (harness.ts splitSteps);
// each step is interpreted by its NAME, its arguments taken from its text by small strict parsers,
// and the text is then rebuilt by the real builder (src/release/scripts.ts) from those arguments and
// must be identical: a step the simulation does not know, or text it did not expect, throws. What a
// step does here is checked against /bin/sh by the differential test (sim.test.ts).
//
// Sessions: each connection's session has an id that stands for the driver's $$. The fence file,
// 'check deploy lock' (fence + reaping a superseded session of the run), the fence checks of the
// journal and current-moving steps, and the lock's owner/lease/claims are modelled; a reaped
// session's remaining steps never run. Not modelled: time (every age is 0, so a lease never
// expires and a breaker's claim is always fresh), file modes and owners, plugin steps, health
// checks other than `true` and `false`.
import { posix } from 'node:path';
import { userInfo } from 'node:os';
import { ConnectError } from '../../src/errors.js';
import { composeScript, sessionMarks, type Step } from '../../src/remote/shell.js';
import { withReleaseName, type Paths } from '../../src/release/paths.js';
import {
  abandonLockSteps,
  appendLogSteps,
  breakStaleLockSteps,
  discardReleaseSteps,
  fenceSteps,
  flipSteps,
  forceUnlockSteps,
  healthCheckSteps,
  inspectSteps,
  journalSteps,
  keepLeaseSteps,
  lockSteps,
  prepareEndSteps,
  prepareStartSteps,
  reapSupersededSteps,
  recordSteps,
  removeCurrentSteps,
  removeReleasesSteps,
  setStatusSteps,
  sharedWritableSteps,
  unlockSteps,
  type LockOwner,
} from '../../src/release/scripts.js';
import { FINAL_PHASES, type Journal, type JournalPhase } from '../../src/release/state.js';
import type { ExecOptions, ExecResult, Transport } from '../../src/transport/transport.js';
import { ShellError, SimFs } from './simfs.js';

/** The simulation met something it does not model: a bug in the test, never a host failure. */
export class SimError extends Error {}

/** A script's step: its name and its text (the lines after FAP_STEP=...). */
export interface SimStep {
  name: string;
  text: string;
}

/** A script split into steps; its header must be the one composeScript writes. */
export function parseScript(script: string): SimStep[] {
  const chunks = script.split(/^(?=FAP_STEP=)/m);
  const header = chunks.slice(0, 2).join('');
  if (header !== composeScript([])) throw new SimError(`sim: a script whose header is not composeScript's:\n${header}`);
  return chunks.slice(2).map((c) => {
    const nl = c.indexOf('\n');
    const name = unquote(c.slice('FAP_STEP='.length, nl));
    return { name, text: c.slice(nl + 1).replace(/\n$/, '') };
  });
}

// ---- shell words ----

/** One shell word as quote() writes it (unquoted safe characters, '...' and \'), read back. */
export function unquote(word: string): string {
  let out = '';
  for (let i = 0; i < word.length; ) {
    const c = word[i];
    if (c === "'") {
      const j = word.indexOf("'", i + 1);
      if (j < 0) throw new SimError(`sim: unterminated quote in ${word}`);
      out += word.slice(i + 1, j);
      i = j + 1;
    } else if (c === '\\') {
      out += word[i + 1];
      i += 2;
    } else if (/[A-Za-z0-9_@%+=:,./-]/.test(c)) {
      out += c;
      i++;
    } else throw new SimError(`sim: "${c}" in the word ${word} is not something quote() writes`);
  }
  return out;
}

/** A quoted word (see unquote) in a regular expression. */
const W = String.raw`((?:'[^']*'|\\'|[A-Za-z0-9_@%+=:,./-])+)`;

/** Split a line of quoted words (as cmd() writes them). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`\\s*${W}`, 'y');
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < line.length && (m = re.exec(line))) {
    out.push(unquote(m[1]));
    at = re.lastIndex;
  }
  if (line.slice(at).trim()) throw new SimError(`sim: cannot read the words of: ${line}`);
  return out;
}

function match(text: string, re: RegExp, what: string): RegExpExecArray {
  const m = re.exec(text);
  if (!m) throw new SimError(`sim: no ${what} in the step text:\n${text}`);
  return m;
}

/** The text must be exactly what the builder makes from the arguments read back. */
function same(step: SimStep, built: Step[]): void {
  const want = built.find((s) => s.name === step.name)?.script.trimEnd();
  if (want === step.text) return;
  const a = step.text.split('\n');
  const b = (want ?? '').split('\n');
  const i = a.findIndex((l, k) => l !== b[k]);
  throw new SimError(`sim: the text of step "${step.name}" is not what its builder makes from the arguments read from it (line ${i + 1}):\n  got:  ${a[i]}\n  want: ${want === undefined ? '(no such step)' : b[i]}`);
}

const TOKEN = String.raw`([A-Za-z0-9]+)`;
const tokenIn = (text: string) => match(text, new RegExp(`grep -qF '"token":"${TOKEN}"'`), 'token')[1];
const num = (text: string, re: RegExp, what: string) => Number(match(text, re, what)[1]);

// ---- hosts and sessions ----

export class SimSession {
  alive = true;
  /** a lease renewer this session started (it lives while the session does) */
  renewer = false;
  constructor(readonly sid: number) {}
}

/** Steps a session still has to run (an old session fap lost: they run later, unless it is reaped). */
interface Pending {
  session: SimSession;
  steps: SimStep[];
  vars: Map<string, string>;
  /** successor steps on the host before this session runs again (seeded) */
  resumeAfter: number;
  seen: number;
  /** the successor's first script has ended: a changing step completed after that is late */
  successorEnded: boolean;
}

/** The simulated machines of a fleet: one filesystem (hosts are directories in it), their sessions. */
export class SimWorld {
  fs = new SimFs();
  private sids = 1000;
  readonly sessions = new Map<number, SimSession>();
  /** old sessions per host name */
  readonly pending = new Map<string, Pending>();
  /** old sessions' steps that began after their successor's first script had ended and completed */
  readonly late: string[] = [];
  /** what the simulation could not interpret (the kernel turns any error into a host failure: the harness rethrows these) */
  readonly errors: SimError[] = [];

  openSession(): SimSession {
    const s = new SimSession(++this.sids);
    this.sessions.set(s.sid, s);
    return s;
  }
}

/** What a script run on a simulated host gave back. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  /** the step that failed, if one did */
  failed?: string;
  /** steps that completed */
  done: string[];
  /** the session was stopped (reaped) while it ran the script */
  killed?: boolean;
}

/** Runs the steps of scripts on one host, in one session. */
class Interpreter {
  out = '';
  err = '';
  constructor(
    private readonly world: SimWorld,
    private readonly p: Paths,
    private readonly session: SimSession,
    private readonly vars: Map<string, string>,
    private readonly om: string,
  ) {}

  private get fs() {
    return this.world.fs;
  }

  private emit(key: string, value: string): void {
    this.out += `${this.om}${key}=${value}\n`;
  }

  private fail(message: string, code = 1): never {
    throw new ShellError(message, code);
  }

  private get $$(): string {
    return String(this.session.sid);
  }

  private fenceFile(): string {
    return posix.join(this.p.state, 'lock', 'fence');
  }

  /** fenceCheck: a script of an attempt that is no longer the lock's fence stops. */
  private fenceCheck(): void {
    const mine = this.vars.get('fap_fence');
    const now = this.fs.read(this.fenceFile());
    if (!mine || (now ?? '').replace(/\n+$/, '') === mine) return;
    this.fail(now !== undefined ? 'superseded by a newer attempt of this run; stopping' : 'this run no longer holds the deploy lock (removed with fap unlock, or taken over); stopping');
  }

  private ownerHas(dir: string, token: string): boolean {
    return (this.fs.read(posix.join(dir, 'owner')) ?? '').includes(`"token":"${token}"`);
  }

  /** fap_reap: stop a superseded session of this run named by the previous fence. */
  private reap(prevFence: string, token: string): void {
    if (!prevFence.startsWith(token + '.')) return;
    // TOKEN.ATTEMPT.PID: the session is the last part
    const old = Number(prevFence.slice(prevFence.lastIndexOf('.') + 1));
    if (String(old) === this.$$) return;
    const s = this.world.sessions.get(old);
    if (s) s.alive = false;
  }

  private renew(token: string): void {
    const dir = posix.join(this.p.state, 'lock');
    const mark = posix.join(dir, `renewer.${this.$$}`);
    if (this.ownerHas(dir, token) && !(this.fs.isFile(mark) && this.session.renewer)) {
      this.fs.touch(posix.join(dir, 'lease'));
      this.session.renewer = true;
      this.fs.write(mark, `${this.session.sid}\n`);
    }
  }

  /** Run one step; ShellError: it failed (set -e ends the script). */
  step(s: SimStep): void {
    const { fs, p } = this;
    const t = s.text;
    const lockDir = posix.join(p.state, 'lock');
    let m: RegExpExecArray | null;
    switch (s.name) {
      case 'create deploy root': {
        const token = match(t, new RegExp(`lock\\.abandoned\\.${TOKEN}`), 'token')[1];
        const existing = t.includes('nothing-deployed');
        const code = existing ? num(t, /^ {2}exit (\d+)$/m, 'exit code') : undefined;
        same(s, lockSteps(p, { token } as LockOwner, 0, { layout: existing ? 'existing' : 'create', nothingDeployedCode: code }));
        if (fs.exists(posix.join(p.state, `lock.abandoned.${token}`))) this.fail('fap gave this lock attempt up (its connection was lost); not locking');
        if (existing) {
          if (!fs.isDir(p.releases)) {
            this.emit('nothing-deployed', p.root);
            this.fail('', code);
          }
        } else for (const d of [p.releases, p.shared, posix.dirname(p.current)]) fs.mkdirP(d);
        fs.mkdirP(posix.join(p.state, 'releases'));
        fs.mkdirP(posix.join(p.state, 'uploads'));
        return;
      }
      case 'take deploy lock': {
        const owner = JSON.parse(unquote(match(t, /^printf '%s\\n' (.+) > \S+\/owner$/m, 'owner record')[1])) as LockOwner;
        const code = num(t, /exit (\d+)\n {2}fi/, 'lock-held code');
        same(s, lockSteps(p, owner, code, { renewSec: num(t, /while sleep (\d+); do/, 'renew interval') }));
        const mine = posix.join(p.state, `lock.new.${owner.token}`);
        fs.mkdirP(mine);
        fs.write(posix.join(mine, 'owner'), JSON.stringify(owner) + '\n');
        fs.write(posix.join(mine, 'lease'), '');
        for (let tries = 0; ; tries++) {
          try {
            fs.rename(mine, lockDir);
            break;
          } catch (e) {
            if (!(e instanceof ShellError)) throw e;
          }
          const held = (fs.read(posix.join(lockDir, 'owner')) ?? '').replace(/\n/g, '');
          const lease = fs.exists(posix.join(lockDir, 'lease')) ? '0' : '';
          if (fs.isDir(lockDir) || tries >= 5) {
            fs.rmRf(mine);
            this.emit('lock-held', held);
            this.emit('lock-lease', lease);
            this.fail('', code);
          }
        }
        if (fs.exists(posix.join(p.state, `lock.abandoned.${owner.token}`))) {
          fs.rmRf(lockDir);
          this.fail('fap gave this lock attempt up (its connection was lost); not locking');
        }
        // (marks older than 2 days are pruned here: no time passes on a simulated host)
        this.renew(owner.token);
        return;
      }
      case 'keep deploy lease': {
        const token = tokenIn(t);
        same(s, keepLeaseSteps(p, token, num(t, /while sleep (\d+); do/, 'renew interval')));
        this.renew(token);
        return;
      }
      case 'read release state':
        same(s, inspectSteps(p));
        this.inspect();
        return;
      case 'take over stale lock': {
        const stale = tokenIn(t);
        const mine = match(t, new RegExp(`lock\\.stale\\.${TOKEN}`), 'token')[1];
        const requireExpiredLease = t.includes('fap_l=');
        const ttl = num(t, /\[ "\$fap_c" -ge (\d+) \]/, 'ttl');
        same(s, breakStaleLockSteps(p, stale, mine, { requireExpiredLease, ttlSec: ttl }));
        let n = 1;
        let won = false;
        while (fs.isDir(lockDir)) {
          const claim = posix.join(lockDir, `breaking.${n}`);
          try {
            fs.mkdir(claim);
            fs.write(posix.join(claim, 'by'), mine + '\n');
            won = true;
            break;
          } catch (e) {
            if (!(e instanceof ShellError)) throw e;
          }
          // an existing claim is as old as the time that passed: none (ttl is at least 1 s), so it is fresh
          break;
        }
        if (!won) return;
        const claimBy = (base: string) => (fs.read(posix.join(base, `breaking.${n}`, 'by')) ?? '').split('\n').includes(mine);
        const aside = posix.join(p.state, `lock.stale.${mine}`);
        // a lease is never expired here: time does not pass
        const leaseOk = !requireExpiredLease;
        let moved = false;
        if (this.ownerHas(lockDir, stale) && leaseOk) {
          try {
            fs.rename(lockDir, aside);
            moved = true;
          } catch (e) {
            if (!(e instanceof ShellError)) throw e;
          }
        }
        if (moved) {
          if (claimBy(aside) && this.ownerHas(aside, stale)) {
            fs.rmRf(aside);
            this.emit('lock-broken', '1');
          } else {
            try {
              fs.rename(aside, lockDir);
            } catch {
              this.err += `fap: a lock moved aside could not be put back: ${aside}\n`;
            }
          }
        } else if (claimBy(lockDir)) fs.rmRf(posix.join(lockDir, `breaking.${n}`));
        return;
      }
      case 'check deploy lock': {
        const token = tokenIn(t);
        const attempt = num(t, /^fap_fence='?[A-Za-z0-9]+\.(\d+)\.'?\$\$$/m, 'attempt');
        same(s, fenceSteps(p, token, attempt, num(t, /fap_reap "\$fap_old" (\d+); fi/, 'reap wait')));
        if (!this.ownerHas(lockDir, token)) this.fail(`this run no longer holds the deploy lock on ${p.root} (removed with fap unlock, or taken over)`);
        const prev = (fs.read(this.fenceFile()) ?? '').replace(/\n+$/, '');
        // a newer attempt's fence: this script reached the host late, and stops
        const prevAttempt = prev.startsWith(`${token}.`) ? Number(prev.split('.')[1]) || 0 : 0;
        if (prevAttempt > attempt) this.fail('superseded by a newer attempt of this run; stopping');
        const fence = `${token}.${attempt}.${this.$$}`;
        this.vars.set('fap_fence', fence);
        fs.write(`${this.fenceFile()}.${this.$$}`, fence + '\n');
        fs.rename(`${this.fenceFile()}.${this.$$}`, this.fenceFile());
        this.reap(prev, token);
        return;
      }
      case 'stop superseded session': {
        const token = match(t, new RegExp(`in ${TOKEN}\\.\\*\\)`), 'token')[1];
        same(s, reapSupersededSteps(p, token, num(t, /fap_reap "\$fap_old" (\d+); fi/, 'reap wait')));
        this.reap((fs.read(this.fenceFile()) ?? '').replace(/\n+$/, ''), token);
        return;
      }
      case 'release deploy lock': {
        const token = tokenIn(t);
        same(s, unlockSteps(p, token));
        this.fenceCheck();
        const aside = posix.join(p.state, `lock.released.${token}`);
        if (!this.ownerHas(lockDir, token)) return;
        try {
          fs.rename(lockDir, aside);
        } catch (e) {
          if (e instanceof ShellError) return;
          throw e;
        }
        if (this.ownerHas(aside, token)) fs.rmRf(aside);
        else
          try {
            fs.rename(aside, lockDir);
          } catch {
            /* || true */
          }
        return;
      }
      case 'abandon lock attempt': {
        const token = match(t, new RegExp(`lock\\.abandoned\\.${TOKEN}`), 'token')[1];
        const existing = t.startsWith('if [ -d');
        same(s, abandonLockSteps(p, token, existing ? 'existing' : 'create'));
        if (existing && !fs.isDir(p.releases)) return;
        fs.mkdirP(p.state);
        fs.write(posix.join(p.state, `lock.abandoned.${token}`), '');
        return;
      }
      case 'remove deploy lock':
        same(s, forceUnlockSteps(p));
        if (fs.isDir(lockDir)) {
          this.emit('lock-held', (fs.read(posix.join(lockDir, 'owner')) ?? '').replace(/\n/g, ''));
          fs.rmRf(lockDir);
        }
        return;
      case 'make shared/ group-writable':
        same(s, sharedWritableSteps(p));
        fs.mkdirP(posix.join(p.shared, 'log'));
        return;
      case 'check linked files': {
        const files = [...t.matchAll(new RegExp(`^\\[ -e ${W} \\]`, 'gm'))].map((x) => posix.relative(p.shared, unquote(x[1])));
        same(s, prepareStartSteps(p, '0', files, '0'));
        const missing = files.filter((f) => !fs.exists(posix.join(p.shared, f)));
        if (missing.length) this.fail(`linked file(s) missing from ${p.shared}:${missing.map((f) => ' ' + f).join('')} (create them there, then deploy again)`);
        return;
      }
      case 'create release directory': {
        const release = match(t, /release (\S+) already exists/, 'release')[1];
        const token = unquote(match(t, new RegExp(`^printf '%s\\\\n' ${W} > `, 'm'), 'token')[1]);
        const q = withReleaseName(p, release);
        same(s, prepareStartSteps(q, release, [], token));
        if (fs.exists(q.release)) this.fail(`release ${release} already exists`);
        fs.write(posix.join(p.state, 'releases', `${release}.run`), token + '\n');
        fs.write(posix.join(p.state, 'releases', `${release}.status`), 'building\n');
        fs.mkdirP(q.release);
        return;
      }
      case 'write .env': {
        const file = unquote(match(t, new RegExp(`^rm -f ${W}$`, 'm'), '.env path')[1]);
        const q = withReleaseName(p, posix.basename(posix.dirname(file)));
        const lines = words(match(t, /printf '%s\\n'(.*) > \S+\)$/m, '.env lines')[1]);
        const format = lines.length && lines.every((l) => l.startsWith('export ')) ? 'export' : undefined;
        // each line is KEY=<the value, quoted>
        const pairs = lines.map((l) => l.replace(/^export /, '')).map((l) => [l.slice(0, l.indexOf('=')), unquote(l.slice(l.indexOf('=') + 1))]);
        const environment = Object.fromEntries(pairs);
        same(s, prepareEndSteps(q, { environment, linkedFiles: [], linkedDirs: [], environmentFormat: format }));
        fs.rmF(file);
        fs.write(file, lines.length ? lines.map((l) => l + '\n').join('') : '\n');
        return;
      }
      case 'link shared files':
        this.links(s);
        return;
      case 'record release': {
        const dir = unquote(match(t, new RegExp(`^if \\[ -L ${W}/REVISION \\]`), 'release')[1]);
        const release = posix.basename(dir);
        const [deployedAt, deployedBy, command] = words(match(t, /"\$fap_rev" (.*) > \S+\.meta$/m, 'record')[1]);
        const q = withReleaseName(p, release);
        same(s, recordSteps(q, release, { deployedAt, deployedBy, command }));
        const rev = posix.join(dir, 'REVISION');
        const tmp = posix.join(dir, '.fap-revision.tmp');
        if (fs.isLink(rev) || !fs.isFile(rev)) {
          fs.rmF(tmp);
          fs.write(tmp, 'none\n');
          fs.rename(tmp, rev);
        }
        const head = (fs.read(rev) ?? '').split('\n')[0];
        fs.write(posix.join(p.state, 'releases', `${release}.meta`), `revision=${head}\ndeployed_at=${deployedAt}\ndeployed_by=${deployedBy}\ncommand=${command}\n`);
        this.emit('revision', head);
        return;
      }
      case 'remove current':
        same(s, removeCurrentSteps(p));
        this.fenceCheck();
        fs.rmF(p.current);
        return;
      case 'append revisions.log': {
        const line = unquote(match(t, new RegExp(`^printf '%s\\\\n' ${W} >> `), 'line')[1]);
        same(s, appendLogSteps(p, line));
        fs.write(p.revisionsLog, line + '\n', true);
        return;
      }
      case 'prune old releases':
      case 'remove unpublished release':
        return this.remove(s);
      case 'health check': {
        const command = unquote(match(t, new RegExp(`sh -c ${W}; \\} 2>&1 \\) \\|\\| fap_rc`), 'command')[1]);
        const timeout = num(t, /^fap_deadline=\$\(\( \$\(date \+%s\) \+ (\d+) \)\)$/m, 'timeout');
        same(s, healthCheckSteps(p, command, timeout, num(t, /^ {2}sleep (\d+)$/m, 'interval')));
        // a failure: the command's last output and exit status as output lines, then exit 1
        const failed = (output: string, status: number): never => {
          for (const line of output.split('\n')) this.emit('failed-output', line);
          this.emit('failed-status', String(status));
          this.fail('');
        };
        if (!fs.isDir(p.current)) failed(`sh: 1: cd: can't cd to ${p.current}`, 2);
        if (command === 'true') return;
        if (command === 'false') failed('', 1);
        throw new SimError(`sim: a health check command it cannot run: ${command}`);
      }
    }
    if ((m = /^journal (\w+)$/.exec(s.name))) return this.journal(s, m[1] as JournalPhase);
    if ((m = /^(?:heal: )?switch current back to (\S+)$/.exec(s.name)) || s.name === 'switch current') {
      const release = m?.[1] ?? match(t, /'release (\S+) is missing or incomplete'/, 'release')[1];
      same(s, flipSteps(p, release, s.name));
      this.fenceCheck();
      const dir = posix.join(p.releases, release);
      const complete = /^\d{6}-\d{6}$/.test(release) ? fs.isDir(dir) && !fs.isLink(dir) : fs.isFile(posix.join(dir, 'REVISION'));
      if (!complete) this.fail(`release ${release} is missing or incomplete`);
      const link = match(t, new RegExp(`^ {2}ln -sfn ${W} `, 'm'), 'link')[1];
      if (fs.readlink(p.current) !== unquote(link)) {
        const tmp = posix.join(posix.dirname(p.current), `.current.tmp.${this.$$}`);
        fs.rmF(tmp);
        fs.symlink(unquote(link), tmp);
        fs.rename(tmp, p.current);
      }
      return;
    }
    if ((m = /^mark (\S+) (\S+)$/.exec(s.name))) {
      same(s, setStatusSteps(p, m[1], m[2]));
      fs.write(posix.join(p.state, 'releases', `${m[1]}.status`), m[2] + '\n');
      return;
    }
    if (/^heal: remove unfinished release \S+$/.test(s.name)) return this.remove(s);
    throw new SimError(`sim: a step it does not know: "${s.name}"\n${t}`);
  }

  /** prune old releases, remove unpublished release, heal: remove unfinished release */
  private remove(s: SimStep): void {
    const { fs, p } = this;
    const lines = s.text.split('\n');
    const cond = /^if (.*); then$/.exec(lines[0]);
    const rm = (cond ? lines.slice(1, -1) : lines).map((l) => {
      const w = words(l);
      if (w[0] !== 'rm' || w[1] !== '-rf' || w[2] !== '--') throw new SimError(`sim: not an rm -rf line: ${l}`);
      return w.slice(3);
    });
    const names = rm.flat().filter((a) => posix.dirname(a) === p.releases).map((a) => posix.basename(a));
    if (!cond) same(s, removeReleasesSteps(p, names, s.name));
    else {
      const token = unquote(match(cond[1], new RegExp(`" = ${W} \\]`), "token")[1]);
      const allowUnrecorded = cond[1].startsWith('{ [ ! -e');
      same(s, discardReleaseSteps(p, names[0], token, s.name, allowUnrecorded));
      const run = posix.join(p.state, 'releases', `${names[0]}.run`);
      const mine = (fs.read(run) ?? '').replace(/\n+$/, '') === token && fs.isFile(run);
      if (!((allowUnrecorded && !fs.exists(run)) || mine)) return;
    }
    for (const a of rm.flat()) fs.rmRf(a);
  }

  private links(s: SimStep): void {
    const { fs, p } = this;
    const linkedFiles: string[] = [];
    const linkedDirs: string[] = [];
    let relDir: string | undefined;
    const ops: (() => void)[] = [];
    const lines = s.text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      const guard = new RegExp(`^if \\[ -L ${W} \\]; then echo ${W} >&2; exit 1; fi$`).exec(l);
      if (guard) {
        const [dir, msg] = [unquote(guard[1]), unquote(guard[2])];
        ops.push(() => {
          if (fs.isLink(dir)) this.fail(msg);
        });
        continue;
      }
      const w = words(l);
      if (w[0] === 'mkdir' && w[1] === '-p') ops.push(() => w.slice(2).forEach((d) => fs.mkdirP(d)));
      else if (w[0] === 'rm' && w[1] === '-rf' && w.length === 3) ops.push(() => fs.rmRf(w[2]));
      else if (w[0] === 'ln' && w[1] === '-s' && w.length === 4) {
        const rel = posix.relative(p.shared, w[2]);
        relDir ??= w[3].slice(0, w[3].length - rel.length - 1);
        // a linked dir's mkdir line names the shared directory itself
        const prev = words(lines[i - 2] ?? '');
        (prev[0] === 'mkdir' && prev.includes(w[2]) ? linkedDirs : linkedFiles).push(rel);
        ops.push(() => fs.symlink(w[2], w[3]));
      } else throw new SimError(`sim: a line of "link shared files" it does not know: ${l}`);
    }
    if (relDir === undefined) throw new SimError('sim: "link shared files" links nothing');
    const q = withReleaseName(p, posix.basename(relDir));
    same(s, prepareEndSteps(q, { environment: {}, linkedFiles, linkedDirs }));
    for (const op of ops) op();
  }

  private journal(s: SimStep, phase: JournalPhase): void {
    const { fs, p } = this;
    const body = unquote(match(s.text, new RegExp(`^printf '%s' ${W} > `, 'm'), 'journal body')[1]);
    const f: Record<string, string> = {};
    const hosts: string[] = [];
    for (const line of body.replace(/\n$/, '').split('\n')) {
      const eq = line.indexOf('=');
      if (line.startsWith('host=')) hosts.push(line.slice(5));
      else f[line.slice(0, eq)] = line.slice(eq + 1);
    }
    const j: Journal = { token: f.token, command: f.command, release: f.release, prev: f.prev, phase: f.phase as JournalPhase, at: f.at, hosts };
    if (j.phase !== phase) throw new SimError(`sim: step "${s.name}" writes phase ${j.phase}`);
    same(s, journalSteps(p, j));
    this.fenceCheck();
    const dir = posix.join(p.state, 'journal');
    fs.mkdirP(dir);
    const file = posix.join(dir, j.token.replace(/[^A-Za-z0-9]/g, ''));
    fs.write(`${file}.tmp.${this.$$}`, body);
    fs.rename(`${file}.tmp.${this.$$}`, file);
    if (FINAL_PHASES.includes(phase)) {
      const uploads = posix.join(p.state, 'uploads');
      for (const n of fs.list(uploads)) if (n.startsWith(`${j.token}-`)) fs.rmF(posix.join(uploads, n));
      // ls -1t | sed 1,10d: all but the 10 newest; those whose run is over go
      const byAge = fs
        .list(dir)
        .filter((n) => !n.startsWith('.'))
        .sort((a, b) => fs.mtime(posix.join(dir, b))! - fs.mtime(posix.join(dir, a))! || a.localeCompare(b));
      for (const n of byAge.slice(10)) if (/^phase=(done|reverted)$/m.test(fs.read(posix.join(dir, n)) ?? '')) fs.rmF(posix.join(dir, n));
    }
  }

  /** read release state, printed as the real step prints it */
  private inspect(): void {
    const { fs, p } = this;
    const link = fs.readlink(p.current);
    this.emit('current', link ?? '');
    if (link !== undefined) {
      const target = posix.isAbsolute(link) ? link : `${posix.dirname(p.current)}/${link}`;
      const d = fs.physical(posix.dirname(target));
      const r = fs.physical(p.releases);
      this.emit('current-in', d !== undefined && d === r ? 'releases' : 'elsewhere');
    } else if (fs.exists(p.current)) this.emit('current-in', 'not-a-link');
    for (const n of fs.list(p.releases)) if (!n.startsWith('.')) this.emit('rel', n);
    for (const n of fs.list(p.releases).filter((x) => /^\d{6}-\d{6}$/.test(x))) {
      const rev = posix.join(p.releases, n, 'REVISION');
      if (fs.isFile(rev) && !fs.isLink(rev)) this.emit('frev', `${n}:${fs.read(rev)!.slice(0, 64).split('\n')[0]}`);
    }
    const recs = posix.join(p.state, 'releases');
    const names = fs.list(recs).filter((n) => !n.startsWith('.'));
    for (const ext of ['.status', '.meta']) {
      for (const n of names.filter((x) => x.endsWith(ext) && x.length > ext.length)) {
        const data = fs.read(posix.join(recs, n));
        if (data === undefined) continue;
        for (const line of linesOf(data)) this.emit('st', `${n}:${line}`);
      }
    }
    const jdir = posix.join(p.state, 'journal');
    for (const n of fs.list(jdir).filter((x) => !x.startsWith('.'))) {
      const data = fs.read(posix.join(jdir, n));
      if (data === undefined) continue;
      let final = false;
      for (const line of linesOf(data)) {
        if (/^phase=(done|reverted)$/.test(line)) final = true;
        if (final && line.startsWith('host=')) continue;
        this.emit('journal', `${n}:${line}`);
      }
    }
  }
}

/** A file's lines as grep and awk see them (a last line without a newline counts). */
function linesOf(data: string): string[] {
  if (!data) return [];
  return data.replace(/\n$/, '').split('\n');
}

/** Run steps in a session; the first failing one ends the script as set -e and the EXIT trap do. */
function runSteps(world: SimWorld, p: Paths, session: SimSession, vars: Map<string, string>, key: string, steps: SimStep[], o: { diskFull?: number; before?: () => void } = {}): Ran {
  const marks = sessionMarks(key);
  const it = new Interpreter(world, p, session, vars, marks.output);
  const done: string[] = [];
  for (const [i, s] of steps.entries()) {
    o.before?.();
    // reaped (by a session that took its fence): its process group is gone mid-script
    if (!session.alive) return { code: 143, stdout: it.out, stderr: it.err, done, killed: true };
    try {
      if (o.diskFull === i) throw new ShellError('sh: 1: printf: printf: No space left on device');
      it.step(s);
      done.push(s.name);
    } catch (e) {
      if (!(e instanceof ShellError)) throw e;
      const err = it.err + (e.message ? e.message + '\n' : '');
      return { code: e.code, stdout: it.out, stderr: `${err}\n${marks.failed}${s.name}\n`, failed: s.name, done };
    }
  }
  return { code: 0, stdout: it.out, stderr: it.err, done };
}

/** How a SimTransport's script misbehaves (the harness's faults, decided per script). */
export type SimFault =
  | { kind: 'drop'; steps: number }
  | { kind: 'kill'; steps: number }
  | { kind: 'disk-full'; step: number }
  /** the connection is lost; the session runs steps 1..steps at once, the rest after `resumeAfter` of the successor's steps */
  | { kind: 'old-session'; steps: number; resumeAfter: number };

const USER = userInfo().username;
let keys = 0;

/** A connection to a simulated host: one session, opened on its first script. */
export class SimTransport implements Transport {
  readonly via: string[] = [];
  readonly user = USER;
  channelsOpened = 0;
  private closed = false;
  private session?: SimSession;
  /** the session key its marks carry (any unique text: no program on a simulated host could read it) */
  private readonly key = `simkey${++keys}`;
  private readonly vars = new Map<string, string>();
  /** a script was sent and has not answered */
  private inFlight = false;

  constructor(
    readonly name: string,
    private readonly world: SimWorld,
    private readonly p: Paths,
    /** called for each script: the fault to apply, if any */
    private readonly faultFor: (script: string) => SimFault | undefined,
    /** fap was killed: every connection of the run is gone */
    private readonly onKill: () => void,
  ) {}

  private lost(): ConnectError {
    return new ConnectError(this.name, 'connection lost while a command was running');
  }

  async runScript(script: string): Promise<ExecResult> {
    if (this.closed) throw this.lost();
    let steps: SimStep[];
    try {
      steps = parseScript(script);
    } catch (e) {
      if (e instanceof SimError) this.world.errors.push(e);
      throw e;
    }
    const fault = this.faultFor(script);
    if (!this.session?.alive) {
      this.session = this.world.openSession();
      this.vars.clear();
      this.channelsOpened++;
    }
    const session = this.session;
    this.inFlight = true;
    // sent: the scripts of a phase all reach their hosts before any answers (as over pipes), and a
    // connection cut meanwhile (fap killed on another host) does not stop one already running
    await new Promise((r) => setImmediate(r));
    try {
      return this.run(steps, fault, session);
    } catch (e) {
      if (e instanceof SimError) this.world.errors.push(e);
      throw e;
    } finally {
      this.inFlight = false;
      // a cut session ends after its script; an old session fap lost runs on
      if (this.closed && this.world.pending.get(this.name)?.session !== session) session.alive = false;
    }
  }

  private run(steps: SimStep[], fault: SimFault | undefined, session: SimSession): ExecResult {
    const old = this.world.pending.get(this.name);
    // an old session of this host runs on between this session's steps, from a seeded point
    const before = old
      ? () => {
          if (old.seen++ >= old.resumeAfter) runPending(this.world, this.name, this.p, 1);
        }
      : undefined;
    const marks = { output: sessionMarks(this.key).output, failed: sessionMarks(this.key).failed };
    if (!fault || fault.kind === 'disk-full') {
      const r = runSteps(this.world, this.p, session, this.vars, this.key, steps, { diskFull: fault?.kind === 'disk-full' ? fault.step : undefined, before });
      if (r.killed) {
        this.cut();
        throw this.lost();
      }
      if (old && !fault) old.successorEnded = true;
      return { code: r.code, stdout: r.stdout, stderr: r.stderr, marks };
    }
    if (fault.kind === 'old-session') {
      const r = runSteps(this.world, this.p, session, this.vars, this.key, steps.slice(0, fault.steps), { before });
      this.closed = true;
      if (r.failed === undefined && !r.killed && fault.steps < steps.length) {
        this.world.pending.set(this.name, { session, steps: steps.slice(fault.steps), vars: this.vars, resumeAfter: fault.resumeAfter, seen: 0, successorEnded: false });
      }
      throw this.lost();
    }
    runSteps(this.world, this.p, session, this.vars, this.key, steps.slice(0, fault.steps), { before });
    this.cut();
    if (fault.kind === 'kill') this.onKill();
    throw this.lost();
  }

  /** the connection is gone: its session ends (after the script it runs, if any) */
  cut(): void {
    this.closed = true;
    if (!this.inFlight && this.session) this.session.alive = false;
  }

  upload(): Promise<number> {
    return Promise.reject(new SimError('sim: uploads are not modelled'));
  }

  exec(_command: string, _o?: ExecOptions): Promise<ExecResult> {
    return Promise.reject(new SimError('sim: one-off commands are not modelled'));
  }

  interactive(): Promise<{ code: number | null; signal?: string }> {
    return Promise.reject(new SimError('sim: no terminal'));
  }

  isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    this.cut();
  }
}

/**
 * Run up to `n` steps of a host's old session (all: n = Infinity), unless it was reaped. A step
 * that changes something and completes after its successor's first script ended is recorded late.
 */
export function runPending(world: SimWorld, host: string, p: Paths, n: number): void {
  const o = world.pending.get(host);
  if (!o) return;
  try {
    runOld(world, host, p, n, o);
  } catch (e) {
    if (e instanceof SimError) world.errors.push(e);
    throw e;
  }
}

function runOld(world: SimWorld, host: string, p: Paths, n: number, o: Pending): void {
  while (n-- > 0 && o.session.alive && o.steps.length) {
    const s = o.steps.shift()!;
    const before = o.successorEnded ? world.fs.tree(p.root) : '';
    const r = runSteps(world, p, o.session, o.vars, 'old', [s]);
    if (r.failed !== undefined) o.steps = [];
    // exactly the promise: the host is as it was (the real tier can only trace which steps
    // completed; a breaker's claim made and given back inside the lock leaves nothing)
    if (o.successorEnded && world.fs.tree(p.root) !== before) world.late.push(`${host}: ${s.name}${r.failed ? ' (failed, after changing something)' : ''}`);
  }
  if (!o.session.alive || !o.steps.length) {
    o.session.alive = false;
    world.pending.delete(host);
  }
}
