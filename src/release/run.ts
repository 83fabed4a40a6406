// A run: its targets, one connection per host, the event bus, and the helpers every command uses
// to do work on all targets at once (bounded by --parallel) and to collect each host's outcome.
import { hostname as machineName } from 'node:os';
import { randomBytes } from 'node:crypto';
import { basename, posix } from 'node:path';
import pLimit from 'p-limit';
import { ConfigError, ConnectError, FapError, HostError, Interrupted } from '../errors.js';
import type { EventBus, HostOutcome } from '../events.js';
import { existsSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ConnectOptions } from '../remote/connection.js';
import type { Transport } from '../transport/transport.js';
import type { SshConfig } from '../remote/ssh-config.js';
import { Runner, type ScriptResult } from '../remote/runner.js';
import { composeScript, logLines, logOutput, quote, type Step } from '../remote/shell.js';
import type { Plugin, SignalContext, SignalName } from '../signals.js';
import type { Target } from './plan.js';
import { fenceSteps, keepLeaseSteps, reapSupersededSteps, UNLOCK_STEP, type LockOwner } from './scripts.js';
import { localUser } from './plan.js';

/** names an ssh config alias may give this machine */
const THIS_MACHINE = new Set(['local', 'localhost', '127.0.0.1', '::1', 'ip6-localhost']);

export interface RunOptions {
  command: string;
  commandLine: string;
  parallel: number;
  verbose: boolean;
  dryRun: boolean;
  options: Record<string, unknown>;
  /** --lock-wait: how long to wait for a lock held by another run */
  lockWaitMs: number;
  /** a passphrase may be asked on the terminal (stdin and stderr are TTYs, no --json) */
  interactive?: boolean;
  /**
   * How to reach a target's host, in place of SSH or the local transport (tests: several local
   * "hosts", faults injected). Called once per connection; undefined falls back to the usual way.
   */
  transport?: (t: Target) => Promise<Transport> | undefined;
  /** --json: what commands print (fap run) goes out as events, so stdout carries only JSON lines */
  json?: boolean;
  /**
   * The process the lock's owner record names (default: this one). Tests stand in a process they
   * can kill, so a run of the test process can be made provably gone as a killed fap is.
   */
  pid?: number;
}

export type Settled<T> = { target: Target; ok: true; value: T } | { target: Target; ok: false; error: FapError };

export class Run {
  readonly runner: Runner;
  private readonly conns = new Map<string, Promise<Transport>>();
  /** ssh config files in use, by path (null: does not exist), each caching its ssh -G answers */
  private readonly sshConfigs = new Map<string, SshConfig | null>();
  private readonly limit: ReturnType<typeof pLimit>;
  readonly token = randomBytes(12).toString('hex');
  /** files plugins asked to send, per target, before its next script; and those already sent */
  private readonly uploads = new Map<string, Map<string, string>>();
  private readonly uploaded = new Set<string>();
  /** each file sent, as it was when its first upload began: every host gets those bytes or fails */
  private readonly sent = new Map<string, Stats>();
  private aborted?: string;
  /** targets where this run's lock may exist (the lock script was sent), until an unlock succeeds */
  private readonly lockMaybe = new Set<string>();
  /** targets where this run holds the lock: its scripts are fenced (scripts.ts fenceSteps) */
  private readonly lockHeld = new Set<string>();
  /** connections opened per host (connKey) in this run: a script's attempt number in the lock's fence */
  private readonly attempts = new Map<string, number>();
  /** connections that were ever open (connKey) */
  private readonly reached = new Set<string>();
  /** the user each connection logged in as (the host string's, the ssh config's, or user) */
  private readonly loginUsers = new Map<string, string>();

  /** each host's part in the transaction that ran, also when it ended in an error (for the result) */
  hostReports?: () => { host: string; role: string; outcome: HostOutcome; step?: string; error?: string; revision?: string }[];

  constructor(
    readonly bus: EventBus,
    readonly opts: RunOptions,
  ) {
    this.runner = new Runner(bus, opts.verbose);
    this.limit = pLimit(Math.max(1, opts.parallel));
  }

  /** Ask the run to stop at the next phase boundary (SIGINT/SIGTERM); it then cleans up as on failure. */
  abort(reason: string): void {
    this.aborted = reason;
  }

  checkAbort(): void {
    if (this.aborted) throw new Interrupted(this.aborted);
  }

  /** Why the run was asked to stop, if it was. */
  abortReason(): string | undefined {
    return this.aborted;
  }

  lockOwner(): LockOwner {
    return { user: localUser(), origin: machineName(), pid: this.opts.pid ?? process.pid, command: this.opts.commandLine, started_at: new Date().toISOString(), token: this.token };
  }

  /** the layout the lock script was sent with ('existing': rollback, cleanup, restart), for a quit */
  lockLayout: 'create' | 'existing' = 'create';

  markLockAttempt(t: Target, layout: 'create' | 'existing' = 'create'): void {
    this.lockLayout = layout;
    if (!this.opts.dryRun) this.lockMaybe.add(t.key);
  }

  /** a lock script was sent and its answer not yet read: it may still take the lock */
  lockInFlight(t: Target): boolean {
    return this.lockMaybe.has(t.key) && !this.lockHeld.has(t.key);
  }

  markLocked(t: Target): void {
    if (!this.opts.dryRun) this.lockHeld.add(t.key);
  }

  markUnlocked(t: Target): void {
    this.lockHeld.delete(t.key);
    this.lockMaybe.delete(t.key);
  }

  /** a lock script was sent to the target (its host was reached) and no unlock succeeded since */
  mayHoldLock(t: Target): boolean {
    return this.lockMaybe.has(t.key) && this.reached.has(t.connKey);
  }

  /** The transport to a target's host, opened once per run and shared by every role on it. */
  connection(t: Target): Promise<Transport> {
    let c = this.conns.get(t.connKey);
    if (!c) {
      this.attempts.set(t.connKey, (this.attempts.get(t.connKey) ?? 0) + 1);
      const started = Date.now();
      c = (this.opts.transport?.(t) ?? (t.host.local ? this.openLocal(t) : this.openSsh(t))).then((conn) => {
        this.reached.add(t.connKey);
        this.loginUsers.set(t.connKey, conn.user);
        this.bus.emit({ event: 'host.connected', host: t.host.name, ms: Date.now() - started, ...(conn.via.length ? { via: conn.via } : {}) });
        return conn;
      });
      c.catch(() => {});
      this.conns.set(t.connKey, c);
    }
    return c;
  }

  /**
   * `local` is this machine, reached without SSH. An ssh config that makes "local" an alias of
   * another machine (Fapistrano reached hosts through ssh, so `hosts: [local]` meant that alias) is
   * refused before anything starts, never silently shadowed: a deploy must not land on the wrong
   * machine. An alias of this machine (localhost, 127.0.0.1, its name) is the same host.
   */
  async refuseShadowedLocal(targets: Target[]): Promise<void> {
    for (const t of targets) {
      if (!t.host.local) continue;
      const cfg = await this.sshConfig(t, (message) => this.bus.emit({ event: 'warning', host: t.host.name, message }));
      const alias = await cfg?.lookup('local').catch(() => undefined);
      if (!alias) continue;
      // another machine, or this one reached as another login or through another port (a Vagrant
      // box, a tunnel): either way not what `local` deploys to
      const here = THIS_MACHINE.has(alias.hostname.toLowerCase()) || alias.hostname === machineName();
      const elsewhere = !here || alias.port !== 22 || (alias.user !== undefined && alias.user !== localUser());
      if (!elsewhere) continue;
      const dest = `${alias.user ? `${alias.user}@` : ''}${alias.hostname}${alias.port !== 22 ? `:${alias.port}` : ''}`;
      throw new ConfigError(
        `hosts: "local" is fap's name for this machine (no SSH), but ${cfg!.file} makes "local" an alias of ${dest}; to deploy there write ${dest} in hosts, to deploy here rename that Host entry (or set use_ssh_config: false)`,
      );
    }
  }

  /** `local`: this machine, no SSH. */
  private async openLocal(t: Target): Promise<Transport> {
    const { LocalTransport } = await import('../transport/local.js');
    return new LocalTransport(t.host.name, {
      sudoUser: t.config.sudo_user || undefined,
      sudoPrefix: t.config.sudo_prefix,
      forwardAgent: t.config.ssh.forward_agent === true,
    });
  }

  private openSsh(t: Target): Promise<Transport> {
      const ssh = t.config.ssh;
      const warn = (message: string) => this.bus.emit({ event: 'warning', host: t.host.name, message });
      // ssh2 is loaded on the first connection: fap config, --dry-run and --help never pay for it
      return Promise.all([import('../remote/connection.js'), import('../remote/route.js')])
        .then(async ([{ Connection }, { resolveRoute }]) => {
          let route;
          try {
            route = await resolveRoute(
              { name: t.host.name, alias: t.host.hostname, user: t.host.user, port: t.host.port, fallbackUser: t.config.user ?? t.user, ssh, explicit: new Set(t.sshExplicit ?? []) },
              await this.sshConfig(t, warn),
              warn,
            );
          } catch (e) {
            throw new ConnectError(t.host.name, (e as Error).message);
          }
          const o: ConnectOptions = {
            ...route.target,
            jumps: route.jumps,
            hostKeyChecking: ssh.host_key_checking,
            // a dry run writes nothing anywhere, known_hosts included
            dryRun: this.opts.dryRun,
            sudoUser: t.config.sudo_user || undefined,
            sudoPrefix: t.config.sudo_prefix,
            forwardAgent: ssh.forward_agent === true,
            interactive: !!this.opts.interactive,
            warn,
          };
          const retries = ssh.connect_retries;
          return openWithRetries(
            () => Connection.open(o),
            retries,
            (attempt, e, waitMs) => warn(`${e.message.replace(`${t.host.name}: `, '')}; retrying in ${waitMs} ms (attempt ${attempt + 1} of ${retries + 1})`),
            // a run that is over neither retries nor says it would
            () => this.closing,
          );
        });
  }

  /** The connection already opened for a target's host, if any (never opens one): for a last unlock. */
  async openConnection(t: Target): Promise<Transport | undefined> {
    return this.conns.get(t.connKey)?.catch(() => undefined);
  }

  /** The ssh config a target's role reads, or undefined (use_ssh_config: false, no such file). */
  private async sshConfig(t: Target, warn: (message: string) => void): Promise<SshConfig | undefined> {
    if (t.config.use_ssh_config === false) return undefined;
    const ssh = t.config.ssh;
    if (!ssh.config_file) return undefined;
    const { SshConfig } = await import('../remote/ssh-config.js');
    const { expandHome } = await import('../remote/connection.js');
    const file = expandHome(ssh.config_file);
    let cfg = this.sshConfigs.get(file);
    if (cfg === undefined) {
      if (!existsSync(file)) {
        // the default ~/.ssh/config often does not exist; a file deploy.yml names should
        if ((t.sshExplicit ?? []).includes('config_file')) warn(`ssh.config_file ${file} does not exist; hosts are reached as deploy.yml writes them`);
        cfg = null;
      } else {
        cfg = new SshConfig(file, warn);
      }
      this.sshConfigs.set(file, cfg);
    }
    return cfg ?? undefined;
  }

  /**
   * On a terminal, ask for the passphrases of encrypted identity files now, one file at a time,
   * before any spinner runs. Errors are kept and reported by each host's connection.
   */
  async unlockIdentities(targets: Target[]): Promise<void> {
    if (!this.opts.interactive) return;
    const files = new Set(targets.map((t) => t.config.ssh.identity_file).filter((f): f is string => typeof f === 'string' && f !== ''));
    if (!files.size) return;
    const [{ loadIdentity }, { expandHome }] = await Promise.all([import('../remote/auth.js'), import('../remote/connection.js')]);
    for (const f of files) await loadIdentity(expandHome(f), { interactive: true }).catch(() => {});
  }

  /** Run fn for every target, at most --parallel at once; never rejects. */
  async forEach<T>(targets: Target[], fn: (t: Target) => Promise<T>): Promise<Settled<T>[]> {
    return Promise.all(
      targets.map((t) =>
        this.limit(async (): Promise<Settled<T>> => {
          try {
            return { target: t, ok: true, value: await fn(t) };
          } catch (e) {
            const error = e instanceof FapError ? e : new HostError(t.host.name, 'internal', String((e as Error)?.stack ?? e));
            return { target: t, ok: false, error };
          }
        }),
      ),
    );
  }

  /**
   * Send a file and prove the host got it whole: a file still being written (a CI artifact copied
   * while fap started, a build racing the deploy) would otherwise be published cut short, or differ
   * between hosts. It must not change from the first upload's start to each upload's end, and the
   * size that landed must be its size.
   */
  private async send(t: Target, conn: Transport, local: string, remote: string): Promise<void> {
    const look = () => stat(local).catch((e: Error) => Promise.reject(new HostError(t.host.name, 'upload', `cannot read ${local}: ${e.message}`)));
    const before = this.sent.get(local) ?? (await look());
    this.sent.set(local, before);
    const landed = await conn.upload(local, remote);
    const after = await look();
    const same = after.size === before.size && after.mtimeMs === before.mtimeMs && after.ino === before.ino;
    if (!same || landed !== before.size) {
      const what = !same ? `it changed while fap was sending it (${before.size} bytes when the first upload began, ${after.size} now)` : `${landed} of its ${before.size} bytes arrived`;
      throw new HostError(t.host.name, 'upload', `${local}: ${what}: deploy a finished file`);
    }
  }

  /**
   * Run steps on a target's host. With --dry-run the script is only printed — unless the steps are
   * read-only (they write nothing on the host), which run for real so the plan is exact.
   */
  async exec(t: Target, phase: string, steps: Step[], opts: { allowCodes?: number[]; readOnly?: boolean } = {}): Promise<ScriptResult> {
    if (this.opts.dryRun && !opts.readOnly) {
      // --dry-run: show the exact script, contact nothing
      this.bus.emit({ event: 'script', host: t.host.name, phase, script: composeScript(steps, { shown: true }), verbose: true, dryRun: true });
      return { code: 0, outputs: new Map(), stdout: '', stderr: '' };
    }
    let conn = await this.connection(t);
    let reconnected = false;
    if (!conn.isOpen()) {
      // the connection dropped in an earlier phase: reconnect once, so a revert can still reach it
      this.conns.delete(t.connKey);
      conn = await this.connection(t);
      reconnected = true;
    }
    // a file a plugin asked to send goes before the first script that names it; a failed upload
    // fails that script only (a later discard or unlock names no upload, so it still runs)
    for (const [local, remote] of this.uploads.get(t.key) ?? []) {
      const id = `${t.connKey}\0${remote}`;
      if (this.uploaded.has(id) || !steps.some((s) => s.script.includes(posix.basename(remote)))) continue;
      this.bus.emit({ event: 'upload', host: t.host.name, local, remote });
      await this.send(t, conn, local, remote).catch((e: unknown) => Promise.reject(e instanceof ConnectError ? e.during(phase) : e));
      this.uploaded.add(id);
    }
    const unlocks = steps.some((s) => s.name === UNLOCK_STEP);
    // a locked target's script first proves it still holds the lock and fences off older sessions;
    // an unlock step is never fenced, so the lock can be given back whatever else happened
    const locked = this.lockHeld.has(t.key) && !opts.readOnly;
    const giveBack = unlocks && steps.length === 1;
    // after a reconnect the old session's lease renewer is gone (or reaped): this session renews
    const keep = reconnected && locked && !giveBack ? keepLeaseSteps(t.paths, this.token) : [];
    const pre = !locked ? keep : giveBack ? reapSupersededSteps(t.paths, this.token) : [...fenceSteps(t.paths, this.token, this.attempts.get(t.connKey)), ...keep];
    const r = await this.runner.run(conn, t.host.name, phase, [...pre, ...steps], opts);
    if (unlocks && r.code === 0) this.markUnlocked(t);
    return r;
  }

  /**
   * Emit signals for a target and collect the script steps its plugins contribute.
   * Returns the steps in plugin order, one signal after another.
   */
  async signalSteps(t: Target, release: string, signals: SignalName[]): Promise<Step[]> {
    const steps: Step[] = [];
    const seen = new Set<string>();
    for (const signal of signals) {
      this.bus.emit({ event: signal, host: t.host.name, role: t.role });
      for (const work of t.roles) {
        for (const plugin of work.plugins) {
          const handler = plugin.on[signal];
          if (!handler) continue;
          await handler(this.context(t, work, plugin, signal, release, steps, seen));
        }
      }
    }
    return steps;
  }

  /**
   * Dry runs: the read-only steps of the plugins that can tell the revision a release would be
   * made from (Plugin.revision), one list per plugin; the last line each prints is its revision.
   */
  async revisionSteps(t: Target, release: string): Promise<Step[][]> {
    const lists: Step[][] = [];
    for (const work of t.roles) {
      for (const plugin of work.plugins) {
        if (!plugin.revision) continue;
        const steps: Step[] = [];
        await plugin.revision(this.context(t, work, plugin, 'deploy.updating', release, steps, new Set()));
        if (steps.length) lists.push(steps);
      }
    }
    return lists;
  }

  /** What a plugin's hook sees for one role on one target; its steps go to `steps` (once each). */
  private context(t: Target, work: Target['roles'][number], plugin: Plugin, signal: SignalName, release: string, steps: Step[], seen: Set<string>): SignalContext {
    return {
      signal,
      command: this.opts.command,
      stage: t.stage,
      role: work.role,
      host: t.host.name,
      release,
      paths: t.paths,
      config: work.config,
      options: this.opts.options,
      dryRun: this.opts.dryRun,
      script: (name, shell) => {
        // roles sharing a release contribute identical steps (the code export) once
        const step = { name: `${plugin.name}: ${name.replace(new RegExp(`^${plugin.name}: `), '')}`, script: shell };
        const id = step.name + '\0' + step.script;
        if (seen.has(id)) return;
        seen.add(id);
        steps.push(step);
      },
      upload: (localPath) => {
        const name = `${this.token}-${basename(localPath).replace(/[^A-Za-z0-9._-]/g, '_')}`;
        // in the deploy's own state dir, owned by whoever runs the work (Connection.upload: sudo_user writes it itself)
        const remote = posix.join(t.paths.state, 'uploads', name);
        const m = this.uploads.get(t.key) ?? new Map<string, string>();
        m.set(localPath, remote);
        this.uploads.set(t.key, m);
        return remote;
      },
      quote,
      log: (message) => this.bus.emit({ event: 'log', host: t.host.name, plugin: plugin.name, message }),
      remoteLog: (message) => logOutput(plugin.name, message),
      remoteLogLines: () => logLines(plugin.name),
    };
  }

  /** What to do when sudo refused to run work as sudo_user (undefined without a sudo_user). */
  sudoHint(t: Target): string | undefined {
    if (!t.config.sudo_user) return undefined;
    const login = this.loginUsers.get(t.connKey) ?? t.user;
    const why = t.sudoUserDefault ? `sudo_user defaults to deploy, as in Fapistrano; set sudo_user: ${login} in deploy.yml to work as the login user, or ` : 'sudo_user: ';
    return `${why}let ${login} run commands as ${t.config.sudo_user} without a password, e.g. in /etc/sudoers.d/: ${login} ALL=(${t.config.sudo_user}) NOPASSWD: ALL`;
  }

  /** The one way a host's failure reaches the output: host, step, the command, its stderr, a hint. */
  reportFailure(t: Target, error: FapError, step?: string): void {
    const he = error instanceof HostError ? error : undefined;
    step = he?.step ?? step ?? failureStep(error);
    const hint = error.hint ?? (/sudo:/.test(error.message) ? this.sudoHint(t) : undefined);
    this.bus.emit({ event: 'host.failed', host: t.host.name, role: t.role, step, message: error.message, command: he?.command, stderr: he?.stderrTail || undefined, hint });
  }

  /** Channels opened per connection, named user@host:port (with the settings hash only where one host has several connections). */
  channelCounts(): Promise<Record<string, number>> {
    const base = (k: string) => k.replace(/#[0-9a-f]+$/, '');
    const many = (k: string) => [...this.conns.keys()].filter((o) => base(o) === base(k)).length > 1;
    return Promise.all(
      [...this.conns.entries()].map(async ([k, c]) => {
        try {
          const conn = await c;
          return [many(k) ? k : base(k), conn.channelsOpened] as const;
        } catch {
          return [many(k) ? k : base(k), 0] as const;
        }
      }),
    ).then((e) => Object.fromEntries(e));
  }

  /** --dry-run: hosts the real run could not reach or read (it would stop there); the dry run fails at its end */
  readonly dryRunBlockers: { target: Target; error: FapError }[] = [];

  /** set by close() or stopConnecting(): connections still being retried give up */
  private closing = false;

  /**
   * The run will contact no more hosts (another run holds the lock): connections still being
   * retried give up without another "retrying" line.
   */
  stopConnecting(): void {
    this.closing = true;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.conns.values()].map(async (c) => {
        try {
          (await c).close();
        } catch {
          /* never opened */
        }
      }),
    );
  }
}

/**
 * Where a failure without a step of its own happened: a connection lost while a phase's script (or
 * upload) ran names that phase; one that could not be opened, connect. Callers that clean up after
 * another failure (revert, discard) name their phase instead.
 */
export function failureStep(error: FapError): string | undefined {
  if (error instanceof HostError) return error.step;
  return error instanceof ConnectError ? (error.step ?? 'connect') : undefined;
}

/** Failures worth another try: the host may be restarting sshd (or shedding load: MaxStartups closes early) or the network hiccuped. Auth and host-key refusals, and silent hosts (the timeout already waited), are not. */
export function isTransient(e: Error): boolean {
  return /connection refused|connection reset|host unreachable|network unreachable|lookup failed \(temporary\)|connection lost before|connection closed before the SSH greeting|connection closed during the SSH handshake/.test(e.message);
}

/** Open a connection, retrying transient failures with exponential backoff (0.5 s, 1 s, 2 s, ...). */
export async function openWithRetries<T>(open: () => Promise<T>, retries: number, onRetry: (attempt: number, e: Error, waitMs: number) => void, stopped: () => boolean = () => false): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open();
    } catch (e) {
      if (attempt >= retries || !(e instanceof Error) || !isTransient(e) || stopped()) throw e;
      const waitMs = 500 * 2 ** attempt;
      onRetry(attempt + 1, e, waitMs);
      await new Promise((r) => setTimeout(r, waitMs));
      if (stopped()) throw e;
    }
  }
}
