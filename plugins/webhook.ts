// A JSON POST from the deploying machine to a webhook (notify, slack). The URL is a secret (its
// path is often the token): every form of it is registered as one, and no error names it. The
// payload is redacted too, so secrets in host errors never leave the machine.
import { addSecret, redact } from '../src/signals.js';

/** The URL when it is an http(s) URL, else undefined (for check(): never echo the value). */
export function httpUrl(raw: string): URL | undefined {
  try {
    const u = new URL(raw);
    return /^https?:$/.test(u.protocol) ? u : undefined;
  } catch {
    return undefined;
  }
}

/** httpUrl, with the raw, normalised, path and password forms registered as secrets. */
export function secretUrl(raw: string): URL | undefined {
  if (raw) addSecret(raw);
  const u = httpUrl(raw);
  if (!u) return undefined;
  addSecret(u.href);
  if (u.pathname.length > 1) addSecret(u.pathname + u.search);
  if (u.password) addSecret(u.password);
  return u;
}

export interface PostOptions {
  /** what is sent, for messages: "deploy.finished not sent: ..." */
  label: string;
  /** who does not answer, for messages: "the webhook", "Slack" */
  answerer: string;
  /** the key that sets the timeout, named in the message */
  timeoutKey: string;
  timeoutSec: number;
  userAgent: string;
}

/** POST `payload`; throws an Error whose message never holds the URL when it is not accepted. */
export async function postJson(url: URL | string, payload: unknown, o: PostOptions): Promise<void> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, o.timeoutSec * 1000);
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': o.userAgent },
        body: redact(JSON.stringify(payload)),
        signal: controller.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
    } catch (e) {
      if (timedOut) throw new Error(`${o.label} not sent: ${o.answerer} did not answer within ${o.timeoutSec}s (${o.timeoutKey})`);
      const code = (e as { cause?: { code?: unknown } })?.cause?.code;
      throw new Error(`${o.label} not sent: the webhook could not be reached${typeof code === 'string' ? ` (${code})` : ''}`);
    }
    if (!res.ok) throw new Error(`${o.label} not accepted: the webhook answered ${res.status}${res.statusText ? ' ' + res.statusText : ''}`);
  } finally {
    clearTimeout(timer);
  }
}
