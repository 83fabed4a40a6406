// What the Python-environment plugins (virtualenv, virtualenvwrapper, virtualenvtools) share: where
// a venv may live, user shell text on one line, and how Fapistrano's `*_activate` prefix
// (`source <venv>/bin/activate`, run before each pip command) is honoured in fap's /bin/sh
// scripts: the plain form `source FILE` / `. FILE` becomes POSIX `. FILE` (no bash needed); any
// other activate text is shell written for bash, as Fapistrano ran it, and runs under `bash -c`.
import { posix } from 'node:path';
import type { SignalContext } from '../src/signals.js';
import { shellWords, WordsError } from './shell-words.js';

/** User shell text on one line (a newline would end the command it belongs to). */
export function shellText(v: unknown): string {
  return String(v ?? '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

/**
 * Why a venv path given in `key` is not inside a release (checked before any host is contacted,
 * when the release's name is not known yet: it must be <path>/releases/<release>/...).
 */
export function venvPathProblem(key: string, venv: string, config: Record<string, unknown>): string | undefined {
  const root = String(config.path ?? '');
  // a deploy root that is not absolute is the path key's error, reported by fap itself
  if (!root.startsWith('/')) return undefined;
  if (!venv.startsWith('/')) return `${key} must be an absolute path inside the release (%(release_path)s/venv), got "${venv}"`;
  // releases_path: Fapistrano's key, set by fap to the checked place when deploy.yml moves it
  const releases = typeof config.releases_path === 'string' ? config.releases_path : posix.join(root, 'releases');
  const rel = posix.relative(releases, posix.normalize(venv));
  const parts = rel.split('/');
  // no '..' at all: %(release_path)s/../x would leave this release for another
  if (!rel || parts[0] === '..' || parts.length < 2 || venv.split('/').includes('..')) {
    return `${key} must be inside the release (under %(release_path)s): a venv outside it would change under the release that is live`;
  }
  return undefined;
}

/** The same rule on the host's real release path: a step that fails, or undefined when inside. */
export function venvOutsideRelease(venv: string, release: string): boolean {
  const n = posix.normalize(venv);
  return !n.startsWith(release.replace(/\/+$/, '') + '/');
}

/** `source FILE` / `. FILE`: the FILE, when the activate text is only that. `scripts` are the activate
 * script fap knows (<venv>/bin/activate, as written and normalized): the default text names it
 * whatever characters the path holds. */
function plainSource(activate: string, scripts: string[]): string | undefined {
  for (const script of scripts) for (const verb of ['source ', '. ']) if (activate === verb + script) return script;
  return /^(?:source|\.)\s+(\S+)$/.exec(activate)?.[1];
}

/**
 * Run `words` (already quoted) after the activate text: none, `( . FILE && words )`, or
 * `bash -c '<activate> && exec "$@"' <name> words`. FILE is quoted: a path in the default
 * (`source %(virtualenv_venv_path)s/bin/activate`) never reaches a shell unquoted.
 */
export function withActivate(activate: string, scripts: string[], words: string, quote: (w: string) => string, name: string): { line: string; bash: boolean } {
  const a = shellText(activate);
  if (!a) return { line: words, bash: false };
  // the text as written first: collapsing its whitespace would change a path that holds some
  const file = plainSource(activate, scripts) ?? plainSource(a, scripts);
  if (file !== undefined) return { line: `( . ${quote(file)} && ${words} )`, bash: false };
  return { line: `bash -c ${quote(`${a} && exec "$@"`)} ${name} ${words}`, bash: true };
}

/** Whether the activate text needs bash on the host (for fap check). */
export function activateNeedsBash(activate: unknown, scripts: string[]): boolean {
  const a = shellText(activate);
  return !!a && plainSource(String(activate), scripts) === undefined && plainSource(a, scripts) === undefined;
}

/** A command line in a config value: one word (quoted), or with whitespace run as `sh -c '<it> "$@"' name`. */
export function commandWords(command: string, quote: (w: string) => string, name: string): string {
  return /\s/.test(command) ? `sh -c ${quote(command + ' "$@"')} ${name}` : quote(command);
}

type Ctx = Pick<SignalContext, 'config' | 'paths' | 'quote' | 'remoteLog'>;

/** Why `key`'s pip options cannot be split into words, or undefined (for check()). */
export function pipOptionsProblem(config: Readonly<Record<string, unknown>>, key: string): { key: string; message: string } | undefined {
  try {
    shellWords(String(config[key] ?? ''));
    return undefined;
  } catch (e) {
    // the key is named once, by where the error points (file:line: key: ...)
    if (e instanceof WordsError) return { key, message: e.message };
    throw e;
  }
}

/** `key`'s pip options as quoted words, each with a leading space. */
export function pipOptions(ctx: Ctx, key: string): string {
  return shellWords(String(ctx.config[key] ?? '')).map((w) => ' ' + ctx.quote(w)).join('');
}

/**
 * The requirements steps of the plugins that pip-install a file (`key`: its setting; '' means
 * none; relative to the release). A file the user configured must exist, checked before the venv is
 * spent time on (`check`, to run first); the default requirements.txt may be absent (`install`
 * then says so). `pip(args)` is the pip command line with its activate prefix.
 */
export function requirementsSteps(ctx: Ctx, key: string, pip: (args: string) => string, opts: string): { check?: string; install: string } {
  const q = ctx.quote;
  const raw = String(ctx.config[key] ?? '').trim();
  if (!raw) return { install: ctx.remoteLog(`${key} is empty; no requirements installed`) };
  const req = posix.normalize(posix.isAbsolute(raw) ? raw : posix.join(ctx.paths.release, raw));
  const install = pip(`-r ${q(req)}${opts}`);
  if (req === posix.normalize(posix.join(ctx.paths.release, 'requirements.txt'))) {
    return { install: [`if [ -f ${q(req)} ]; then`, `  ${install}`, 'else', `  ${ctx.remoteLog(`no ${req}; no requirements installed`)}`, 'fi'].join('\n') };
  }
  return { check: `[ -f ${q(req)} ] || { echo ${q(`requirements file ${req} (${key}) not found on this host`)} >&2; exit 1; }`, install };
}
