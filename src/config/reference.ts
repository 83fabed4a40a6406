// The README's deploy.yml reference, generated from the schema (npm run docs) and checked by a
// test, so documentation and validation cannot drift apart.
import type { KeySpec } from './schema.js';

export const REFERENCE_START = '<!-- deploy.yml reference: generated from the schema by `npm run docs`; do not edit by hand -->';
export const REFERENCE_END = '<!-- end of deploy.yml reference -->';

function typeText(spec: KeySpec): string {
  if (spec.enum) return spec.enum.map((e) => `\`${e}\``).join(' \\| ');
  if (spec.type === 'map' && spec.values) return `map name: ${spec.values.semverRange ? 'semver range' : typeText(spec.values)}`;
  return { string: 'string', integer: 'integer', boolean: 'boolean', list: 'list of strings', map: 'map', hosts: 'list of hosts', env: 'map NAME: value' }[spec.type];
}

function defaultText(spec: KeySpec): string {
  if (spec.default === undefined || (spec.type === 'map' && spec.keys)) return '';
  const d = JSON.stringify(spec.default);
  return `\`${d === '""' ? "''" : d.replace(/^"|"$/g, '')}\``;
}

function row(name: string, spec: KeySpec): string {
  const extra = [spec.aliases?.length ? `Also spelt ${spec.aliases.map((a) => `\`${a}\``).join(', ')}.` : '', spec.secret ? 'Secret: shown as `***`.' : '', spec.sameAcrossRoles ? 'Roles sharing a host and path must agree on it.' : '']
    .filter(Boolean)
    .join(' ');
  const meaning = (spec.description + (extra ? ' ' + extra : '')).replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `| \`${name}\` | ${typeText(spec)} | ${defaultText(spec)} | ${meaning} |`;
}

export function configReference(core: Record<string, KeySpec>, plugins: Record<string, KeySpec>): string {
  const out = [REFERENCE_START, '', '| key | type | default | meaning |', '| --- | --- | --- | --- |'];
  for (const [k, spec] of Object.entries(core)) {
    out.push(row(k, spec));
    for (const [sk, sub] of Object.entries(spec.keys ?? {})) out.push(row(`${k}.${sk}`, sub));
  }
  const byPlugin = new Map<string, [string, KeySpec][]>();
  for (const [k, spec] of Object.entries(plugins)) byPlugin.set(spec.plugin ?? '?', [...(byPlugin.get(spec.plugin ?? '?') ?? []), [k, spec]]);
  for (const [plugin, entries] of byPlugin) {
    out.push('', `Plugin \`${plugin}\` (\`plugins: [${plugin}]\`, Fapistrano's \`fapistrano.${plugin}\`):`, '', '| key | type | default | meaning |', '| --- | --- | --- | --- |');
    for (const [k, spec] of entries) out.push(row(k, spec));
  }
  out.push('', REFERENCE_END);
  return out.join('\n');
}

/** Replace the reference section of a README text. */
export function withReference(readme: string, reference: string): string {
  const a = readme.indexOf(REFERENCE_START);
  const b = readme.indexOf(REFERENCE_END);
  if (a < 0 || b < 0) throw new Error('README has no deploy.yml reference markers');
  return readme.slice(0, a) + reference + readme.slice(b + REFERENCE_END.length);
}
