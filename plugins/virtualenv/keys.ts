import type { KeySpec } from '../../src/signals.js';

export const keys = {
  virtualenv_requirements: { type: 'string', default: '%(release_path)s/requirements.txt', description: 'Requirements file installed into the venv (relative: to the release). The default one may be absent (install skipped); any other must exist. Empty: install nothing.' },
  virtualenv_executable: {
    type: 'string',
    description: 'Python that creates the venv (<this> -m venv <venv>). Default: python3. One word, quoted; with a space, a shell command line (/usr/bin/env python3.12). Not with virtualenv_executive.',
  },
  virtualenv_executive: {
    type: 'string',
    description: "Fapistrano: a command that creates the venv, run as <this> <venv> (e.g. '/usr/bin/env virtualenv', Fapistrano's default, or 'virtualenv -p python3.11'). Not with virtualenv_executable.",
  },
  virtualenv_venv_path: { type: 'string', default: '%(release_path)s/venv', description: 'Fapistrano: where the venv is built; must be inside the release. One that came with the code is used as it is (not rebuilt).' },
  virtualenv_activate: {
    type: 'string',
    default: 'source %(virtualenv_venv_path)s/bin/activate',
    description: "Fapistrano: shell run before each pip command. `source FILE` runs as POSIX `. FILE`; anything else runs under bash (as Fapistrano did), so the host needs bash. Empty: none (pip runs as <venv>/bin/python -m pip).",
  },
  virtualenv_upgrade_pip: { type: 'boolean', default: true, aliases: ['virtualenv_pip_upgrade'], description: 'Upgrade pip in the new venv before installing (uses virtualenv_pip_options, so the index must offer pip).' },
  virtualenv_pip_options: { type: 'string', default: '', description: 'Extra pip install options, as shell text split into words (e.g. --no-index --find-links /srv/wheels).' },
} as const satisfies Record<string, KeySpec>;
