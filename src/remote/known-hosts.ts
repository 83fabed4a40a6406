// known_hosts as OpenSSH reads it: plain and hashed (|1|salt|hash) host patterns, [host]:port,
// wildcards and negation, @revoked and @cert-authority markers.
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string;
  keyType: string;
  key: Buffer;
  line: number;
}

export type Verdict =
  | { ok: true; keyType: string }
  | { ok: false; reason: 'unknown' | 'changed' | 'revoked' | 'cert-authority'; keyType: string; fingerprint: string };

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (parts[0] === '@revoked' || parts[0] === '@cert-authority') marker = parts.shift() as KnownHostEntry['marker'];
    if (parts.length < 3) return;
    const [patterns, keyType, b64] = parts;
    out.push({ marker, patterns, keyType, key: Buffer.from(b64, 'base64'), line: i + 1 });
  });
  return out;
}

export function readKnownHosts(file: string): KnownHostEntry[] {
  try {
    return parseKnownHosts(readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** The name OpenSSH looks up and writes: host for port 22, [host]:port otherwise; lowercased, as ssh does before hashing or matching. */
export function lookupName(host: string, port = 22): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** Text to append a line to a known_hosts file whose current content is `existing`: never glued to an unterminated last line. */
export function appendText(existing: string, line: string): string {
  return (existing && !existing.endsWith('\n') ? '\n' : '') + line + '\n';
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return re.test(name);
}

export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/** The key type named inside an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export function knownHostLine(host: string, port: number | undefined, blob: Buffer): string {
  return `${lookupName(host, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}`;
}

export function verifyHostKey(entries: KnownHostEntry[], host: string, port: number | undefined, blob: Buffer): Verdict {
  const name = lookupName(host, port);
  const keyType = keyTypeOf(blob);
  const fp = fingerprint(blob);
  const mine = entries.filter((e) => patternsMatch(e.patterns, name));
  if (mine.some((e) => e.marker === '@revoked' && e.key.equals(blob))) return { ok: false, reason: 'revoked', keyType, fingerprint: fp };
  if (mine.some((e) => !e.marker && e.key.equals(blob))) return { ok: true, keyType };
  const sameType = mine.filter((e) => !e.marker && e.keyType === keyType);
  if (sameType.length) return { ok: false, reason: 'changed', keyType, fingerprint: fp };
  // A CA is trusted for this host, but the host showed a plain key, not a certificate signed by it.
  if (mine.some((e) => e.marker === '@cert-authority')) return { ok: false, reason: 'cert-authority', keyType, fingerprint: fp };
  return { ok: false, reason: 'unknown', keyType, fingerprint: fp };
}

/** Host key algorithms to ask for, preferring those known_hosts already has for this host. */
export function preferredHostKeyAlgorithms(entries: KnownHostEntry[], host: string, port: number | undefined): string[] {
  const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const name = lookupName(host, port);
  const known = new Set<string>();
  for (const e of entries) {
    if (e.marker || !patternsMatch(e.patterns, name)) continue;
    if (e.keyType === 'ssh-rsa') ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'].forEach((a) => known.add(a));
    else known.add(e.keyType);
  }
  return [...all.filter((a) => known.has(a)), ...all.filter((a) => !known.has(a))];
}
