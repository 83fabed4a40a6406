// fap releases: what every host has, side by side.
import { ago } from '../duration.js';
import { paint } from '../report/color.js';
import { visible } from '../report/plain.js';
import { phase } from './transaction.js';
import type { Target } from './plan.js';
import type { Run } from './run.js';
import { inspectSteps } from './scripts.js';
import { currentShown, parseState, unfinished, type HostState } from './state.js';

export interface HostReleases {
  host: string;
  role: string;
  state?: HostState;
  error?: string;
}

export async function listReleases(run: Run, targets: Target[]): Promise<HostReleases[]> {
  const results = await phase(run, 'inspect', targets, (t) => run.exec(t, 'inspect', inspectSteps(t.paths), { readOnly: true }));
  return results.map((r) => {
    if (r.ok) return { host: r.target.host.name, role: r.target.role, state: parseState(r.value.outputs) };
    // reported like any host's failure: with its hint (e.g. the sudoers line when sudo refused)
    run.reportFailure(r.target, r.error, 'inspect');
    return { host: r.target.host.name, role: r.target.role, error: r.error.message };
  });
}

/**
 * The table of fap releases: when each release was deployed relative to now ("5 min ago"; --json
 * keeps the absolute time), failed releases red and the current one green when colour is on.
 */
export function formatReleasesTable(rows: HostReleases[], o: { color?: boolean; now?: Date } = {}): string {
  const lines: string[][] = [['HOST', 'ROLE', 'RELEASE', 'REVISION', 'STATUS', 'CURRENT', 'DEPLOYED', 'BY']];
  const when = (at: string | undefined) => (at ? ago(new Date(at), o.now) || at : '');
  for (const h of rows) {
    if (!h.state) {
      // the reason goes under the table: in a column it widened every row (found by the attack pass)
      lines.push([h.host, h.role, '-', '-', 'unreadable', '', '', '']);
      continue;
    }
    if (!h.state.releases.length) lines.push([h.host, h.role, '(none)', '', '', '', '', '']);
    for (const r of h.state.releases) {
      lines.push([h.host, h.role, r.name, (r.revision ?? '-').slice(0, 12), r.status, r.name === h.state.current ? '*' : '', when(r.deployed_at), r.deployed_by ?? (r.made_by === 'fapistrano' ? '(Fapistrano)' : '')]);
    }
  }
  // what a host's files say is shown, not obeyed: its escape sequences cannot recolour the terminal
  for (const l of lines) for (let i = 0; i < l.length; i++) l[i] = visible(l[i]);
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const out = lines.map((l, row) =>
    l
      .map((c, i) => {
        const cell = c.padEnd(widths[i]);
        if (!row) return cell;
        if (i === 4 && (c === 'failed' || c === 'unreadable')) return paint(!!o.color, 'red', cell);
        if (i === 5 && c === '*') return paint(!!o.color, 'green', cell);
        return cell;
      })
      .join('  ')
      .trimEnd(),
  );
  const currents = new Set(rows.filter((r) => r.state).map((r) => currentShown(r.state!)));
  if (currents.size > 1) {
    out.push('', `warning: hosts disagree about current: ${rows.map((r) => `${r.host}=${r.state ? currentShown(r.state) : '(none)'}`).join(', ')}`);
  }
  for (const r of rows) {
    if (!r.state) out.push(`error: could not read ${r.host}: ${String(r.error ?? 'unknown error').replace(`${r.host}: `, '')}`);
    for (const j of r.state ? unfinished(r.state) : []) {
      out.push(`warning: an interrupted ${j.command} of ${j.release} (stopped at ${j.phase}) is left on ${r.host}; the next deploy, rollback or cleanup heals it first`);
    }
    if (r.state?.foreignCurrent) out.push(`warning: current on ${r.host} is ${r.state.foreignCurrent}, not a release: deploy and rollback refuse there until it points at one`);
  }
  return out.map((l, n) => (n < lines.length ? l : visible(l))).join('\n');
}
