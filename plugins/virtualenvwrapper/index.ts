// virtualenvwrapper (Fapistrano's fapistrano.virtualenvwrapper): on deploy.updated, make the
// project's venv with mkvirtualenv when it is missing, upgrade pip, and install the release's
// requirements into it. As in Fapistrano, this is ONE venv shared by all releases and changed in
// place before publish: the live release sees the new packages at once, and a rollback keeps
// them (the key descriptions say so). The virtualenv plugin gives each release its own venv.
//
// mkvirtualenv is a bash function of virtualenvwrapper.sh: it runs as `bash -c 'source "$1" &&
// mkvirtualenv "$2"'` with the paths as arguments, WORKON_HOME set to the project's directory so
// the venv lands exactly at virtualenvwrapper_project.
import { posix } from 'node:path';
import { definePlugin, type PluginConfig } from '../../src/signals.js';
import { keys } from './keys.js';
import { pipOptions, pipOptionsProblem, requirementsSteps, withActivate } from '../python-env.js';

const PIP = '-m pip install --disable-pip-version-check';

const project = (config: PluginConfig<typeof keys>) => posix.normalize(String(config.virtualenvwrapper_project ?? '').trim()).replace(/\/+$/, '');

const virtualenvwrapper = definePlugin({
  name: 'virtualenvwrapper',
  api: '^1.3.0',
  keys,
  // mkvirtualenv is a bash function of virtualenvwrapper.sh (fapistrano-0.9.5 virtualenvwrapper.py:30 `source ... && mkvirtualenv`)
  tools: () => ['bash'],
  check(config) {
    const p = String(config.virtualenvwrapper_project ?? '').trim();
    if (!p.startsWith('/') || project(config) === '/') return { key: 'virtualenvwrapper_project', message: `virtualenvwrapper_project must be an absolute path to the venv on the host, got "${p}"` };
    const src = String(config.virtualenvwrapper_source ?? '').trim();
    if (!src.startsWith('/')) return { key: 'virtualenvwrapper_source', message: `virtualenvwrapper_source must be the absolute path of virtualenvwrapper.sh on the host, got "${src}"` };
    return pipOptionsProblem(config, 'virtualenvwrapper_pip_options');
  },
  on: {
    'deploy.updated': (ctx) => {
      const q = ctx.quote;
      const c = ctx.config;
      const venv = project(c);
      const src = String(c.virtualenvwrapper_source).trim();
      const python = q(posix.join(venv, 'bin', 'python'));
      const opts = pipOptions(ctx, 'virtualenvwrapper_pip_options');
      const pip = (args: string) => withActivate(String(c.virtualenvwrapper_activate ?? ''), [posix.join(venv, 'bin', 'activate'), `${String(c.virtualenvwrapper_project)}/bin/activate`], `${python} ${PIP} ${args}`, q, 'fap-virtualenvwrapper').line;
      const requirements = requirementsSteps(ctx, 'virtualenvwrapper_requirements', pip, opts);
      if (requirements.check) ctx.script('check requirements', requirements.check);
      // fapistrano-0.9.5 virtualenvwrapper.py:29-30: mkvirtualenv only when the project's venv is missing
      ctx.script(
        'mkvirtualenv',
        [
          `if [ -e ${q(venv)} ]; then`,
          `  ${ctx.remoteLog(`using the shared venv ${venv} (changed in place: a rollback keeps what this deploy installs)`)}`,
          'else',
          `  [ -f ${q(src)} ] || { echo ${q(`virtualenvwrapper_source ${src} not found on this host (Debian: /usr/share/virtualenvwrapper/virtualenvwrapper.sh)`)} >&2; exit 1; }`,
          `  mkdir -p ${q(posix.dirname(venv))}`,
          `  WORKON_HOME=${q(posix.dirname(venv))} bash -c 'source "$1" && mkvirtualenv "$2"' fap-virtualenvwrapper ${q(src)} ${q(posix.basename(venv))}`,
          `  [ -x ${python} ] || { echo ${q(`mkvirtualenv did not make a venv at ${venv}`)} >&2; exit 1; }`,
          'fi',
        ].join('\n'),
      );
      // fapistrano-0.9.5 virtualenvwrapper.py:35 pip install -U pip setuptools wheel
      if (c.virtualenvwrapper_pip_upgrade !== false) ctx.script('upgrade pip', pip(`--upgrade pip setuptools wheel${opts}`));
      ctx.script('install requirements', requirements.install);
    },
  },
});

export default virtualenvwrapper;
