// Target.connKey (plan.ts connectionKey): roles on one host share a connection exactly when nothing
// that shapes the connection differs (issue 12 item 4: a second role ran with the first role's
// sudo_user, identity and host-key policy).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CORE_KEYS } from '../../src/config/schema.js';
import { connectionKey } from '../../src/release/plan.js';

const SSH_KEYS = Object.keys((CORE_KEYS.ssh as { keys: Record<string, unknown> }).keys);
const CONN_KEYS = ['sudo_user', 'sudo_prefix', 'use_ssh_config'];
// keys of a role that never change how its host is reached
const OTHER_KEYS = Object.keys(CORE_KEYS).filter((k) => !['ssh', 'user', 'hosts', ...CONN_KEYS].includes(k));
const host = { name: 'web1', hostname: 'web1.example', port: 2222 };
const value = fc.oneof(fc.string(), fc.boolean(), fc.integer(), fc.constantFrom('strict', 'accept-new', 'off', '~/.ssh/id_ed25519'));

const configArb = fc.record({
  ssh: fc.dictionary(fc.constantFrom(...SSH_KEYS), value),
  sudo_user: fc.option(fc.constantFrom('nobody', 'app', 'deploy'), { nil: undefined }),
  sudo_prefix: fc.option(fc.constantFrom('sudo', 'sudo -i', 'sudo -H'), { nil: undefined }),
  use_ssh_config: fc.option(fc.boolean(), { nil: undefined }),
  explicit: fc.subarray(SSH_KEYS),
});
type Cfg = { ssh: Record<string, unknown>; sudo_user?: string; sudo_prefix?: string; use_ssh_config?: boolean; explicit: string[] };
const key = (c: Cfg, extra: Record<string, unknown> = {}) => connectionKey(host, 'deploy', { ...extra, ssh: c.ssh, sudo_user: c.sudo_user, sudo_prefix: c.sudo_prefix, use_ssh_config: c.use_ssh_config }, c.explicit);

test('connKey differs when any ssh key, sudo_user, use_ssh_config or which ssh keys are explicit differs', () => {
  fc.assert(
    fc.property(configArb, fc.constantFrom(...SSH_KEYS, ...CONN_KEYS, 'explicit'), value, (c, which, v) => {
      const changed: Cfg = structuredClone(c);
      if (which === 'explicit') {
        const k = SSH_KEYS[Math.abs(Number(String(v).length)) % SSH_KEYS.length];
        changed.explicit = c.explicit.includes(k) ? c.explicit.filter((e) => e !== k) : [...c.explicit, k];
      } else if (SSH_KEYS.includes(which)) changed.ssh = { ...c.ssh, [which]: v };
      else (changed as Record<string, unknown>)[which] = v;
      const same = JSON.stringify(Object.entries(changed.ssh).sort()) === JSON.stringify(Object.entries(c.ssh).sort()) && changed.sudo_user === c.sudo_user && changed.sudo_prefix === c.sudo_prefix && changed.use_ssh_config === c.use_ssh_config && [...changed.explicit].sort().join() === [...c.explicit].sort().join();
      assert.equal(key(changed) === key(c), same, `${which}=${JSON.stringify(v)}`);
    }),
    { numRuns: 500 },
  );
});

test('connKey is the same for identical settings, whatever their order and whatever else the roles set', () => {
  fc.assert(
    fc.property(configArb, fc.dictionary(fc.constantFrom(...OTHER_KEYS), value), fc.dictionary(fc.constantFrom(...OTHER_KEYS), value), (c, a, b) => {
      const reversed: Cfg = { ...c, ssh: Object.fromEntries(Object.entries(c.ssh).reverse()), explicit: [...c.explicit].reverse() };
      assert.equal(key(reversed, b), key(c, a));
    }),
    { numRuns: 300 },
  );
});

test('connKey still separates user, host and port', () => {
  const c = { ssh: {} };
  const k = connectionKey(host, 'deploy', c, []);
  assert.notEqual(connectionKey(host, 'other', c, []), k);
  assert.notEqual(connectionKey({ ...host, hostname: 'web2.example' }, 'deploy', c, []), k);
  assert.notEqual(connectionKey({ ...host, port: 22 }, 'deploy', c, []), k);
  // a port written as 22 and no port (the ssh config may set one) are different routes
  assert.notEqual(connectionKey({ ...host, port: undefined }, 'deploy', c, []), connectionKey({ ...host, port: 22 }, 'deploy', c, []));
  assert.match(k, /^deploy@web1\.example:2222#/);
});
