// Fapistrano's %(key)s interpolation and the shell-style ${VAR} environment forms.

import { InterpolationError } from '../errors.js';

export type Lookup = (key: string) => unknown;

const PERCENT = /%%|%\(([^)]*)\)s/g;


/** Replace %(key)s in a string; %% is a literal %. */
export function interpolatePercent(text: string, lookup: Lookup): string {
  return text.replace(PERCENT, (whole, key: string | undefined) => {
    if (whole === '%%') return '%';
    const value = lookup(key!);
    if (value === undefined || value === null) throw new InterpolationError(`unknown key %(${key})s`, key);
    if (typeof value === 'object') throw new InterpolationError(`%(${key})s is a ${Array.isArray(value) ? 'list' : 'map'}, not a scalar`);
    return String(value);
  });
}

export function hasPercentRefs(text: string): boolean {
  return /%\([^)]*\)s/.test(text);
}

export interface EnvResult {
  value: string;
  /** the value came (at least in part) from the deploying environment or a ${...} default */
  fromEnv: boolean;
  /** problems: unset variables */
  missing: { name: string; message: string }[];
  /** every value substituted for a ${...}: from the environment or a default */
  substituted: string[];
  /** the values read from the deploying environment (secrets; a default written in the file is not) */
  fromVariables: string[];
}

const DOLLAR = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}/g;

/**
 * Expand ${VAR}, ${VAR:-default}, ${VAR:?message}; $$ is a literal $.
 * With escapePercent, a % in a substituted value becomes %% so that a later %(key)s pass leaves
 * values from the environment exactly as they were.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv, escapePercent = false): EnvResult {
  const missing: EnvResult['missing'] = [];
  const substituted: string[] = [];
  const fromVariables: string[] = [];
  let fromEnv = false;
  const value = text.replace(DOLLAR, (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (whole === '$$') return '$';
    fromEnv = true;
    const v = env[name!];
    const set = v !== undefined && v !== '';
    let out: string;
    if (set) fromVariables.push(v!);
    if (op === ':-') out = set ? v! : arg ?? '';
    else {
      if (op === ':?' && !set) missing.push({ name: name!, message: arg || `${name} is required` });
      else if (!op && v === undefined) missing.push({ name: name!, message: `${name} is not set (write \${${name}:-} to allow it empty)` });
      out = v ?? '';
    }
    substituted.push(out);
    return escapePercent ? out.replace(/%/g, '%%') : out;
  });
  return { value, fromEnv, missing, substituted, fromVariables };
}
