// virtualenvtools (Fapistrano's fapistrano.virtualenvtools): a venv built elsewhere (on CI, at
// another path) comes with the release; on deploy.updated, virtualenv-tools moves it to where it
// now lives, inside the release, before anything is published.
//
// Fapistrano ran `virtualenv-tools --update-path <venv>` in the release directory, which makes the
// tool treat the release directory itself as the venv (its path argument defaults to the current
// directory); fap names the venv as the path argument too, so the venv at virtualenvtools_venv_path
// is the one rewritten. reinitialize is Fapistrano's: remove bin/python*, then --reinitialize.
import { posix } from 'node:path';
import { definePlugin } from '../../src/signals.js';
import { keys } from './keys.js';
import { commandWords, shellText, venvOutsideRelease, venvPathProblem } from '../python-env.js';

const virtualenvtools = definePlugin({
  name: 'virtualenvtools',
  api: '^1.3.0',
  keys,
  // fapistrano-0.9.5 virtualenvtools.py:9 virtualenvtools_executable, run at :17 and :20
  tools: (c) => [String(c.virtualenvtools_executable ?? 'virtualenv-tools')],
  check(config) {
    // checked here, not as a schema enum: only a deploy needs it (rollback and the rest never refuse)
    const strategy = String(config.virtualenvtools_strategy ?? '');
    if (strategy !== 'update-path' && strategy !== 'reinitialize') return { key: 'virtualenvtools_strategy', message: `virtualenvtools_strategy "${strategy}" is not one of update-path, reinitialize` };
    if (!shellText(config.virtualenvtools_executable)) return { key: 'virtualenvtools_executable', message: 'virtualenvtools_executable is empty; give the virtualenv-tools command on the host' };
    const bad = venvPathProblem('virtualenvtools_venv_path', String(config.virtualenvtools_venv_path ?? ''), config);
    if (bad) return { key: 'virtualenvtools_venv_path', message: bad };
    return undefined;
  },
  on: {
    'deploy.updated': (ctx) => {
      const q = ctx.quote;
      const venv = posix.normalize(String(ctx.config.virtualenvtools_venv_path)).replace(/\/+$/, '');
      if (venvOutsideRelease(venv, ctx.paths.release)) {
        ctx.script('check venv path', `echo ${q(`virtualenvtools_venv_path ${venv} is not inside the release ${ctx.paths.release}`)} >&2; exit 1`);
        return;
      }
      const exe = commandWords(shellText(ctx.config.virtualenvtools_executable), q, 'fap-virtualenvtools');
      const lines = [
        // the tool rewrites files under the venv: never through a symlink that came with the release
        `if [ -L ${q(venv)} ] || [ -L ${q(posix.join(venv, 'bin'))} ]; then echo ${q(`${venv} (or its bin/) is a symlink in the release; refusing to relocate through it`)} >&2; exit 1; fi`,
        `[ -d ${q(posix.join(venv, 'bin'))} ] || { echo ${q(`no venv at ${venv} (virtualenvtools_venv_path): the release must bring one`)} >&2; exit 1; }`,
        // in a subshell: the cd must not carry over to the steps after this one
        '(',
        `cd ${q(ctx.paths.release)}`,
      ];
      if (ctx.config.virtualenvtools_strategy === 'reinitialize') {
        // fapistrano-0.9.5 virtualenvtools.py:19-20
        lines.push(`rm -f ${q(posix.join(venv, 'bin'))}/python*`, `${exe} --reinitialize ${q(venv)}`);
      } else {
        // fapistrano-0.9.5 virtualenvtools.py:17 (plus the venv as the path argument, see above)
        lines.push(`${exe} --update-path ${q(venv)} ${q(venv)}`);
      }
      lines.push(')');
      ctx.script(`relocate venv (${ctx.config.virtualenvtools_strategy === 'reinitialize' ? 'reinitialize' : 'update-path'})`, lines.join('\n'));
    },
  },
});

export default virtualenvtools;
