// slack (Fapistrano's fapistrano.slack): when a deploy, release or rollback is over, post a
// Slack-compatible message {text, channel?, icon_emoji} to `slack_webhook` from the deploying
// machine. In Fapistrano slack only relayed what git2slack emitted; here it says itself what
// happened, in git2slack's words ("[app-stage] Rollback to ..."). The webhook URL carries a token
// in its path: it is a secret, never printed, not even in the warning a failed post becomes (the
// deploy's outcome stands).
import { definePlugin, type PluginConfig, type RunSummary } from '../../src/signals.js';
import { httpUrl, postJson, secretUrl } from '../webhook.js';
import { keys } from './keys.js';

/** what the message is made of */
type Config = Pick<PluginConfig<typeof keys>, 'app_name' | 'slack_channel' | 'slack_icon_emoji'>;

/** fapistrano-0.9.5 plugins/git2slack.py:47 _format_target: '{app_name}-{env}' (env: the stage) */
const target = (s: RunSummary, config: Config) => `[${String(config.app_name ?? '')}-${s.stage}]`;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The revision(s) the run's hosts report, or undefined when none did. */
function revisions(s: RunSummary): string | undefined {
  const revs = [...new Set(s.hosts.map((h) => h.revision).filter((r): r is string => !!r && r !== 'none'))];
  return revs.length ? revs.join(', ') : undefined;
}

/** The message for a finished command; undefined: the command posts nothing (restart, cleanup, ...). */
export function slackText(s: RunSummary, config: Config): string | undefined {
  const deploy = s.command === 'deploy' || s.command === 'release';
  if (!deploy && s.command !== 'rollback') return undefined;
  const what = deploy ? 'Deploy' : 'Rollback';
  const hosts = [...new Set(s.hosts.map((h) => h.host))];
  const rev = revisions(s);
  const rel = s.release ? `release ${s.release}` : undefined;
  if (s.ok) {
    // fapistrano-0.9.5 plugins/git2slack.py:33-38 "[%s] Rollback to %s"; :120 "[%s] Deploy to %s."
    const to = rev ? `${rev}${rel ? ` (${rel})` : ''}` : (rel ?? 'the chosen release');
    return `${target(s, config)} ${what} to ${to} on ${plural(hosts.length, 'host')}`;
  }
  const failed = [...new Set(s.hosts.filter((h) => h.outcome === 'failed').map((h) => h.host))];
  const bad = s.hosts.find((h) => h.outcome === 'failed' && h.error);
  // the first line of the first error, without the host name it starts with (the message names the hosts)
  const first = (bad?.error?.split('\n').find((l) => l.trim()) ?? '').replace(bad ? `${bad.host}: ` : '', '');
  const where = failed.length ? ` on ${failed.join(', ')}` : '';
  return `${target(s, config)} ${what}${rel ? ` of ${rel}` : ''} FAILED${where}${first ? `: ${first.trim()}` : ''}\n${s.summary}`;
}

export function slackPayload(text: string, config: Config): Record<string, unknown> {
  // fapistrano-0.9.5 plugins/slack.py:25-36: text, icon_emoji, and channel when slack_channel is set
  const payload: Record<string, unknown> = { text, icon_emoji: String(config.slack_icon_emoji || ':trollface:') };
  if (config.slack_channel) payload.channel = String(config.slack_channel);
  return payload;
}

const slack = definePlugin({
  name: 'slack',
  api: '^1.0.0',
  keys,
  check(config) {
    // never echo the value: it is a secret
    if (config.slack_webhook && !httpUrl(String(config.slack_webhook))) return { key: 'slack_webhook', message: 'slack_webhook must be an http:// or https:// URL' };
    return undefined;
  },
  on: {},
  async result(summary, config) {
    const text = slackText(summary, config);
    if (!text) return;
    if (!config.slack_webhook) throw new Error('slack_webhook is not set; nothing was posted');
    // every form of the URL is secret (the token is its path), in case something echoes it
    const url = secretUrl(String(config.slack_webhook));
    if (!url) throw new Error('slack_webhook is not an http(s) URL; nothing was posted');
    await postJson(url, slackPayload(text, config), { label: 'message', answerer: 'Slack', timeoutKey: 'slack_timeout', timeoutSec: Number(config.slack_timeout ?? 10), userAgent: 'fap-slack' });
  },
});

export default slack;
