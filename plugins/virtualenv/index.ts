// virtualenv (Fapistrano's fapistrano.virtualenv): on deploy.updated, build <release>/venv with
// `<virtualenv_executable> -m venv`, optionally upgrade pip, and install the requirements file.
// This runs in the prepare phase, before anything is switched: a failure here (a missing file,
// pip unable to resolve or build a requirement) fails the deploy on that host, and the transaction
// removes the unpublished release everywhere.
//
// Quoting: virtualenv_executable is one word (quoted) unless it contains whitespace, in which case
// it is a command line written in shell (`/usr/bin/env python3.12`, `sudo -u app python3`).
// virtualenv_pip_options is always shell text, split into words by the remote shell (so
// `--no-index --find-links /srv/wheels` is three words); paths fap computes are quoted.
import { posix } from 'node:path';
import type { Plugin, SignalContext } from '../../src/signals.js';
import { keys } from './keys.js';

const PIP = '-m pip install --disable-pip-version-check';

/** The requirements file on the host: '' means none; a relative path is relative to the release. */
export function requirementsPath(ctx: Pick<SignalContext, 'config' | 'paths'>): string {
  const req = String(ctx.config.virtualenv_requirements ?? '').trim();
  if (!req) return '';
  return posix.normalize(posix.isAbsolute(req) ? req : posix.join(ctx.paths.release, req));
}

/** Whether the requirements file is the conventional (default) one, which may be absent. */
function isDefaultRequirements(ctx: Pick<SignalContext, 'paths'>, req: string): boolean {
  return req === posix.normalize(posix.join(ctx.paths.release, 'requirements.txt'));
}

/** User shell text on one line (a newline would end the command it belongs to). */
function shellText(v: unknown): string {
  return String(v ?? '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

const virtualenv: Plugin = {
  name: 'virtualenv',
  api: '^1.1.0',
  keys,
  check(config) {
    if (!shellText(config.virtualenv_executable)) {
      return { key: 'virtualenv_executable', message: 'virtualenv_executable is empty; give the Python that creates the venv (e.g. python3)' };
    }
    return undefined;
  },
  on: {
    'deploy.updated': (ctx) => {
      const q = ctx.quote;
      const venv = posix.join(ctx.paths.release, 'venv');
      const python = q(posix.join(venv, 'bin', 'python'));
      const exe = shellText(ctx.config.virtualenv_executable);
      const exeWords = /\s/.test(exe) ? exe : q(exe);
      const options = shellText(ctx.config.virtualenv_pip_options);
      const opts = options ? ' ' + options : '';
      const req = requirementsPath(ctx);

      // A requirements file the user configured must exist: say so before spending time on the venv.
      if (req && !isDefaultRequirements(ctx, req)) {
        ctx.script(
          'check requirements',
          `[ -f ${q(req)} ] || { echo ${q(`requirements file ${req} (virtualenv_requirements) not found on this host`)} >&2; exit 1; }`,
        );
      }
      ctx.script('create venv', `${exeWords} -m venv ${q(venv)}`);
      if (ctx.config.virtualenv_upgrade_pip !== false) {
        ctx.script('upgrade pip', `${python} ${PIP} --upgrade pip${opts}`);
      }
      if (!req) {
        ctx.script('install requirements', ctx.remoteLog('virtualenv_requirements is empty; no requirements installed'));
      } else if (isDefaultRequirements(ctx, req)) {
        // the default file is optional: an app without requirements.txt still gets its venv
        ctx.script(
          'install requirements',
          [
            `if [ -f ${q(req)} ]; then`,
            `  ${python} ${PIP} -r ${q(req)}${opts}`,
            'else',
            `  ${ctx.remoteLog(`no ${req}; no requirements installed`)}`,
            'fi',
          ].join('\n'),
        );
      } else {
        ctx.script('install requirements', `${python} ${PIP} -r ${q(req)}${opts}`);
      }
    },
  },
};

export default virtualenv;
