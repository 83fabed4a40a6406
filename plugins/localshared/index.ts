// localshared (Fapistrano's fapistrano.localshared): before the linked-file check, copy every
// linked file and linked dir that shared/ lacks from `localshared_source`, a directory on the host.
// What shared/ already has is never touched; a copy lands under a temporary name and is renamed
// into place, so an interrupted copy never leaves a half-written file that would then be kept.
import { posix } from 'node:path';
import type { Plugin, SignalContext } from '../../src/signals.js';
import { keys } from './keys.js';

const source = (config: Readonly<Record<string, unknown>>) => String(config.localshared_source ?? '').trim();

/** Copy src to dest unless dest exists (or is a symlink, even a dangling one). */
function copyMissing(ctx: SignalContext, src: string, dest: string, kind: 'file' | 'dir'): string {
  const q = ctx.quote;
  const tmp = `${q(dest + '.fap-localshared.')}$$`;
  const test = kind === 'dir' ? '-d' : '-f';
  return [
    `if [ ! -e ${q(dest)} ] && [ ! -L ${q(dest)} ] && [ ${test} ${q(src)} ]; then`,
    `  mkdir -p ${q(posix.dirname(dest))}`,
    `  rm -rf ${tmp}`,
    `  cp -pR ${q(src)} ${tmp}`,
    `  mv -T ${tmp} ${q(dest)}`,
    'fi',
  ].join('\n');
}

const localshared: Plugin = {
  name: 'localshared',
  api: '^1.0.0',
  keys,
  check(config) {
    const src = source(config);
    if (src && !src.startsWith('/')) return { key: 'localshared_source', message: `localshared_source must be an absolute path on the host, got "${src}"` };
    return undefined;
  },
  on: {
    'deploy.starting': (ctx) => {
      const src = source(ctx.config);
      if (!src) return; // not configured: nothing to do, nothing to say
      const files = (ctx.config.linked_files as string[] | undefined) ?? [];
      const dirs = (ctx.config.linked_dirs as string[] | undefined) ?? [];
      if (!files.length && !dirs.length) return;
      const q = ctx.quote;
      const lines = [`if [ ! -d ${q(src)} ]; then echo ${q(`localshared_source ${src} is not a directory on this host`)} >&2; exit 1; fi`];
      for (const d of dirs) lines.push(copyMissing(ctx, posix.join(src, d), posix.join(ctx.paths.shared, d), 'dir'));
      for (const f of files) lines.push(copyMissing(ctx, posix.join(src, f), posix.join(ctx.paths.shared, f), 'file'));
      ctx.log(`linked files and dirs missing from shared/ are copied from ${src}`);
      ctx.script('copy missing shared files', lines.join('\n'));
    },
  },
};

export default localshared;
