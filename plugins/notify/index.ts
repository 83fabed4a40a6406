// notify: when a deploy, release or rollback is over (finished or failed), POST a JSON summary to
// `notify_url` from the deploying machine. Other commands (restart, cleanup, unlock, run) change
// no release and send nothing. The URL is a secret: it is never printed, not even in the error
// that a failing webhook becomes (fap reports that as a warning; the deploy's outcome stands).
import { definePlugin, type PluginConfig, type RunSummary } from '../../src/signals.js';
import { httpUrl, postJson, secretUrl } from '../webhook.js';
import { keys } from './keys.js';

/** The event a command's outcome is sent as; undefined: the command does not notify. */
export function notifyEvent(command: string, ok: boolean): string | undefined {
  const kind = command === 'deploy' || command === 'release' ? 'deploy' : command === 'rollback' ? 'rollback' : undefined;
  return kind && `${kind}.${ok ? 'finished' : 'failed'}`;
}

export function notifyPayload(event: string, s: RunSummary, config: Pick<PluginConfig<typeof keys>, 'app_name'>): Record<string, unknown> {
  return {
    event,
    command: s.command,
    app: config.app_name,
    stage: s.stage,
    role: s.role ?? null,
    release: s.release ?? null,
    ok: s.ok,
    summary: s.summary,
    hosts: s.hosts.map((h) => ({ host: h.host, role: h.role, outcome: h.outcome, step: h.step, error: h.error, revision: h.revision })),
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    by: s.by,
  };
}

const notify = definePlugin({
  name: 'notify',
  api: '^1.0.0',
  keys,
  check(config) {
    const url = String(config.notify_url ?? '');
    if (!url) return { key: 'notify_url', message: 'the notify plugin needs "notify_url"' };
    // never echo the value: it is a secret
    if (!httpUrl(url)) return { key: 'notify_url', message: 'notify_url must be an http:// or https:// URL' };
    return undefined;
  },
  on: {},
  async result(summary, config) {
    const event = notifyEvent(summary.command, summary.ok);
    if (!event) return;
    const url = String(config.notify_url ?? '');
    if (!url) return;
    const target = secretUrl(url);
    if (!target) return; // check() refused it already
    await postJson(target, notifyPayload(event, summary, config), { label: event, answerer: 'the webhook', timeoutKey: 'notify_timeout', timeoutSec: Number(config.notify_timeout ?? 10), userAgent: 'fap-notify' });
  },
});

export default notify;
