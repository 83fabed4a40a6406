// Unit tests for src/remote/known-hosts.ts, checked against OpenSSH's own tools where available.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from '../suite.js';
import {
  checkHostKey,
  fingerprint,
  keyTypeOf,
  knownHostLine,
  lookupName,
  parseKnownHosts,
  patternsMatch,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  verifyHostKey,
} from '../../src/remote/known-hosts.js';

const dir = mkdtempSync(join(tmpdir(), 'fap-unit-kh-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const hasKeygen = spawnSync('ssh-keygen', ['-?'], { encoding: 'utf8' }).error === undefined;
const noKeygen = hasKeygen ? false : 'ssh-keygen not installed';

/** An SSH public key blob: string type, then opaque bytes (enough for matching and fingerprints). */
function fakeBlob(type: string, seed = randomBytes(32)): Buffer {
  const t = Buffer.from(type, 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  const klen = Buffer.alloc(4);
  klen.writeUInt32BE(seed.length);
  return Buffer.concat([len, t, klen, seed]);
}

interface GenKey {
  type: string;
  blob: Buffer;
  pubFile: string;
}
let n = 0;
function genKey(kind: 'ed25519' | 'ecdsa' | 'rsa'): GenKey {
  const f = join(dir, `key${n++}`);
  const args = ['-q', '-t', kind, '-N', '', '-C', 'test', '-f', f];
  if (kind === 'rsa') args.push('-b', '2048');
  const r = spawnSync('ssh-keygen', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [type, b64] = readFileSync(`${f}.pub`, 'utf8').trim().split(/\s+/);
  return { type, blob: Buffer.from(b64, 'base64'), pubFile: `${f}.pub` };
}

const line = (patterns: string, blob: Buffer, marker = '') => `${marker ? marker + ' ' : ''}${patterns} ${keyTypeOf(blob)} ${blob.toString('base64')}`;

describe('parseKnownHosts', () => {
  test('reads entries with markers, skips comments, blanks and short lines, keeps line numbers', () => {
    const a = fakeBlob('ssh-ed25519');
    const b = fakeBlob('ssh-rsa');
    const text = [
      '# comment',
      '',
      line('web1,10.0.0.1', a) + ' trailing comment words',
      '   ',
      line('*.example.com', b, '@revoked'),
      line('*.ca.example', a, '@cert-authority'),
      'only-two fields',
      '\t' + line('[web2]:2222', b) + '\t',
    ].join('\n');
    const e = parseKnownHosts(text);
    assert.equal(e.length, 4);
    assert.deepEqual(
      e.map((x) => [x.marker, x.patterns, x.keyType, x.line]),
      [
        [undefined, 'web1,10.0.0.1', 'ssh-ed25519', 3],
        ['@revoked', '*.example.com', 'ssh-rsa', 5],
        ['@cert-authority', '*.ca.example', 'ssh-ed25519', 6],
        [undefined, '[web2]:2222', 'ssh-rsa', 8],
      ],
    );
    assert.ok(e[0].key.equals(a));
    assert.ok(e[3].key.equals(b));
  });

  test('CRLF files', () => {
    const a = fakeBlob('ssh-ed25519');
    const e = parseKnownHosts(line('web1', a) + '\r\n' + line('web2', a) + '\r\n');
    assert.equal(e.length, 2);
    assert.ok(e[1].key.equals(a));
  });

  test('readKnownHosts: missing file is empty, a file is parsed', () => {
    assert.deepEqual(readKnownHosts(join(dir, 'does-not-exist')), []);
    const f = join(dir, 'kh-read');
    writeFileSync(f, line('web1', fakeBlob('ssh-ed25519')) + '\n');
    assert.equal(readKnownHosts(f).length, 1);
    assert.throws(() => readKnownHosts(dir)); // a directory is an error, not "no entries"
  });
});

describe('lookupName / knownHostLine / keyTypeOf', () => {
  test('port 22 is the bare host, other ports are [host]:port', () => {
    assert.equal(lookupName('web1'), 'web1');
    assert.equal(lookupName('web1', 22), 'web1');
    assert.equal(lookupName('web1', 2222), '[web1]:2222');
    assert.equal(lookupName('::1', 2222), '[::1]:2222');
  });

  test('knownHostLine round-trips through parseKnownHosts and verifies', () => {
    const blob = fakeBlob('ecdsa-sha2-nistp256');
    const l = knownHostLine('web1', 2222, blob);
    assert.ok(l.startsWith('[web1]:2222 ecdsa-sha2-nistp256 '));
    const entries = parseKnownHosts(l);
    assert.deepEqual(verifyHostKey(entries, 'web1', 2222, blob), { ok: true, keyType: 'ecdsa-sha2-nistp256' });
    assert.equal(knownHostLine('web1', undefined, blob).split(' ')[0], 'web1');
  });

  test('keyTypeOf reads the type string from a blob', () => {
    assert.equal(keyTypeOf(fakeBlob('ssh-ed25519')), 'ssh-ed25519');
    assert.equal(keyTypeOf(Buffer.alloc(2)), 'unknown');
  });
});

describe('patternsMatch', () => {
  test('plain names and lists, case-insensitive', () => {
    assert.equal(patternsMatch('web1', 'web1'), true);
    assert.equal(patternsMatch('WEB1.Example.COM', 'web1.example.com'), true);
    assert.equal(patternsMatch('web1', 'web10'), false);
    assert.equal(patternsMatch('web10', 'web1'), false);
    assert.equal(patternsMatch('a,b,web1', 'web1'), true);
    assert.equal(patternsMatch('a,b', 'web1'), false);
  });

  test('dots are literal, not regex wildcards', () => {
    assert.equal(patternsMatch('10.0.0.1', '10x0x0x1'), false);
    assert.equal(patternsMatch('a+b', 'aab'), false);
    assert.equal(patternsMatch('a+b', 'a+b'), true);
  });

  test('[host]:port', () => {
    assert.equal(patternsMatch('[web1]:2222', '[web1]:2222'), true);
    assert.equal(patternsMatch('[web1]:2222', 'web1'), false);
    assert.equal(patternsMatch('[web1]:2222', '[web1]:2223'), false);
    assert.equal(patternsMatch('web1', '[web1]:2222'), false);
    assert.equal(patternsMatch('[::1]:2222', '[::1]:2222'), true);
  });

  test('wildcards * and ?', () => {
    assert.equal(patternsMatch('*.example.com', 'web1.example.com'), true);
    assert.equal(patternsMatch('*.example.com', 'example.com'), false);
    assert.equal(patternsMatch('web?', 'web1'), true);
    assert.equal(patternsMatch('web?', 'web12'), false);
    assert.equal(patternsMatch('*', 'anything'), true);
    assert.equal(patternsMatch('[web*]:2222', '[web7]:2222'), true);
  });

  test('negation wins over a positive match, and alone never matches', () => {
    assert.equal(patternsMatch('*.example.com,!bad.example.com', 'bad.example.com'), false);
    assert.equal(patternsMatch('*.example.com,!bad.example.com', 'good.example.com'), true);
    assert.equal(patternsMatch('!bad.example.com,*.example.com', 'bad.example.com'), false);
    assert.equal(patternsMatch('!bad', 'good'), false);
  });

  test('hashed |1|salt|hash entries computed by hand', () => {
    const salt = randomBytes(20);
    const hash = (name: string) => `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
    assert.equal(patternsMatch(hash('web1'), 'web1'), true);
    assert.equal(patternsMatch(hash('web1'), 'web2'), false);
    assert.equal(patternsMatch(hash('[web1]:2222'), '[web1]:2222'), true);
    assert.equal(patternsMatch(hash('[web1]:2222'), 'web1'), false);
    assert.equal(patternsMatch('|1|', 'web1'), false);
    assert.equal(patternsMatch('|1|abc', 'web1'), false);
  });
});

describe('hashed entries made by ssh-keygen -H', { skip: noKeygen }, () => {
  test('match the right names only', () => {
    const k1 = genKey('ed25519');
    const k2 = genKey('ecdsa');
    const f = join(dir, 'known_hosts_hash');
    writeFileSync(f, [line('web1.example.com', k1.blob), line('[web2]:2222', k2.blob)].join('\n') + '\n');
    const r = spawnSync('ssh-keygen', ['-H', '-f', f], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const entries = readKnownHosts(f);
    assert.equal(entries.length, 2);
    for (const e of entries) assert.match(e.patterns, /^\|1\|[^|]+\|[^|]+$/);
    assert.deepEqual(verifyHostKey(entries, 'web1.example.com', 22, k1.blob), { ok: true, keyType: 'ssh-ed25519' });
    assert.deepEqual(verifyHostKey(entries, 'web2', 2222, k2.blob), { ok: true, keyType: k2.type });
    assert.equal(verifyHostKey(entries, 'web2', 22, k2.blob).ok, false);
    assert.equal(verifyHostKey(entries, 'web1.example.co', 22, k1.blob).ok, false);
    // ssh-keygen -F agrees that the name is in the file
    const find = spawnSync('ssh-keygen', ['-F', '[web2]:2222', '-f', f], { encoding: 'utf8' });
    assert.equal(find.status, 0);
  });
});

describe('fingerprint', () => {
  test('SHA256: prefix, base64 without padding', () => {
    for (let i = 0; i < 10; i++) {
      const fp = fingerprint(fakeBlob('ssh-ed25519'));
      assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
    }
  });

  test('matches ssh-keygen -lf', { skip: noKeygen }, () => {
    for (const kind of ['ed25519', 'ecdsa', 'rsa'] as const) {
      const k = genKey(kind);
      const r = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', k.pubFile], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const theirs = r.stdout.split(/\s+/)[1];
      assert.equal(fingerprint(k.blob), theirs, kind);
      assert.equal(keyTypeOf(k.blob), k.type);
    }
  });
});

describe('verifyHostKey', () => {
  const good = fakeBlob('ssh-ed25519');
  const other = fakeBlob('ssh-ed25519');
  const rsa = fakeBlob('ssh-rsa');

  test('a known key is ok', () => {
    const e = parseKnownHosts(line('web1', good));
    assert.deepEqual(verifyHostKey(e, 'web1', 22, good), { ok: true, keyType: 'ssh-ed25519' });
    assert.deepEqual(verifyHostKey(e, 'web1', undefined, good), { ok: true, keyType: 'ssh-ed25519' });
  });

  test('no entry for the host: unknown, with type and fingerprint', () => {
    const e = parseKnownHosts(line('web2', good));
    assert.deepEqual(verifyHostKey(e, 'web1', 22, good), { ok: false, reason: 'unknown', keyType: 'ssh-ed25519', fingerprint: fingerprint(good) });
    assert.deepEqual(verifyHostKey([], 'web1', 22, good), { ok: false, reason: 'unknown', keyType: 'ssh-ed25519', fingerprint: fingerprint(good) });
  });

  test('a different key of the same type: changed', () => {
    const e = parseKnownHosts(line('web1', good));
    const v = verifyHostKey(e, 'web1', 22, other);
    assert.deepEqual(v, { ok: false, reason: 'changed', keyType: 'ssh-ed25519', fingerprint: fingerprint(other), entry: e[0] });
  });

  test('only a key of another type known: unknown, not changed', () => {
    const e = parseKnownHosts(line('web1', rsa));
    const v = verifyHostKey(e, 'web1', 22, good);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.reason, 'unknown');
  });

  test('the port matters', () => {
    const e = parseKnownHosts(line('[web1]:2222', good));
    assert.equal(verifyHostKey(e, 'web1', 2222, good).ok, true);
    const v = verifyHostKey(e, 'web1', 22, good);
    assert.equal(!v.ok && v.reason, 'unknown');
    const v2 = verifyHostKey(e, 'web1', 2222, other);
    assert.equal(!v2.ok && v2.reason, 'changed');
  });

  test('any of several keys for a host is ok', () => {
    const e = parseKnownHosts([line('web1', other), line('web1', rsa), line('web1', good)].join('\n'));
    assert.equal(verifyHostKey(e, 'web1', 22, good).ok, true);
    assert.equal(verifyHostKey(e, 'web1', 22, rsa).ok, true);
  });

  test('@revoked beats a matching plain entry', () => {
    const e = parseKnownHosts([line('web1', good), line('*', good, '@revoked')].join('\n'));
    assert.deepEqual(verifyHostKey(e, 'web1', 22, good), { ok: false, reason: 'revoked', keyType: 'ssh-ed25519', fingerprint: fingerprint(good), entry: e[1] });
    // another key for the same host is not revoked by it
    const e2 = parseKnownHosts([line('web1', other), line('*', good, '@revoked')].join('\n'));
    assert.equal(verifyHostKey(e2, 'web1', 22, other).ok, true);
  });

  test('@revoked and @cert-authority entries do not make a key known, nor count as changed', () => {
    const e = parseKnownHosts([line('web1', good, '@cert-authority'), line('web1', other, '@revoked')].join('\n'));
    const v = verifyHostKey(e, 'web1', 22, good);
    // a plain key where a CA is trusted: refused, with its own reason (fap does not verify certificates)
    assert.equal(!v.ok && v.reason, 'cert-authority');
    const onlyRevoked = parseKnownHosts(line('web1', other, '@revoked'));
    const u = verifyHostKey(onlyRevoked, 'web1', 22, good);
    assert.equal(!u.ok && u.reason, 'unknown');
  });

  test('wildcard and negated patterns', () => {
    const e = parseKnownHosts(line('*.example.com,!evil.example.com', good));
    assert.equal(verifyHostKey(e, 'web1.example.com', 22, good).ok, true);
    const v = verifyHostKey(e, 'evil.example.com', 22, good);
    assert.equal(!v.ok && v.reason, 'unknown');
    const v2 = verifyHostKey(e, 'web1.example.com', 22, other);
    assert.equal(!v2.ok && v2.reason, 'changed');
  });
});

describe('preferredHostKeyAlgorithms', () => {
  const ALL = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

  test('nothing known: the default order', () => {
    assert.deepEqual(preferredHostKeyAlgorithms([], 'web1', 22), ALL);
  });

  test('known types come first, the rest follow in default order', () => {
    const e = parseKnownHosts(line('web1', fakeBlob('ecdsa-sha2-nistp384')));
    assert.deepEqual(preferredHostKeyAlgorithms(e, 'web1', 22), [
      'ecdsa-sha2-nistp384',
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp521',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
  });

  test('an ssh-rsa key brings all three RSA signature algorithms forward, strongest first', () => {
    const e = parseKnownHosts([line('web1', fakeBlob('ssh-rsa')), line('web1', fakeBlob('ecdsa-sha2-nistp521'))].join('\n'));
    assert.deepEqual(preferredHostKeyAlgorithms(e, 'web1', 22), [
      'ecdsa-sha2-nistp521',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
    ]);
  });

  test('only entries for this host and port count; markers are ignored', () => {
    const e = parseKnownHosts(
      [
        line('web2', fakeBlob('ssh-rsa')),
        line('web1', fakeBlob('ssh-rsa'), '@revoked'),
        line('web1', fakeBlob('ecdsa-sha2-nistp256'), '@cert-authority'),
        line('[web1]:2222', fakeBlob('ecdsa-sha2-nistp256')),
      ].join('\n'),
    );
    assert.deepEqual(preferredHostKeyAlgorithms(e, 'web1', 22), ALL);
    assert.equal(preferredHostKeyAlgorithms(e, 'web1', 2222)[0], 'ecdsa-sha2-nistp256');
  });

  test('always a permutation of the full list', () => {
    const e = parseKnownHosts([line('web1', fakeBlob('ssh-rsa')), line('web1', fakeBlob('ssh-ed25519')), line('web1', fakeBlob('weird-type'))].join('\n'));
    const out = preferredHostKeyAlgorithms(e, 'web1', 22);
    assert.deepEqual([...out].sort(), [...ALL].sort());
    assert.equal(out[0], 'ssh-ed25519');
    assert.equal(out[1], 'rsa-sha2-512');
  });
});

test('--dry-run under accept-new: a new key is accepted for the connection and written to no file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-kh-dry-'));
  const file = join(dir, 'known_hosts');
  writeFileSync(file, '');
  const blob = Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', 'base64');
  const r = checkHostKey({ files: [file], host: 'web1', port: 22, mode: 'accept-new', dryRun: true }, [], blob);
  assert.equal(r.accept, true);
  assert.equal(r.added, undefined);
  assert.equal(readFileSync(file, 'utf8'), '');
});
