// virtualenv (Fapistrano's fapistrano.virtualenv): on deploy.updated, build the venv
// (virtualenv_venv_path, <release>/venv) unless the code brought one, with `<virtualenv_executable>
// -m venv <venv>` or Fapistrano's `<virtualenv_executive> <venv>`, optionally upgrade pip, and
// install the requirements file, each pip command after virtualenv_activate (../python-env.ts).
// This runs in the prepare phase, before anything is switched: a failure here (a missing file,
// pip unable to resolve or build a requirement) fails the deploy on that host, and the transaction
// removes the unpublished release everywhere.
//
// Quoting: virtualenv_executable is one word (quoted) unless it contains whitespace, in which case
// it is a command line written in shell (`/usr/bin/env python3.12`, `sudo -u app python3`), run
// as `sh -c '<command> "$@"'` so it stays one quoted word of the script. virtualenv_pip_options is
// split into words here with the shell's quoting rules (so `--no-index --find-links /srv/wheels`
// is three words) and each word is quoted (../shell-words.ts); paths fap computes are quoted.
import { posix } from 'node:path';
import { definePlugin } from '../../src/signals.js';
import { keys } from './keys.js';
import { activateNeedsBash, commandWords, pipOptions, pipOptionsProblem, requirementsSteps, shellText, venvOutsideRelease, venvPathProblem, withActivate } from '../python-env.js';

const PIP = '-m pip install --disable-pip-version-check';

const virtualenv = definePlugin({
  name: 'virtualenv',
  api: '^1.3.0',
  keys,
  // fapistrano-0.9.5 virtualenv.py:29 `%(virtualenv_executive)s <venv>` (e.g. /usr/bin/env virtualenv), else fap's
  // <python> -m venv; an activate other than `source FILE` runs under bash
  tools: (c) => [
    String(c.virtualenv_executive ?? c.virtualenv_executable ?? 'python3'),
    activateNeedsBash(c.virtualenv_activate, c.virtualenv_venv_path ? [`${String(c.virtualenv_venv_path)}/bin/activate`, posix.join(String(c.virtualenv_venv_path), 'bin', 'activate')] : []) ? 'bash' : undefined,
  ],
  check(config) {
    const executive = config.virtualenv_executive;
    if (executive !== undefined && executive !== null) {
      if (config.virtualenv_executable !== undefined && config.virtualenv_executable !== null) {
        return { key: 'virtualenv_executive', message: 'set virtualenv_executive (Fapistrano: a command run as <it> <venv>) or virtualenv_executable (a Python run as <it> -m venv <venv>), not both' };
      }
      if (!shellText(executive)) return { key: 'virtualenv_executive', message: "virtualenv_executive is empty; give the command that creates the venv (e.g. '/usr/bin/env virtualenv')" };
    } else if (config.virtualenv_executable !== undefined && !shellText(config.virtualenv_executable)) {
      return { key: 'virtualenv_executable', message: 'virtualenv_executable is empty; give the Python that creates the venv (e.g. python3)' };
    }
    const bad = venvPathProblem('virtualenv_venv_path', String(config.virtualenv_venv_path ?? ''), config);
    if (bad) return { key: 'virtualenv_venv_path', message: bad };
    return pipOptionsProblem(config, 'virtualenv_pip_options');
  },
  on: {
    'deploy.updated': (ctx) => {
      const q = ctx.quote;
      const venv = posix.normalize(String(ctx.config.virtualenv_venv_path ?? posix.join(ctx.paths.release, 'venv'))).replace(/\/+$/, '');
      if (venvOutsideRelease(venv, ctx.paths.release)) {
        ctx.script('check venv path', `echo ${q(`virtualenv_venv_path ${venv} is not inside the release ${ctx.paths.release}`)} >&2; exit 1`);
        return;
      }
      const python = q(posix.join(venv, 'bin', 'python'));
      const executive = ctx.config.virtualenv_executive !== undefined && ctx.config.virtualenv_executive !== null ? shellText(ctx.config.virtualenv_executive) : '';
      // fapistrano-0.9.5 virtualenv.py:29 `%(virtualenv_executive)s %(virtualenv_venv_path)s`; fap's own: <python> -m venv <venv>
      const create = executive ? `${commandWords(executive, q, 'fap-virtualenv')} ${q(venv)}` : `${commandWords(shellText(ctx.config.virtualenv_executable ?? 'python3'), q, 'fap-virtualenv')} -m venv ${q(venv)}`;
      const pip = (args: string) => withActivate(String(ctx.config.virtualenv_activate ?? ''), [posix.join(venv, 'bin', 'activate'), `${String(ctx.config.virtualenv_venv_path)}/bin/activate`], `${python} ${PIP} ${args}`, q, 'fap-virtualenv').line;
      const requirements = requirementsSteps(ctx, 'virtualenv_requirements', pip, pipOptions(ctx, 'virtualenv_pip_options'));
      // A requirements file the user configured must exist: say so before spending time on the venv.
      if (requirements.check) ctx.script('check requirements', requirements.check);
      // a venv symlink that came with the code would have the venv built wherever it points
      ctx.script(
        'create venv',
        [
          `if [ -L ${q(venv)} ]; then echo ${q(`${venv} is a symlink in the release; refusing to build the venv through it`)} >&2; exit 1; fi`,
          // fapistrano-0.9.5 virtualenv.py:28: a venv that came with the code is kept
          `if [ -e ${q(venv)} ]; then ${ctx.remoteLog(`${venv} came with the release; using it as it is`)}; else ${create}; fi`,
        ].join('\n'),
      );
      if (ctx.config.virtualenv_upgrade_pip !== false) ctx.script('upgrade pip', pip(`--upgrade pip${pipOptions(ctx, 'virtualenv_pip_options')}`));
      // the default requirements.txt is optional: an app without one still gets its venv
      ctx.script('install requirements', requirements.install);
    },
  },
});

export default virtualenv;
