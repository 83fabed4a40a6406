// One event stream feeds every reporter (TTY, plain lines, JSON lines). Text is redacted here,
// once, so no reporter can leak a secret.
import { redact } from './redact.js';

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
    const stamped = JSON.parse(redact(JSON.stringify({ ts: new Date().toISOString(), ...e }))) as FapEvent & { ts: string };
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
