// fap config: the resolved configuration as YAML, each value annotated with where it came from,
// secrets shown as ***.
import { Document, isMap, isScalar, isSeq, type Pair } from 'yaml';
import { MASK, redact, redactDeep, SECRET_NAME } from '../redact.js';
import { layout } from '../release/paths.js';
import { bindRelease, type Origin, type RoleConfig } from './resolve.js';
import type { LoadedFile } from './load.js';
import { CORE_KEYS, type KeySpec } from './schema.js';

export { MASK };

function originText(o: Origin | undefined, file: string, variable = false): string {
  if (!o) return '';
  if (variable) return ` user variable (${o.layer})${o.pos ? ` (${file}:${o.pos.line}:${o.pos.col})` : ''}`;
  const r = o.resetBy;
  if (r) return ` default (reset by ~ ${r.pos ? `at ${file}:${r.pos.line}:${r.pos.col}` : `in ${r.layer}`})`;
  if (o.layer === 'default' || o.layer === '--set') return ` ${o.layer}`;
  if (o.layer === 'plugin') return ' plugin default';
  return ` ${o.layer}${o.pos ? ` (${file}:${o.pos.line}:${o.pos.col})` : ''}`;
}

/** The values to show: secrets masked, the release placeholder named. */
export function displayValues(rc: RoleConfig, keys: Record<string, KeySpec>): Record<string, unknown> {
  // user variables after fap's keys: shown, never mistaken for one
  const values = bindRelease({ ...rc.variables, ...rc.values }, '<release>');
  const out: Record<string, unknown> = {};
  const order = [...Object.keys(CORE_KEYS), ...Object.keys(keys).filter((k) => !(k in CORE_KEYS)).sort((a, b) => (keys[a].plugin ?? '').localeCompare(keys[b].plugin ?? '') || 0)];
  for (const k of [...new Set([...order, ...Object.keys(rc.values), ...Object.keys(rc.variables)])]) {
    if (!(k in values) || values[k] === undefined) continue;
    const v = values[k];
    if (keys[k]?.secret || rc.envPaths.has(k)) out[k] = MASK;
    else if (k === 'environment' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, SECRET_NAME.test(n) || rc.envPaths.has(`environment.${n}`) ? MASK : x]));
    } else out[k] = v;
  }
  // a secret inside a shown value (a token in a URL, a value built with %(key)s) is masked in place
  return redactDeep(out);
}

export function formatConfig(rc: RoleConfig, keys: Record<string, KeySpec>, loaded: LoadedFile): string {
  const values = displayValues(rc, keys);
  const doc = new Document(values);
  if (isMap(doc.contents)) {
    for (const item of doc.contents.items as Pair[]) {
      const key = String((item.key as { value: unknown }).value);
      const note = originText(rc.origins[key], loaded.file, key in rc.variables) + (keys[key]?.plugin ? `  [${keys[key].plugin}]` : '');
      if (isScalar(item.value)) item.value.comment = note;
      else if (item.key && typeof item.key === 'object') (item.key as { comment?: string }).comment = note;
      if (isMap(item.value) && rc.subOrigins[key]) {
        for (const sub of item.value.items as Pair[]) {
          const subKey = String((sub.key as { value: unknown }).value);
          const o = rc.subOrigins[key][subKey];
          if (o && isScalar(sub.value)) sub.value.comment = originText(o, loaded.file);
        }
      }
      if (isSeq(item.value) && !item.value.items.length) item.value.flow = true;
    }
  }
  // the places deploy.yml may move (current_path, releases_path, shared_path), as a deploy lays them out
  const p = layout(rc.values.path, '<release>', rc.values);
  const header = [
    `# fap config ${rc.stage} ${rc.role} (${loaded.file})`,
    `# hosts: ${rc.hosts.map((h) => h.name).join(', ') || '(none)'}`,
    `# current_path: ${p.current}  shared_path: ${p.shared}  release_path: ${p.release}`,
    ...rc.warnings.map((w) => `# warning: ${w}`),
  ];
  return redact(header.join('\n') + '\n' + doc.toString({ lineWidth: 0 }));
}
