// Reporters turn the event stream into output: JSON lines for machines, plain `[host] message`
// lines for CI logs (./plain.ts), an ora spinner per phase on a terminal (./tty.ts, loaded only then).
import type { EventBus } from '../events.js';
import { plainLine, type ReporterOptions } from './plain.js';

export async function attachReporter(bus: EventBus, o: ReporterOptions): Promise<void> {
  if (o.json) {
    bus.on((e) => {
      if (e.event === 'script' && !e.verbose) return;
      process.stdout.write(JSON.stringify(e) + '\n');
    });
    return;
  }
  // a terminal that reports no width (some pseudo-terminals) gets plain lines: spinners need columns
  if (o.tty && !o.quiet && !o.verbose && (process.stderr.columns ?? 0) > 0) {
    const { attachTty } = await import('./tty.js');
    attachTty(bus, o);
    return;
  }
  bus.on((e) => {
    const line = plainLine(e, o);
    if (line !== undefined) process.stderr.write(line + '\n');
  });
}
