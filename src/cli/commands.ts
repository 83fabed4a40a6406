// The command line's shape: names, arguments, options. Handlers live in actions.ts and are
// imported when a command runs, so start-up pays only for commander.
import type { Command } from 'commander';

const LOCK_WAIT = '--lock-wait <duration>';
const LOCK_WAIT_HELP = 'wait this long for a lock held by another run (30s, 5m) instead of exiting 3';

export function registerCommands(program: Command): void {
  program
    .command('init')
    .description('write a commented deploy.yml to start from')
    .option('--force', 'overwrite an existing file')
    .action(async (o, cmd) => (await import('./actions.js')).initAction(o, cmd));

  program
    .command('deploy')
    .description('build a new release on every selected host, publish it, clean up (-r ROLE alone: that role in every stage that has it, in turn)')
    .argument('[stage]')
    .argument('[role]')
    .option('--batch <n>', 'publish this many hosts at a time (or a percentage, 25%); a failing batch reverts the published ones')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).deployAction(stage, role, o, cmd));

  program
    .command('release')
    .description('the CI entry point: the deploy pipeline; with --curl-url or --artifact the hosts unpack that artifact instead of checking out git')
    .argument('[stage]')
    .argument('[role]')
    .option('--curl-url <url>', 'artifact every host downloads with curl (user:password in it is never printed)')
    .option('--curl-sha256 <hex>', 'expected sha256 of the artifact; a mismatch fails before anything is switched')
    .option('--artifact <path>', 'a local artifact (.tgz/.tar), uploaded over SFTP once per host')
    .option('--batch <n>', 'publish this many hosts at a time (or a percentage, 25%)')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).releaseAction(stage, role, o, cmd));

  program
    .command('restart')
    .description('run the restart signal on every host (the supervisorctl plugin restarts its programs)')
    .argument('[stage]')
    .argument('[role]')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).restartAction(stage, role, o, cmd));

  program
    .command('run')
    .description(
      'a one-off admin command in the current release on every selected host, with .env loaded. fap\'s stdin, when it is not a terminal, goes to every host (then end-of-file); ' +
        'a terminal\'s does not (the command reads end-of-file): use -i. fap exits with the code of the first host (in deploy.yml order) that did not exit 0 (255: the command could not run there) and names every such host',
    )
    .argument('<stage>')
    .argument('<role>')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-i, --tty', "interactive, on a terminal (manage.py shell, psql): one host, the role's first or the one --hosts names; needs a terminal on stdin")
    .usage('[-i] <stage> <role> -- <command...>')
    .action(async (stage, role, words, _o, cmd) => (await import('./actions.js')).runAction(stage, role, words, _o, cmd));

  program
    .command('once')
    .description("Fapistrano's name for fap run: one shell command (-c) in the current release on every host of the role, with .env loaded; exit code passed through")
    .argument('[stage]')
    .argument('[role]')
    .option('-c, --command <command>', 'the shell command line to run (one string, run by /bin/sh -c)')
    .usage('[stage] [role] -c <command>   (or -s <stage> -r <role> -c <command>)')
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).onceAction(stage, role, o, cmd));

  program
    .command('shell')
    .description(
      "an interactive shell in the current release on one host (the role's first, or the one --hosts names): a terminal, .env exported, venv/bin/activate sourced when present; " +
        'the login shell of the host user ($SHELL, else /bin/sh), as sudo_user when set; exit code is the shell\'s. Needs a terminal on stdin; for a command without one use fap once -c',
    )
    .argument('[stage]')
    .argument('[role]')
    .usage('[stage] [role]   (or -s <stage> -r <role>)')
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).shellAction(stage, role, _o, cmd));

  program
    .command('rollback')
    .description('point current back at the previous good release (or --to RELEASE) on every host')
    .argument('[stage]')
    .argument('[role]')
    .option('--to <release>', 'roll back (or forward) to this release')
    .option('--force', 'roll back even if the hosts disagree about current')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).rollbackAction(stage, role, o, cmd));

  program
    .command('cleanup')
    .description('prune every host to keep_releases (failed and abandoned builds first) and heal leftovers of interrupted runs')
    .argument('[stage]')
    .argument('[role]')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).cleanupAction(stage, role, o, cmd));

  program
    .command('check')
    .description('the doctor: connection and host key, deploy path, linked files in shared/, required tools and versions, free disk; read-only, no lock')
    .argument('[stage]')
    .argument('[role]')
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).checkAction(stage, role, _o, cmd));

  program
    .command('unlock')
    .description('remove the deploy lock on every selected host, whoever holds it (prints who held it)')
    .argument('[stage]')
    .argument('[role]')
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).unlockAction(stage, role, _o, cmd));

  program
    .command('config')
    .description('the resolved configuration of a stage and role, each value with where it came from; secrets shown as ***')
    .argument('[stage]')
    .argument('[role]')
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).configAction(stage, role, _o, cmd));

  program
    .command('releases')
    .description('table per host: release, revision, status, current marker, when, by whom')
    .argument('[stage]')
    .argument('[role]')
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).releasesAction(stage, role, _o, cmd));
}
