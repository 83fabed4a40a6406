import type { KeySpec } from '../../src/config/schema.js';

export const keys: Record<string, KeySpec> = {
  virtualenv_requirements: { type: 'string', default: '%(release_path)s/requirements.txt', description: 'Requirements file installed into <release>/venv (relative: to the release). The default one may be absent (install skipped); any other must exist. Empty: install nothing.' },
  virtualenv_executable: { type: 'string', default: 'python3', description: 'Python that creates the venv (<this> -m venv <release>/venv): one word, quoted; with a space, a shell command line (/usr/bin/env python3.12).' },
  virtualenv_upgrade_pip: { type: 'boolean', default: true, aliases: ['virtualenv_pip_upgrade'], description: 'Upgrade pip in the new venv before installing (uses virtualenv_pip_options, so the index must offer pip).' },
  virtualenv_pip_options: { type: 'string', default: '', description: 'Extra pip install options, as shell text split into words (e.g. --no-index --find-links /srv/wheels).' },
};
