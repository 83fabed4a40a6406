// The configuration keys a `--key=VALUE` option may name (argv.ts): fap's core keys, every bundled
// plugin's, their other spellings, and whatever the deploy file sets (user variables, third-party
// plugins' keys). Loaded only when the command line has such an option.
import { loadDeployFile } from '../config/load.js';
import { CORE_KEYS, STRUCTURE_KEYS, type KeySpec } from '../config/schema.js';
import { bundledKeys } from '../plugin/load.js';

const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

export async function knownKeyNames(deployfile: string): Promise<Set<string>> {
  const specs: Record<string, KeySpec> = { ...CORE_KEYS, ...(await bundledKeys()) };
  const keys = new Set<string>();
  for (const [k, spec] of Object.entries(specs)) {
    keys.add(k);
    for (const a of spec.aliases ?? []) keys.add(a);
  }
  for (const k of fileKeys(deployfile, keys)) keys.add(k);
  return keys;
}

/**
 * Keys the file sets at the top, in a stage or in a role. A stage entry that is a map and not a
 * known key is a role. A file that does not load gives none: the command reports it properly.
 */
function fileKeys(deployfile: string, known: Set<string>): string[] {
  let data: Record<string, unknown>;
  try {
    data = loadDeployFile(deployfile).data;
  } catch {
    return [];
  }
  const out = Object.keys(data).filter((k) => !STRUCTURE_KEYS.has(k));
  const stages = data.stage_role_configs;
  if (!isMap(stages)) return out;
  for (const stage of Object.values(stages)) {
    if (!isMap(stage)) continue;
    for (const [k, v] of Object.entries(stage)) {
      if (isMap(v) && !known.has(k)) out.push(...Object.keys(v));
      else out.push(k);
    }
  }
  return out.filter((k) => !k.startsWith('x-'));
}
