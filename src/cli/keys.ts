// The configuration keys a `--key=VALUE` option may name (argv.ts): fap's core keys, every bundled
// plugin's, their other spellings, and whatever the deploy file sets (user variables, third-party
// plugins' keys). Loaded only when the command line has such an option.
import { loadDeployFile } from '../config/load.js';
import { allKeys, keyNamesIn } from '../config/resolve.js';
import { bundledKeys } from '../plugin/load.js';

export async function knownKeyNames(deployfile: string | undefined): Promise<Set<string>> {
  const specs = allKeys(await bundledKeys());
  const names = new Set([...Object.keys(specs), ...Object.values(specs).flatMap((s) => s.aliases ?? [])]);
  if (deployfile === undefined) return names;
  try {
    for (const k of keyNamesIn(loadDeployFile(deployfile), specs)) names.add(k);
  } catch {
    // a file that does not load names no keys: the command reports it properly
  }
  return names;
}
