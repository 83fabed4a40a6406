// Shared pieces of the end-to-end tests: a real git repository, a deploy file for a fleet, and
// the fap CLI run as a real process.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Fleet } from './fleet/fleet.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FAP = join(ROOT, 'bin', 'fap.js');

export function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.name=fap test', '-c', 'user.email=test@fap.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

export interface Repo {
  dir: string;
  commit(files: Record<string, string>, message?: string): string;
}

/** A real git repository on disk with an initial commit. */
export function makeRepo(files: Record<string, string> = { 'app.py': 'print("v1")\n' }): Repo {
  const dir = mkdtempSync(join(tmpdir(), 'fap-repo-'));
  git(dir, 'init', '-q', '-b', 'main');
  const repo: Repo = {
    dir,
    commit(f, message = 'change') {
      for (const [name, body] of Object.entries(f)) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), body);
      }
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '-m', message);
      return git(dir, 'rev-parse', 'HEAD');
    },
  };
  repo.commit(files, 'initial');
  return repo;
}

/** Write a deploy.yml for the fleet; `extra` merges into the top level, `role` into the web role. */
export function writeDeployFile(fleet: Fleet, o: { repo?: string; top?: Record<string, unknown>; role?: Record<string, unknown>; hosts?: number[]; dir?: string } = {}): string {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'fap-cfg-'));
  const file = join(dir, 'deploy.yml');
  const hosts = (o.hosts ?? fleet.hosts.map((_, i) => i)).map((i) => fleet.hosts[i].name);
  const doc = {
    app_name: 'shop',
    path: join(fleet.deployDir, '%(app_name)s'),
    user: fleet.user,
    // fap's defaults are Fapistrano's (user and sudo_user deploy): work as the fleet's user, no sudo
    sudo_user: fleet.user,
    keep_releases: 5,
    plugins: ['git'],
    repo: o.repo,
    branch: 'main',
    ssh: { identity_file: fleet.identityFile, known_hosts_file: fleet.knownHosts, host_key_checking: 'strict' },
    ...o.top,
    stage_role_configs: { production: { web: { hosts, ...o.role } } },
  };
  writeFileSync(file, stringify(doc));
  return file;
}

export interface FapResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real CLI as a child process. */
export function fap(args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<FapResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [FAP, ...args], {
      cwd: o.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** A running fap with --json: each event is passed to onEvent as it arrives; kill() is SIGKILL. */
/** fap --json with each event seen as it comes; kill() sends o.signal (default SIGKILL) once. */
export function fapLive(args: string[], onEvent: (e: Record<string, unknown>, kill: () => void) => void, o: { env?: NodeJS.ProcessEnv; signal?: NodeJS.Signals } = {}): Promise<FapResult & { killed: boolean }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [FAP, '--json', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let buffered = '';
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      child.kill(o.signal ?? 'SIGKILL');
    };
    child.stdout.on('data', (d) => {
      stdout += d;
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line && (!killed || o.signal)) onEvent(JSON.parse(line) as Record<string, unknown>, kill);
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(kill, 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr, killed });
    });
  });
}

export function jsonEvents(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * A pattern for a line a host said, alone (`[web1] text`) or with others who said the same
 * (`[web2, web1] text`): the reporters print what several hosts say alike once, naming them.
 * `hostSource` and `text` are regular expression sources (escape literal text with `esc`).
 */
export function saidBy(hostSource: string, text: string): RegExp {
  return new RegExp(`^\\[(?:[^\\]\\n]*, )?${hostSource}(?:, [^\\]\\n]*)?\\] ${text}`, 'm');
}

/** Literal text as a regular expression source. */
export function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
