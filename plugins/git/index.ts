// git: keep a mirror of `repo` in <path>/repo and export `branch` into each new release.
import { posix } from 'node:path';
import type { Plugin } from '../../src/signals.js';
import { keys } from './keys.js';

const git: Plugin = {
  name: 'git',
  api: '^1.0.0',
  keys,
  check(config) {
    if (typeof config.repo !== 'string' || !config.repo) return { key: 'repo', message: 'the git plugin needs "repo"' };
    if (String(config.branch).startsWith('-')) return { key: 'branch', message: `branch "${config.branch}" may not start with "-"` };
    return undefined;
  },
  on: {
    'deploy.updating': (ctx) => {
      const q = ctx.quote;
      const repo = String(ctx.config.repo);
      const mirror = ctx.paths.repo;
      ctx.script(
        'git: update mirror',
        [
          `if [ -f ${q(posix.join(mirror, 'HEAD'))} ]; then`,
          `  git -C ${q(mirror)} remote set-url origin ${q(repo)}`,
          `  git -C ${q(mirror)} fetch --prune --quiet origin`,
          'else',
          `  rm -rf ${q(mirror)}`,
          `  git clone --mirror --quiet ${q(repo)} ${q(mirror)}`,
          'fi',
        ].join('\n'),
      );
      const tar = posix.join(ctx.paths.release, '.fap-archive.tar');
      const branch = String(ctx.config.branch);
      // git_archive_tree (Fapistrano): deploy one subdirectory, its contents at the release root
      const tree = String(ctx.config.git_archive_tree ?? '').replace(/^\/+|\/+$/g, '');
      ctx.script(
        'git: export release',
        [
          `fap_sha="$(git -C ${q(mirror)} rev-parse --verify --quiet ${q(branch + '^{commit}')})" || { echo ${q(`branch "${branch}" not found in ${repo}`)} >&2; exit 1; }`,
          `git -C ${q(mirror)} archive --format=tar -o ${q(tar)} "$fap_sha"${tree ? q(':' + tree) : ''}`,
          `tar -x -f ${q(tar)} -C ${q(ctx.paths.release)}`,
          `rm -f ${q(tar)}`,
          `printf '%s\\n' "$fap_sha" > ${q(posix.join(ctx.paths.release, 'REVISION'))}`,
        ].join('\n'),
      );
    },
  },
};

export default git;
