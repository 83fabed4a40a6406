// On a terminal: one spinner per phase with a host count, then one line per phase with its time.
import ora, { type Ora } from 'ora';
import type { EventBus } from '../events.js';
import { FailureGroups, plainLine, type ReporterOptions } from './plain.js';

export function attachTty(bus: EventBus, o: ReporterOptions): void {
  let spinner: Ora | undefined;
  let phase = '';
  let total = 0;
  let done = 0;
  const failures = new FailureGroups(o);
  const print = (line: string) => {
    if (spinner) spinner.clear();
    process.stderr.write(line + '\n');
    spinner?.render();
  };
  process.once('exit', () => failures.flush().forEach(print));
  bus.on((e) => {
    if (failures.hold(e)) return;
    failures.flush().forEach(print);
    switch (e.event) {
      case 'phase.started':
        phase = e.phase;
        total = e.hosts;
        done = 0;
        spinner = ora({ text: `${phase} (0/${total} hosts)`, stream: process.stderr, color: 'cyan', isEnabled: true, discardStdin: false }).start();
        return;
      case 'phase.finished': {
        const text = `${phase}: ${e.ok}/${total} hosts (${(e.ms / 1000).toFixed(1)}s)`;
        if (e.failed) spinner?.fail(text);
        else spinner?.succeed(text);
        spinner = undefined;
        return;
      }
      case 'host.connected':
      case 'script':
        return;
      case 'host.done':
        if (spinner) spinner.text = `${phase} (${++done}/${total} hosts)`;
        return;
      default: {
        const line = plainLine(e, o);
        if (line !== undefined) print(line);
      }
    }
  });
}
