// The command line before commander reads it: Fapistrano's spellings become fap's. `-d PATH` is
// `--deployfile PATH`, and after the command name `--some-key=VALUE` (or `--some-key VALUE`) for a
// configuration key fap has no option of its own for becomes `--set some_key=VALUE`. A pure
// rewrite of the words, so it is tested on its own; commander then sees only options it knows.
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { suggest } from '../suggest.js';

/** The program's own options, as commander gives them to every command (optsWithGlobals). */
export interface GlobalOptions {
  /** -f/--deployfile as given; when absent the file is found (deployfile.ts) */
  deployfile?: string;
  set: string[];
  /** --hosts, split (hostList): never empty */
  hosts?: string[];
  parallel: string;
  dryRun?: boolean;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  color: boolean;
  stage?: string;
  role?: string;
}

/**
 * --hosts as a list of names. An option that narrows must never widen: a value with no name in it
 * (`--hosts "$UNSET"`, " ", ",") is a usage error, not every host.
 */
export function hostList(value: string): string[] {
  const names = value.split(',').map((h) => h.trim()).filter(Boolean);
  if (!names.length) {
    const shown = value === '' ? 'is empty' : `names no host ("${value}")`;
    throw new UsageError(`--hosts ${shown}: give one or more host names, comma-separated`, 'leave --hosts out to select every host of the stage (and role)');
  }
  return names;
}

/**
 * An option given at most once (-s, -r): repeated with another value it is a usage error naming
 * both, as a positional against -s is (stages.ts); the last no longer silently wins. The same
 * value twice is fine.
 */
export function oneValue(flags: string, what: string): (value: string, previous: string | undefined) => string {
  return (value, previous) => {
    if (previous !== undefined && previous !== value) {
      const rest = what === 'role' ? ' (leave it out for every role of the stage)' : ': one stage per run';
      throw new UsageError(`the ${what} is given twice: ${flags} ${previous} and ${flags} ${value}`, `give ${flags} once${rest}`);
    }
    return value;
  };
}

/** Flag (`--hosts`, `-s`) -> whether it takes a value. */
export type Flags = ReadonlyMap<string, boolean>;

export interface ArgvSpec {
  /** the program's options (allowed before and after the command name) */
  global: Flags;
  /** each command's own options */
  commands: ReadonlyMap<string, Flags>;
}

/** Fapistrano's short flag for the deploy file (click's `-d, --deployfile`). */
const DEPLOYFILE_SHORT = '-d';
const DEPLOYFILE = '--deployfile';

function flagsOf(cmd: Command): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const o of cmd.options) {
    const takes = !!(o.required || o.optional);
    if (o.long) m.set(o.long, takes);
    if (o.short) m.set(o.short, takes);
  }
  // commander adds these itself; they are not in .options
  m.set('--help', false);
  m.set('-h', false);
  return m;
}

/** The flags commander will accept, read off the program so the rewrite cannot drift from it. */
export function argvSpec(program: Command): ArgvSpec {
  return { global: flagsOf(program), commands: new Map(program.commands.map((c) => [c.name(), flagsOf(c)])) };
}

export interface Rewritten {
  args: string[];
  /** the last -f/-d/--deployfile given */
  deployfile?: string;
  /** the command's name, when one was given */
  command?: string;
  /** the words after `--` (the end of the options; not a `--` that is an option's value) */
  afterDash?: string[];
  /** a usage error: the line fap prints after "fap: ", and what to do about it */
  error?: { code: 'commander.unknownOption' | 'commander.optionMissingArgument'; message: string; hint?: string };
}

/** `--keep-releases` or `--keep_releases` -> `keep_releases`; a dotted path keeps its sub-keys as written. */
export function keyOf(optionName: string): string {
  const dot = optionName.indexOf('.');
  const head = dot < 0 ? optionName : optionName.slice(0, dot);
  return head.replace(/-/g, '_') + (dot < 0 ? '' : optionName.slice(dot));
}

/**
 * The long options after the command name that fap does not define (what may be configuration
 * keys), and the deploy file given, wherever it is on the line.
 */
export function keyOptionCandidates(args: string[], spec: ArgvSpec): { names: string[]; deployfile?: string } {
  const names: string[] = [];
  const { deployfile } = walk(args, spec, (name) => {
    names.push(name);
    return 'keep';
  });
  return { names, deployfile };
}

/**
 * Rewrite `args` (process.argv without node and the script). `keys` are the configuration keys
 * (underscore spelling, aliases included) a `--key` may name; see keyOptionCandidates for when
 * they are needed at all.
 */
export function rewriteArgv(args: string[], spec: ArgvSpec, keys: ReadonlySet<string>): Rewritten {
  let error: Rewritten['error'];
  const r = walk(args, spec, (name, value, cmdFlags) => {
    const key = keyOf(name);
    const head = key.split('.')[0];
    if (keys.has(head)) {
      if (value === undefined) {
        error = { code: 'commander.optionMissingArgument', message: `option '--${name} <value>' argument missing`, hint: `${head} is a configuration key: --${name}=VALUE` };
        return 'stop';
      }
      return ['--set', `${key}=${value}`];
    }
    const options = [...spec.global.keys(), ...cmdFlags.keys()].filter((f) => f.startsWith('--')).map((f) => f.slice(2));
    const dashed = [...keys].map((k) => k.replace(/_/g, '-'));
    const near = suggest(name, [...options, ...dashed]);
    error = { code: 'commander.unknownOption', message: `unknown option '--${name}'`, hint: near ? `did you mean --${near}?` : undefined };
    return 'stop';
  });
  return error ? { ...r, error } : r;
}

type OnKey = (name: string, value: string | undefined, cmdFlags: Flags) => 'keep' | 'stop' | string[];

function walk(args: string[], spec: ArgvSpec, onKey: OnKey): Rewritten {
  const out: string[] = [];
  let command: string | undefined;
  let cmdFlags: Flags = new Map();
  let deployfile: string | undefined;
  const takesValue = (flag: string): boolean | undefined => cmdFlags.get(flag) ?? spec.global.get(flag);
  let i = 0;
  while (i < args.length) {
    const tok = args[i];
    if (tok === '--') {
      out.push(...args.slice(i));
      return { args: out, deployfile, command, afterDash: args.slice(i + 1) };
    }
    if (command !== undefined && !spec.commands.has(command)) {
      // not a command fap knows (commander says so): leave the rest to it
      out.push(tok);
      i++;
      continue;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const flag = eq < 0 ? tok : tok.slice(0, eq);
      const takes = takesValue(flag);
      if (takes !== undefined || command === undefined) {
        // fap's own option (or before the command name, where commander decides)
        out.push(tok);
        if (flag === DEPLOYFILE) deployfile = eq < 0 ? args[i + 1] : tok.slice(eq + 1);
        if (takes && eq < 0 && i + 1 < args.length) {
          out.push(args[i + 1]);
          i++;
        }
        i++;
        continue;
      }
      const name = flag.slice(2);
      const inline = eq >= 0;
      const next = args[i + 1];
      const value = inline ? tok.slice(eq + 1) : next !== undefined && next !== '--' ? next : undefined;
      const r = onKey(name, value, cmdFlags);
      if (r === 'stop') return { args: out, deployfile, command };
      if (r === 'keep') {
        out.push(tok);
        i++;
        continue;
      }
      out.push(...r);
      i += inline ? 1 : 2;
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      // short flags, possibly combined (-vq) or with the value attached (-sproduction)
      if (tok.slice(0, 2) === DEPLOYFILE_SHORT && !cmdFlags.has(DEPLOYFILE_SHORT)) {
        if (tok.length > 2) {
          out.push(`${DEPLOYFILE}=${tok.slice(2)}`);
          deployfile = tok.slice(2);
          i++;
        } else {
          out.push(DEPLOYFILE, ...(i + 1 < args.length ? [args[i + 1]] : []));
          deployfile = args[i + 1];
          i += 2;
        }
        continue;
      }
      out.push(tok);
      let j = 1;
      for (; j < tok.length; j++) {
        const flag = '-' + tok[j];
        if (takesValue(flag)) {
          if (j === tok.length - 1 && i + 1 < args.length) {
            if (flag === '-f') deployfile = args[i + 1];
            out.push(args[i + 1]);
            i++;
          } else if (flag === '-f') {
            deployfile = tok.slice(j + 1);
          }
          break;
        }
      }
      i++;
      continue;
    }
    if (command === undefined) {
      command = tok;
      cmdFlags = spec.commands.get(tok) ?? new Map();
    }
    out.push(tok);
    i++;
  }
  return { args: out, deployfile, command };
}
