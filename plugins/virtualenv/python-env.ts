// What the Python-environment plugins (virtualenv, virtualenvwrapper, virtualenvtools) share: where
// a venv may live, user shell text on one line, and how Fapistrano's `*_activate` prefix
// (`source <venv>/bin/activate`, run before each pip command) is honoured in fap's /bin/sh
// scripts: the plain form `source FILE` / `. FILE` becomes POSIX `. FILE` (no bash needed); any
// other activate text is shell written for bash, as Fapistrano ran it, and runs under `bash -c`.
import { posix } from 'node:path';

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
export function venvPathProblem(key: string, venv: string, root: string): string | undefined {
  if (!venv.startsWith('/')) return `${key} must be an absolute path inside the release (%(release_path)s/venv), got "${venv}"`;
  const rel = posix.relative(posix.join(root, 'releases'), posix.normalize(venv));
  const parts = rel.split('/');
  if (!rel || parts[0] === '..' || parts.length < 2 || parts.includes('..')) {
    return `${key} must be inside the release (under %(release_path)s): a venv outside it would change under the release that is live`;
  }
  return undefined;
}

/** The same rule on the host's real release path: a step that fails, or undefined when inside. */
export function venvOutsideRelease(venv: string, release: string): boolean {
  const n = posix.normalize(venv);
  return !n.startsWith(release.replace(/\/+$/, '') + '/');
}

/**
 * Run `words` (already quoted) after the activate text: none, `( . FILE && words )`, or
 * `bash -c '<activate> && exec "$@"' <name> words`.
 */
export function withActivate(activate: string, words: string, quote: (w: string) => string, name: string): { line: string; bash: boolean } {
  const a = shellText(activate);
  if (!a) return { line: words, bash: false };
  const plain = /^(?:source|\.)\s+(\S+)$/.exec(a);
  if (plain) return { line: `( . ${quote(plain[1])} && ${words} )`, bash: false };
  return { line: `bash -c ${quote(`${a} && exec "$@"`)} ${name} ${words}`, bash: true };
}

/** Whether the activate text needs bash on the host (for fap check). */
export function activateNeedsBash(activate: unknown): boolean {
  const a = shellText(activate);
  return !!a && !/^(?:source|\.)\s+(\S+)$/.test(a);
}

/** A command line in a config value: one word (quoted), or with whitespace run as `sh -c '<it> "$@"' name`. */
export function commandWords(command: string, quote: (w: string) => string, name: string): string {
  return /\s/.test(command) ? `sh -c ${quote(command + ' "$@"')} ${name}` : quote(command);
}
