// supervisorctl (Fapistrano's keys): link the program config from the release to where supervisord
// includes it, and restart the programs when a release is published, restarted or put back — then,
// with supervisor_check_status, wait until they are RUNNING (a program that does not come up fails
// the deploy, which reverts it). With supervisor_output, what supervisorctl answers (reread, update,
// restart, and the status it came up with) is shown as this plugin's log lines, as Fapistrano's
// show('output') did (fapistrano-0.9.5 supervisorctl.py:33-45); otherwise only a failure shows it.
import { posix } from 'node:path';
import { definePlugin, type PluginConfig, type SignalContext } from '../../src/signals.js';
import { keys } from './keys.js';

/**
 * supervisorctl_command is a command line on purpose (it may carry sudo or -c FILE): it runs as
 * `sh -c '<command> "$@"'`, one quoted word of this script, so whatever it holds cannot change
 * the lines around it.
 */
function restartScript(ctx: SignalContext<PluginConfig<typeof keys>>): string {
  const q = ctx.quote;
  const c = ctx.config;
  const sc = 'fap_sc';
  const program = String(c.supervisor_program);
  const show = c.supervisor_output === true;
  const lines: string[] = [`fap_sc() { sh -c ${q(String(c.supervisorctl_command) + ' "$@"')} fap-supervisorctl "$@"; }`];
  // the answer is captured (a pipe would hide supervisorctl's exit status), then shown
  if (show) lines.push(`fap_show() { printf '%s\\n' "$1" | ${ctx.remoteLogLines()}; }`);
  const shown = (command: string) => [`if ! fap_out="$(${sc} ${command} 2>&1)"; then printf '%s\\n' "$fap_out" >&2; exit 1; fi`, 'fap_show "$fap_out"'];
  if (c.supervisor_refresh) lines.push(...(show ? [...shown('reread'), ...shown('update')] : [`${sc} reread >/dev/null`, `${sc} update`]));
  if (c.supervisor_restart !== false) {
    // a program supervisord has not read yet (a new host, a new program) needs reread/update first
    const hint = c.supervisor_refresh ? '' : `; case "$fap_out" in *'no such process'*) echo ${q(`supervisord does not know ${program} yet: deploy once with supervisor_refresh: true (or --supervisor-refresh=true) so it reads the new config`)} >&2;; esac`;
    lines.push(`if ! fap_out="$(${sc} restart ${q(program)} 2>&1)"; then printf '%s\\n' "$fap_out" >&2; echo ${q(`supervisorctl restart ${program} failed`)} >&2${hint}; exit 1; fi`);
    // supervisorctl before 4.0 exits 0 on errors: look at what it said too
    lines.push(`if printf '%s\\n' "$fap_out" | grep -q 'ERROR'; then printf '%s\\n' "$fap_out" >&2${hint}; exit 1; fi`);
    if (show) lines.push('fap_show "$fap_out"');
  }
  if (c.supervisor_check_status) {
    const timeout = Math.max(1, Number(c.supervisor_check_timeout));
    lines.push(
      `fap_deadline=$(( $(date +%s) + ${timeout} ))`,
      'while :; do',
      `  fap_st="$(${sc} status ${q(program)} 2>&1)" || true`,
      `  if printf '%s\\n' "$fap_st" | awk 'NF { n++; if ($2 != "RUNNING") bad = 1 } END { exit (bad || !n) }'; then break; fi`,
      `  if [ "$(date +%s)" -ge "$fap_deadline" ]; then printf '%s\\n' "$fap_st" >&2; echo ${q(`${program} is not RUNNING after ${timeout}s`)} >&2; exit 1; fi`,
      '  sleep 1',
      'done',
    );
    if (show) lines.push('fap_show "$fap_st"');
  }
  return lines.join('\n');
}

const supervisorctl = definePlugin({
  name: 'supervisorctl',
  api: '^1.3.0',
  keys,
  // a command line: fap check looks for its program, and for sudo when it starts with sudo
  tools: (c) => [String(c.supervisorctl_command ?? 'supervisorctl')],
  check(config) {
    if (!String(config.supervisorctl_command ?? '').trim()) return { key: 'supervisorctl_command', message: 'supervisorctl_command is empty' };
    if (!String(config.supervisor_program ?? '').trim()) return { key: 'supervisor_program', message: 'supervisor_program is empty' };
    return undefined;
  },
  on: {
    'deploy.updated': (ctx) => {
      const conf = String(ctx.config.supervisor_conf ?? '').trim();
      if (!conf) return;
      const q = ctx.quote;
      const inRelease = conf.startsWith('/') ? conf : posix.join(ctx.paths.release, conf);
      // the link goes through current, so it follows every flip (and rollback) by itself
      const linked = conf.startsWith('/') ? conf : posix.join(ctx.paths.current, conf);
      const target = String(ctx.config.supervisor_target);
      ctx.script(
        'supervisorctl: link program config',
        [
          `if [ ! -f ${q(inRelease)} ]; then echo ${q(`supervisor config ${conf} is not in the release (supervisor_conf)`)} >&2; exit 1; fi`,
          `mkdir -p ${q(posix.dirname(target))}`,
          `ln -sfn ${q(linked)} ${q(target)}`,
        ].join('\n'),
      );
    },
    'deploy.published': (ctx) => ctx.script('supervisorctl: restart programs', restartScript(ctx)),
    'deploy.restarting': (ctx) => ctx.script('supervisorctl: restart programs', restartScript(ctx)),
    // a failed deploy's revert; in a rollback deploy.reverted comes before the flip and the restart
    // is deploy.published's (fapistrano-0.9.5 deploy.py:83-90), so it would restart twice
    'deploy.reverted': (ctx) => {
      if (ctx.command !== 'rollback') ctx.script('supervisorctl: restart programs', restartScript(ctx));
    },
  },
});

export default supervisorctl;
