// The root-free kernel tier: the real transaction (lock, heal, journal, phases, revert, batches)
// over several local "hosts" — deploy roots in one temporary directory, each reached through the
// real local transport (a /bin/sh session driver, the same scripts as over SSH) — with faults
// injected at the transport: a connection that closes mid-handshake, after step k of a script,
// just after a script's last step, a step that fails as on a full disk (a real ENOSPC from
// /dev/full), an old session that keeps running after fap lost it, and fap itself killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConnectError, FapError } from '../../src/errors.js';
import { EventBus, type StampedEvent } from '../../src/events.js';
import { deploy } from '../../src/release/deploy.js';
import { cleanup, restart } from '../../src/release/maintenance.js';
import { layout } from '../../src/release/paths.js';
import { buildPlan, type Target } from '../../src/release/plan.js';
import { rollback } from '../../src/release/rollback.js';
import { Run } from '../../src/release/run.js';
import { releaseLocksNow, type RunResult } from '../../src/release/transaction.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { ExecOptions, ExecResult, Transport } from '../../src/transport/transport.js';
import { runPending, SimTransport, SimWorld, type SimFault } from './sim.js';

/** What the checks read of the hosts' files: the real filesystem, or a simulated one. */
export interface Files {
  exists(path: string): boolean;
  isDir(path: string): boolean;
  /** names in a directory, sorted */
  list(path: string): string[];
  readlink(path: string): string | undefined;
  read(path: string): string;
}

const realFiles: Files = {
  exists: (p) => existsSync(p),
  isDir: (p) => !!statSync(p, { throwIfNoEntry: false })?.isDirectory(),
  list: (d) => (existsSync(d) ? readdirSync(d).sort() : []),
  readlink: (p) => {
    try {
      return readlinkSync(p);
    } catch {
      return undefined;
    }
  },
  read: (p) => readFileSync(p, 'utf8'),
};

export interface Fleet {
  /** local: deploy roots in a temporary directory, reached through the real local transport; sim: simulated hosts (sim.ts) */
  kind: 'local' | 'sim';
  dir: string;
  hosts: string[];
  targets: Target[];
  root(host: string): string;
  files: Files;
  /** the simulated machines (kind sim) */
  world?: SimWorld;
  /** remove the fleet's directory */
  remove(): void;
}

/**
 * n local hosts h1..hn, one deploy root each (dir/h1, ...), no plugins: the kernel alone. role: extra
 * role configuration (health_check, keep_releases, batch_size, linked_files, ...).
 */
export async function makeFleet(n: number, role: Record<string, unknown> = {}): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'fap-kernel-'));
  const file = join(dir, 'deploy.yml');
  const doc = { app_name: 'shop', path: join(dir, 'h1'), sudo_user: userInfo().username, plugins: [], keep_releases: 3, stage_role_configs: { production: { web: { hosts: ['local'], ...role } } } };
  writeFileSync(file, stringify(doc));
  const plan = await buildPlan({ deployfile: file, stage: 'production', command: 'deploy', env: {} });
  const base = plan.targets[0];
  const hosts = Array.from({ length: n }, (_, i) => `h${i + 1}`);
  const targets = hosts.map((h) => ({ ...base, key: h, connKey: h, host: { name: h, hostname: h }, paths: layout(join(dir, h), '') }));
  return { kind: 'local', dir, hosts, targets, root: (h) => join(dir, h), files: realFiles, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A bare connection to a simulated host of a fleet (no faults): for tests of the simulation itself. */
export function SimTransportFor(fleet: Fleet, host: string): SimTransport {
  const t = fleet.targets.find((x) => x.host.name === host)!;
  return new SimTransport(host, fleet.world!, t.paths, () => undefined, () => {});
}

/** plans of simulated fleets, by role configuration: built once (buildPlan reads a deploy.yml) */
const simPlans = new Map<string, Target>();

/** n simulated hosts h1..hn (sim.ts): the same targets as makeFleet's, their roots in one in-memory filesystem. */
export async function makeSimFleet(n: number, role: Record<string, unknown> = {}): Promise<Fleet> {
  const id = JSON.stringify(role);
  let base = simPlans.get(id);
  if (!base) {
    const real = await makeFleet(1, role);
    real.remove();
    base = real.targets[0];
    simPlans.set(id, base);
  }
  const dir = '/sim/shop';
  const world = new SimWorld();
  world.fs.mkdirP(dir);
  const hosts = Array.from({ length: n }, (_, i) => `h${i + 1}`);
  const targets = hosts.map((h) => ({ ...base, key: h, connKey: h, host: { name: h, hostname: h }, paths: layout(`${dir}/${h}`, '') }));
  const files: Files = {
    exists: (p) => world.fs.exists(p),
    isDir: (p) => world.fs.isDir(p),
    list: (d) => world.fs.list(d),
    readlink: (p) => world.fs.readlink(p),
    read: (p) => {
      const data = world.fs.read(p);
      if (data === undefined) throw new Error(`sim: no file ${p}`);
      return data;
    },
  };
  return { kind: 'sim', dir, hosts, targets, root: (h) => `${dir}/${h}`, files, world, remove: () => {} };
}

// ---- faults ----

export type FaultKind =
  /** the n-th connection to the host fails before its session starts */
  | 'handshake'
  /** the n-th script runs steps 1..step, then the connection is gone */
  | 'drop-after-step'
  /** the n-th script runs to its end, then the connection is gone before its answer arrives */
  | 'drop-after-last'
  /** step `step` of the n-th script fails writing, as on a full disk (ENOSPC from /dev/full) */
  | 'disk-full'
  /** the connection is gone as the n-th script starts, but its session goes on running it (slowly, from step `step`) */
  | 'old-session'
  /** fap dies during the n-th script to the host (its steps 1..step ran): nothing it does reaches any host again */
  | 'kill'
  /**
   * a second Ctrl-C while the n-th script runs slowly from step `step`: fap gives its locks back
   * (releaseLocksNow) and exits; the script runs on to its end, as an SSH session does
   */
  | 'quit';

export interface Fault {
  host: string;
  kind: FaultKind;
  /** which connection ('handshake') or which script (the others) to the host in this command, from 1 */
  at: number;
  step?: number;
  /** old-session on simulated hosts: the successor's steps on the host before the old session goes on (the real one runs on its own time) */
  resume?: number;
}

export interface CommandOptions {
  faults?: Fault[];
  batch?: string;
  rollbackTo?: string;
  /**
   * Called as each upload to a host has landed (before fap looks at it): may change the local file,
   * as a build still writing it would; returns the size the host reports (the real one: landed).
   */
  onUpload?: (host: string, local: string, landed: number) => number;
}

export type Command = 'deploy' | 'rollback' | 'cleanup' | 'restart';

export interface Outcome {
  command: Command;
  result?: RunResult;
  error?: FapError;
  events: StampedEvent[];
  /** fap was killed: no result, the lock may remain (its owner process is gone) */
  killed: boolean;
  /** per host, the scripts sent, in order (as composed: golden files, fault positions) */
  scripts: Map<string, string[]>;
  /** steps an old session began after its successor's first script had ended, and completed (must stay empty) */
  lateSteps: string[];
  /** the run's token (its lock's owner record carries it) */
  token: string;
}

/** The step-structure of a composed script: the header, and one chunk per step (composeScript's layout). */
export function splitSteps(script: string): { header: string; steps: string[] } {
  const chunks = script.split(/^(?=FAP_STEP=)/m);
  // chunk 0: set -e; chunk 1: FAP_STEP='start' and the trap
  return { header: chunks.slice(0, 2).join(''), steps: chunks.slice(2) };
}

/** The steps' names, in order. */
export function stepNames(script: string): string[] {
  return splitSteps(script).steps.map((s) => /^FAP_STEP='((?:[^']|'\\'')*)'/.exec(s)?.[1].replace(/'\\''/g, "'") ?? '?');
}

/** A process standing in for fap in the lock's owner record: killing it makes the run provably gone. */
function standIn(): ChildProcess {
  const p = spawn('/bin/sh', ['-c', 'read fap_x'], { stdio: ['pipe', 'ignore', 'ignore'] });
  p.on('error', () => {});
  return p;
}

/** State shared by one command's transports: the faults, what was sent, fap's death. */
class Wiring {
  killed = false;
  readonly scripts = new Map<string, string[]>();
  readonly connections = new Map<string, number>();
  readonly live = new Set<{ cut(): void }>();
  readonly lateSteps: string[] = [];
  /** per host: the trace file of an old session, and when its successor's first script ended */
  readonly oldSessions = new Map<string, { trace: string; done: Promise<unknown>; successorEnded?: bigint }>();
  /** the command's run (for a 'quit' fault) */
  run?: Run;

  constructor(
    readonly fleet: Fleet,
    readonly faults: Fault[],
    readonly stand?: ChildProcess,
    readonly onUpload?: CommandOptions['onUpload'],
  ) {}

  fault(host: string, kind: FaultKind | FaultKind[], at: number): Fault | undefined {
    const kinds = Array.isArray(kind) ? kind : [kind];
    return this.faults.find((f) => f.host === host && kinds.includes(f.kind) && f.at === at);
  }

  kill(): void {
    this.killed = true;
    this.stand?.kill('SIGKILL');
    for (const t of this.live) t.cut();
  }

  /** A simulated host's n-th script: recorded as sent, and its fault as the simulation applies it (as FaultyTransport does). */
  simFault(host: string, script: string): SimFault | undefined {
    const sent = this.scripts.get(host) ?? [];
    sent.push(script);
    this.scripts.set(host, sent);
    const f = this.fault(host, ['drop-after-step', 'drop-after-last', 'disk-full', 'old-session', 'kill'], sent.length);
    if (!f) return undefined;
    const len = splitSteps(script).steps.length;
    const k = Math.max(0, Math.min(f.step ?? len, len));
    switch (f.kind) {
      case 'disk-full':
        return { kind: 'disk-full', step: Math.max(0, Math.min(k, len) - 1) };
      case 'drop-after-step':
        return { kind: 'drop', steps: k };
      case 'drop-after-last':
        return { kind: 'drop', steps: len };
      case 'kill':
        return { kind: 'kill', steps: k };
      case 'old-session':
        // as FaultyTransport: steps before k at once, the rest on its own time
        return { kind: 'old-session', steps: Math.max(0, k - 1), resumeAfter: f.resume ?? 0 };
    }
    return undefined;
  }

  /** The old sessions' steps that began after their successor's first script had ended, and completed. */
  collectLate(): void {
    for (const [host, o] of this.oldSessions) {
      if (o.successorEnded === undefined || !existsSync(o.trace)) continue;
      for (const line of readFileSync(o.trace, 'utf8').split('\n').filter(Boolean)) {
        const [ns, ...name] = line.split(' ');
        if (BigInt(ns) > o.successorEnded && !READ_ONLY_STEPS.has(name.join(' '))) this.lateSteps.push(`${host}: ${name.join(' ')}`);
      }
    }
  }
}

/** steps that only read: an old session running them late changes nothing */
const READ_ONLY_STEPS = new Set(['read release state']);

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/** The local transport with faults: what fap sees of a host whose connection misbehaves. */
class FaultyTransport implements Transport {
  readonly via: string[] = [];
  private dropped = false;

  constructor(
    private readonly inner: LocalTransport,
    private readonly w: Wiring,
  ) {
    w.live.add(this);
  }

  get name() {
    return this.inner.name;
  }
  get user() {
    return this.inner.user;
  }
  get sudoUser() {
    return this.inner.sudoUser;
  }
  get channelsOpened() {
    return this.inner.channelsOpened;
  }

  private lost(): ConnectError {
    return new ConnectError(this.name, 'connection lost while a command was running');
  }

  /** fap died or the connection dropped: this transport is gone (the session driver reads end-of-file) */
  cut(): void {
    this.dropped = true;
    this.inner.close();
  }

  async runScript(script: string): Promise<ExecResult> {
    const { w, name } = this;
    if (this.dropped || w.killed) throw this.lost();
    const sent = w.scripts.get(name) ?? [];
    sent.push(script);
    w.scripts.set(name, sent);
    const n = sent.length;
    const old = w.oldSessions.get(name);
    const f = w.fault(name, ['drop-after-step', 'drop-after-last', 'disk-full', 'old-session', 'kill', 'quit'], n);
    const { header, steps } = splitSteps(script);
    if (!f) {
      const r = await this.inner.runScript(script);
      if (old && old.successorEnded === undefined) old.successorEnded = nowNs();
      return r;
    }
    const k = Math.max(0, Math.min(f.step ?? steps.length, steps.length));
    switch (f.kind) {
      case 'disk-full': {
        const i = Math.max(0, Math.min(k, steps.length) - 1);
        const [first, ...rest] = steps[i].split('\n');
        steps[i] = [first, "printf '%s\\n' 'fap test: disk full' > /dev/full", ...rest].join('\n');
        return this.inner.runScript(header + steps.join(''));
      }
      case 'drop-after-step':
      case 'drop-after-last':
        await this.inner.runScript(header + steps.slice(0, f.kind === 'drop-after-last' ? steps.length : k).join('')).catch(() => undefined);
        this.cut();
        throw this.lost();
      case 'kill':
        await this.inner.runScript(header + steps.slice(0, k).join('')).catch(() => undefined);
        w.kill();
        throw this.lost();
      case 'quit': {
        const slow = steps.map((s, i) => (i < k - 1 ? s : s.replace('\n', '\nsleep 0.3\n')));
        // the script runs on after fap is gone; runCommand waits for it before anyone looks
        const done = this.inner.runScript(header + slow.join('')).catch(() => undefined).then(() => this.inner.close());
        w.oldSessions.set(name, { trace: join(w.fleet.dir, `quit.${name}.none`), done });
        w.live.delete(this);
        await new Promise((r) => setTimeout(r, 100));
        await releaseLocksNow(w.run!, w.fleet.targets);
        this.dropped = true;
        w.kill();
        throw this.lost();
      }
      case 'old-session': {
        // the session runs the whole script, slowly from step k; a step that completes is traced with
        // the time it began (one that stops itself, seeing it was superseded, leaves no trace). A step
        // that began after the successor's first script ended must not complete: fencing's promise.
        // fap has lost this session.
        const trace = join(w.fleet.dir, `old-session.${name}.trace`);
        // what the host holds (names, types, sizes, link targets; not the lease a renewer touches):
        // a late step is traced only if it changed that (one that found nothing to do changed nothing)
        const look = `$(find ${w.fleet.root(name)} -path '*/.fap/lock/lease' -prune -o -printf '%p %y %s %l\\n' 2>/dev/null | sort | cksum)`;
        const traced = steps.map((s, i) => {
          if (i < k - 1) return s;
          const [first, ...rest] = s.split('\n');
          return [first, 'sleep 0.3', 'fap_began=$(date +%s%N)', `fap_seen=${look}`, ...rest, `if [ "${look}" != "$fap_seen" ]; then printf '%s %s\\n' "$fap_began" "$FAP_STEP" >> ${trace}; fi`, ''].join('\n');
        });
        // it ends on its own or is stopped by its successor's fence; then its driver goes
        const done = this.inner.runScript(header + traced.join('')).catch(() => undefined).then(() => this.inner.close());
        w.oldSessions.set(name, { trace, done });
        this.dropped = true;
        w.live.delete(this);
        throw this.lost();
      }
    }
    throw new Error(`unknown fault ${f.kind}`);
  }

  async upload(localPath: string, remotePath: string): Promise<number> {
    if (this.dropped || this.w.killed) throw this.lost();
    const landed = await this.inner.upload(localPath, remotePath);
    return this.w.onUpload ? this.w.onUpload(this.name, localPath, landed) : landed;
  }

  exec(command: string, o?: ExecOptions): Promise<ExecResult> {
    if (this.dropped || this.w.killed) return Promise.reject(this.lost());
    return this.inner.exec(command, o);
  }

  interactive(): Promise<{ code: number | null; signal?: string }> {
    return Promise.reject(new Error('no terminal in the kernel tier'));
  }

  isOpen(): boolean {
    return !this.dropped && !this.w.killed;
  }

  close(): void {
    this.w.live.delete(this);
    if (!this.dropped) this.inner.close();
  }
}

/** A pid no process has (above pid_max): the owner of a simulated run's lock is provably gone once the run is over, as a killed stand-in is. */
const NO_PID = 4_194_305;

/** Run one command on the fleet (local or simulated hosts), through the transaction, with faults. Never throws a FapError. */
export async function runCommand(fleet: Fleet, command: Command, o: CommandOptions = {}): Promise<Outcome> {
  const sim = fleet.world;
  const stand = sim ? undefined : standIn();
  const w = new Wiring(fleet, o.faults ?? [], stand, o.onUpload);
  const events: StampedEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const run = new Run(bus, {
    command,
    commandLine: `fap ${command} production`,
    parallel: 10,
    verbose: false,
    dryRun: false,
    options: o.batch ? { batch: o.batch } : {},
    lockWaitMs: 0,
    pid: stand?.pid ?? NO_PID,
    transport: async (t) => {
      if (w.killed) throw new ConnectError(t.host.name, 'fap is gone');
      const c = (w.connections.get(t.host.name) ?? 0) + 1;
      w.connections.set(t.host.name, c);
      if (w.fault(t.host.name, 'handshake', c)) throw new ConnectError(t.host.name, 'connection closed during the handshake');
      if (sim) {
        const st = new SimTransport(t.host.name, sim, t.paths, (script) => w.simFault(t.host.name, script), () => w.kill());
        w.live.add(st);
        return st;
      }
      return new FaultyTransport(new LocalTransport(t.host.name), w);
    },
  });
  w.run = run;
  const out: Outcome = { command, events, killed: false, scripts: w.scripts, lateSteps: w.lateSteps, token: run.token };
  try {
    const targets = fleet.targets;
    out.result =
      command === 'deploy'
        ? await deploy(run, targets)
        : command === 'rollback'
          ? await rollback(run, targets, { to: o.rollbackTo })
          : command === 'cleanup'
            ? await cleanup(run, targets)
            : await restart(run, targets);
  } catch (e) {
    if (!(e instanceof FapError)) throw e;
    out.error = e;
  } finally {
    await run.close();
    stand?.kill('SIGKILL');
    out.killed = w.killed;
    // an old session runs on for a while: wait for it to finish or be stopped before anyone looks
    await Promise.all([...w.oldSessions.values()].map((o) => o.done));
    w.collectLate();
    if (sim) {
      for (const t of fleet.targets) runPending(sim, t.host.name, t.paths, Infinity);
      w.lateSteps.push(...sim.late.splice(0));
    }
  }
  // a step the simulation could not interpret is a bug in the test, never a host's failure
  if (sim?.errors.length) throw sim.errors[0];
  return out;
}

// ---- what is on a host ----

export interface HostView {
  current?: string;
  /** current points somewhere that is not a release directory */
  currentTarget?: string;
  releases: string[];
  status: Record<string, string>;
  locked: boolean;
  journals: string[];
}

export function view(fleet: Fleet, host: string): HostView {
  const root = fleet.root(host);
  const fs = fleet.files;
  const currentTarget = fs.readlink(join(root, 'current'));
  const current = currentTarget?.split('/').pop();
  const status: Record<string, string> = {};
  for (const f of fs.list(join(root, '.fap', 'releases'))) {
    if (f.endsWith('.status')) status[f.slice(0, -'.status'.length)] = fs.read(join(root, '.fap', 'releases', f)).trim();
  }
  return {
    current,
    currentTarget,
    releases: fs.list(join(root, 'releases')),
    status,
    locked: fs.exists(join(root, '.fap', 'lock')),
    journals: fs.list(join(root, '.fap', 'journal')),
  };
}

/** Every file under a directory of a host with its content (symlinks as their target): to compare shared/ before and after. */
export function snapshot(fleet: Fleet, dir: string): Record<string, string> {
  const fs = fleet.files;
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of fs.list(d)) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const link = fs.readlink(p);
      if (link !== undefined) out[r] = `-> ${link}`;
      else if (fs.isDir(p)) {
        out[r + '/'] = '';
        walk(p, r);
      } else out[r] = fs.read(p);
    }
  };
  walk(dir, '');
  return out;
}

/** Make a file in every host's shared/ (for linked_files). */
export function putShared(fleet: Fleet, rel: string, content: string): void {
  for (const h of fleet.hosts) {
    const p = join(fleet.root(h), 'shared', rel);
    if (fleet.world) {
      fleet.world.fs.mkdirP(join(p, '..'));
      fleet.world.fs.write(p, content);
      continue;
    }
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  }
}
