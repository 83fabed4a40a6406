import type { KeySpec } from '../../src/signals.js';

export const keys = {
  localshared_source: { type: 'string', default: '', description: 'Directory on the host whose files are copied into shared/ when missing.' },
} as const satisfies Record<string, KeySpec>;
