// Unit tests for src/config/interpolate.ts: %(key)s / %% and ${VAR} / ${VAR:-d} / ${VAR:?msg} / $$.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expandEnv, hasPercentRefs, interpolatePercent } from '../../src/config/interpolate.js';
import { InterpolationError } from '../../src/errors.js';

const table = (t: Record<string, unknown>) => (k: string) => t[k];

describe('interpolatePercent', () => {
  const look = table({ app_name: 'shop', user: 'deploy', port: 8080, on: false, zero: 0, empty: '', list: ['a'], map: { a: 1 }, nul: null });

  test('replaces %(key)s', () => {
    assert.equal(interpolatePercent('/home/%(user)s/www/%(app_name)s', look), '/home/deploy/www/shop');
    assert.equal(interpolatePercent('%(app_name)s%(app_name)s', look), 'shopshop');
  });

  test('non-string scalars are stringified; empty string is a value', () => {
    assert.equal(interpolatePercent('p=%(port)s z=%(zero)s b=%(on)s e=[%(empty)s]', look), 'p=8080 z=0 b=false e=[]');
  });

  test('%% is a literal %, and protects what follows', () => {
    assert.equal(interpolatePercent('100%%', look), '100%');
    assert.equal(interpolatePercent('%%(app_name)s', look), '%(app_name)s');
    assert.equal(interpolatePercent('%%%(app_name)s', look), '%shop');
    assert.equal(interpolatePercent('%%%%', look), '%%');
  });

  test('text without references is unchanged, including lone % and other formats', () => {
    for (const s of ['', 'plain', '50% off', '%s %d', '%(unterminated', '%(x)d', '(app_name)s']) assert.equal(interpolatePercent(s, look), s);
  });

  test('a value is not interpolated again', () => {
    assert.equal(interpolatePercent('%(v)s', table({ v: '%(w)s', w: 'no' })), '%(w)s');
  });

  test('unknown key: InterpolationError carrying the key', () => {
    assert.throws(
      () => interpolatePercent('x %(nope)s', look),
      (e: unknown) => e instanceof InterpolationError && e.unknownKey === 'nope' && /unknown key %\(nope\)s/.test(e.message),
    );
    assert.throws(() => interpolatePercent('%(nul)s', look), (e: unknown) => e instanceof InterpolationError && e.unknownKey === 'nul');
    assert.throws(() => interpolatePercent('%()s', look), (e: unknown) => e instanceof InterpolationError && e.unknownKey === '');
  });

  test('lists and maps cannot be interpolated', () => {
    assert.throws(() => interpolatePercent('%(list)s', look), (e: unknown) => e instanceof InterpolationError && /is a list, not a scalar/.test(e.message) && e.unknownKey === undefined);
    assert.throws(() => interpolatePercent('%(map)s', look), /%\(map\)s is a map, not a scalar/);
  });

  test('hasPercentRefs', () => {
    assert.equal(hasPercentRefs('a %(b)s'), true);
    assert.equal(hasPercentRefs('a %% b'), false);
    assert.equal(hasPercentRefs('a %(b'), false);
  });
});

/** expandEnv's result without the lists of substituted values (checked on their own below) */
function withoutSubstituted(text: string, env: NodeJS.ProcessEnv) {
  const { substituted: _ignored, fromVariables: _also, ...rest } = expandEnv(text, env);
  return rest;
}

describe('expandEnv', () => {
  test('lists the substituted values, and escapes % in them on request', () => {
    const env = { P: 'p%w', Q: 'x%(nope)sy' };
    assert.deepEqual(expandEnv('${P}-${Q}-${R:-d%}', env).substituted, ['p%w', 'x%(nope)sy', 'd%']);
    assert.equal(expandEnv('${P}/%(app)s', env, true).value, 'p%%w/%(app)s');
  });

  test('tells values read from the environment (secrets) from defaults written in the file', () => {
    const env = { P: 'p%w', EMPTY: '' };
    assert.deepEqual(expandEnv('${P}-${R:-production}-${EMPTY:-staging}-${P:-unused}-${P:?x}', env).fromVariables, ['p%w', 'p%w', 'p%w']);
    assert.deepEqual(expandEnv('${R:-production}', env).fromVariables, []);
  });

  const env = { HOME: '/home/me', EMPTY: '', NAME: 'shop', DOLLARS: '$x ${y}' };

  test('${VAR}', () => {
    assert.deepEqual(withoutSubstituted('${HOME}/app/${NAME}', env), { value: '/home/me/app/shop', fromEnv: true, missing: [] });
  });

  test('a set-but-empty ${VAR} is fine', () => {
    assert.deepEqual(withoutSubstituted('[${EMPTY}]', env), { value: '[]', fromEnv: true, missing: [] });
  });

  test('unset ${VAR} is reported and expands empty', () => {
    const r = expandEnv('a${NOPE}b', env);
    assert.equal(r.value, 'ab');
    assert.equal(r.fromEnv, true);
    assert.equal(r.missing.length, 1);
    assert.equal(r.missing[0].name, 'NOPE');
    assert.match(r.missing[0].message, /NOPE is not set \(write \$\{NOPE:-\} to allow it empty\)/);
  });

  test('${VAR:-default} when unset, empty and set', () => {
    assert.deepEqual(withoutSubstituted('${NOPE:-fallback value}', env), { value: 'fallback value', fromEnv: true, missing: [] });
    assert.deepEqual(withoutSubstituted('${EMPTY:-d}', env), { value: 'd', fromEnv: true, missing: [] });
    assert.deepEqual(withoutSubstituted('${NAME:-d}', env), { value: 'shop', fromEnv: true, missing: [] });
    assert.deepEqual(withoutSubstituted('${NOPE:-}', env), { value: '', fromEnv: true, missing: [] });
  });

  test('${VAR:?message} when unset, empty and set', () => {
    const r = expandEnv('${NOPE:?set NOPE to the db password}', env);
    assert.equal(r.value, '');
    assert.deepEqual(r.missing, [{ name: 'NOPE', message: 'set NOPE to the db password' }]);
    const e = expandEnv('${EMPTY:?must not be empty}', env);
    assert.deepEqual(e.missing, [{ name: 'EMPTY', message: 'must not be empty' }]);
    const d = expandEnv('${NOPE:?}', env);
    assert.deepEqual(d.missing, [{ name: 'NOPE', message: 'NOPE is required' }]);
    assert.deepEqual(withoutSubstituted('${NAME:?x}', env), { value: 'shop', fromEnv: true, missing: [] });
  });

  test('$$ is a literal $, and escapes a following ${...}', () => {
    assert.deepEqual(withoutSubstituted('cost $$5', env), { value: 'cost $5', fromEnv: false, missing: [] });
    assert.deepEqual(withoutSubstituted('$${HOME}', env), { value: '${HOME}', fromEnv: false, missing: [] });
    assert.deepEqual(withoutSubstituted('$$$${HOME}', env), { value: '$${HOME}', fromEnv: false, missing: [] });
    assert.deepEqual(withoutSubstituted('$$${HOME}', env), { value: '$/home/me', fromEnv: true, missing: [] });
  });

  test('forms that are not references are left alone', () => {
    for (const s of ['$HOME', '$', 'a$b', '${', '${1X}', '${ HOME }', '${HOME:+x}', 'no refs']) {
      const r = expandEnv(s, env);
      assert.equal(r.value, s, s);
      assert.equal(r.fromEnv, false, s);
      assert.deepEqual(r.missing, []);
    }
  });

  test('values from the environment are not expanded again', () => {
    assert.equal(expandEnv('${DOLLARS}', env).value, '$x ${y}');
  });

  test('several problems are all reported, in order', () => {
    const r = expandEnv('${A}${B:?need B}${C:-ok}', {});
    assert.deepEqual(
      r.missing.map((m) => m.name),
      ['A', 'B'],
    );
    assert.equal(r.value, 'ok');
  });
});
