// Secrets never reach output: every reporter passes text through redact(). Values are registered
// while the configuration is resolved (see registerSecrets in config/resolve.ts for the rule).
//
// A value is searched for in every form fap or a host can print it in: raw, shell-quoted (once and
// nested, as quote() writes .env lines inside a quoted printf argument), inside double quotes,
// JSON-escaped, URL-encoded, and line by line (a PEM key printed by a per-line tail, `fap run`
// output split at newlines). Every occurrence of every form is masked, overlapping ones as one run.

const secrets = new Set<string>();
const MIN_LEN = 3; // shorter values ("1", "on") would blank out ordinary output
export const MASK = '***';

let patterns: string[] | undefined;
let bytePatterns: string[] | undefined;

export function addSecret(value: unknown): void {
  if (typeof value !== 'string' && typeof value !== 'number') return;
  const s = String(value);
  if (s.length < MIN_LEN || secrets.has(s)) return;
  secrets.add(s);
  patterns = bytePatterns = undefined;
}

/** Forget every secret (tests that register their own). */
export function clearSecrets(): void {
  secrets.clear();
  patterns = bytePatterns = undefined;
}

const shellEscape = (s: string) => s.replace(/'/g, `'\\''`);
const dquoteEscape = (s: string) => s.replace(/["$`\\]/g, '\\$&');
const jsonInner = (s: string) => JSON.stringify(s).slice(1, -1);

function tryEncode(f: (s: string) => string, s: string): string | undefined {
  try {
    return f(s);
  } catch {
    return undefined; // a lone surrogate cannot be URL-encoded, so it is never printed that way
  }
}

/** Every form a secret can take in output. */
export function secretForms(s: string): string[] {
  const out = new Set<string>();
  const add = (x: string | undefined) => {
    if (x !== undefined && x.length >= MIN_LEN) out.add(x);
  };
  const once = shellEscape(s);
  const bases = [
    s,
    once,
    shellEscape(once),
    dquoteEscape(s),
    tryEncode(encodeURIComponent, s),
    tryEncode(encodeURI, s),
    tryEncode((x) => new URLSearchParams({ v: x }).toString().slice(2), s),
    // %2f as well as %2F: both are the same encoding, and tools write either (found by the attack pass)
    tryEncode((x) => encodeURIComponent(x).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), s),
  ];
  for (const b of bases) {
    if (b === undefined) continue;
    const lines = b.split(/\r\n|\n|\r/);
    // a line too short to be a secret on its own is not one once escaped either
    for (const c of [b, ...lines, ...lines.map((l) => l.trim())].filter((x) => x.length >= MIN_LEN)) {
      add(c);
      add(jsonInner(c));
    }
  }
  return [...out];
}

function currentPatterns(): string[] {
  // longest first: ties between overlapping matches do not matter (they merge), but it keeps the
  // search cheap to reason about
  patterns ??= [...new Set([...secrets].flatMap(secretForms))].sort((a, b) => b.length - a.length);
  return patterns;
}

/**
 * The forms as their UTF-8 bytes, one latin1 character per byte: output searched as bytes (fap
 * run's, passed through unchanged) finds a secret however its characters are encoded there.
 */
function currentBytePatterns(): string[] {
  bytePatterns ??= [...new Set(currentPatterns().map((p) => Buffer.from(p, 'utf8').toString('latin1')))].sort((a, b) => b.length - a.length);
  return bytePatterns;
}

/** [start, end) runs of `text` covered by an occurrence of some form of some secret, merged. */
function coveredRuns(text: string, forms = currentPatterns()): [number, number][] {
  const runs: [number, number][] = [];
  for (const p of forms) {
    for (let i = text.indexOf(p); i >= 0; i = text.indexOf(p, i + 1)) runs.push([i, i + p.length]);
  }
  if (!runs.length) return runs;
  runs.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [runs[0]];
  for (const [a, b] of runs.slice(1)) {
    const last = merged[merged.length - 1];
    if (a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  return merged;
}

export function redact(text: string): string {
  return redactForms(text, currentPatterns);
}

function redactForms(text: string, forms: () => string[]): string {
  if (!secrets.size || !text) return text;
  const runs = coveredRuns(text, forms());
  if (!runs.length) return text;
  let out = '';
  let at = 0;
  for (const [a, b] of runs) {
    out += text.slice(at, a) + MASK;
    at = b;
  }
  return out + text.slice(at);
}

/** redact() applied to every string (and map key) of a JSON-like value; the structure stays valid. */
export function redactDeep<T>(value: T): T {
  if (!secrets.size) return value;
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactDeep(v)])) as T;
  }
  return value;
}

/**
 * Masks a stream of text (a remote command's output) so a secret split across chunks is still found
 * whole. Text goes out a line at a time, except what could still be part of a secret: a run that
 * is already a secret, or a tail that is the start of one (a multi-line key cut at a newline) waits
 * for more. A line longer than `bound` goes out in pieces cut the same way; the rest goes at end().
 */
export class LineMasker {
  private buf = '';

  /**
   * `out` receives masked text; with `prefix` (or `aligned`), whole lines only, each written as
   * prefix + line + newline (a last line without one gets it at end()).
   */
  constructor(
    private readonly out: (text: string) => void,
    private readonly prefix = '',
    private readonly bound = 64 * 1024,
    private readonly aligned = prefix !== '',
    /** what is searched for (ByteMasker: the forms as bytes) */
    private readonly forms: () => string[] = currentPatterns,
  ) {}

  /** Masked lines one at a time, without their newline (fap --json run: one event per line). */
  static lines(onLine: (line: string) => void, bound?: number): LineMasker {
    return new LineMasker((text) => text.split('\n').slice(0, -1).forEach(onLine), '', bound, true);
  }

  write(chunk: string): void {
    this.buf += chunk;
    const lineEnd = this.buf.lastIndexOf('\n') + 1;
    const long = this.buf.length - lineEnd > this.bound;
    let cut = this.safeCut(long ? this.buf.length : lineEnd);
    // prefixed output is whole lines, unless one line outgrew the bound
    if (this.aligned && !long) cut = this.buf.lastIndexOf('\n', cut - 1) + 1;
    if (cut <= 0) return;
    this.emit(this.buf.slice(0, cut));
    this.buf = this.buf.slice(cut);
  }

  end(): void {
    if (this.buf) this.emit(this.buf);
    this.buf = '';
  }

  /** The largest cut <= `cut` that no secret, whole or still arriving, straddles. */
  private safeCut(cut: number): number {
    const b = this.buf;
    const pats = this.forms();
    for (let moved = true; moved && cut > 0; ) {
      moved = false;
      for (const [x, y] of coveredRuns(b, pats)) {
        if (x < cut && cut < y) {
          cut = x;
          moved = true;
        }
      }
      for (const p of pats) {
        for (let i = Math.max(0, b.length - p.length + 1); i < cut; i++) {
          if (b.charCodeAt(i) === p.charCodeAt(0) && p.startsWith(b.slice(i))) {
            cut = i;
            moved = true;
            break;
          }
        }
      }
    }
    if (cut > 0 && /[\uD800-\uDBFF]/.test(b[cut - 1])) cut--;
    return cut;
  }

  private emit(text: string): void {
    const masked = redactForms(text, this.forms);
    if (!this.aligned) return void this.out(masked);
    const lines = masked.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const prefix = redact(this.prefix);
    this.out(lines.map((l) => `${prefix}${l}\n`).join(''));
  }
}

/**
 * A LineMasker for bytes: fap run's output passed through as the command wrote it (binary, any
 * encoding); every byte that is no part of a secret goes out unchanged.
 */
export class ByteMasker {
  private readonly inner: LineMasker;

  constructor(out: (bytes: Buffer) => void, bound?: number) {
    // one latin1 character per byte: the text masker's cuts and masks, byte for byte
    this.inner = new LineMasker((text) => out(Buffer.from(text, 'latin1')), '', bound, false, currentBytePatterns);
  }

  write(chunk: Buffer): void {
    this.inner.write(chunk.toString('latin1'));
  }

  end(): void {
    this.inner.end();
  }
}

/**
 * A URL's secrets, raw and decoded: the password (and user:password) of its userinfo, and the
 * value of every query (or fragment) parameter named like a credential.
 */
export function addUrlSecrets(url: string): void {
  addUserinfoSecrets(url);
  addQuerySecrets(url);
}

/**
 * A query parameter name that carries a credential: an S3 or GCS presigned URL's X-Amz-Signature,
 * X-Amz-Credential, X-Amz-Security-Token, X-Goog-Signature; an Azure SAS's sig; access_token,
 * api_key, password, ... (case-insensitive; sig, pwd, pass and jwt only as a whole word of the name).
 */
export const SECRET_PARAM = /signature|credential|secret|passw|passphrase|token|key|auth|session|(?:^|[^a-z0-9])(?:sig|pwd|pass|jwt)(?:[^a-z0-9]|$)/i;

/**
 * The values of a URL's query and fragment parameters named like a credential (found by the attack
 * pass: a presigned --curl-url's X-Amz-Signature, a repo's ?token=, were printed). Raw, %-decoded
 * and form-decoded (+ for a space): each is how some tool may print it.
 */
function addQuerySecrets(url: string): void {
  const q = url.indexOf('?');
  const h = url.indexOf('#');
  const parts = [q >= 0 ? url.slice(q + 1, h > q ? h : undefined) : '', h >= 0 ? url.slice(h + 1) : ''];
  for (const param of parts.join('&').split(/[&;]/)) {
    const eq = param.indexOf('=');
    if (eq <= 0) continue;
    const name = param.slice(0, eq);
    const value = param.slice(eq + 1);
    if (!SECRET_PARAM.test(name) && !SECRET_PARAM.test(decoded(name))) continue;
    addSecret(value);
    addSecret(decoded(value));
    addSecret(decoded(value.replace(/\+/g, ' ')));
  }
}

/** %-decoded, or as it is when it is no valid %-encoding */
function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The password (and user:password) of a URL's userinfo, raw and decoded: with a scheme or without
 * one (curl takes `user:pw@host/x.tgz` as http; found by the attack pass: such a password was
 * printed in the error that refused it).
 */
function addUserinfoSecrets(url: string): void {
  // userinfo ends at the LAST @ before the host: a raw @ in a password belongs to the password; a
  // scheme is followed by a slash (http:/ too), so ci:pw@host is userinfo, not a scheme "ci"
  const m = /^\s*(?:[a-z][a-z0-9+.-]*:\/+)?([^/?#]*)@/i.exec(url);
  if (!m) return;
  const info = m[1];
  const colon = info.indexOf(':');
  // https://TOKEN@host/...: over HTTP a user part alone is a token (GitHub, GitLab), not a login
  // name as in ssh://git@host
  if (colon < 0 && !/^https?:/i.test(url)) return;
  const password = colon < 0 ? info : info.slice(colon + 1);
  for (const s of [info, password]) {
    addSecret(s);
    try {
      addSecret(decodeURIComponent(s));
    } catch {
      /* not %-encoded */
    }
  }
}

export const SECRET_NAME = /password|passwd|passphrase|secret|token|key|credential/i;
