// localshared (Fapistrano's fapistrano.localshared): on every deploy, copy each linked file and
// linked dir from `localshared_source`, a directory on the host (the operator's /etc/appconf is the
// source of truth), into shared/ — without breaking all-or-nothing:
//
// - prepare (deploy.starting): the source is copied to a staging area, <root>/.fap/localshared/<R>/new.
//   Only an entry shared/ does not have yet is created in shared/ right away: no live release can
//   read it, and the linked-file check that follows needs it.
// - publish (deploy.publishing, before the flip): what shared/ has is saved to <R>.prev/old (entries
//   it lacks are noted in <R>.prev/created), then each staged copy is written next to its target
//   and renamed over it.
// - revert of a failed deploy (deploy.reverting): <R>.prev is put back and the noted entries removed.
// - finish (deploy.finishing): the staging areas go. A leftover <R>.prev at the next deploy.starting
//   (a run killed mid-publish, whose release is not live) is put back first.
//
// Nothing follows a symlink: copies use cp -P, and a target that is a symlink is replaced, never
// written through. fap rollback does not touch shared/ (Fapistrano's rollback did not either).
import { posix } from 'node:path';
import { definePlugin, type Paths, type PluginConfig, type SignalContext } from '../../src/signals.js';
import { keys } from './keys.js';

type Config = PluginConfig<typeof keys>;
const source = (config: Config) => String(config.localshared_source ?? '').trim();

export const stagingRoot = (p: Paths) => posix.join(p.state, 'localshared');

/**
 * Shell text: run `body` for every file and symlink under the directory `dir` (a shell word), with
 * "$f" = ./its/path, $s = shared/ and $p = `other` (a shell word). Names with any byte, newlines
 * too, pass through find -exec unharmed.
 */
function eachFile(dir: string, shared: string, other: string, body: string[], q: (w: string) => string): string {
  const inner = ['s=$1; p=$2; shift 2', 'for f do', ...body.map((l) => '  ' + l), 'done'].join('\n');
  return `(cd ${dir} && find . ! -type d -exec sh -c ${q(inner)} fap-localshared ${q(shared)} ${other} {} +)`;
}

/** Replace "$t" with a copy of "$1" (a temp next to it, then a rename: never a half-written or written-through file). */
const INSTALL = [
  'fap_put() {',
  '  mkdir -p "${2%/*}" || return 1',
  '  rm -rf "$2.fap-localshared.$$"',
  '  (umask 077 && cp -pP "$1" "$2.fap-localshared.$$") && mv -fT "$2.fap-localshared.$$" "$2"',
  '}',
].join('\n');

/**
 * Shell text: put back what a publish saved in the staging area `prev` (a shell word, e.g. a quoted
 * path or "$var"), and remove what it added.
 */
export function restoreScript(p: Paths, prev: string, q: (w: string) => string): string {
  const old = `${prev}/old`;
  const created = `${prev}/created`;
  return [
    `if [ -d ${old} ]; then`,
    '  ' + eachFile(old, p.shared, prev, [INSTALL, 'fap_put "$f" "$s/$f" || exit 1'], q) + ' || exit 1',
    'fi',
    `if [ -d ${created} ]; then`,
    '  ' + eachFile(created, p.shared, prev, ['if [ -L "$s/$f" ] || [ ! -d "$s/$f" ]; then rm -f "$s/$f" || exit 1; fi'], q) + ' || exit 1',
    'fi',
  ].join('\n');
}

/** deploy.starting: heal a killed publish, then stage the source (and create what shared/ lacks). */
export function stageScript(p: Paths, release: string, src: string, files: string[], dirs: string[], q: (w: string) => string, log: (m: string) => string): string {
  const root = stagingRoot(p);
  const stage = posix.join(root, release, 'new');
  const lines = [
    // a <R>.prev left by a run killed mid-publish whose release is not live (the heal before this
    // step put current back): shared/ goes back to what that live release had
    `if [ -d ${q(root)} ]; then`,
    `  for fap_prev in ${q(root)}/*.prev; do`,
    '    [ -d "$fap_prev" ] || continue',
    '    fap_r=${fap_prev##*/}; fap_r=${fap_r%.prev}',
    `    case "$(readlink ${q(p.current)} 2>/dev/null)" in releases/"$fap_r" | */releases/"$fap_r") fap_live=1 ;; *) fap_live='' ;; esac`,
    '    if [ -z "$fap_live" ]; then',
    '      ' + restoreScript(p, '"$fap_prev"', q).split('\n').join('\n      '),
    `      ${log('put back the shared/ copies an interrupted deploy had replaced')}`,
    '    fi',
    '  done',
    'fi',
    `rm -rf ${q(root)}`,
    `(umask 077 && mkdir -p ${q(stage)})`,
    `if [ ! -d ${q(src)} ]; then`,
    `  ${log(`warning: localshared_source ${src} is not a directory on this host; nothing copied`)}`,
    'else',
    INSTALL,
  ];
  const missing = (what: string) => log(`warning: missing ${what}; shared/ keeps what it has`);
  // fapistrano-0.9.5 plugins/localshared.py:44-50: `cp <source>/<file> <shared>/<file>` for every linked file
  for (const f of files) {
    const s = posix.join(src, f);
    const t = posix.join(p.shared, f);
    lines.push(
      `if [ -d ${q(s)} ] && [ ! -L ${q(s)} ]; then echo ${q(`localshared: ${s} is a directory, but ${f} is in linked_files`)} >&2; exit 1`,
      `elif [ -e ${q(s)} ] || [ -L ${q(s)} ]; then`,
      `  if [ -e ${q(t)} ] || [ -L ${q(t)} ]; then fap_put ${q(s)} ${q(posix.join(stage, f))} || exit 1`,
      `  else fap_put ${q(s)} ${q(t)} || exit 1; fi`,
      `else ${missing(s)}; fi`,
    );
  }
  // fapistrano-0.9.5 plugins/localshared.py:52-58: `cp -R <source>/<dir>/* <shared>/<dir>`, a merge
  // (what shared/<dir> has beyond the source stays)
  for (const d of dirs) {
    const s = posix.join(src, d);
    const t = posix.join(p.shared, d);
    const tmp = `${q(t + '.fap-localshared.')}$$`;
    lines.push(
      `if [ -d ${q(s)} ]; then`,
      `  if [ -e ${q(t)} ] || [ -L ${q(t)} ]; then mkdir -p ${q(posix.join(stage, d))} && cp -pPR ${q(s + '/.')} ${q(posix.join(stage, d))} || exit 1`,
      `  else mkdir -p ${q(posix.dirname(t))} && rm -rf ${tmp} && mkdir ${tmp} && cp -pPR ${q(s + '/.')} ${tmp} && mv -T ${tmp} ${q(t)} || exit 1; fi`,
      `elif [ -e ${q(s)} ] || [ -L ${q(s)} ]; then echo ${q(`localshared: ${s} is not a directory, but ${d} is in linked_dirs`)} >&2; exit 1`,
      `else ${missing(s)}; fi`,
    );
  }
  lines.push('fi');
  return lines.join('\n');
}

/** deploy.publishing: save what shared/ has, then rename each staged copy into place. */
export function publishScript(p: Paths, release: string, q: (w: string) => string): string {
  const root = stagingRoot(p);
  const stage = posix.join(root, release, 'new');
  const prev = posix.join(root, `${release}.prev`);
  return [
    `if [ -d ${q(stage)} ]; then`,
    `  rm -rf ${q(prev)}`,
    `  (umask 077 && mkdir -p ${q(posix.join(prev, 'old'))} ${q(posix.join(prev, 'created'))}) || exit 1`,
    // every save first: a failure here has changed nothing in shared/
    '  ' +
      eachFile(
        q(stage),
        p.shared,
        q(prev),
        [
          'if [ -L "$s/$f" ] || [ -e "$s/$f" ]; then',
          '  if [ ! -L "$s/$f" ] && [ -d "$s/$f" ]; then echo "localshared: $s/${f#./} is a directory in shared/; the source has a file there" >&2; exit 1; fi',
          '  mkdir -p "$p/old/${f%/*}" && cp -pP "$s/$f" "$p/old/$f" || exit 1',
          'else',
          '  mkdir -p "$p/created/${f%/*}" && : > "$p/created/$f" || exit 1',
          'fi',
        ],
        q,
      ) +
      ' || exit 1',
    `  ${eachFile(q(stage), p.shared, q(prev), [INSTALL, 'fap_put "$f" "$s/$f" || exit 1'], q)} || exit 1`,
    'fi',
  ].join('\n');
}

const enabled = (ctx: SignalContext<Config>) => {
  const src = source(ctx.config);
  const files = (ctx.config.linked_files as string[] | undefined) ?? [];
  const dirs = (ctx.config.linked_dirs as string[] | undefined) ?? [];
  return src && (files.length || dirs.length) ? { src, files, dirs } : undefined;
};
const building = (ctx: SignalContext<Config>) => ctx.command === 'deploy' || ctx.command === 'release';

const localshared = definePlugin({
  name: 'localshared',
  api: '^1.0.0',
  keys,
  check(config) {
    const src = source(config);
    if (src && !src.startsWith('/')) return { key: 'localshared_source', message: `localshared_source must be an absolute path on the host, got "${src}"` };
    return undefined;
  },
  on: {
    // fapistrano-0.9.5 plugins/localshared.py:11 signal.register('deploy.starting', copy_localshared_linked_files)
    'deploy.starting': (ctx) => {
      const on = enabled(ctx);
      if (!on || !building(ctx)) return; // not configured: nothing to do, nothing to say
      ctx.log(`linked files and dirs are copied from ${on.src}; shared/ gets them when the release is published`);
      ctx.script('stage shared files', stageScript(ctx.paths, ctx.release, on.src, on.files, on.dirs, ctx.quote, ctx.remoteLog));
    },
    'deploy.publishing': (ctx) => {
      if (!enabled(ctx) || !building(ctx)) return;
      ctx.script('install shared files', publishScript(ctx.paths, ctx.release, ctx.quote));
    },
    // the revert of a failed deploy (ctx.release: the release being reverted); a rollback does not come here
    'deploy.reverting': (ctx) => {
      if (!enabled(ctx) || !building(ctx)) return;
      const root = stagingRoot(ctx.paths);
      const prev = posix.join(root, `${ctx.release}.prev`);
      ctx.script(
        'put back shared files',
        [`if [ -d ${ctx.quote(prev)} ]; then`, restoreScript(ctx.paths, ctx.quote(prev), ctx.quote), `rm -rf ${ctx.quote(prev)} ${ctx.quote(posix.join(root, ctx.release))}`, 'fi'].join('\n'),
      );
    },
    'deploy.finishing': (ctx) => {
      if (!enabled(ctx) || !building(ctx)) return;
      ctx.script('remove staged shared files', `rm -rf ${ctx.quote(stagingRoot(ctx.paths))}`);
    },
  },
});

export default localshared;
