// A plugin's configuration is typed from its key specs (definePlugin): each @ts-expect-error below
// is a misuse the compiler must refuse — a misspelt key, a value of the wrong type, a declaration
// naming a key the plugin does not have. Should the typing ever loosen, the directive is unused and
// the build (npm test builds first) fails. The tests check what definePlugin hands the loader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import supervisorctl from '../../plugins/supervisorctl/index.js';
import { keys as supervisorKeys } from '../../plugins/supervisorctl/keys.js';
import { definePlugin, type KeySpec, type PluginConfig } from '../../src/signals.js';

const keys = {
  hello_to: { type: 'string', default: 'world', description: 'who is greeted' },
  hello_times: { type: 'integer', default: 1, min: 1, description: 'how often' },
  hello_url: { type: 'string', description: 'where to say it (optional)' },
  hello_mood: { type: 'string', enum: ['glad', 'grumpy'], default: 'glad', description: 'how' },
} as const satisfies Record<string, KeySpec>;

const hello = definePlugin({
  name: 'hello',
  keys,
  enabledBy: 'hello_url',
  replaces: { plugin: 'bye', when: ['hello_url'] },
  tools: (c) => [c.hello_url ? 'curl' : undefined],
  check(config) {
    const times: number = config.hello_times;
    // @ts-expect-error a misspelt key name
    void config.hello_tims;
    return times > 3 ? { key: 'hello_times', message: 'too often' } : undefined;
  },
  on: {
    'deploy.published': (ctx) => {
      const to: string = ctx.config.hello_to;
      // a key without a default may be unset
      // @ts-expect-error string | undefined is not a string
      const url: string = ctx.config.hello_url;
      // @ts-expect-error a string key is no number
      const n: number = ctx.config.hello_to;
      // @ts-expect-error an enum holds only its values
      const mood: typeof ctx.config.hello_mood = 'happy';
      // core keys are typed too
      const keep: number = ctx.config.keep_releases;
      // @ts-expect-error a misspelt core key
      void ctx.config.keep_relases;
      ctx.script('say hello', `echo ${ctx.quote(`${to} ${url} ${n} ${mood} ${keep}`)}`);
    },
  },
  result(_summary, config) {
    // @ts-expect-error a misspelt key name in the result hook
    void config.hello_too;
  },
});

// @ts-expect-error enabledBy must be one of the plugin's keys
definePlugin({ name: 'x', keys, enabledBy: 'hello_ur', on: {} });
// @ts-expect-error a stand-in's keys must be the plugin's own
definePlugin({ name: 'x', keys, replaces: { plugin: 'bye', when: ['hello_ur'] }, on: {} });
// @ts-expect-error tools read typed configuration too
definePlugin({ name: 'x', keys, tools: (c) => [c.hello_too], on: {} });

test('definePlugin gives the loader the plugin as written', () => {
  assert.equal(hello.name, 'hello');
  assert.equal(hello.keys, keys);
  assert.equal(hello.enabledBy, 'hello_url');
  assert.deepEqual(hello.tools?.({ hello_url: 'https://x' }), ['curl']);
  assert.deepEqual(hello.tools?.({}), [undefined]);
  assert.deepEqual(hello.check?.({ hello_times: 5 }), { key: 'hello_times', message: 'too often' });
});

// a bundled plugin's configuration, as its own code sees it
type Supervisor = PluginConfig<typeof supervisorKeys>;
const output: Supervisor['supervisor_output'] = true;
// @ts-expect-error a misspelt key of a bundled plugin
const outptu: Supervisor['supervisor_outptu'] = true;

test('a bundled plugin declares its keys in keys.ts and is handed over with them', () => {
  assert.equal(supervisorctl.keys, supervisorKeys);
  assert.equal(supervisorKeys.supervisor_output.default, !output && !outptu);
});
