// One event stream feeds every reporter (TTY, plain lines, JSON lines). Text is redacted here,
// once, so no reporter can leak a secret: each string of the event, not its JSON text, so every
// form of a secret is found and the event stays valid JSON whatever the secret holds.
import { redactDeep } from './redact.js';

export interface FapEvent {
  event: string;
  host?: string;
  [key: string]: unknown;
}

export type Listener = (e: FapEvent & { ts: string }) => void;

export class EventBus {
  private readonly listeners: Listener[] = [];

  on(listener: Listener): void {
    this.listeners.push(listener);
  }

  emit(e: FapEvent): void {
    // the JSON round trip gives listeners a plain copy (no Maps, no undefined) they cannot share
    const stamped = redactDeep(JSON.parse(JSON.stringify({ ts: new Date().toISOString(), ...e }))) as FapEvent & { ts: string };
    for (const l of this.listeners) l(stamped);
  }
}

/** Outcome of one host in a run, reported in the final `result` event. */
export type HostOutcome =
  | 'deployed'
  | 'rolled-back'
  | 'unchanged'
  | 'failed'
  | 'reverted'
  | 'ok';
