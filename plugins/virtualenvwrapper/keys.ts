import type { KeySpec } from '../../src/signals.js';

// One venv shared by every release, changed in place on each deploy (as Fapistrano did): a rollback
// does not take its packages back. The descriptions say so where a user reads them.
export const keys = {
  virtualenvwrapper_source: { type: 'string', default: '/usr/local/bin/virtualenvwrapper.sh', description: "virtualenvwrapper.sh on the host, sourced (in bash) to run mkvirtualenv. Debian's package has it at /usr/share/virtualenvwrapper/virtualenvwrapper.sh." },
  virtualenvwrapper_home: { type: 'string', default: '/home/%(user)s/.virtualenvs', description: "virtualenvwrapper's WORKON_HOME: where the project's venv lives by default." },
  virtualenvwrapper_project: {
    type: 'string',
    default: '%(virtualenvwrapper_home)s/%(app_name)s',
    description:
      'The venv every release uses (made with mkvirtualenv when missing). It is ONE venv shared by all releases and changed in place by each deploy: a rollback keeps the packages the newer deploy installed (Fapistrano behaved so). For a venv per release, use the virtualenv plugin.',
  },
  virtualenvwrapper_pip_upgrade: { type: 'boolean', default: true, description: 'Upgrade pip, setuptools and wheel in the shared venv on each deploy (uses virtualenvwrapper_pip_options, so the index must offer them).' },
  virtualenvwrapper_requirements: {
    type: 'string',
    default: '%(release_path)s/requirements.txt',
    description: 'Requirements installed into the shared venv on each deploy, before publish (the live release sees them at once). The default file may be absent (install skipped); any other must exist. Empty: install nothing.',
  },
  virtualenvwrapper_activate: {
    type: 'string',
    default: 'source %(virtualenvwrapper_project)s/bin/activate',
    description: 'Shell run before each pip command: `source FILE` runs as POSIX `. FILE`; anything else under bash. Empty: none.',
  },
  virtualenvwrapper_pip_options: { type: 'string', default: '', description: 'Extra pip install options (fap), as shell text split into words (e.g. --no-index --find-links /srv/wheels).' },
} as const satisfies Record<string, KeySpec>;
