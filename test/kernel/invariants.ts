// What must hold on the hosts after every command, whatever faults it met (issue 14's list):
// `current` is always a complete release; no lock remains after a command ends (unless fap itself
// was killed); hosts that finished a run agree on `current`; rollback never lands on a failed or
// rolled-back release; a failed run never changes shared/; no step of a superseded attempt starts
// after its successor took over. Each check returns what is wrong, in words, for the test to print.
import { isDeepStrictEqual } from 'node:util';
import { join, resolve } from 'node:path';
import { snapshot, view, type Fleet, type HostView, type Outcome } from './harness.js';

export interface Before {
  views: Map<string, HostView>;
  shared: Map<string, Record<string, string>>;
}

export function observe(fleet: Fleet): Before {
  return {
    views: new Map(fleet.hosts.map((h) => [h, view(fleet, h)])),
    shared: new Map(fleet.hosts.map((h) => [h, snapshot(fleet, join(fleet.root(h), 'shared'))])),
  };
}

/** `current`, where there is one, is a release directory that was completely built and recorded. */
export function currentComplete(fleet: Fleet, host: string): string[] {
  const v = view(fleet, host);
  if (v.currentTarget === undefined) return [];
  const root = fleet.root(host);
  const name = v.current!;
  const problems: string[] = [];
  // current is a relative link (releases/NAME) where it lives beside releases/
  const target = resolve(root, v.currentTarget);
  if (target !== join(root, 'releases', name)) problems.push(`current -> ${v.currentTarget}, not a release of ${root}`);
  else if (!fleet.files.exists(target)) problems.push(`current -> ${name}, which does not exist`);
  else {
    if (!fleet.files.exists(join(target, 'REVISION'))) problems.push(`current release ${name} has no REVISION (not fully built)`);
    if (!fleet.files.exists(join(root, '.fap', 'releases', `${name}.meta`))) problems.push(`current release ${name} was never recorded`);
  }
  return problems.map((p) => `${host}: ${p}`);
}

function lockOwner(fleet: Fleet, host: string): string {
  try {
    return fleet.files.read(join(fleet.root(host), '.fap', 'lock', 'owner'));
  } catch {
    return '';
  }
}

export function check(fleet: Fleet, out: Outcome, before: Before): string[] {
  const problems: string[] = [];
  const views = new Map(fleet.hosts.map((h) => [h, view(fleet, h)]));
  for (const h of fleet.hosts) problems.push(...currentComplete(fleet, h));
  // (a lock a killed run left stays until a command takes it over: one that stopped before reaching it does not)
  if (!out.killed) for (const [h, v] of views) if (v.locked && lockOwner(fleet, h).includes(`"token":"${out.token}"`)) problems.push(`${h}: the deploy lock remains after ${out.command} ended`);
  const ok = !!out.result?.ok && !out.error && !out.killed;
  if (ok && (out.command === 'deploy' || out.command === 'rollback')) {
    const currents = new Set([...views.values()].map((v) => v.current));
    if (currents.size > 1) problems.push(`${out.command} succeeded but hosts disagree on current: ${[...views].map(([h, v]) => `${h}=${v.current}`).join(', ')}`);
    if (out.command === 'deploy' && !currents.has(out.result!.release)) problems.push(`deploy of ${out.result!.release} succeeded but current is ${[...currents].join(', ')}`);
  }
  if (ok && out.command === 'rollback') {
    for (const [h, v] of views) {
      const s = v.current ? v.status[v.current] : undefined;
      if (s !== 'ok') problems.push(`${h}: rollback landed on ${v.current} whose status is ${s}`);
    }
  }
  if (!ok && !out.killed) {
    for (const h of fleet.hosts) {
      if (!isDeepStrictEqual(snapshot(fleet, join(fleet.root(h), 'shared')), before.shared.get(h))) problems.push(`${h}: the failed ${out.command} changed shared/`);
    }
  }
  for (const s of out.lateSteps) problems.push(`a superseded session ran a step after its successor took over: ${s}`);
  return problems;
}

/** After a command that ran without faults and succeeded: every host on the same current, nothing locked, no journal left open. */
export function settled(fleet: Fleet): string[] {
  const views = fleet.hosts.map((h) => [h, view(fleet, h)] as const);
  const problems: string[] = [];
  const currents = new Set(views.map(([, v]) => v.current));
  if (currents.size > 1) problems.push(`hosts disagree on current after a clean run: ${views.map(([h, v]) => `${h}=${v.current}`).join(', ')}`);
  for (const [h, v] of views) {
    if (v.locked) problems.push(`${h}: locked after a clean run`);
    for (const [r, s] of Object.entries(v.status)) if (s === 'building' && v.releases.includes(r)) problems.push(`${h}: release ${r} left "building" after a clean run`);
  }
  return problems;
}
