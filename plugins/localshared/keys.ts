import type { KeySpec } from '../../src/signals.js';

export const keys: Record<string, KeySpec> = {
  localshared_source: { type: 'string', default: '', description: 'Directory on the host whose files are copied into shared/ when missing.' },
};
