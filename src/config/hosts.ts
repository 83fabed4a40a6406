// Host strings as users write them in deploy.yml: host, user@host, user@host:port, [v6]:port,
// or a map {host, user, port}.

export interface HostSpec {
  /** what the user wrote, normalised: used as the host's name in output */
  name: string;
  hostname: string;
  user?: string;
  port?: number;
  /** `local`: the machine running fap, reached without SSH (src/transport/local.ts) */
  local?: true;
}

/** The host name that means the machine running fap, without SSH. */
export const LOCAL_HOST = 'local';

const HOSTNAME = /^[A-Za-z0-9_.-]+$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function parseHost(value: unknown): HostSpec {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const m = value as Record<string, unknown>;
    const known = new Set(['host', 'user', 'port']);
    for (const k of Object.keys(m)) if (!known.has(k)) throw new Error(`unknown host key "${k}" (expected host, user, port)`);
    if (typeof m.host !== 'string') throw new Error('a host map needs "host"');
    const spec = parseHost(m.host);
    if (spec.local && (m.user !== undefined || m.port !== undefined)) throw new Error('the local host takes no user or port (work runs as the user running fap, or as sudo_user)');
    if (m.user !== undefined) spec.user = checkUser(String(m.user));
    if (m.port !== undefined) spec.port = checkPort(String(m.port));
    spec.name = formatHost(spec);
    return spec;
  }
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`a host must be a string or a map, not ${describe(value)}`);
  const raw = String(value).trim();
  if (!raw) throw new Error('empty host');
  let rest = raw;
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = checkUser(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  let hostname: string;
  let port: number | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new Error(`unclosed "[" in host "${raw}"`);
    hostname = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after) {
      if (!after.startsWith(':')) throw new Error(`unexpected "${after}" after "]" in host "${raw}"`);
      port = checkPort(after.slice(1));
    }
    if (!/^[0-9A-Fa-f:.%a-z]+$/.test(hostname)) throw new Error(`"${hostname}" is not an IPv6 address`);
  } else {
    const colons = rest.split(':').length - 1;
    if (colons > 1) throw new Error(`IPv6 address "${rest}" must be written as [${rest}] or [${rest}]:port`);
    const [h, p] = rest.split(':');
    hostname = h;
    if (p !== undefined) port = checkPort(p);
    if (!HOSTNAME.test(hostname)) throw new Error(`"${hostname}" is not a valid host name`);
  }
  if (hostname === LOCAL_HOST) {
    // the machine running fap: work runs as whoever runs fap (or sudo_user), no SSH to configure
    if (user || port) throw new Error(`"${raw}": the local host takes no user or port (work runs as the user running fap, or as sudo_user)`);
    return { name: LOCAL_HOST, hostname, local: true };
  }
  const spec: HostSpec = { name: '', hostname, user, port };
  spec.name = formatHost(spec);
  return spec;
}

export function formatHost(h: Omit<HostSpec, 'name'>): string {
  const host = h.hostname.includes(':') ? `[${h.hostname}]` : h.hostname;
  return `${h.user ? h.user + '@' : ''}${host}${h.port ? ':' + h.port : ''}`;
}

function checkUser(u: string): string {
  if (!USER.test(u)) throw new Error(`"${u}" is not a valid user name`);
  return u;
}

function checkPort(p: string): number {
  if (!/^\d+$/.test(p)) throw new Error(`port "${p}" is not a number`);
  const n = Number(p);
  if (n < 1 || n > 65535) throw new Error(`port ${n} is out of range 1-65535`);
  return n;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v;
}
