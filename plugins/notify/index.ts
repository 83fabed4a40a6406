// notify: when a deploy, release or rollback is over (finished or failed), POST a JSON summary to
// `notify_url` from the deploying machine. Other commands (restart, cleanup, unlock, run) change
// no release and send nothing. The URL is a secret: it is never printed, not even in the error
// that a failing webhook becomes (fap reports that as a warning; the deploy's outcome stands).
import { hostname } from 'node:os';
import type { Plugin, RunSummary } from '../../src/signals.js';
import { localUser } from '../../src/release/plan.js';
import { addSecret, redact } from '../../src/redact.js';
import { keys } from './keys.js';

/** The event a command's outcome is sent as; undefined: the command does not notify. */
export function notifyEvent(command: string, ok: boolean): string | undefined {
  const kind = command === 'deploy' || command === 'release' ? 'deploy' : command === 'rollback' ? 'rollback' : undefined;
  return kind && `${kind}.${ok ? 'finished' : 'failed'}`;
}

export function notifyPayload(event: string, s: RunSummary, config: Readonly<Record<string, unknown>>): Record<string, unknown> {
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
    by: `${localUser()}@${hostname()}`,
  };
}

/** Why a request failed, in words that never contain the URL. */
function reason(e: unknown, timeoutSec: number, timedOut: boolean): string {
  if (timedOut) return `the webhook did not answer within ${timeoutSec}s (notify_timeout)`;
  const cause = (e as { cause?: { code?: unknown } })?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return `the webhook could not be reached${code ? ` (${code})` : ''}`;
}

const notify: Plugin = {
  name: 'notify',
  api: '^1.0.0',
  keys,
  check(config) {
    const url = String(config.notify_url ?? '');
    if (!url) return { key: 'notify_url', message: 'the notify plugin needs "notify_url"' };
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      /* below */
    }
    // never echo the value: it is a secret
    if (!parsed || !/^https?:$/.test(parsed.protocol)) return { key: 'notify_url', message: 'notify_url must be an http:// or https:// URL' };
    return undefined;
  },
  on: {},
  async result(summary, config) {
    const event = notifyEvent(summary.command, summary.ok);
    if (!event) return;
    const url = String(config.notify_url ?? '');
    if (!url) return;
    // the normalised form (and its path) are secret too, in case something echoes them
    try {
      const u = new URL(url);
      addSecret(u.href);
      if (u.pathname.length > 1) addSecret(u.pathname + u.search);
      if (u.password) addSecret(u.password);
    } catch {
      /* check() refused it already */
    }
    const timeoutSec = Number(config.notify_timeout ?? 10);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutSec * 1000);
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'fap-notify' },
          // secrets in host errors never leave the machine either
          body: redact(JSON.stringify(notifyPayload(event, summary, config))),
          signal: controller.signal,
        });
        await res.arrayBuffer().catch(() => undefined);
      } catch (e) {
        throw new Error(`${event} not sent: ${reason(e, timeoutSec, timedOut)}`);
      }
      if (!res.ok) throw new Error(`${event} not accepted: the webhook answered ${res.status}${res.statusText ? ' ' + res.statusText : ''}`);
    } finally {
      clearTimeout(timer);
    }
  },
};

export default notify;
