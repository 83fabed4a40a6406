import type { KeySpec } from '../../src/signals.js';

// fapistrano-0.9.5 plugins/slack.py: env.slack_webhook, env.slack_channel; icon_emoji defaults to ':trollface:' (slack.py:19, :31)
export const keys = {
  slack_webhook: { type: 'string', secret: true, description: 'Slack incoming-webhook URL that receives a message when a deploy, release or rollback finishes or fails (a secret).' },
  slack_channel: { type: 'string', description: 'Channel to post to (#deploys), instead of the webhook\'s own.' },
  slack_icon_emoji: { type: 'string', default: ':trollface:', description: 'The message\'s icon_emoji.' },
  slack_timeout: { type: 'integer', default: 10, min: 1, description: 'Seconds to wait for the Slack webhook.' },
} as const satisfies Record<string, KeySpec>;
