// git: keep a mirror of `repo` at repo_path (<path>/repo) and export `branch` into each new release.
// With no `branch`, the remote's default branch (its HEAD) is deployed: the mirror's HEAD is set
// from `git ls-remote --symref` on every update, so a repository that moved from master to main is
// followed. With git_shallow_clone N > 0 (Fapistrano's default, 1) a new mirror is N commits deep;
// a tag or commit it lacks makes the update fetch the full history once (--unshallow).
//
// Credentials in an http(s) repo URL (https://user:token@host/...) never reach an argv (ps) or the
// mirror's config: git is run with the bare URL, and asks for them through GIT_ASKPASS, a helper
// that prints two exported shell variables (the helper holds no secret; it lives in a private
// directory removed when the step ends). Every URL is preceded by `--`, so no value is an option.
import { posix } from 'node:path';
import { addSecret, definePlugin, type PluginConfig, type SignalContext } from '../../src/signals.js';
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

/** A repository git reads as a local path (not scheme://... nor scp-like host:path). */
export function isLocalPath(repo: string): boolean {
  return !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(repo) && !/^[^/]*:/.test(repo);
}

/** Where the mirror lives: repo_path (Fapistrano), by default <path>/repo. */
function mirrorPath(ctx: Pick<SignalContext<PluginConfig<typeof keys>>, 'config' | 'paths'>): string {
  const p = String(ctx.config.repo_path ?? '').trim();
  return p ? posix.normalize(p).replace(/\/+$/, '') : ctx.paths.repo;
}

/** Why repo_path cannot hold the mirror, or undefined: it must be absolute and apart from the release layout. */
export function repoPathProblem(repoPath: string, root: string, places: Record<string, unknown> = {}): string | undefined {
  const p = repoPath.trim();
  // a deploy root that is not absolute is the path key's error, reported by fap itself
  if (!p || !root.startsWith('/')) return undefined;
  if (!p.startsWith('/')) return `repo_path must be an absolute path on the host, got "${p}"`;
  const n = posix.normalize(p).replace(/\/+$/, '') || '/';
  const r = posix.normalize(root).replace(/\/+$/, '') || '/';
  const within = (a: string, b: string) => a === b || a.startsWith(b === '/' ? '/' : b + '/');
  if (n === '/' || within(r, n)) return `repo_path ${n} would hold the deploy root ${r}; give the mirror a directory of its own`;
  // releases_path, shared_path, current_path: where deploy.yml put them, else under the root
  const place = (k: string, d: string) => (typeof places[k] === 'string' ? (places[k] as string) : posix.join(r, d));
  for (const d of [place('releases_path', 'releases'), place('shared_path', 'shared'), place('current_path', 'current'), posix.join(r, '.fap'), posix.join(r, 'revisions.log')]) {
    if (within(n, d) || within(d, n)) return `repo_path ${n} overlaps ${d}; give the mirror a directory of its own (default: ${posix.join(r, 'repo')})`;
  }
  return undefined;
}

/** The askpass helper: git calls it with "Username for ..." or "Password for ...". */
const ASKPASS = '#!/bin/sh\ncase "$1" in [Uu]sername*) printf \'%s\\n\' "$FAP_GIT_USERNAME" ;; *) printf \'%s\\n\' "$FAP_GIT_PASSWORD" ;; esac\n';

/**
 * git's script with the credentials of an http(s) repo URL given through GIT_ASKPASS (a helper in a
 * private directory, removed when it ends), never on a command line; unchanged without credentials.
 */
function withCredentials(q: (w: string) => string, username: string | undefined, password: string | undefined, script: string): string {
  if (username === undefined) return script;
  // a token given as the user name (https://TOKEN@host) is as secret as a password
  if (password) addSecret(password);
  else if (username) addSecret(username);
  // a subshell: the variables and the helper end with the step; no credential helper stores them
  return [
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

/**
 * Shell text printing the commit `branch` names in the ls-remote output held in $var, in git's own
 * order of resolution (refs/tags/ before refs/heads/, an annotated tag peeled to its commit); a
 * full ref (refs/heads/main, refs/tags/v1.0) is that ref. The deploy's rev-parse in the mirror
 * decides the same way, so fap check and a dry run name what the deploy takes (found by the attack
 * pass: check refused refs/heads/main, and showed an annotated tag's object id).
 */
function branchCommit(variable: string, branch: string): string {
  const candidates = branch.startsWith('refs/') ? [`${branch}^{}`, branch] : [`refs/tags/${branch}^{}`, `refs/tags/${branch}`, `refs/heads/${branch}`];
  const rank = candidates.map((c, i) => `if ($2 == ${JSON.stringify(c)} && !(${i} in f)) f[${i}] = $1;`).join(' ');
  return `printf '%s\\n' "$${variable}" | awk '$1 != "ref:" { ${rank.replace(/'/g, `'\\''`)} } END { for (i = 0; i < ${candidates.length}; i++) if (i in f) { print f[i]; exit } }'`;
}

/**
 * Why `name` cannot be a branch or tag (git check-ref-format's rules), or undefined. A value no ref
 * can have is a typo or an injection (a line break and "fatal: ..." after it would be quoted as
 * the failure's cause), refused before any host is contacted.
 */
export function refNameProblem(name: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f]/.exec(name);
  if (control) return `it contains a control character (${escaped(control[0])})`;
  const bad = /[ ~^:?*[\\]/.exec(name);
  if (bad) return `it contains ${bad[0] === ' ' ? 'a space' : `"${bad[0]}"`}`;
  if (name.includes('..')) return 'it contains ".."';
  if (name.includes('@{')) return 'it contains "@{"';
  if (name === '@') return 'it is "@"';
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return 'it has an empty path component (a leading, trailing or double "/")';
  if (name.endsWith('.') || name.split('/').some((c) => c.startsWith('.') || c.endsWith('.lock'))) return 'a path component starts with "." or ends with ".lock", or the name ends with "."';
  return undefined;
}

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
/** A control character as it would be written in a string: \n, \x07. */
const escaped = (c: string) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** A branch value that names a commit (abbreviated or whole), which ls-remote cannot list. */
const COMMITISH = /^[0-9a-f]{7,40}$/i;

/**
 * fap check's question: can this host reach the repository as the deploy would (the same URL and
 * credentials, as sudo_user), and does it have the branch (a branch or tag; with no branch, which
 * is the default). Reads only: git ls-remote, no mirror is touched.
 */
export function repositoryProbe(repo: string, branch: string | undefined, q: (w: string) => string): string {
  const { url, username, password } = splitCredentials(repo);
  const g = username === undefined ? 'git' : 'git -c credential.helper=';
  const lines = [
    // never a prompt for a user name or passphrase: the doctor has no terminal to ask on
    'GIT_TERMINAL_PROMPT=0; export GIT_TERMINAL_PROMPT',
    // with the branch, its peeled form: an annotated tag's ^{} entry is the commit it points at
    `fap_refs=$(${g} ls-remote --symref -- ${q(url)} HEAD${branch === undefined ? '' : ` ${q(branch)} ${q(branch + '^{}')}`}) || exit 1`,
  ];
  if (branch === undefined) {
    lines.push(
      `fap_head=$(printf '%s\\n' "$fap_refs" | sed -n 's|^ref: refs/heads/\\([^[:space:]]*\\)[[:space:]][[:space:]]*HEAD$|\\1|p')`,
      `if [ -n "$fap_head" ]; then echo ${q(`reachable: ${url}; no branch set, its default branch is `)}"$fap_head"; else echo ${q(`reachable: ${url}; no branch set and its HEAD is not a branch: a deploy takes master`)}; fi`,
    );
  } else {
    lines.push(
      `fap_sha=$(${branchCommit('fap_refs', branch)} | cut -c1-7)`,
      `if [ -n "$fap_sha" ]; then echo ${q(`reachable: ${url}; ${branch} at `)}"$fap_sha"; exit 0; fi`,
      COMMITISH.test(branch)
        ? `echo ${q(`reachable: ${url}; ${branch} is no branch or tag there, taken as a commit (the deploy fetches it)`)}; exit 0`
        : [
            // name a few of its branches, to see the typo
            `fap_heads=$(${g} ls-remote --heads -- ${q(url)} 2>/dev/null | sed 's|.*refs/heads/||' | head -n 10 | tr '\\n' ' ' | sed 's/ $//; s/ /, /g')`,
            `echo ${q(`error: branch "${branch}" not found in ${url}`)}"\${fap_heads:+ (its branches: $fap_heads)}"; exit 1`,
          ].join('\n'),
    );
  }
  return withCredentials(q, username, password, lines.join('\n'));
}

const git = definePlugin({
  name: 'git',
  api: '^1.5.0',
  keys,
  // fap's default, as in Fapistrano's guide: a deploy.yml with a repo and no plugin list uses git
  enabledBy: 'repo',
  tools: () => ['git', 'tar'],
  probes(config, ctx) {
    if (typeof config.repo !== 'string' || !config.repo || config.repo.startsWith('-')) return [];
    const branch = config.branch === undefined || config.branch === null || config.branch === '' ? undefined : String(config.branch);
    if (branch?.startsWith('-')) return [];
    return [{ name: 'git repository', script: repositoryProbe(config.repo, branch, ctx.quote) }];
  },
  check(config) {
    if (typeof config.repo !== 'string' || !config.repo) return { key: 'repo', message: 'the git plugin needs "repo"' };
    if (config.repo.startsWith('-')) return { key: 'repo', message: 'repo may not start with "-"' };
    if (config.branch !== undefined && String(config.branch).startsWith('-')) return { key: 'branch', message: `branch "${config.branch}" may not start with "-"` };
    const notRef = config.branch === undefined || config.branch === null ? undefined : refNameProblem(String(config.branch));
    if (notRef) return { key: 'branch', message: `branch ${JSON.stringify(String(config.branch))} is not a git ref name: ${notRef}` };
    const bad = repoPathProblem(String(config.repo_path ?? ''), String(config.path ?? ''), config);
    if (bad) return { key: 'repo_path', message: bad };
    return undefined;
  },
  // dry runs: the commit the branch points at in the repository now, asked of the repository from
  // the host (as the deploy would fetch it), writing nothing; a branch that is a commit id is itself
  revision(ctx) {
    const q = ctx.quote;
    const { url: repo, username, password } = splitCredentials(String(ctx.config.repo));
    const g = username === undefined ? 'git' : 'git -c credential.helper=';
    const branch = ctx.config.branch === undefined || ctx.config.branch === null || ctx.config.branch === '' ? undefined : String(ctx.config.branch);
    const lines =
      branch === undefined
        ? [`fap_ls=$(${g} ls-remote -- ${q(repo)} HEAD)`, `printf '%s\\n' "$fap_ls" | sed -n 's/^\\([0-9a-f]\\{40,64\\}\\)[[:space:]]*HEAD$/\\1/p' | head -n 1`]
        : [
            `fap_ls=$(${g} ls-remote -- ${q(repo)} ${q(branch)} ${q(branch + '^{}')})`,
            `fap_rev=$(${branchCommit('fap_ls', branch)})`,
            `if [ -n "$fap_rev" ]; then printf '%s\\n' "$fap_rev"`,
            /^[0-9a-f]{7,40}$/.test(branch) ? `else printf '%s\\n' ${q(branch)}` : `else echo ${q(`branch "${branch}" not found in ${repo}`)} >&2; exit 1`,
            'fi',
          ];
    ctx.script('git: revision', withCredentials(q, username, password, lines.join('\n')));
  },
  on: {
    'deploy.updating': (ctx) => {
      const q = ctx.quote;
      const { url: repo, username, password } = splitCredentials(String(ctx.config.repo));
      const mirror = mirrorPath(ctx);
      const own = mirror === posix.join(ctx.paths.root, 'repo');
      const depth = Number(ctx.config.git_shallow_clone ?? 0);
      const branch = ctx.config.branch === undefined || ctx.config.branch === null || ctx.config.branch === '' ? undefined : String(ctx.config.branch);
      // with credentials, no credential helper of the host's git config may store them
      const g = username === undefined ? 'git' : 'git -c credential.helper=';
      const gm = `${g} -C ${q(mirror)}`;
      // git ignores --depth for a repository given as a local path (and says so): ask for none
      const shallow = depth > 0 && !isLocalPath(repo);
      const update = [
        `if [ -f ${q(posix.join(mirror, 'HEAD'))} ]; then`,
        // also replaces a URL with credentials an older fap stored there
        `  ${gm} remote set-url -- origin ${q(repo)}`,
        // a full mirror stays full; a shallow one keeps its depth, or becomes full with git_shallow_clone 0
        `  if [ ! -f ${q(posix.join(mirror, 'shallow'))} ]; then ${gm} fetch --prune --quiet -- origin`,
        shallow ? `  else ${gm} fetch --prune --quiet --depth ${depth} -- origin` : `  else ${gm} fetch --prune --quiet --unshallow -- origin`,
        '  fi',
        'else',
        // a leftover of an interrupted clone in fap's own place is removed; elsewhere nothing is deleted
        own
          ? `  rm -rf ${q(mirror)}`
          : `  if [ -e ${q(mirror)} ] || [ -L ${q(mirror)} ]; then echo ${q(`repo_path ${mirror} exists but is not a git mirror; remove it or set another repo_path`)} >&2; exit 1; fi`,
        `  mkdir -p ${q(posix.dirname(mirror))}`,
        `  ${g} clone --mirror --quiet${shallow ? ` --depth ${depth} --no-single-branch` : ''} -- ${q(repo)} ${q(mirror)}`,
        'fi',
      ];
      if (branch === undefined) {
        // follow the remote's default branch: its HEAD now, not the one the mirror was cloned with
        update.push(
          `fap_ls=$(${gm} ls-remote --symref -- origin HEAD 2>/dev/null) || fap_ls=''`,
          `fap_head=$(printf '%s\\n' "$fap_ls" | sed -n 's|^ref: refs/heads/\\([^[:space:]]*\\)[[:space:]][[:space:]]*HEAD$|\\1|p')`,
          `if [ -n "$fap_head" ]; then ${gm} symbolic-ref HEAD "refs/heads/$fap_head"`,
          // a HEAD that is a commit, not a branch (a checkout left detached): Fapistrano's default
          // branch, master (fapistrano-0.9.5 plugins/git.py:11)
          `elif [ -n "$fap_ls" ]; then ${gm} symbolic-ref HEAD refs/heads/master; ${ctx.remoteLog("the repository's HEAD is a detached commit, not a branch: deploying master (Fapistrano's default)")}`,
          'fi',
        );
      } else if (shallow) {
        // a tag or an older commit the shallow mirror lacks: fetch the whole history once
        update.push(
          `if ! ${gm} rev-parse --verify --quiet ${q(branch + '^{commit}')} >/dev/null && [ -f ${q(posix.join(mirror, 'shallow'))} ]; then`,
          `  ${ctx.remoteLog(`${branch} is not in the shallow mirror; fetching the full history`)}`,
          `  ${gm} fetch --quiet --unshallow -- origin`,
          'fi',
        );
      }
      ctx.script('git: update mirror', withCredentials(q, username, password, update.join('\n')));
      const tar = posix.join(ctx.paths.release, '.fap-archive.tar');
      // git_archive_tree (Fapistrano): deploy one subdirectory, its contents at the release root
      const tree = String(ctx.config.git_archive_tree ?? '').replace(/^\/+|\/+$/g, '');
      const revision = posix.join(ctx.paths.release, 'REVISION');
      const tmp = posix.join(ctx.paths.release, '.fap-revision.tmp');
      const resolve =
        branch === undefined
          ? [
              `fap_branch=$(git -C ${q(mirror)} symbolic-ref --short HEAD 2>/dev/null) || { echo ${q(`cannot tell the default branch of ${repo}; set branch for ${ctx.stage} ${ctx.role} in deploy.yml`)} >&2; exit 1; }`,
              // the branch is only known here: it is the end of the log line's one quoted word
              `${ctx.remoteLog('no branch set: deploying the default branch of the repository, ')}"$fap_branch"`,
              `fap_sha="$(git -C ${q(mirror)} rev-parse --verify --quiet "refs/heads/$fap_branch^{commit}")" || { echo 'default branch "'"$fap_branch"'" not found in '${q(repo)}${q(`; set branch for ${ctx.stage} ${ctx.role} in deploy.yml`)} >&2; exit 1; }`,
            ]
          : [`fap_sha="$(git -C ${q(mirror)} rev-parse --verify --quiet ${q(branch + '^{commit}')})" || { echo ${q(`branch "${branch}" not found in ${repo}`)} >&2; exit 1; }`];
      ctx.script(
        'git: export release',
        [
          ...resolve,
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
});

export default git;
