// commander wiring and the one error boundary: typed errors become a one-line message and the
// exit code of CONTRACT.md; anything else is a bug and shows its stack.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, ConfigErrors, EXIT, FapError, MAX_CONFIG_ERRORS, UsageError } from '../errors.js';
import { visible } from '../report/plain.js';
import { redact } from '../redact.js';
import { commandAfterDash, registerCommands } from './commands.js';
import { jsonWanted, setLastWords } from './interrupt.js';
import { finalJsonResult, flushReports } from '../report/reporter.js';
import type { ConfigErrorEntry } from '../events.js';
import { argvSpec, hostList, keyOptionCandidates, oneValue, rewriteArgv, type ArgvSpec } from './argv.js';
import { deployfileIfAny } from './deployfile.js';
import { suggest } from '../suggest.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program: Command = new Command('fap')
    .description('SSH release deployer: build on every host, publish on all at once, roll back in an instant')
    .version(version(), '--version')
    // every command's help lists these too (they may be given before or after the command name)
    .configureHelp({ showGlobalOptions: true })
    .option(
      '-f, --deployfile <path>',
      'deploy file; also -d PATH (Fapistrano\'s spelling); default: env FAP_DEPLOYFILE, or Fapistrano\'s FAP_APP + <APP>_DEPLOYFILE, else deploy.yml or deploy.yaml here or in the nearest parent directory',
    )
    .option('--set <key=value>', 'override a configuration key (repeatable; value parsed as YAML)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--hosts <list>', 'only these hosts (comma-separated names or globs: web*, 10.0.0.[12])', hostList)
    .option('--parallel <n>', 'hosts worked on at once', '32')
    .option('--dry-run', 'print the plan (with -v, the exact remote scripts too); touch nothing')
    .option('--json', 'JSON-lines event stream on stdout')
    .option('-v, --verbose', 'show every remote script')
    .option('-q, --quiet', 'only errors and the result')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .addOption(new Option('-s, --stage <stage>', 'the stage (Fapistrano\'s spelling; or give it as the first argument)').argParser(oneValue('-s', 'stage')))
    .addOption(new Option('-r, --role <role>', 'the role (Fapistrano\'s spelling; or give it as the second argument); alone: that role in every stage that has it').argParser(oneValue('-r', 'role')))
    .addHelpText(
      'after',
      [
        '',
        'Any configuration key can be given as an option after the command name, as in Fapistrano:',
        '  --keep-releases=2, --supervisor-refresh=true, --curl-options="-k -L" (dashes or underscores)',
        'Each is a --set KEY=VALUE (the value is YAML). fap\'s own options (--hosts, --batch, --to, ...) come first.',
        'A role without a stage (fap deploy -r web) runs that role in every stage that has it, one stage after the other.',
        '',
        'Examples:',
        '  fap deploy production            build and publish on every host of production',
        '  fap rollback production          back to the previous good release',
        '  fap run production web -- python manage.py migrate',
        '',
        'fap COMMAND --help shows a command\'s arguments, options and examples. Exit codes: 0 done, 1 failed, 2 usage or',
        'configuration error, 3 locked by another run, 130 interrupted, 141 output closed.',
      ].join('\n'),
    )
    // fap alone: the help, on stdout, exit 0 (as kamal does; git exits 1)
    .action((): void => program.outputHelp())
    // an action of its own turns commander's help command off: fap help [command] stays
    .helpCommand('help [command]', 'the help of fap, or of a command')
    // commander's errors are printed by the error boundary, as fap's own are (one style)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => undefined });
  registerCommands(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  // --json: whatever ends fap (an error before any run, a signal), the last line is a result
  const json = jsonWanted(argv);
  const command = commandWord(program, argv);
  if (json) setLastWords((code, why) => finalJsonResult(command, code, why));
  try {
    await program.parseAsync(await fapistranoArgv(program, argv));
    const code = Number(process.exitCode ?? 0);
    // a command whose stream has no result of its own (fap config)
    if (json && command !== 'fap') finalJsonResult(command, code);
    return code;
  } catch (caught) {
    const e = caught instanceof CommanderError ? (commanderUsage(program, command, caught) ?? caught) : caught;
    // what the reporters still hold (a host's retries, grouped) was said before this error
    flushReports();
    const code = handleError(e);
    // --help and --version print text, not a stream
    if (json && code !== EXIT.ok) {
      const why = (e as Error)?.message ?? String(e);
      const errors = e instanceof ConfigError ? (e instanceof ConfigErrors ? e.errors : [e]).map(configErrorEntry) : undefined;
      finalJsonResult(command, code, errors && errors.length > 1 ? `${errors.length} configuration errors; the first: ${why}` : why, errors);
    }
    return code;
  }
}

/**
 * A usage error commander found (a missing argument, an option it does not know), worded as fap
 * words its own: the message, then the usage of the command or a did-you-mean. Undefined for
 * --help and --version, which are not errors.
 */
export function commanderUsage(program: Command, command: string, e: CommanderError): UsageError | undefined {
  if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return undefined;
  const message = e.message.replace(/^error: /, '').split('\n')[0];
  const sub = program.commands.find((c) => c.name() === command);
  const help = sub ? `fap ${command} --help` : 'fap --help';
  const flag = e.code === 'commander.unknownOption' ? /'([^']+)'/.exec(message)?.[1] : undefined;
  if (flag?.startsWith('--')) {
    const longs = [...program.options, ...(sub?.options ?? [])].flatMap((o) => (o.long ? [o.long.slice(2)] : []));
    const near = suggest(flag.slice(2), [...longs, 'help']);
    if (near) return new UsageError(message, `did you mean --${near}? (${help} lists the options)`);
  }
  return new UsageError(message, sub ? `usage: fap ${command} ${sub.usage()} (${help})` : `see ${help}`);
}

/** A configuration error as the `result` of --json carries it: the place, the key path and the message. */
function configErrorEntry(e: ConfigError): ConfigErrorEntry {
  const w = e.where ?? {};
  return { message: e.detail, ...(w.file ? { file: w.file } : {}), ...(w.line ? { line: w.line, col: w.col ?? 1 } : {}), ...(w.keyPath ? { keyPath: w.keyPath } : {}) };
}

/** the command named on the command line (for a result written before commander ran it) */
function commandWord(program: Command, argv: string[]): string {
  const names = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  const word = argv.slice(2).find((a) => names.has(a));
  return program.commands.find((c) => c.name() === word || c.aliases().includes(word ?? ''))?.name() ?? 'fap';
}

/**
 * Fapistrano's spellings on the command line (-d PATH, --some-key=VALUE; see argv.ts). The keys a
 * `--key` may name: fap's own, every bundled plugin's, and those the deploy file sets (user
 * variables, third-party plugins' keys); they are loaded only when such an option is given.
 */
async function fapistranoArgv(program: Command, argv: string[]): Promise<string[]> {
  const spec = argvSpec(program);
  const args = argv.slice(2);
  let keys = new Set<string>();
  const candidates = keyOptionCandidates(args, spec);
  if (candidates.names.length) {
    const { knownKeyNames } = await import('./keys.js');
    keys = await knownKeyNames(deployfileIfAny(candidates.deployfile));
  }
  const r = rewriteArgv(args, spec, keys);
  // an option before the command name that fap does not have: said before anything that follows it
  const end = args.indexOf('--') < 0 ? args.length : args.indexOf('--');
  const before = args.slice(0, r.command === undefined ? end : Math.min(end, args.indexOf(r.command)));
  const unknown = before.find((a) => a.startsWith('--') && !spec.global.has(a.split('=')[0]));
  if (unknown) {
    const flag = unknown.split('=')[0];
    const near = suggest(flag.slice(2), [...spec.global.keys()].filter((f) => f.startsWith('--')).map((f) => f.slice(2)));
    throw new UsageError(`unknown option '${flag}'`, near ? `did you mean --${near}? (fap --help lists the options)` : 'see fap --help');
  }
  if (r.command !== undefined && !spec.commands.has(r.command) && r.command !== HELP_COMMAND) throw unknownCommand(r.command, [...spec.commands.keys()]);
  if (r.command === HELP_COMMAND) helpTopic(r.args, spec);
  if (r.error) {
    const help = r.command !== undefined ? `fap ${r.command} --help` : 'fap --help';
    throw new UsageError(r.error.message, r.error.hint ? `${r.error.hint} (${help} lists the options)` : `see ${help}`);
  }
  const dashed = r.command !== undefined && r.afterDash ? commandAfterDash(r.command, args.slice(0, args.length - r.afterDash.length - 1), r.afterDash) : undefined;
  if (dashed) throw dashed;
  return [...argv.slice(0, 2), ...r.args];
}

/** commander's own: fap help [command] */
const HELP_COMMAND = 'help';

/**
 * fap help COMMAND: a word that names no command is an unknown command, as `fap deplyo` is (commander
 * would print the root help on stderr and exit 0); `fap help help` is fap's help. Edits `args`.
 */
function helpTopic(args: string[], spec: ArgvSpec): void {
  const at = args.indexOf(HELP_COMMAND);
  for (let i = at + 1; i < args.length && args[i] !== '--'; i++) {
    const a = args[i];
    if (a.startsWith('-')) {
      if (!a.includes('=') && spec.global.get(a)) i++;
      continue;
    }
    if (a === HELP_COMMAND) args.splice(i, 1);
    else if (!spec.commands.has(a)) throw unknownCommand(a, [...spec.commands.keys()]);
    return;
  }
}

export function unknownCommand(word: string, commands: string[]): UsageError {
  const near = suggest(word, commands);
  return new UsageError(`unknown command '${word}'`, near ? `did you mean fap ${near}? (fap --help lists the commands)` : `commands: ${commands.join(', ')} (fap --help)`);
}

/**
 * A configuration or usage error as fap prints it: one line (a value's line break shows as \n,
 * other control characters made visible: a value cannot forge lines or move the cursor), then
 * the hint on its own line.
 */
export function errorText(e: FapError): string {
  const oneLine = (s: string) => (e instanceof ConfigError || e instanceof UsageError ? visible(s.replace(/\r\n|\n|\r/g, '\\n')) : s);
  if (e instanceof ConfigErrors) {
    // every error on its own line, in file order, then how many (a long list is cut short)
    const shown = e.errors.slice(0, MAX_CONFIG_ERRORS).map((x) => errorText(x));
    const more = e.errors.length - shown.length;
    return shown.join('') + (more > 0 ? `fap: ... and ${more} more\n` : '') + `fap: ${e.errors.length} configuration errors\n`;
  }
  return `fap: ${oneLine(e.message)}\n` + (e.hint ? `  ${oneLine(e.hint)}\n` : '');
}

export function handleError(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
    // not converted by commanderUsage: say it in fap's style all the same
    process.stderr.write(redact(`fap: ${e.message.replace(/^error: /, '')}\n`));
    return EXIT.usage;
  }
  if (e instanceof FapError) {
    process.stderr.write(redact(errorText(e)));
    return e.exitCode;
  }
  process.stderr.write(redact(`fap: internal error (please report it): ${(e as Error)?.stack ?? String(e)}\n`));
  return EXIT.failed;
}
