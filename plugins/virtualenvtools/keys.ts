import type { KeySpec } from '../../src/signals.js';

export const keys = {
  virtualenvtools_strategy: {
    type: 'string',
    default: 'update-path',
    description: "How the venv that came with the release is moved to its new place: update-path (virtualenv-tools --update-path <venv> <venv>: rewrite its scripts' paths) or reinitialize (remove bin/python*, then virtualenv-tools --reinitialize <venv>).",
  },
  virtualenvtools_executable: { type: 'string', default: 'virtualenv-tools', description: 'The virtualenv-tools command on the host (one word, or a command line such as /opt/tools/bin/python -m virtualenv_tools).' },
  virtualenvtools_venv_path: { type: 'string', default: '%(release_path)s/venv', description: 'The venv inside the release to relocate; must be inside the release.' },
} as const satisfies Record<string, KeySpec>;
