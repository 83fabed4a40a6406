// known_hosts as OpenSSH matches it: host names are lowercased before matching or hashing, so a
// name in another case never makes a changed key look unknown (which accept-new would trust); and
// appending never glues the new line to an unterminated last line.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { appendText, knownHostLine, parseKnownHosts, verifyHostKey } from '../../src/remote/known-hosts.js';

const blob = (type: string) => {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, randomBytes(32)]);
};
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};
const hostArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}(\.[a-z0-9-]{1,8}){0,2}$/);
const caseVariant = (h: string, flips: boolean[]) => [...h].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join('');

test('a changed key is "changed", not "unknown", whatever the case of the name, hashed or plain', () => {
  fc.assert(
    fc.property(hostArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.constantFrom(22, 2222), fc.boolean(), (host, flips, port, hash) => {
      const known = blob('ssh-ed25519');
      const name = port === 22 ? host : `[${host}]:${port}`;
      const entries = parseKnownHosts(`${hash ? hashed(name) : name} ssh-ed25519 ${known.toString('base64')}\n`);
      const asked = caseVariant(host, flips);
      assert.equal(verifyHostKey(entries, asked, port, known).ok, true, `${asked}: the known key is accepted`);
      const v = verifyHostKey(entries, asked, port, blob('ssh-ed25519'));
      assert.equal(!v.ok && v.reason, 'changed', `${asked} vs ${name}`);
    }),
    { numRuns: 300 },
  );
});

test('the line fap writes names the host in lowercase, as ssh does', () => {
  assert.match(knownHostLine('Web1.Example', 2222, blob('ssh-ed25519')), /^\[web1\.example\]:2222 ssh-ed25519 /);
});

test('appending keeps every existing entry and the new one intact, with or without a final newline', () => {
  fc.assert(
    fc.property(fc.array(hostArb, { maxLength: 4 }), fc.boolean(), hostArb, (hosts, finalNewline, added) => {
      const lines = hosts.map((h) => knownHostLine(h, 22, blob('ssh-ed25519')));
      const existing = lines.join('\n') + (finalNewline && lines.length ? '\n' : '');
      const line = knownHostLine(added, 22, blob('ssh-ed25519'));
      const after = existing + appendText(existing, line);
      assert.deepEqual(after.split('\n').filter(Boolean), [...lines, line]);
      assert.ok(after.endsWith('\n'));
    }),
    { numRuns: 200 },
  );
});
