// A URL's query (or fragment) parameters named like a credential are secrets, raw and decoded: an
// S3/GCS presigned --curl-url's X-Amz-Signature and X-Amz-Credential, a repo's ?token= (found by
// the attack pass: fap check's row, -v scripts and fap config printed them). Generative over URLs,
// then through the real CLI (hosts: [local], an HTTP server that refuses with 403).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { fap } from '../helpers.js';
import { addUrlSecrets, clearSecrets, redact, SECRET_PARAM } from '../../src/redact.js';

const SECRET_NAMES = [
  'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token', 'X-Goog-Signature', 'X-Goog-Credential', 'Signature', 'sig', 'sv-sig',
  'token', 'access_token', 'private_token', 'auth', 'auth_token', 'key', 'api_key', 'apikey', 'AWSAccessKeyId', 'password', 'passwd', 'pwd',
  'pass', 'secret', 'client_secret', 'credential', 'jwt', 'session_id',
];
/** parameters that are no credential: shown as they are */
const PLAIN = ['X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Expires=300', 'X-Amz-SignedHeaders=host', 'ref=main', 'page=12'];

const secretName = fc.constantFrom(...SECRET_NAMES).chain((n) => fc.constantFrom(n, n.toLowerCase(), n.toUpperCase()));
/** a value as written in a URL: %-encoded bytes, + (a space in a form), = (fine after the first) */
const rawValue = (minLength: number) => fc.string({ unit: fc.constantFrom('Q', '9', '_', '~', '%2F', '%2B', '+', '%20', '%E2%82%AC', '=', 'é'), minLength, maxLength: 24 });

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};
/** every form in which a value could be printed */
const leaks = (raw: string) =>
  [...new Set([raw, decode(raw), decode(raw.replace(/\+/g, ' ')), encodeURIComponent(decode(raw)), JSON.stringify(decode(raw)).slice(1, -1)])].filter((x) => x.length >= 3);

const urlArb = (minLength: number) =>
  fc
    .record({
      scheme: fc.constantFrom('https://', 'http://', 'HTTPS://', ''),
      secrets: fc.array(fc.tuple(secretName, rawValue(minLength)), { minLength: 1, maxLength: 3 }),
      plain: fc.subarray(PLAIN),
      fragment: fc.boolean(),
      order: fc.nat(),
    })
    .map(({ scheme, secrets, plain, fragment, order }) => {
      const params = [...secrets.map(([n, v]) => `${n}=${v}`), ...plain];
      // a rotation: the secrets anywhere among the others
      const at = order % params.length;
      const rotated = [...params.slice(at), ...params.slice(0, at)];
      const [query, hash] = fragment && secrets.length > 1 ? [rotated.filter((p) => p !== `${secrets[0][0]}=${secrets[0][1]}`), [`${secrets[0][0]}=${secrets[0][1]}`]] : [rotated, []];
      const url = `${scheme}files.example.com/b/x.tgz?${query.join('&')}${hash.length ? `#${hash.join('&')}` : ''}`;
      return { url, secrets: secrets.map(([, v]) => v), plain };
    });

describe('query parameters named like a credential', () => {
  test('the names: every one of the brief\'s, any case; ordinary names are not', () => {
    for (const n of SECRET_NAMES) for (const c of [n, n.toLowerCase(), n.toUpperCase()]) assert.match(c, SECRET_PARAM);
    for (const p of PLAIN) assert.doesNotMatch(p.split('=')[0], SECRET_PARAM);
  });

  test('their values are masked in every form the URL is printed in (raw, quoted, JSON, curl config); the other parameters stay', () => {
    fc.assert(
      fc.property(urlArb(3), ({ url, secrets, plain }) => {
        clearSecrets();
        addUrlSecrets(url);
        for (const text of [url, `'${url}'`, JSON.stringify({ url }), `url = "${url}"`, `fatal: unable to access '${url}/': 403`]) {
          const shown = redact(text);
          for (const v of secrets) for (const leak of leaks(v)) assert.ok(!shown.includes(leak), `${JSON.stringify(leak)} in ${shown}`);
          for (const p of plain) assert.ok(shown.includes(p), `${p} kept in ${shown}`);
          assert.ok(shown.includes('files.example.com/b/x.tgz?'), shown);
        }
      }),
      { numRuns: 500 },
    );
    clearSecrets();
  });
});

describe('through fap (hosts: [local])', () => {
  let server: Server;
  let base = '';
  before(async () => {
    server = createServer((_, res) => res.writeHead(403).end('denied'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const me = userInfo().username;
  function deployFile(top: Record<string, unknown>): string {
    const dir = mkdtempSync(join(tmpdir(), 'fap-url-query-'));
    const file = join(dir, 'deploy.yml');
    writeFileSync(file, stringify({ app_name: 'shop', path: join(dir, 'srv'), sudo_user: me, ...top, stage_role_configs: { production: { web: { hosts: ['local'] } } } }));
    return file;
  }

  test('fap check (text and --json), -v --dry-run and fap config never show them: a presigned --curl-url, a repo with ?token=', async () => {
    await fc.assert(
      fc.asyncProperty(urlArb(8), fc.constantFrom('curl', 'git'), async ({ url, secrets }, plugin) => {
        const target = `${base}/${url.replace(/^.*?files\.example\.com\//i, '')}`;
        const file = deployFile(plugin === 'git' ? { repo: target } : { plugins: ['curl'] });
        const extra = plugin === 'curl' ? ['--curl-url', target] : [];
        const runs = [
          ['check', 'production', ...extra],
          ['--json', 'check', 'production', ...extra],
          ['-v', '--dry-run', plugin === 'git' ? 'deploy' : 'release', 'production', ...extra],
          ['config', 'production', ...extra],
        ];
        for (const args of runs) {
          const r = await fap(['-f', file, ...args]);
          const out = r.stdout + r.stderr;
          // the URL is there (masked), so the check is not vacuous
          assert.ok(out.includes(`${base}/b/x.tgz?`) || out.includes(JSON.stringify(`${base}/b/x.tgz?`).slice(1, -1)), `${args.join(' ')}: ${out}`);
          for (const v of secrets) for (const leak of leaks(v)) assert.ok(!out.includes(leak), `${args.join(' ')}: ${JSON.stringify(leak)} in ${out}`);
        }
      }),
      { numRuns: 4 },
    );
  });
});
