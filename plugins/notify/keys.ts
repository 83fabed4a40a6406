import type { KeySpec } from '../../src/signals.js';

export const keys = {
  notify_url: { type: 'string', secret: true, description: 'Webhook that receives a JSON summary when a deploy finishes or fails.' },
  notify_timeout: { type: 'integer', default: 10, min: 1, description: 'Seconds to wait for the webhook.' },
} as const satisfies Record<string, KeySpec>;
