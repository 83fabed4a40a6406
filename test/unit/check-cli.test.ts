// Through the real CLI on this machine (hosts: [local], no sshd): fap check under --dry-run, and
// the userinfo of URL values in everything fap prints about them.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { fap, jsonEvents } from '../helpers.js';
import curl from '../../plugins/curl/index.js';
import { addUrlSecrets, clearSecrets, redact } from '../../src/redact.js';

const me = userInfo().username;
let n = 0;

function deployFile(top: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fap-check-cli-'));
  const file = join(dir, `deploy-${n++}.yml`);
  writeFileSync(file, stringify({ app_name: 'shop', path: join(dir, 'srv'), sudo_user: me, ...top, stage_role_configs: { production: { web: { hosts: ['local'] } } } }));
  return file;
}

/** the table's rows without what changes between two runs (free space) */
const rows = (stdout: string) => stdout.split('\n').filter((l) => l.trim() && !/free disk/.test(l));

// found by the attack pass: fap --dry-run check production printed the run.started line and exited
// 0 having checked nothing. fap check is read-only: a dry run checks for real, row for row.
test('fap check under --dry-run (or dry_run: true) checks as it does without: the same rows and exit code, passing or failing', async () => {
  const cases = [
    // passes: nothing required
    deployFile({}),
    // fails: a linked file missing from shared/, a tool that is not there
    deployFile({ linked_files: ['config/app.yml'], requires: { 'no-such-tool-fap': '*' } }),
  ];
  for (const file of cases) {
    const plain = await fap(['-f', file, 'check', 'production']);
    assert.ok(rows(plain.stdout).length > 3, plain.stdout + plain.stderr);
    for (const args of [['--dry-run', 'check', 'production'], ['check', 'production', '--set', 'dry_run=true']]) {
      const dry = await fap(['-f', file, ...args]);
      assert.equal(dry.code, plain.code, `${args.join(' ')}: ${dry.stdout}${dry.stderr}`);
      assert.deepEqual(rows(dry.stdout), rows(plain.stdout), args.join(' '));
      const json = await fap(['-f', file, '--json', ...args]);
      const result = jsonEvents(json.stdout).at(-1)!;
      assert.equal(result.exitCode, plain.code);
      assert.ok((result.hosts as { checks: unknown[] }[])[0].checks.length > 3, json.stdout);
    }
  }
});

// A password: anything but what ends userinfo (/ ? # and whitespace); @ only %-encoded.
const password = fc
  .string({ unit: fc.constantFrom(...'aZ9\'"`$\\%:;!&*()[]{}<>|~^é日€🔑'.split(/(?:)/u), '%40', '%2F'), minLength: 3, maxLength: 12 })
  .filter((p) => !/^\s|\s$/.test(p));
const user = fc.constantFrom('ci', 'deploy', 'a.b-c', '');
const form = fc.constantFrom('scheme-less', 'schemed, with a space', 'schemed, one slash');
const urlOf = (u: string, pw: string, f: string) =>
  f === 'scheme-less' ? `${u}:${pw}@builds.example.com/x.tgz` : f === 'schemed, one slash' ? `https:/${u}:${pw}@builds.example.com/x.tgz` : `https://${u}:${pw}@builds.example.com/a b.tgz`;
/** the forms of a password fap could print it in */
const leaks = (pw: string) => [pw, encodeURIComponent(pw), JSON.stringify(pw).slice(1, -1)].filter((x) => x.length >= 3);

// found by the attack pass: --curl-url 'ci:s3cr3tPW@builds.example.com/x.tgz' printed the password
// in the error refusing it (with a scheme it was redacted)
test('curl refuses a URL without showing its userinfo, and fap registers its password, in every form of URL', () => {
  fc.assert(
    fc.property(user, password, form, (u, pw, f) => {
      clearSecrets();
      const url = urlOf(u, pw, f);
      addUrlSecrets(url);
      const problem = curl.check!({ curl_url: url } as never);
      assert.ok(problem, url);
      for (const text of [problem.message, redact(`fap: --set: curl_url: ${url}`), redact(JSON.stringify({ url }))]) {
        for (const leak of leaks(pw)) assert.ok(!text.includes(leak), `${JSON.stringify(leak)} in ${text}`);
      }
    }),
    { numRuns: 500 },
  );
  clearSecrets();
});

test('no output of fap shows a URL password, given by --curl-url, --set or deploy.yml, with --json or without; --curl-url is named as such', async () => {
  const channel = fc.constantFrom('--curl-url', '--set', 'deploy.yml');
  await fc.assert(
    fc.asyncProperty(user, password, form, channel, fc.boolean(), async (u, pw, f, ch, json) => {
      const url = urlOf(u, pw, f);
      const file = deployFile({ plugins: ['curl'], ...(ch === 'deploy.yml' ? { curl_url: url } : {}) });
      const args = ['-f', file, ...(json ? ['--json'] : []), 'release', 'production', ...(ch === '--curl-url' ? ['--curl-url', url] : ch === '--set' ? ['--set', `curl_url=${JSON.stringify(url)}`] : [])];
      const r = await fap(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      for (const leak of leaks(pw)) assert.ok(!(r.stdout + r.stderr).includes(leak), `${JSON.stringify(leak)} in ${r.stdout}${r.stderr}`);
      const said = json ? String(jsonEvents(r.stdout).at(-1)!.error) : r.stderr;
      assert.match(said, ch === '--curl-url' ? /^(fap: )?--curl-url: / : ch === '--set' ? /^(fap: )?--set: curl_url: / : /deploy-\d+\.yml:\d+:\d+: curl_url: /);
    }),
    { numRuns: 12 },
  );
});
