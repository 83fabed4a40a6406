import type { KeySpec } from '../../src/signals.js';

export const keys = {
  supervisor_program: { type: 'string', default: '%(app_name)s', description: 'Program (or group:*) restarted on publish and fap restart.' },
  supervisor_conf: { type: 'string', default: 'configs/supervisor_%(stage)s_%(role)s.conf', description: 'Program config, relative to the release (or absolute); linked to supervisor_target.' },
  supervisor_target: { type: 'string', default: '/etc/supervisor/conf.d/%(supervisor_program)s.conf', description: 'Where supervisord includes program configs from.' },
  supervisor_refresh: { type: 'boolean', default: false, description: 'reread/update supervisord config before restarting.' },
  supervisor_check_status: { type: 'boolean', default: false, description: 'Wait until the programs are RUNNING; a program that does not come up fails the deploy.' },
  supervisor_check_timeout: { type: 'integer', default: 30, min: 1, description: 'Seconds supervisor_check_status waits for RUNNING.' },
  supervisor_restart: { type: 'boolean', default: true, description: 'Restart the programs on publish.' },
  supervisor_output: { type: 'boolean', default: false, description: 'Show what supervisorctl answers (reread, update, restart, and the status with supervisor_check_status) as supervisorctl log lines; off: only when it fails (Fapistrano).' },
  supervisorctl_command: { type: 'string', default: 'supervisorctl', description: 'The supervisorctl command; may carry sudo or -c FILE.' },
} as const satisfies Record<string, KeySpec>;
