// On a terminal: one spinner per phase with a host count, then one line per phase with its time.
import ora, { type Ora } from 'ora';
import { formatDuration } from '../duration.js';
import type { EventBus, LockWaiting } from '../events.js';
import { hostCount } from '../words.js';
import { heldLines, lineGrouper, plainLine, type ReporterOptions } from './plain.js';

export function attachTty(bus: EventBus, o: ReporterOptions): void {
  let spinner: Ora | undefined;
  let phase = '';
  let total = 0;
  // hosts, not events: a host whose lock is retried while waiting reports done more than once
  let done = new Set<string>();
  let waiting: { e: LockWaiting; since: number; timer: NodeJS.Timeout } | undefined;
  const stopWaiting = () => {
    if (waiting) clearInterval(waiting.timer);
    waiting = undefined;
  };
  /** While the lock is held by another run, the spinner says whom fap waits for and for how long. */
  const waitText = () => {
    if (!waiting) return;
    const waited = waiting.e.waitedMs + (Date.now() - waiting.since);
    const holder = waiting.e.holder.replace(/ since .*/, '');
    const where = waiting.e.hosts.length > 1 ? ` on ${hostCount(waiting.e.hosts)}` : '';
    if (spinner) spinner.text = `${phase}: waiting for ${holder}${where}: ${Math.floor(waited / 1000)} s of ${formatDuration(waiting.e.timeoutMs)}`;
  };
  bus.on((e) => {
    // lines said per host (and failures) wait to be grouped until the next event of another kind
    if (e.event !== 'heal' && e.event !== 'warning' && e.event !== 'log' && e.event !== 'host.failed') grouped.flush();
    switch (e.event) {
      case 'phase.started':
        stopWaiting();
        phase = e.phase;
        total = e.hosts;
        done = new Set();
        spinner = ora({ text: `${phase} (0/${total} hosts)`, stream: process.stderr, color: 'cyan', isEnabled: true, discardStdin: false }).start();
        return;
      case 'phase.finished': {
        stopWaiting();
        const text = `${phase}: ${e.ok}/${total} hosts (${(e.ms / 1000).toFixed(1)}s)`;
        if (e.failed) spinner?.fail(text);
        else if (o.phases === false) spinner?.stop();
        else spinner?.succeed(text);
        spinner = undefined;
        return;
      }
      case 'host.connected':
      case 'script':
        return;
      case 'host.done':
        done.add(e.host);
        if (spinner && !waiting) spinner.text = `${phase} (${Math.min(done.size, total)}/${total} hosts)`;
        return;
      case 'lock.waiting': {
        const first = !waiting;
        if (waiting) clearInterval(waiting.timer);
        waiting = { e, since: Date.now(), timer: setInterval(waitText, 1000) };
        waiting.timer.unref();
        waitText();
        // the first sight is also a line that stays: who holds the lock, since when, and why it is not taken over
        if (first) print(e);
        return;
      }
      default:
        print(e);
    }
  });
  function print(e: Parameters<typeof plainLine>[0]): void {
    grouped(e);
  }
  const grouped = lineGrouper(o, (line) => {
    if (spinner) spinner.clear();
    process.stderr.write(line + '\n');
    spinner?.render();
  });
  // lines held when fap ends without another event (an error thrown past the result)
  heldLines.add(grouped.flush);
}
