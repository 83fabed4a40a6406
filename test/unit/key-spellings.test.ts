// One key written under two of its spellings (repo and Capistrano's repo_url, path and deploy_to):
// in one mapping with different values it is a configuration error naming both places (the later
// silently won: found by the attack pass); the same value twice is fine; in different layers the
// usual precedence applies. Over every aliased key fap and its bundled plugins know.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, ConfigErrors } from '../../src/errors.js';
import { parseDeployText } from '../../src/config/load.js';
import { resolveRole, type ResolveInput } from '../../src/config/resolve.js';
import { CORE_KEYS, type KeySpec } from '../../src/config/schema.js';
import { bundledPlugins, pluginKeys as keysOf } from '../../src/plugin/load.js';

const bundled = await bundledPlugins();
const pluginKeys = keysOf(bundled);
const ALL: Record<string, KeySpec> = { ...CORE_KEYS, ...pluginKeys };
const ALIASED = Object.entries(ALL).flatMap(([key, spec]) => (spec.aliases ?? []).map((alias) => ({ key, alias, spec })));

const resolve = (text: string) => resolveRole({ loaded: parseDeployText(text, 'deploy.yml'), stage: 'production', env: {}, pluginKeys, plugins: bundled } satisfies ResolveInput, 'web');

/** every configuration error resolving the text gives */
function errorsOf(text: string): readonly ConfigError[] {
  try {
    resolve(text);
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e instanceof ConfigErrors ? e.errors : [e];
  }
}

type Layer = 'top' | 'stage' | 'role';
const INDENT: Record<Layer, string> = { top: '', stage: '    ', role: '      ' };

/** a deploy file with `lines` (key: value) in the given layers, and the line each one is on */
function deployFile(lines: { layer: Layer; text: string }[]): { text: string; lineOf: number[] } {
  const at = (l: Layer) => lines.map((x, i) => [x, i] as const).filter(([x]) => x.layer === l);
  const out = ['app_name: shop'];
  const lineOf: number[] = [];
  const put = (l: Layer) => at(l).forEach(([x, i]) => (lineOf[i] = out.push(INDENT[l] + x.text)));
  put('top');
  out.push('stage_role_configs:', '  production:');
  put('stage');
  out.push('    web:', '      hosts: [web1]');
  put('role');
  return { text: out.join('\n') + '\n', lineOf };
}

const valueOf = (spec: KeySpec, n: number): unknown => (spec.type === 'boolean' ? n % 2 === 0 : `/srv/v${n}`);

describe('two spellings of one key', () => {
  test('there are aliased keys to test (repo_url, deploy_to, ...)', () => {
    for (const a of ['repo_url', 'deploy_to']) assert.ok(ALIASED.some((x) => x.alias === a), a);
  });

  test('in one mapping: an error at the second naming the first\'s file:line:col unless the values are equal; in two layers the later layer wins', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ALIASED),
        fc.constantFrom<Layer>('top', 'stage', 'role'),
        fc.constantFrom<Layer>('top', 'stage', 'role'),
        fc.boolean(),
        fc.nat(3),
        fc.nat(3),
        ({ key, alias, spec }, layerA, layerB, aliasFirst, na, nb) => {
          const [first, second] = aliasFirst ? [alias, key] : [key, alias];
          const [va, vb] = [valueOf(spec, na), valueOf(spec, nb)];
          const { text, lineOf } = deployFile([
            { layer: layerA, text: `${first}: ${JSON.stringify(va)}` },
            { layer: layerB, text: `${second}: ${JSON.stringify(vb)}` },
          ]);
          const order = ['top', 'stage', 'role'];
          const clash = errorsOf(text).filter((e) => /also set as/.test(e.message));
          if (layerA === layerB && va !== vb) {
            // the one written later in the file is the one blamed
            const [early, late] = lineOf[0] < lineOf[1] ? [0, 1] : [1, 0];
            const names = [first, second];
            assert.equal(clash.length, 1, text);
            const e = clash[0];
            assert.equal(e.where?.line, lineOf[late], text);
            assert.ok(e.where?.keyPath?.endsWith(names[late]), e.message);
            assert.ok(e.message.includes(`also set as ${names[early]} at deploy.yml:${lineOf[early]}:${INDENT[layerA].length + 1}`), e.message);
            assert.ok(e.message.includes(`${alias} is `) && e.message.includes(`name for ${key}`), e.message);
            assert.doesNotMatch(e.message, /\n/);
            return;
          }
          assert.deepEqual(clash, [], text);
          // no clash: the value of the layer that wins (the later layer; in one layer both are equal)
          const winner = layerA === layerB ? va : order.indexOf(layerB) > order.indexOf(layerA) ? vb : va;
          const r = resolve(text);
          assert.deepEqual(r.values[key as keyof typeof r.values], winner, text);
        },
      ),
      { numRuns: 300 },
    );
  });
});
