// git: keep a mirror of `repo` in <path>/repo and export `branch` into each new release.
//
// Credentials in an http(s) repo URL (https://user:token@host/...) never reach an argv (ps) or the
// mirror's config: git is run with the bare URL, and asks for them through GIT_ASKPASS, a helper
// that prints two exported shell variables (the helper holds no secret; it lives in a private
// directory removed when the step ends). Every URL is preceded by `--`, so no value is an option.
import { posix } from 'node:path';
import type { Plugin } from '../../src/signals.js';
import { addSecret } from '../../src/redact.js';
import { keys } from './keys.js';

/** The repo URL without its userinfo, and the credentials it held (undefined: none, or not http). */
export function splitCredentials(repo: string): { url: string; username?: string; password?: string } {
  const m = /^(https?:\/\/)([^/?#]*)(.*)$/is.exec(repo);
  // the host is after the last @ of the authority: a raw @ in the password stays in the password
  const at = m ? m[2].lastIndexOf('@') : -1;
  if (!m || at < 0) return { url: repo };
  const info = m[2].slice(0, at);
  const colon = info.indexOf(':');
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { url: m[1] + m[2].slice(at + 1) + m[3], username: dec(colon < 0 ? info : info.slice(0, colon)), password: colon < 0 ? '' : dec(info.slice(colon + 1)) };
}

/** The askpass helper: git calls it with "Username for ..." or "Password for ...". */
const ASKPASS = '#!/bin/sh\ncase "$1" in [Uu]sername*) printf \'%s\\n\' "$FAP_GIT_USERNAME" ;; *) printf \'%s\\n\' "$FAP_GIT_PASSWORD" ;; esac\n';

const git: Plugin = {
  name: 'git',
  api: '^1.0.0',
  keys,
  check(config) {
    if (typeof config.repo !== 'string' || !config.repo) return { key: 'repo', message: 'the git plugin needs "repo"' };
    if (config.repo.startsWith('-')) return { key: 'repo', message: 'repo may not start with "-"' };
    if (String(config.branch).startsWith('-')) return { key: 'branch', message: `branch "${config.branch}" may not start with "-"` };
    return undefined;
  },
  on: {
    'deploy.updating': (ctx) => {
      const q = ctx.quote;
      const { url: repo, username, password } = splitCredentials(String(ctx.config.repo));
      const mirror = ctx.paths.repo;
      // with credentials, no credential helper of the host's git config may store them
      const g = username === undefined ? 'git' : 'git -c credential.helper=';
      const update = [
        `if [ -f ${q(posix.join(mirror, 'HEAD'))} ]; then`,
        // also replaces a URL with credentials an older fap stored there
        `  ${g} -C ${q(mirror)} remote set-url -- origin ${q(repo)}`,
        `  ${g} -C ${q(mirror)} fetch --prune --quiet -- origin`,
        'else',
        `  rm -rf ${q(mirror)}`,
        `  ${g} clone --mirror --quiet -- ${q(repo)} ${q(mirror)}`,
        'fi',
      ];
      let script = update.join('\n');
      if (username !== undefined) {
        // a token given as the user name (https://TOKEN@host) is as secret as a password
        if (password) addSecret(password);
        else if (username) addSecret(username);
        // a subshell: the variables and the helper end with the step; no credential helper stores them
        script = [
          '(',
          `FAP_GIT_USERNAME=${q(username)}; FAP_GIT_PASSWORD=${q(password ?? '')}; export FAP_GIT_USERNAME FAP_GIT_PASSWORD`,
          'fap_askdir="$(mktemp -d)"',
          `trap 'rm -rf "$fap_askdir"' EXIT`,
          `trap 'exit 1' HUP INT TERM`,
          `printf '%s' ${q(ASKPASS)} > "$fap_askdir/askpass"`,
          'chmod 700 "$fap_askdir" "$fap_askdir/askpass"',
          'GIT_ASKPASS="$fap_askdir/askpass"; GIT_TERMINAL_PROMPT=0; export GIT_ASKPASS GIT_TERMINAL_PROMPT',
          script,
          ')',
        ].join('\n');
      }
      ctx.script('git: update mirror', script);
      const tar = posix.join(ctx.paths.release, '.fap-archive.tar');
      const branch = String(ctx.config.branch);
      // git_archive_tree (Fapistrano): deploy one subdirectory, its contents at the release root
      const tree = String(ctx.config.git_archive_tree ?? '').replace(/^\/+|\/+$/g, '');
      const revision = posix.join(ctx.paths.release, 'REVISION');
      const tmp = posix.join(ctx.paths.release, '.fap-revision.tmp');
      ctx.script(
        'git: export release',
        [
          `fap_sha="$(git -C ${q(mirror)} rev-parse --verify --quiet ${q(branch + '^{commit}')})" || { echo ${q(`branch "${branch}" not found in ${repo}`)} >&2; exit 1; }`,
          `git -C ${q(mirror)} archive --format=tar -o ${q(tar)} "$fap_sha"${tree ? q(':' + tree) : ''}`,
          `tar -x -f ${q(tar)} -C ${q(ctx.paths.release)}`,
          `rm -f ${q(tar)}`,
          // a fresh file renamed over REVISION: a REVISION symlink in the repository is replaced, never written through
          `rm -f ${q(tmp)}`,
          `printf '%s\\n' "$fap_sha" > ${q(tmp)}`,
          `mv -fT ${q(tmp)} ${q(revision)}`,
        ].join('\n'),
      );
    },
  },
};

export default git;
