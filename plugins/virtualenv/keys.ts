import type { KeySpec } from '../../src/config/schema.js';

export const keys: Record<string, KeySpec> = {
  virtualenv_requirements: { type: 'string', default: '%(release_path)s/requirements.txt', description: 'Requirements file installed into <release>/venv.' },
  virtualenv_executable: { type: 'string', default: 'python3', description: 'Python used to create the venv (python3 -m venv).' },
  virtualenv_upgrade_pip: { type: 'boolean', default: true, description: 'Upgrade pip in the new venv before installing.' },
  virtualenv_pip_options: { type: 'string', default: '', description: 'Extra pip install options (e.g. --no-index --find-links ...).' },
};
