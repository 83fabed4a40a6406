// A third-party plugin (loaded by relative path, like any user's) that injects faults for tests:
// at `fault_signal`, on `fault_hosts` (all when empty), it adds `fault_action` to the host's script.
// {release_path}, {current_path} and {root} in the action are replaced.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = `
const signals = ['deploy.starting','deploy.started','deploy.updating','deploy.updated','deploy.publishing','deploy.published','deploy.finishing','deploy.finished','deploy.reverting','deploy.reverted','deploy.finishing_rollback','deploy.failed'];
export default {
  name: 'fault',
  keys: {
    fault_signal: { type: 'string', default: '', description: 'signal at which to inject' },
    fault_hosts: { type: 'list', default: [], description: 'hosts to inject on (all when empty)' },
    fault_action: { type: 'string', default: 'exit 1', description: 'shell text to inject' },
  },
  on: Object.fromEntries(signals.map((s) => [s, (ctx) => {
    if (ctx.config.fault_signal !== s) return;
    const hosts = ctx.config.fault_hosts || [];
    if (hosts.length && !hosts.includes(ctx.host)) return;
    const action = String(ctx.config.fault_action)
      .split('{release_path}').join(ctx.paths.release)
      .split('{current_path}').join(ctx.paths.current)
      .split('{root}').join(ctx.paths.root);
    ctx.script('injected fault', action);
  }])),
};
`;

/** Write the plugin next to a deploy file; returns the relative name for `plugins:`. */
export function writeFaultPlugin(dir: string): string {
  writeFileSync(join(dir, 'fault.mjs'), SOURCE);
  return './fault.mjs';
}
