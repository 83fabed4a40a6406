// A role without a stage (fap deploy -r web): Fapistrano ran that role in every stage that has it
// (fapistrano-0.9.5 cli.py:139-153). fap does the same, one stage after the other, in the order the
// deploy file lists them (Fapistrano's order was a set's: arbitrary).
import { didYouMean } from '../config/schema.js';
import { UsageError } from '../errors.js';

export type StageRoles = [stage: string, roles: string[]][];

/** The stages that have `role`, in file order; an unknown role is an error listing each stage's roles. */
export function stagesForRole(byStage: StageRoles, role: string): { stages: string[] } | { error: string } {
  const stages = byStage.filter(([, roles]) => roles.includes(role)).map(([stage]) => stage);
  if (stages.length) return { stages };
  const all = [...new Set(byStage.flatMap(([, roles]) => roles))];
  const listing = byStage.map(([stage, roles]) => `${stage}: ${roles.join(', ') || '(none)'}`).join('; ');
  return { error: `unknown role "${role}"${didYouMean(role, all)}; roles per stage: ${listing || '(no stages)'}` };
}

/** What fap prints before it starts: which stages, in which order. */
export function announceStages(role: string, stages: string[]): string {
  return stages.length === 1 ? `${role} is only in stage ${stages[0]}: running it there` : `${role} is in stages ${stages.join(', ')}: running each in turn`;
}

/** No stage given: the stages the file has, each with its roles, and how to name one. */
export function whichStage(command: string, file: string, byStage: StageRoles | undefined): { message: string; hint: string } {
  // fap run needs a role and a command as well
  const run = command === 'run';
  const usage = run ? 'fap run <stage> <role> -- <command...>' : `fap ${command} <stage> [role]`;
  if (!byStage) return { message: 'which stage?', hint: usage };
  if (!byStage.length) return { message: `which stage? ${file} has none (stage_role_configs is empty)`, hint: usage };
  const listing = byStage.map(([stage, roles]) => `${stage} (${roles.join(', ') || 'no roles'})`).join(', ');
  const [first, roles] = byStage[0];
  if (run) return { message: `which stage? ${file} has ${listing}`, hint: `${usage}, as in fap run ${first} ${roles[0] ?? 'ROLE'} -- COMMAND` };
  return { message: `which stage? ${file} has ${listing}`, hint: `${usage}, as in fap ${command} ${first}${roles.length > 1 ? ` or fap ${command} ${first} ${roles[0]}` : ''}` };
}

/** `stage` is no stage but a role (fap deploy web): whose role it is and the command meant; else undefined. */
export function roleGivenAsStage(command: string, stage: string, byStage: StageRoles): { message: string; hint: string } | undefined {
  if (byStage.some(([s]) => s === stage)) return undefined;
  const stages = byStage.filter(([, roles]) => roles.includes(stage)).map(([s]) => s);
  if (!stages.length) return undefined;
  const of = stages.length === 1 ? stages[0] : `${stages.slice(0, -1).join(', ')} and ${stages[stages.length - 1]}`;
  return { message: `${stage} is a role of ${of}, not a stage`, hint: stages.map((s) => `fap ${command} ${s} ${stage}`).join(' or ') };
}

/**
 * The stage and role of a command from -s/-r and the positional arguments. -s and -r win; the
 * positionals fill only what they do not give (with -s, one positional is the role), and one that
 * says otherwise than -s or -r is a usage error naming both: an option is never silently ignored.
 * `byStage` (when the file loads) tells `fap deploy -s staging production` (a second stage) from a
 * role; it is read only for -s with one positional.
 */
export function selection(command: string, given: { stage?: string; role?: string }, positionals: string[], byStage?: StageRoles): { stage?: string; role?: string } {
  const [s, r] = [given.stage, given.role];
  const [a, b] = positionals;
  if (s === undefined && r === undefined) return { stage: a, role: b };
  const twice = (what: 'stage' | 'role', flag: string, option: string, word: string) =>
    new UsageError(
      `the ${what} is given twice: ${flag} ${option} and ${word}`,
      what === 'stage'
        ? `give it once: fap ${command} ${option} [role] or fap ${command} ${word} [role]`
        : `give it once: fap ${command} ${s ?? a} ${option} or fap ${command} ${s ?? a} ${word}`,
    );
  // a word that is a stage of the file and no role of stage `of`
  const aStage = (word: string, of: string) => !!byStage?.some(([st]) => st === word) && !byStage.some(([st, roles]) => st === of && roles.includes(word));
  if (r === undefined) {
    if (a === undefined) return { stage: s };
    if (b !== undefined) {
      if (a !== s) throw twice('stage', '-s', s!, a);
      return { stage: s, role: b };
    }
    if (aStage(a, s!)) {
      if (a !== s) throw twice('stage', '-s', s!, a);
      return { stage: s };
    }
    return { stage: s, role: a };
  }
  if (s === undefined) {
    if (b !== undefined && b !== r) throw twice('role', '-r', r, b);
    return { stage: a, role: r };
  }
  // both given: a positional may only repeat them
  if (b !== undefined) {
    if (a !== s) throw twice('stage', '-s', s, a);
    if (b !== r) throw twice('role', '-r', r, b);
  } else if (a !== undefined && a !== s && a !== r) {
    throw aStage(a, s) ? twice('stage', '-s', s, a) : twice('role', '-r', r, a);
  }
  return { stage: s, role: r };
}
