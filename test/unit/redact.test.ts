// Secrets in every form they can take never reach output: generative tests over hostile secrets
// (quotes, backslashes, newlines, unicode, %, $, @) through the event bus and its reporters, the
// scripts -v and --dry-run print, a real failing script's error (message, stderr tail, command),
// `fap config`, and `fap run`'s line masker under any chunking. Plus which values are secret.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { parseDeployText } from '../../src/config/load.js';
import { allKeys, resolveRole } from '../../src/config/resolve.js';
import { displayValues, formatConfig } from '../../src/config/show.js';
import { HostError } from '../../src/errors.js';
import { bundledKeys } from '../../src/plugin/load.js';
import { EventBus, type FapEvent } from '../../src/events.js';
import { addSecret, addUrlSecrets, ByteMasker, clearSecrets, LineMasker, redact, redactDeep } from '../../src/redact.js';
import { layout } from '../../src/release/paths.js';
import { prepareEndSteps } from '../../src/release/scripts.js';
import type { Connection } from '../../src/remote/connection.js';
import { Runner } from '../../src/remote/runner.js';
import { composeScript, type Step } from '../../src/remote/shell.js';
import { plainLine } from '../../src/report/plain.js';

const base = mkdtempSync(join(tmpdir(), 'fap-redact-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** Secrets an output path would love to mangle: every piece a quoting or escaping layer touches. */
const secretArb = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
      fc.constantFrom("'", '"', '\\', '\n', '\r\n', '%', '%41', '$', '$(id)', '`', '@', ':', '/', ' ', '\t', 'é', '😀', '{"a":', '-----BEGIN PRIVATE KEY-----\n', 'MIIEvQIBADANBgkqhkiG9w0B\n'),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((a) => a.join(''))
  // '*' is what a mask is made of; NUL cannot be in an environment variable
  .filter((s) => s.length >= 3 && !s.includes('*') && !s.includes('\u0000'));

const shellEscape = (s: string) => s.replace(/'/g, `'\\''`);
const jsonInner = (s: string) => JSON.stringify(s).slice(1, -1);

/** What must never be found in output: the secret, each of its lines, escaped as output escapes them. */
function needles(s: string): string[] {
  const lines = s.split(/\r\n|\n|\r/).map((l) => l.trim());
  const out = new Set<string>();
  for (const x of [s, ...lines].filter((l) => l.length >= 3)) for (const f of [x, jsonInner(x), shellEscape(x), shellEscape(shellEscape(x)), encodeURIComponentSafe(x)]) if (f.length >= 3) out.add(f);
  return [...out];
}

function assertNoLeak(text: string, s: string, where: string): void {
  for (const n of needles(s)) assert.ok(!text.includes(n), `${where} leaks ${JSON.stringify(n)} of secret ${JSON.stringify(s)}:\n${text}`);
}

/** Everything a reporter prints for an event: the --json line and the -v plain line. */
function printed(bus: EventBus, e: FapEvent): string {
  const seen: string[] = [];
  const l = (x: FapEvent & { ts: string }) => {
    seen.push(JSON.stringify(x), plainLine(x, { json: false, verbose: true, quiet: false, color: false, tty: false }) ?? '');
  };
  bus.on(l);
  bus.emit(e);
  return seen.join('\n');
}

/** A transport that runs the script with the local /bin/sh (the runner and the scripts are real). */
function localShell(cwd: string): Connection {
  return {
    runScript: async (script: string) => {
      const r = spawnSync('/bin/sh', ['-c', script], { cwd, encoding: 'utf8' });
      return { code: r.status ?? 255, stdout: r.stdout, stderr: r.stderr };
    },
  } as unknown as Connection;
}

async function failure(steps: Step[], cwd: string): Promise<HostError> {
  const bus = new EventBus();
  try {
    await new Runner(bus, false).run(localShell(cwd), 'web1', 'prepare', steps);
  } catch (e) {
    assert.ok(e instanceof HostError, String(e));
    return e;
  }
  assert.fail('the script was meant to fail');
}

describe('redaction of every form of a secret', () => {
  test('event bus: --json and plain lines of events carrying a secret in any form (300 cases)', () => {
    fc.assert(
      fc.property(secretArb, fc.string({ maxLength: 8 }), (s, noise) => {
        clearSecrets();
        addSecret(s);
        const bus = new EventBus();
        const p = layout('/srv/app', '20260101000000');
        const steps = prepareEndSteps(p, { environment: { K: s, URL: `postgres://u:${s}@db/x`, PLAIN: 'visible' }, linkedFiles: [], linkedDirs: [] });
        const events: FapEvent[] = [
          { event: 'log', host: 'web1', plugin: 'x', message: `${noise}${s}${noise}` },
          { event: 'log', host: 'web1', plugin: 'x', message: JSON.stringify({ v: s }) },
          { event: 'log', host: 'web1', plugin: 'x', message: encodeURIComponentSafe(s) },
          // what -v and --dry-run print, and the script text with only the redaction layer to protect it
          { event: 'script', host: 'web1', phase: 'prepare', script: composeScript(steps, { shown: true }), verbose: true },
          { event: 'script', host: 'web1', phase: 'prepare', script: composeScript(steps), verbose: true },
          { event: 'host.failed', host: 'web1', step: 'x', message: `web1: x: ${s}`, stderr: s.split('\n').slice(-2).join('\n'), command: steps[0].script.split('\n').slice(0, 3).join('\n') },
        ];
        for (const e of events) {
          const out = printed(bus, e);
          assertNoLeak(out, s, e.event);
          for (const line of out.split('\n')) if (line.startsWith('{')) JSON.parse(line); // still valid JSON
        }
        assert.ok(printed(bus, events[3]).includes('PLAIN=visible'), 'values that are not secret are shown');
      }),
      { numRuns: 300 },
    );
  });

  test('the .env step prints *** for secrets but sends the real values', () => {
    clearSecrets();
    const s = "it's a \"pem\"\n-----BEGIN KEY-----\nabc\\def\n";
    addSecret(s);
    const p = layout('/srv/app', '20260101000000');
    const [step] = prepareEndSteps(p, { environment: { K: s, PLAIN: 'visible' }, linkedFiles: [], linkedDirs: [] });
    assert.ok(step.shown && step.shown.includes("'K=***'") && step.shown.includes('PLAIN=visible'), step.shown);
    assert.ok(step.script.includes('-----BEGIN KEY-----'), 'the host gets the value');
    assert.ok(!composeScript([step], { shown: true }).includes('BEGIN KEY'));
  });

  test('a real failing script: message, stderr tail and failed command carry no form of the secret (60 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(secretArb, async (s) => {
        // a secret that is part of the text this test and the plain format print anyway ("    $ cat"
        // holds " ca") would be found without any leak: not a case (found as a flake in CI)
        const scaffold = ["[web1] FAILED at leak: ", '[web1] FAILED at write .env: ', '    $ cat ', '      (set -a; . ', `/.env; printf '%s\\n' "$K" >&2; printf '%s' "$K")`, '      exit 3', 'PLAIN=visible', "K='"];
        fc.pre(!needles(s).some((n) => scaffold.some((x) => x.includes(n))));
        // output shows a stderr tail line by line; redaction masks a line of a secret from 3
        // characters (shorter would blank ordinary output): a secret with a shorter line ("''" of
        // "''\n") is shown as that line, by design, so it is no case here (a CI flake)
        fc.pre(s.split(/\r\n|\n|\r/).every((l) => l.trim().length === 0 || l.trim().length >= 3));
        clearSecrets();
        addSecret(s);
        const root = mkdtempSync(join(base, 'fail-'));
        const p = layout(root, '20260101000000');
        const env = { K: s, PLAIN: 'visible' };
        // the .env step itself fails (a .env directory came with the code): its text is the command shown
        mkdirSync(join(p.release, '.env'), { recursive: true });
        writeFileSync(join(p.release, '.env', 'x'), '');
        const atEnv = await failure(prepareEndSteps(p, { environment: env, linkedFiles: [], linkedDirs: [] }), root);
        assert.equal(atEnv.step, 'write .env');
        // a later step prints the .env file and the value itself to stderr, then fails
        rmSync(join(p.release, '.env'), { recursive: true });
        const leak: Step = { name: 'leak', script: `cat ${p.release}/.env >&2\n(set -a; . ${p.release}/.env; printf '%s\\n' "$K" >&2; printf '%s' "$K")\nexit 3` };
        const atLeak = await failure([...prepareEndSteps(p, { environment: env, linkedFiles: [], linkedDirs: [] }), leak], root);
        assert.equal(atLeak.step, 'leak');
        for (const e of [atEnv, atLeak]) {
          const bus = new EventBus();
          const out = printed(bus, { event: 'host.failed', host: 'web1', step: e.step, message: e.message, command: e.command, stderr: e.stderrTail });
          assertNoLeak(out, s, `failure at ${e.step}`);
          assertNoLeak(redact(`fap: ${e.message}\n`), s, 'the CLI error line');
        }
      }),
      { numRuns: 60 },
    );
  });

  test('fap config (YAML and --json): no form of a secret read from the environment (150 cases)', async () => {
    const pluginKeys = await bundledKeys();
    const text = `app_name: shop
path: /srv/shop
repo: https://ci:\${FAP_S}@git.example/shop.git
environment:
  API: \${FAP_S}
  DSN: postgres://u:\${FAP_S}@db/x
  MODE: \${FAP_UNSET:-production}
stage_role_configs:
  production:
    web:
      hosts: [web1]
`;
    fc.assert(
      fc.property(secretArb, (s) => {
        clearSecrets();
        const loaded = parseDeployText(text, 'deploy.yml');
        const rc = resolveRole({ loaded, stage: 'production', env: { FAP_S: s }, pluginKeys }, 'web');
        const keys = allKeys(pluginKeys);
        const yaml = formatConfig(rc, keys, loaded);
        assertNoLeak(yaml, s, 'fap config');
        const json = JSON.stringify(redactDeep({ values: displayValues(rc, keys), warnings: rc.warnings }));
        assertNoLeak(json, s, 'fap config --json');
        assert.match(yaml, /MODE: production/, 'a default written in the file is shown');
      }),
      { numRuns: 150 },
    );
  });

  test('fap run: a secret split across output chunks anywhere is masked, prefixed or not (300 cases)', () => {
    fc.assert(
      fc.property(
        secretArb,
        fc.string({ maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom('', '[web1] ', 'lines'),
        fc.constantFrom(8, 64, 65536),
        (s, noise, cuts, prefix, bound) => {
          clearSecrets();
          addSecret(s);
          const text = `${noise}${s}${noise}\n${shellEscape(s)}=${jsonInner(s)} ${noise}${s}`;
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          let out = '';
          // 'lines': fap --json run, one event per line
          const m = prefix === 'lines' ? LineMasker.lines((l) => (out += JSON.stringify(l) + '\n'), bound) : new LineMasker((t) => (out += t), prefix, bound);
          let at = 0;
          for (const c of [...points, text.length]) {
            m.write(text.slice(at, c));
            at = c;
          }
          m.end();
          assertNoLeak(out, s, `run output (prefix ${JSON.stringify(prefix)}, bound ${bound})`);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('fap run: output without secrets passes through unchanged under any chunking', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 10 }), fc.constantFrom(4, 65536), (text, cuts, bound) => {
        clearSecrets();
        let out = '';
        const lines: string[] = [];
        const m = new LineMasker((t) => (out += t), '', bound);
        const l = LineMasker.lines((x) => lines.push(x), 65536);
        let at = 0;
        for (const c of [...cuts.map((x) => x % (text.length + 1)).sort((a, b) => a - b), text.length]) {
          m.write(text.slice(at, Math.max(at, c)));
          l.write(text.slice(at, Math.max(at, c)));
          at = Math.max(at, c);
        }
        m.end();
        l.end();
        assert.equal(out, text);
        // by line: the same lines, the last one whether or not it ends with a newline
        const expected = text.split('\n');
        if (expected.at(-1) === '') expected.pop();
        assert.deepEqual(lines, expected);
      }),
    );
    clearSecrets();
    addSecret('s3cr3t-value');
    let out = '';
    const m = new LineMasker((t) => (out += t), '[h] ');
    for (const c of ['one s3c', 'r3t-va', 'lue two\nthree', ' four']) m.write(c);
    m.end();
    assert.equal(out, '[h] one *** two\n[h] three four\n');
  });

  /** bytes through a ByteMasker, written in the chunks `cuts` makes */
  function throughBytes(data: Buffer, cuts: number[], bound?: number): Buffer {
    const out: Buffer[] = [];
    const m = new ByteMasker((b) => out.push(b), bound);
    let at = 0;
    for (const c of [...cuts.map((x) => x % (data.length + 1)).sort((a, b) => a - b), data.length]) {
      m.write(data.subarray(at, Math.max(at, c)));
      at = Math.max(at, c);
    }
    m.end();
    return Buffer.concat(out);
  }

  // found by the attack pass: `fap run ... -- cat blob.bin > out` turned invalid UTF-8 into U+FFFD
  test('fap run on one host: any bytes (binary, invalid UTF-8, a character cut between chunks) pass through unchanged, with and without secrets registered', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 12 }), fc.constantFrom(4, 64, 65536), fc.boolean(), (bytes, cuts, bound, withSecret) => {
        clearSecrets();
        // a secret that is not in the data: masking must not touch a byte of it
        if (withSecret) addSecret('s3cr3t-é-value');
        const data = Buffer.from(bytes);
        fc.pre(!data.includes(Buffer.from('s3cr3t-é-value')));
        assert.ok(throughBytes(data, cuts, bound).equals(data));
      }),
      { numRuns: 300 },
    );
  });

  test('fap run on one host: a secret in binary output, split across chunks anywhere, is masked and every other byte kept (300 cases)', () => {
    // noise of bytes no UTF-8 text has (0xf8-0xff): no form of a secret can reach into it, so what
    // comes out is known exactly
    const noise = fc.uint8Array({ minLength: 1, maxLength: 40, min: 0xf8, max: 0xff }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(secretArb, fc.array(noise, { minLength: 2, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 }), fc.constantFrom(8, 64, 65536), (s, pieces, cuts, bound) => {
        clearSecrets();
        addSecret(s);
        const secret = Buffer.from(s, 'utf8');
        fc.pre(s.length >= 3);
        const data = Buffer.concat(pieces.flatMap((p, i) => (i ? [secret, p] : [p])));
        const out = throughBytes(data, cuts, bound);
        const expected = Buffer.concat(pieces.flatMap((p, i) => (i ? [Buffer.from('***'), p] : [p])));
        assert.ok(out.equals(expected), `${JSON.stringify(s)}: ${out.toString('hex')} != ${expected.toString('hex')}`);
      }),
      { numRuns: 300 },
    );
    clearSecrets();
  });

  test('a secret that looks like JSON structure does not break an event', () => {
    for (const s of ['t":"l', '","', '{"ts', '\\":']) {
      clearSecrets();
      addSecret(s);
      const bus = new EventBus();
      const out = printed(bus, { event: 'log', host: 'web1', plugin: 'x', message: `a ${s} b` });
      const [json, plain] = out.split('\n');
      assert.equal(JSON.parse(json).message, 'a *** b', 'still valid JSON, the value masked');
      assertNoLeak(plain, s, 'plain line');
    }
  });
});

describe('URL userinfo', () => {
  test('a raw @ in the password: the whole password is secret (200 cases)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z]{1,6}$/),
        fc.array(fc.constantFrom('@', 'a', 'B', '9', '%', '!', '$', ':', '@@', 'pass'), { minLength: 3, maxLength: 12 }).map((a) => a.join('')),
        (user, password) => {
          clearSecrets();
          addUrlSecrets(`https://${user}:${password}@git.example.org/shop.git`);
          const out = redact(`cloning https://${user}:${password}@git.example.org/shop.git`);
          assert.ok(!out.includes(password), `${password} in ${out}`);
          for (const part of password.split('@')) if (part.length >= 3) assert.ok(!out.includes(part), `part ${part} of ${password} in ${out}`);
          assert.ok(out.includes('git.example.org/shop.git'), 'the host and path stay visible');
        },
      ),
    );
  });
});

describe('which values are secret', () => {
  const resolveText = (environment: string, env: NodeJS.ProcessEnv, linked = '') => {
    clearSecrets();
    const loaded = parseDeployText(`app_name: shop\npath: /srv/shop\n${linked}environment:\n${environment}stage_role_configs:\n  production:\n    web:\n      hosts: [web1]\n`, 'deploy.yml');
    return { rc: resolveRole({ loaded, stage: 'production', env }, 'web'), loaded };
  };

  test('the password of a URL written as an environment value is secret, whatever the entry is named (DATABASE_URL, found by the attack pass)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_.~!&'()*+,;=-]{3,20}$/), fc.constantFrom('postgres', 'mysql', 'redis', 'amqp', 'https'), (pw, scheme) => {
        resolveText(`  DATABASE_URL: '${scheme}://app:${pw.replace(/'/g, "''")}@db.internal:5432/shop'\n`, {});
        assert.equal(redact(`connecting with ${pw} now`), 'connecting with *** now');
      }),
      { numRuns: 50 },
    );
    resolveText('  HOME_PAGE: https://example.com/about\n', {});
    assert.equal(redact('https://example.com/about'), 'https://example.com/about', 'a URL without userinfo hides nothing');
  });

  test('a ${VAR:-default} default is configuration, shown; the value read from the environment is secret', () => {
    const { rc, loaded } = resolveText('  MODE: ${FAP_MODE:-production}\n  REGION: eu-${FAP_REGION:-west}\n', {});
    assert.equal(redact('mode production region eu-west'), 'mode production region eu-west');
    const yaml = formatConfig(rc, allKeys(), loaded);
    assert.match(yaml, /MODE: production/);
    assert.match(yaml, /REGION: eu-west/);

    const set = resolveText('  MODE: ${FAP_MODE:-production}\n', { FAP_MODE: 'canary-7' });
    assert.equal(redact('mode canary-7'), 'mode ***');
    assert.match(formatConfig(set.rc, allKeys(), set.loaded), /MODE: "\*\*\*"/);
  });

  test('an environment entry named like a secret is secret, default or literal', () => {
    resolveText('  DB_PASSWORD: ${FAP_PW:-hunter22}\n  API_TOKEN: literal-token\n  SIGNING_KEY: k3y-value\n', {});
    assert.equal(redact('hunter22 literal-token k3y-value'), '*** *** ***');
  });

  test('.env in linked_files with environment set: deploy refuses, other commands warn', () => {
    const { rc } = resolveText('  A: b\n', {}, 'linked_files: [.env]\n');
    assert.equal(rc.envProblems.length, 1);
    assert.match(rc.envProblems[0].where.message, /deploy\.yml:\d+:\d+: environment: its variables \(A\) would be written to \.env, but linked_files links \.env/);
    assert.ok(rc.warnings.some((w) => /environment: its variables \(A\)/.test(w)));
    assert.deepEqual(resolveText('  A: b\n', {}, 'linked_files: [config.yml]\n').rc.envProblems, []);
    assert.deepEqual(resolveText('  {}\n', {}, 'linked_files: [./.env]\n').rc.envProblems, [], 'no environment, nothing lost');
  });
});

function encodeURIComponentSafe(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return s;
  }
}

describe('a token as the whole user part of an HTTP URL (https://TOKEN@host, found by the attack pass)', () => {
  test('is a secret over http(s); a login name over ssh:// is not', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_]{8,40}$/), fc.constantFrom('http', 'https', 'HTTPS'), (token, scheme) => {
        clearSecrets();
        addUrlSecrets(`${scheme}://${token}@git.example.com/acme/shop.git`);
        const out = redact(`fetching ${scheme}://${token}@git.example.com/acme/shop.git and ${token}`);
        assert.ok(!out.includes(token), out);
      }),
    );
    clearSecrets();
    addUrlSecrets('ssh://deploy@git.example.com/acme/shop.git');
    assert.equal(redact('ssh://deploy@git.example.com'), 'ssh://deploy@git.example.com');
    clearSecrets();
  });
});

test('a secret %-encoded with lower-case hex digits is masked as with upper-case ones', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9]{2,6}[/:@?&= ][A-Za-z0-9]{2,6}$/), (secret) => {
      clearSecrets();
      addSecret(secret);
      const lower = encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
      assert.equal(redact(`got ${lower} back`), 'got *** back');
    }),
  );
  clearSecrets();
});
