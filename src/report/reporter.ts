// Reporters turn the event stream into output: JSON lines for machines, plain `[host] message`
// lines for CI logs (./plain.ts), an ora spinner per phase on a terminal (./tty.ts, loaded only then).
import { EventBus, type ConfigErrorEntry, type StampedEvent } from '../events.js';
import { heldLines, lineGrouper, type ReporterOptions } from './plain.js';

/**
 * Print the lines reporters hold for grouping (what several hosts say alike): before fap's own
 * last words (an error at the boundary) and at exit, so nothing said before them comes after.
 */
export function flushReports(): void {
  for (const flush of heldLines) flush();
}
process.once('exit', flushReports);

/** --json: a `result` line has been written (the stream's last line) */
let resultWritten = false;

function writeJson(e: StampedEvent): void {
  if (e.event === 'script' && !e.verbose) return;
  if (e.event === 'result') resultWritten = true;
  process.stdout.write(JSON.stringify(e) + '\n');
}

/**
 * --json: the `result` line of a fap that ends before its command wrote one (a configuration or
 * usage error, a signal before or during a run): the stream's last line is always a result.
 */
export function finalJsonResult(command: string, exitCode: number, error?: string, errors?: ConfigErrorEntry[]): void {
  if (resultWritten) return;
  const bus = new EventBus();
  bus.on(writeJson);
  bus.emit({ event: 'result', ok: exitCode === 0, command, exitCode, hosts: [], error: error || undefined, ...(errors?.length ? { errors } : {}) });
}

export async function attachReporter(bus: EventBus, o: ReporterOptions): Promise<void> {
  if (o.json) {
    bus.on(writeJson);
    return;
  }
  // a terminal that reports no width (some pseudo-terminals) gets plain lines: spinners need columns
  // (a dry run has no phases to watch: its plan prints as lines)
  if (o.tty && !o.quiet && !o.verbose && !o.dryRun && (process.stderr.columns ?? 0) > 0) {
    const { attachTty } = await import('./tty.js');
    attachTty(bus, o);
    return;
  }
  const grouped = lineGrouper(o, (line) => process.stderr.write(line + '\n'));
  bus.on(grouped);
  // lines held when fap ends without another event (an error thrown past the result)
  heldLines.add(grouped.flush);
}
