// A role without a stage (fap deploy -r web): Fapistrano ran that role in every stage that has it
// (fapistrano-0.9.5 cli.py:139-153). fap does the same, one stage after the other, in the order the
// deploy file lists them (Fapistrano's order was a set's: arbitrary).
import { didYouMean } from '../config/schema.js';

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
