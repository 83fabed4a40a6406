// The command line's shape: names, arguments, options. Handlers live in actions.ts and are
// imported when a command runs, so start-up pays only for commander.
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

const STAGE = 'a stage of the deploy file (production): a key of stage_role_configs; or -s STAGE';
const ROLE = 'one role of the stage (web); default: every role of it; or -r ROLE';

/** 1-3 examples under a command's help */
const examples = (...lines: [command: string, what: string][]): string => {
  const width = Math.max(...lines.map(([c]) => c.length));
  return ['', 'Examples:', ...lines.map(([c, what]) => `  ${c.padEnd(width)}   # ${what}`)].join('\n');
};

const LOCK_WAIT = '--lock-wait <duration>';
const LOCK_WAIT_HELP = 'wait this long for a lock held by another run (30s, 5m) instead of exiting 3';

/**
 * fap run's words: the stage and role are what comes before `--` (at most two), the command what
 * comes after it, so a command's first word is never taken for a missing role. Without `--`, the
 * third word on is the command. commander passes the words after `--` as operands like any other,
 * so where `--` was is read off the command line as given.
 */
export function runWords(cmd: Command): { stage?: string; role?: string; words: string[] } {
  const operands = cmd.args;
  // commander keeps the line it parsed (undocumented but long-standing; cli-usage.test.ts holds it to that)
  const raw = (cmd.parent as (Command & { rawArgs?: string[] }) | null)?.rawArgs ?? [];
  const dash = raw.indexOf('--');
  const after = dash < 0 ? -1 : Math.min(raw.length - dash - 1, operands.length);
  const before = after < 0 ? operands.slice(0, 2) : operands.slice(0, operands.length - after);
  const words = after < 0 ? operands.slice(2) : operands.slice(operands.length - after);
  if (before.length > 2) {
    throw new UsageError(`fap run takes a stage and a role before --, and got ${before.length} words: ${before.join(' ')}`, `the command goes after --: fap run ${before.slice(0, 2).join(' ')} -- ${[...before.slice(2), ...words].join(' ')}`);
  }
  return { stage: before[0], role: before[1], words };
}

/** A word as a shell reads it back: quoted when it holds anything but plain characters. */
const shellWord = (w: string): string => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/**
 * fap once takes its command with -c and fap shell takes none: words after `--` are a command meant
 * for fap run, never the stage or role (found by the attack pass: `fap once -s production -r web --
 * hostname` said the role was given twice). `before`: the words before `--`, command name included.
 */
export function commandAfterDash(command: string, before: string[], after: string[]): UsageError | undefined {
  if (!after.length || (command !== 'once' && command !== 'shell')) return undefined;
  const line = after.map(shellWord).join(' ');
  // the line as given, with the command named and no -c of its own (the hints give one)
  const at = before.indexOf(command);
  const rest = before.filter((w, i) => !(i > at && (/^(-c|--command)(=|$)|^-c./.test(w) || (/^(-c|--command)$/.test(before[i - 1]) && i - 1 > at))));
  const as = (name: string, tail: string) => ['fap', ...rest.map((w, i) => (i === at ? name : shellWord(w))), tail].join(' ');
  // -c takes one shell command line: the words as the shell gave them to fap, quoted for that line
  // (joined bare, 'rm -rf /srv/my app/tmp' named two paths: found by the attack pass)
  const once = as('once', `-c ${shellWord(line)}`);
  const run = as('run', `-- ${line}`);
  if (command === 'once') return new UsageError(`fap once takes its command with -c, not after --: ${line}`, `${once} (fap run takes it after --: ${run})`);
  return new UsageError(`fap shell takes no command, and got one after --: ${line}`, `for one command: ${once} or ${run}`);
}

export function registerCommands(program: Command): void {
  program
    .command('init')
    .description('write a commented deploy.yml to start from')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', examples(['fap init', 'deploy.yml here, to edit'], ['fap -f ops/deploy.yml init', 'somewhere else']))
    .action(async (o, cmd) => (await import('./actions.js')).initAction(o, cmd));

  program
    .command('deploy')
    .description('build a new release on every selected host, publish it, clean up (-r ROLE alone: that role in every stage that has it, in turn)')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .option('--batch <n>', 'publish this many hosts at a time (or a percentage, 25%); a failing batch reverts the published ones')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .addHelpText('after', examples(['fap deploy production', 'every role of production'], ['fap deploy production web --batch 25%', 'one role, a quarter of its hosts at a time'], ['fap deploy staging --set branch=feature-x', 'another branch, this once']))
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).deployAction(stage, role, o, cmd));

  program
    .command('release')
    .description('the CI entry point: the deploy pipeline; with --curl-url or --artifact the hosts unpack that artifact instead of checking out git')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .option('--curl-url <url>', 'artifact every host downloads with curl (user:password in it is never printed)')
    .option('--curl-sha256 <hex>', 'expected sha256 of the artifact; a mismatch fails before anything is switched')
    .option('--artifact <path>', 'a local artifact (.tgz/.tar), uploaded over SFTP once per host')
    .option('--batch <n>', 'publish this many hosts at a time (or a percentage, 25%)')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .addHelpText('after', examples(['fap release production --curl-url https://ci/build.tgz --curl-sha256 <hex>', 'an artifact every host downloads'], ['fap release production web --artifact ./build.tgz', 'uploaded over SFTP']))
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).releaseAction(stage, role, o, cmd));

  program
    .command('restart')
    .description('run the restart signal on every host (the supervisorctl plugin restarts its programs)')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .addHelpText('after', examples(['fap restart production', 'every role'], ['fap restart production worker', 'one role']))
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).restartAction(stage, role, o, cmd));

  program
    .command('run')
    .description(
      'a one-off admin command in the current release on every selected host, with .env loaded. fap\'s stdin, when it is not a terminal, goes to every host (then end-of-file); ' +
        'a terminal\'s does not (the command reads end-of-file): use -i. fap exits with the code of the first host (in deploy.yml order) that did not exit 0 (255: the command could not run there) and names every such host',
    )
    // optional here so -s/-r can give them (as for every command); runAction asks for what is missing
    .argument('[stage]', STAGE)
    .argument('[role]', 'the role whose hosts run it (web); or -r ROLE')
    .argument('[command...]', 'the command and its arguments, after -- (run in the current release by the host\'s shell)')
    .option('-i, --tty', "interactive, on a terminal (manage.py shell, psql): one host, the role's first or the one --hosts names; needs a terminal on stdin")
    .usage('[-i] <stage> <role> -- <command...>   (or -s <stage> -r <role> -- <command...>)')
    .addHelpText('after', examples(['fap run production web -- python manage.py migrate', 'on every web host'], ['echo "select 1" | fap run production db -- psql', 'stdin goes to every host'], ['fap run -i production web -- python manage.py shell', 'interactive, on one host']))
    .action(async (_stage, _role, _words, o, cmd) => {
      const { stage, role, words } = runWords(cmd);
      return (await import('./actions.js')).runAction(stage, role, words, o, cmd);
    });

  program
    .command('once')
    .description("Fapistrano's name for fap run: one shell command (-c) in the current release on every host of the role, with .env loaded; exit code passed through")
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .option('-c, --command <command>', 'the shell command line to run (one string, run by /bin/sh -c)')
    .usage('[stage] [role] -c <command>   (or -s <stage> -r <role> -c <command>)')
    .addHelpText('after', examples(['fap once -s production -r web -c "python manage.py migrate"', 'as Fapistrano spelled it']))
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).onceAction(stage, role, o, cmd));

  program
    .command('shell')
    .description(
      "an interactive shell in the current release on one host (the role's first, or the one --hosts names): a terminal, .env exported, venv/bin/activate sourced when present; " +
        'the login shell of the host user ($SHELL, else /bin/sh), as sudo_user when set; exit code is the shell\'s. Needs a terminal on stdin; for a command without one use fap once -c',
    )
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .usage('[stage] [role]   (or -s <stage> -r <role>)')
    .addHelpText('after', examples(['fap shell production web', 'on the first web host'], ['fap shell production web --hosts app-web02', 'on that one']))
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).shellAction(stage, role, _o, cmd));

  program
    .command('rollback')
    .description('point current back at the previous good release (or --to RELEASE) on every host')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .option('--to <release>', 'roll back (or forward) to this release')
    .option('--force', 'roll back even if the hosts disagree about current')
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .addHelpText('after', examples(['fap rollback production', 'to the previous good release'], ['fap rollback production --to 20261124213506', 'to a named release (fap releases lists them)'], ['fap rollback production --to 20261124213506 --force', 'mend hosts that disagree about current']))
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).rollbackAction(stage, role, o, cmd));

  program
    .command('cleanup')
    .description('prune every host to keep_releases (failed and abandoned builds first) and heal leftovers of interrupted runs')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .option(LOCK_WAIT, LOCK_WAIT_HELP)
    .addHelpText('after', examples(['fap cleanup production', 'prune and heal every host of production']))
    .action(async (stage, role, o, cmd) => (await import('./actions.js')).cleanupAction(stage, role, o, cmd));

  program
    .command('check')
    .description('the doctor: connection and host key, deploy path, linked files in shared/, required tools and versions, free disk; read-only, no lock')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .addHelpText('after', examples(['fap check production', 'can every host of production be deployed to?'], ['fap --json check production web', 'the same as JSON lines']))
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).checkAction(stage, role, _o, cmd));

  program
    .command('unlock')
    .description('remove the deploy lock on every selected host, whoever holds it (prints who held it)')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .addHelpText('after', examples(['fap unlock production', 'prints whose lock it was']))
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).unlockAction(stage, role, _o, cmd));

  program
    .command('config')
    .description('the resolved configuration of a stage and role, each value with where it came from; secrets shown as ***')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .addHelpText('after', examples(['fap config production web', 'every value and where it came from'], ['fap config staging --set keep_releases=3', 'what an override changes']))
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).configAction(stage, role, _o, cmd));

  program
    .command('releases')
    .description('table per host: release, revision, status, current marker, when, by whom')
    .argument('[stage]', STAGE)
    .argument('[role]', ROLE)
    .addHelpText('after', examples(['fap releases production', 'every host of production'], ['fap releases production web --hosts app-web01', 'one host']))
    .action(async (stage, role, _o, cmd) => (await import('./actions.js')).releasesAction(stage, role, _o, cmd));
}
