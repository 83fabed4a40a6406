// Several known_hosts files (UserKnownHostsFile entries, GlobalKnownHostsFile) and HostKeyAlias, as
// OpenSSH reads them: checkHostKey over readKnownHostsFiles, on real files in a temp directory.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { checkHostKey, keyTypeOf, readKnownHostsFiles } from '../../src/remote/known-hosts.js';

const root = mkdtempSync(join(tmpdir(), 'fap-unit-khf-'));
after(() => rmSync(root, { recursive: true, force: true }));

function blob(seed: Buffer): Buffer {
  const t = Buffer.from('ssh-ed25519');
  const l = Buffer.alloc(4);
  l.writeUInt32BE(t.length);
  const k = Buffer.alloc(4);
  k.writeUInt32BE(seed.length);
  return Buffer.concat([l, t, k, seed]);
}
const entry = (name: string, b: Buffer, marker = '') => `${marker ? marker + ' ' : ''}${name} ${keyTypeOf(b)} ${b.toString('base64')}\n`;

const FILES = ['user1', 'user2', 'global'] as const;
// hosts with letters (case matters to the property), and ports 22 / other
const hostArb = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5})?$/), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 })).map(([h, up]) =>
  [...h].map((c, i) => (up[i % 12] ? c.toUpperCase() : c)).join(''),
);
const portArb = fc.constantFrom(22, 2222);
const holderArb = fc.constantFrom(...FILES);
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));

/** The name as known_hosts holds it, in whatever case the file's author typed. */
function written(host: string, port: number, upper: boolean): string {
  const h = upper ? host.toUpperCase() : host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

describe('checkHostKey over several files', () => {
  test('a changed key in any file is refused under accept-new, and nothing is written', () => {
    fc.assert(
      fc.property(hostArb, portArb, holderArb, fc.boolean(), seedArb, seedArb, (host, port, holder, upper, s1, s2) => {
        fc.pre(!s1.equals(s2));
        const files = setupDir(holder, entry(written(host, port, upper), blob(s1)));
        const before = files.map((f) => readFileSync(f));
        const r = checkHostKey({ files, host, port, mode: 'accept-new' }, readKnownHostsFiles(files), blob(s2));
        assert.equal(r.accept, false);
        assert.equal(!r.verdict.ok && r.verdict.reason, 'changed');
        assert.equal(!r.verdict.ok && r.verdict.entry?.file, files[FILES.indexOf(holder)], 'the refusal names the file holding the old key');
        files.forEach((f, i) => assert.ok(readFileSync(f).equals(before[i]), `${f} untouched`));
      }),
      { numRuns: 60 },
    );
  });

  test('@revoked in any file is refused, even with the key known in another', () => {
    fc.assert(
      fc.property(hostArb, portArb, holderArb, holderArb, seedArb, (host, port, revokedIn, knownIn, s) => {
        const files = setupDir(undefined, '');
        writeFileSync(files[FILES.indexOf(knownIn)], entry(written(host, port, false), blob(s)), { flag: 'a' });
        writeFileSync(files[FILES.indexOf(revokedIn)], entry('*', blob(s), '@revoked'), { flag: 'a' });
        const r = checkHostKey({ files, host, port, mode: 'accept-new' }, readKnownHostsFiles(files), blob(s));
        assert.equal(r.accept, false);
        assert.equal(!r.verdict.ok && r.verdict.reason, 'revoked');
      }),
      { numRuns: 40 },
    );
  });

  test('a matching key in any file passes under strict, whatever other files say', () => {
    fc.assert(
      fc.property(hostArb, portArb, holderArb, fc.boolean(), seedArb, seedArb, (host, port, holder, upper, s1, s2) => {
        fc.pre(!s1.equals(s2));
        const files = setupDir(holder, entry(written(host, port, upper), blob(s1)));
        // another file holds a different key for the name: OpenSSH accepts a match anywhere
        const other = files[(FILES.indexOf(holder) + 1) % 3];
        writeFileSync(other, entry(written(host, port, !upper), blob(s2)), { flag: 'a' });
        const before = files.map((f) => readFileSync(f));
        const r = checkHostKey({ files, host, port, mode: 'strict' }, readKnownHostsFiles(files), blob(s1));
        assert.equal(r.accept, true);
        assert.equal(r.verdict.ok, true);
        files.forEach((f, i) => assert.ok(readFileSync(f).equals(before[i])));
      }),
      { numRuns: 60 },
    );
  });

  test('a key unknown to every file: accept-new appends it to the first user file only; strict refuses', () => {
    fc.assert(
      fc.property(hostArb, portArb, holderArb, seedArb, seedArb, fc.boolean(), (host, port, holder, s1, s2, terminated) => {
        fc.pre(!s1.equals(s2));
        // the files hold keys for other names only (the first maybe without a final newline)
        const files = setupDir(holder, entry(`other-${host}`, blob(s2)));
        if (!terminated) writeFileSync(files[0], readFileSync(files[0], 'utf8').replace(/\n$/, ''));
        const before = files.map((f) => readFileSync(f));
        const strict = checkHostKey({ files, host, port, mode: 'strict' }, readKnownHostsFiles(files), blob(s1));
        assert.equal(strict.accept, false);
        assert.equal(!strict.verdict.ok && strict.verdict.reason, 'unknown');
        const r = checkHostKey({ files, host, port, mode: 'accept-new' }, readKnownHostsFiles(files), blob(s1));
        assert.equal(r.accept, true);
        assert.equal(r.added, files[0]);
        assert.ok(readFileSync(files[1]).equals(before[1]), 'user2 byte-identical');
        assert.ok(readFileSync(files[2]).equals(before[2]), 'global byte-identical');
        const now = readFileSync(files[0], 'utf8');
        assert.ok(now.startsWith(before[0].toString()), 'appended, not rewritten');
        assert.equal(now.slice(before[0].length).replace(/^\n/, ''), entry(written(host, port, false), blob(s1)));
        // and the next connection finds it
        assert.equal(checkHostKey({ files, host, port, mode: 'strict' }, readKnownHostsFiles(files), blob(s1)).accept, true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('HostKeyAlias', () => {
  test('the alias, not host or [host]:port, is looked up in every file and written by accept-new', () => {
    fc.assert(
      fc.property(hostArb, hostArb, portArb, holderArb, seedArb, seedArb, (host, alias, port, holder, s1, s2) => {
        fc.pre(!s1.equals(s2) && alias.toLowerCase() !== host.toLowerCase());
        const a = alias.toLowerCase();
        // known under the alias (any file, any case): ok; the host's own entry does not count
        let files = setupDir(holder, entry(alias, blob(s1)) + entry(written(host, port, false), blob(s2)));
        let r = checkHostKey({ files, host, port, alias: a, mode: 'strict' }, readKnownHostsFiles(files), blob(s1));
        assert.equal(r.accept, true);
        // a different key under the alias: changed, even though the host's name holds this very key
        r = checkHostKey({ files, host, port, alias: a, mode: 'accept-new' }, readKnownHostsFiles(files), blob(s2));
        assert.equal(!r.verdict.ok && r.verdict.reason, 'changed');
        assert.equal(r.accept, false);
        // unknown under the alias: written as the bare alias, no [..]:port
        files = setupDir(holder, entry(written(host, port, false), blob(s1)));
        r = checkHostKey({ files, host, port, alias: a, mode: 'accept-new' }, readKnownHostsFiles(files), blob(s1));
        assert.equal(r.added, files[0]);
        assert.ok(readFileSync(files[0], 'utf8').endsWith(entry(a, blob(s1))));
      }),
      { numRuns: 60 },
    );
  });
});

function setupDir(holder: (typeof FILES)[number] | undefined, line: string): string[] {
  const d = mkdtempSync(join(root, 'c-'));
  const files = FILES.map((f) => join(d, f));
  const noise = entry('unrelated.example', blob(randomBytes(32)));
  files.forEach((f, i) => writeFileSync(f, noise + (holder === FILES[i] ? line : '')));
  return files;
}
