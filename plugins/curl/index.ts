// curl: the hosts download a build artifact (or receive it over SFTP with --artifact), check its
// sha256, unpack it into the release and run the postinstall script. REVISION records the sha256.
// Credentials never reach a command line or the output: curl reads the URL and user from a config
// on its stdin (printed by the shell's printf builtin from one quoted word, never a heredoc that a
// value could end), and their values are registered as secrets. curl_options is split into words
// here and each word quoted (see ../shell-words.ts).
import { basename, posix } from 'node:path';
import { definePlugin, localFileProblem, type PluginConfig, type SignalContext } from '../../src/signals.js';
import { keys } from './keys.js';
import { shellWords, WordsError } from '../shell-words.js';

/** A string for curl's config file syntax, on one line whatever it holds (a raw newline would start a new option). */
function curlString(s: string): string {
  const esc: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
  return '"' + s.replace(/[\\"\n\r\t\v]/g, (c) => esc[c]) + '"';
}

type Config = PluginConfig<typeof keys>;

function archiveKind(config: Config, name: string): 'tgz' | 'tar' | undefined {
  if (config.curl_extract_tgz) return 'tgz';
  if (config.curl_extract_tar) return 'tar';
  // a file given its own name (curl_output) is kept as it is
  if (output(config)) return undefined;
  if (/\.(tgz|tar\.gz)$/i.test(name)) return 'tgz';
  if (/\.tar$/i.test(name)) return 'tar';
  return undefined;
}

const output = (config: Config) => String(config.curl_output ?? '').trim();

/** Why curl_output cannot name the file in the release, or undefined (fapistrano-0.9.5 curl.py:54 `-o %(curl_output)s`, run in the release). */
export function outputProblem(name: string): string | undefined {
  if (!name) return undefined;
  if (name.startsWith('/')) return `curl_output "${name}" must be a file name inside the release, not an absolute path`;
  const n = posix.normalize(name);
  if (n === '.' || n.endsWith('/') || n === '..' || n.startsWith('../')) return `curl_output "${name}" must name a file inside the release`;
  const first = n.split('/')[0];
  if (n === 'REVISION' || first.startsWith('.fap-')) return `curl_output "${name}" is a name fap uses in the release; choose another`;
  return undefined;
}

/**
 * A URL as it may be shown: without its user:password, with a scheme or without one (the userinfo
 * ends at the last @ before the path: a raw @ in a password belongs to the password; the same
 * reading as addUrlSecrets in src/redact.ts).
 */
const shownUrl = (url: string, mask = '') => url.replace(/^(\s*(?:[a-z][a-z0-9+.-]*:\/+)?)[^/?#]*@/i, `$1${mask}`);

/**
 * fap check's question: does the artifact URL answer this host, with the deploy's curl options and
 * credentials (given on curl's stdin, as the download does)? An HTTP HEAD; when HEAD gets a 4xx or
 * 501 (refused, or a URL signed for GET alone) the first byte is asked for instead, and that
 * answer decides. A 4xx or 5xx is a failure naming the status.
 */
export function artifactProbe(url: string, user: string | undefined, options: string, timeoutS: number, q: (w: string) => string): string {
  const conf = [`url = ${curlString(url)}`, ...(user ? [`user = ${curlString(user)}`] : [])].join('\n');
  const opts = shellWords(options).map((w) => q(w) + ' ').join('');
  const ask = (how: string) => `printf '%s\\n' ${q(conf)} | curl --silent --show-error --location --connect-timeout 15 --max-time ${timeoutS} ${opts}${how} -o /dev/null -w '%{http_code}' -K -`;
  const shown = shownUrl(url);
  if (!/^https?:/i.test(url)) return [`${ask('--head')} >/dev/null || exit 1`, `echo ${q(`answers: ${shown}`)}`].join('\n');
  return [
    `fap_code=$(${ask('--head')}) || exit 1`,
    // any 4xx to HEAD may be HEAD's alone (an S3 presigned GET URL answers HEAD 403): the GET
    // decides, and is mentioned when its answer differs
    `fap_how=''`,
    `case "$fap_code" in 4??|501) fap_head=$fap_code; fap_code=$(${ask('--range 0-0')}) || exit 1; [ "$fap_code" = "$fap_head" ] || fap_how=" (HEAD answered $fap_head; a ranged GET)" ;; esac`,
    `case "$fap_code" in 2??|3??) echo "HTTP $fap_code$fap_how: "${q(shown)} ;; *) echo "error: HTTP $fap_code$fap_how from "${q(shown)}; exit 1 ;; esac`,
  ].join('\n');
}

const curl = definePlugin({
  name: 'curl',
  api: '^1.5.0',
  keys,
  // fap release --curl-url / --artifact: the artifact replaces the git checkout
  replaces: { plugin: 'git', when: ['curl_url', 'curl_artifact'], commands: ['release'] },
  tools: () => ['curl', 'tar', 'sha256sum'],
  probes(config, ctx) {
    const url = config.curl_url ? String(config.curl_url) : '';
    if (!url || !/^(https?|ftp|file):\/\//i.test(url) || /\s/.test(url)) return [];
    try {
      return [{ name: 'artifact URL', script: artifactProbe(url, config.curl_user ? String(config.curl_user) : undefined, String(config.curl_options ?? ''), Math.min(Number(config.curl_timeout), 25), ctx.quote) }];
    } catch (e) {
      if (e instanceof WordsError) return [];
      throw e;
    }
  },
  check(config) {
    const url = config.curl_url ? String(config.curl_url) : '';
    const artifact = config.curl_artifact ? String(config.curl_artifact) : '';
    if (!url && !artifact) return { key: 'curl_url', message: 'the curl plugin needs an artifact: fap release <stage> --curl-url URL (or curl_url:, or --artifact FILE)' };
    const unreadable = artifact ? localFileProblem(artifact) : undefined;
    // the key is named once, by where the error points (file:line: curl_artifact: ...)
    if (unreadable) return { key: 'curl_artifact', message: unreadable };
    if (url && (!/^(https?|ftp|file):\/\//i.test(url) || /\s/.test(url))) return { key: 'curl_url', message: `"${shownUrl(url, '***@')}" is not a URL curl can download (http, https, ftp or file, no spaces)` };
    const out = output(config);
    const bad = outputProblem(out);
    if (bad) return { key: 'curl_output', message: bad };
    if (out && (config.curl_extract_tar || config.curl_extract_tgz)) {
      return { key: 'curl_output', message: `curl_output names the file kept in the release, but curl_extract_${config.curl_extract_tgz ? 'tgz' : 'tar'} unpacks it and keeps none; set one or the other` };
    }
    const sha = config.curl_sha256 ? String(config.curl_sha256) : '';
    if (sha && !/^[0-9a-fA-F]{64}$/.test(sha)) return { key: 'curl_sha256', message: 'curl_sha256 must be 64 hex digits' };
    try {
      shellWords(String(config.curl_options ?? ''));
    } catch (e) {
      if (e instanceof WordsError) return { key: 'curl_options', message: e.message };
      throw e;
    }
    return undefined;
  },
  on: {
    'deploy.updating': (ctx) => {
      const q = ctx.quote;
      const c = ctx.config;
      const release = ctx.paths.release;
      const file = posix.join(release, '.fap-artifact');
      const url = c.curl_url ? String(c.curl_url) : '';
      const artifact = c.curl_artifact ? String(c.curl_artifact) : '';
      if (artifact) {
        const sent = ctx.upload(artifact);
        ctx.script('curl: take uploaded artifact', `cp ${q(sent)} ${q(file)}\nrm -f ${q(sent)} 2>/dev/null || true`);
      } else {
        const conf = [`url = ${curlString(url)}`, ...(c.curl_user ? [`user = ${curlString(String(c.curl_user))}`] : [])];
        const options = shellWords(String(c.curl_options ?? '')).map((w) => q(w) + ' ').join('');
        ctx.script(
          'curl: download artifact',
          `printf '%s\\n' ${q(conf.join('\n'))} | curl --fail --silent --show-error --location --retry ${Number(c.curl_retries)} --retry-delay 1 --connect-timeout 15 --max-time ${Number(c.curl_timeout)} ${options}-o ${q(file)} -K -`,
        );
      }
      const expected = c.curl_sha256 ? String(c.curl_sha256).toLowerCase() : '';
      ctx.script(
        'curl: verify artifact',
        [
          `fap_sha="$(sha256sum ${q(file)} | cut -d' ' -f1)"`,
          ...(expected ? [`if [ "$fap_sha" != ${q(expected)} ]; then echo "sha256 mismatch: expected ${expected}, got $fap_sha" >&2; exit 1; fi`] : []),
        ].join('\n'),
      );
      const name = artifact ? basename(artifact) : new URL(url).pathname;
      const kind = archiveKind(c, name);
      // renamed into place (mv -T: onto that very name, never into a directory or through a symlink of that name)
      const keep = (as: string) => {
        const dest = posix.join(release, posix.normalize(as));
        return [...(posix.dirname(dest) !== release ? [`mkdir -p ${q(posix.dirname(dest))}`] : []), `mv -fT ${q(file)} ${q(dest)}`];
      };
      const unpack =
        kind === 'tgz'
          ? [`tar -xzf ${q(file)} -C ${q(release)}`, `rm -f ${q(file)}`]
          : kind === 'tar'
            ? [`tar -xf ${q(file)} -C ${q(release)}`, `rm -f ${q(file)}`]
            : keep(output(c) || basename(name) || 'artifact');
      // REVISION through a fresh file renamed over it: a REVISION symlink that came with the artifact is replaced, never written through
      const revision = posix.join(release, 'REVISION');
      const tmp = posix.join(release, '.fap-revision.tmp');
      ctx.script('curl: unpack artifact', unpack.join('\n'));
      postinstall(ctx, release, String(c.curl_postinstall_script ?? '').trim(), c.curl_postinstall_output !== false);
      // last: what the postinstall script left in REVISION is replaced by the artifact's sha256
      ctx.script('curl: record revision', [`rm -f ${q(tmp)}`, `printf '%s\\n' "$fap_sha" > ${q(tmp)}`, `mv -fT ${q(tmp)} ${q(revision)}`].join('\n'));
    },
  },
});

function postinstall(ctx: SignalContext<Config>, release: string, post: string, show: boolean): void {
  const q = ctx.quote;
  if (!post) return;
  if (!show) {
    ctx.script('curl: postinstall script', `(cd ${q(release)} && sh -c ${q(post)} >/dev/null)`);
    return;
  }
  // fapistrano-0.9.5 curl.py:64-66 show('output'): stdout and stderr reach the operator, here as
  // curl log lines (redacted; log events with --json). The pipe hides the script's exit status, so
  // it comes back on fd 3; the script gets neither fd 3 nor 4 (a daemon it starts cannot hold them).
  ctx.script(
    'curl: postinstall script',
    [
      'exec 4>&1',
      `fap_rc=$( { { (cd ${q(release)} && sh -c ${q(post)}) </dev/null 2>&1 3>&- 4>&- && echo 0 >&3 || echo "$?" >&3; } | ${ctx.remoteLogLines()} >&4; } 3>&1 )`,
      'exec 4>&-',
      `[ "$fap_rc" = 0 ] || { echo "curl_postinstall_script exited with status $fap_rc" >&2; exit 1; }`,
    ].join('\n'),
  );
}

export default curl;
