// Secrets never reach output: every reporter passes text through redact(). Values are registered
// while the configuration is resolved (values from ${VAR}, secret-named environment keys, and keys
// a schema marks secret).

const secrets = new Set<string>();
const MIN_LEN = 3; // shorter values ("1", "on") would blank out ordinary output

export function addSecret(value: unknown): void {
  if (typeof value !== 'string' && typeof value !== 'number') return;
  const s = String(value);
  if (s.length >= MIN_LEN) secrets.add(s);
}

export function redact(text: string): string {
  if (!secrets.size || !text) return text;
  let out = text;
  // longest first, so a secret that contains another is hidden whole
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}

/** The password (and user:password) of a URL's userinfo, raw and decoded. */
export function addUrlSecrets(url: string): void {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(url);
  if (!m) return;
  const info = m[1];
  const colon = info.indexOf(':');
  if (colon < 0) return;
  const password = info.slice(colon + 1);
  for (const s of [info, password]) {
    addSecret(s);
    try {
      addSecret(decodeURIComponent(s));
    } catch {
      /* not %-encoded */
    }
  }
}

export const SECRET_NAME = /password|passwd|secret|token|key|credential/i;
