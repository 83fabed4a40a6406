// known_hosts as OpenSSH reads it: plain and hashed (|1|salt|hash) host patterns, [host]:port,
// wildcards and negation, @revoked and @cert-authority markers.
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string;
  keyType: string;
  key: Buffer;
  line: number;
  /** the file it came from (readKnownHostsFiles) */
  file?: string;
}

export type Verdict =
  | { ok: true; keyType: string }
  | { ok: false; reason: 'unknown' | 'changed' | 'revoked' | 'cert-authority'; keyType: string; fingerprint: string; entry?: KnownHostEntry };

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

/**
 * Every file OpenSSH consults, in order (user files, then global ones), as one list of entries: a
 * key matches, conflicts or is revoked whichever file holds the entry.
 */
export function readKnownHostsFiles(files: readonly string[]): KnownHostEntry[] {
  return files.flatMap((file) => readKnownHosts(file).map((e) => ({ ...e, file })));
}

/** The name OpenSSH looks up and writes: host for port 22, [host]:port otherwise; lowercased, as ssh does before hashing or matching. */
export function lookupName(host: string, port = 22): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** The name looked up and written for a host: its HostKeyAlias as is (no [..]:port, like OpenSSH), else lookupName. */
export function hostKeyName(host: string, port = 22, alias?: string): string {
  return alias ? alias.toLowerCase() : lookupName(host, port);
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

export function knownHostLine(host: string, port: number | undefined, blob: Buffer, alias?: string): string {
  return `${hostKeyName(host, port, alias)} ${keyTypeOf(blob)} ${blob.toString('base64')}`;
}

export function verifyHostKey(entries: KnownHostEntry[], host: string, port: number | undefined, blob: Buffer, alias?: string): Verdict {
  const name = hostKeyName(host, port, alias);
  const keyType = keyTypeOf(blob);
  const fp = fingerprint(blob);
  const mine = entries.filter((e) => patternsMatch(e.patterns, name));
  const revoked = mine.find((e) => e.marker === '@revoked' && e.key.equals(blob));
  if (revoked) return { ok: false, reason: 'revoked', keyType, fingerprint: fp, entry: revoked };
  if (mine.some((e) => !e.marker && e.key.equals(blob))) return { ok: true, keyType };
  const sameType = mine.find((e) => !e.marker && e.keyType === keyType);
  if (sameType) return { ok: false, reason: 'changed', keyType, fingerprint: fp, entry: sameType };
  // A CA is trusted for this host, but the host showed a plain key, not a certificate signed by it.
  const ca = mine.find((e) => e.marker === '@cert-authority');
  if (ca) return { ok: false, reason: 'cert-authority', keyType, fingerprint: fp, entry: ca };
  return { ok: false, reason: 'unknown', keyType, fingerprint: fp };
}

export interface HostKeyCheck {
  /** user known_hosts files, then global ones: all consulted; only the first is ever written */
  files: readonly string[];
  host: string;
  port?: number;
  /** HostKeyAlias */
  alias?: string;
  mode: 'strict' | 'accept-new' | 'off';
  /** --dry-run: accept-new accepts a new key for this connection and adds it to no file */
  dryRun?: boolean;
}

/**
 * StrictHostKeyChecking over every file: a match anywhere is ok; a changed or revoked key anywhere is
 * refused even under accept-new; a key unknown to every file is appended, under accept-new, to the
 * first file only. `entries` is readKnownHostsFiles(files), read once per connection.
 */
export function checkHostKey(c: HostKeyCheck, entries: KnownHostEntry[], blob: Buffer): { accept: boolean; added?: string; verdict: Verdict } {
  const verdict = verifyHostKey(entries, c.host, c.port, blob, c.alias);
  if (verdict.ok || c.mode === 'off') return { accept: true, verdict };
  // a dry run accepts a new key as the real run would, and records nothing: its plan is then read
  // from the host (it planned from nothing, and a dry rollback refused what the real one did)
  if (c.mode === 'accept-new' && verdict.reason === 'unknown' && c.dryRun) return { accept: true, verdict };
  if (c.mode === 'accept-new' && verdict.reason === 'unknown' && !c.dryRun) {
    const file = c.files[0];
    mkdirSync(dirname(file), { recursive: true });
    let existing = '';
    try {
      existing = readFileSync(file, 'utf8');
    } catch {
      /* a new file */
    }
    appendFileSync(file, appendText(existing, knownHostLine(c.host, c.port, blob, c.alias)));
    return { accept: true, added: file, verdict };
  }
  return { accept: false, verdict };
}

/** Host key algorithms to ask for, preferring those known_hosts already has for this host. */
export function preferredHostKeyAlgorithms(entries: KnownHostEntry[], host: string, port: number | undefined, alias?: string): string[] {
  const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const name = hostKeyName(host, port, alias);
  const known = new Set<string>();
  for (const e of entries) {
    if (e.marker || !patternsMatch(e.patterns, name)) continue;
    if (e.keyType === 'ssh-rsa') ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'].forEach((a) => known.add(a));
    else known.add(e.keyType);
  }
  return [...all.filter((a) => known.has(a)), ...all.filter((a) => !known.has(a))];
}
