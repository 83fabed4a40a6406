// Finding and reading the deploy file, in words for people: a directory named deploy.yml is passed
// over, both names in one directory are read with a warning, a path named by -f or the environment
// that cannot be read says which named it, a failed read never shows node's codes, and a file of
// several YAML documents says where the second starts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { deployfile, DEPLOY_FILE_NAMES, findDeployfile } from '../../src/cli/deployfile.js';
import { loadDeployFile, parseDeployText } from '../../src/config/load.js';
import { readFailure } from '../../src/local-file.js';
import { ConfigError, UsageError } from '../../src/errors.js';

const tmp = () => realpathSync(mkdtempSync(join(tmpdir(), 'fap-df-')));
const NODE_WORDS = /\b(ENOENT|EISDIR|EACCES|EPERM|ENOTDIR|ELOOP|ENAMETOOLONG|EIO)\b|, open '/;

test('the search passes over directories named deploy.yml/deploy.yaml; both names as files: the .yml, and the other named', () => {
  const kind = fc.constantFrom('none', 'file', 'dir');
  fc.assert(
    fc.property(fc.array(fc.tuple(kind, kind), { minLength: 3, maxLength: 3 }), (levels) => {
      // levels[0] is the deepest directory, levels[2] the top of the tree
      const root = tmp();
      const dirs = [join(root, 'a', 'b'), join(root, 'a'), root];
      mkdirSync(dirs[0], { recursive: true });
      levels.forEach(([yml, yaml], i) => {
        for (const [name, k] of [[DEPLOY_FILE_NAMES[0], yml], [DEPLOY_FILE_NAMES[1], yaml]] as const) {
          if (k === 'file') writeFileSync(join(dirs[i], name), 'x');
          if (k === 'dir') mkdirSync(join(dirs[i], name));
        }
      });
      const at = levels.findIndex(([yml, yaml]) => yml === 'file' || yaml === 'file');
      const r = findDeployfile(dirs[0]);
      if (at < 0) {
        // above root there may be a deploy file on a strange machine: only the tree is asserted
        assert.ok(!('file' in r) || !r.file.startsWith(root + '/'), JSON.stringify(r));
        return;
      }
      const [yml, yaml] = levels[at];
      const expected = join(dirs[at], yml === 'file' ? DEPLOY_FILE_NAMES[0] : DEPLOY_FILE_NAMES[1]);
      assert.deepEqual(r, yml === 'file' && yaml === 'file' ? { file: expected, also: join(dirs[at], DEPLOY_FILE_NAMES[1]) } : { file: expected });
    }),
    { numRuns: 40 },
  );
});

test('both names in one directory: deploy.yml is read, and a warning naming both is given once', () => {
  const dir = tmp();
  for (const n of DEPLOY_FILE_NAMES) writeFileSync(join(dir, n), 'x');
  const lines: string[] = [];
  const warn = (l: string) => void lines.push(l);
  assert.equal(deployfile(undefined, {}, dir, warn), join(dir, 'deploy.yml'));
  assert.equal(deployfile(undefined, {}, dir, warn), join(dir, 'deploy.yml'));
  assert.deepEqual(lines, [`warning: ${dir} has both deploy.yml and deploy.yaml: reading ${join(dir, 'deploy.yml')} (remove or rename the other, or pass -f)`]);
});

test('a named deploy file that cannot be read: a usage error with the path, what is wrong and who named it (-f, FAP_DEPLOYFILE, <APP>_DEPLOYFILE)', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'adir'));
  writeFileSync(join(dir, 'afile'), 'x');
  const sources: [string, (p: string) => [string | undefined, NodeJS.ProcessEnv], string][] = [
    ['-f', (p) => [p, { FAP_DEPLOYFILE: join(dir, 'afile') }], ''],
    ['FAP_DEPLOYFILE', (p) => [undefined, { FAP_DEPLOYFILE: p }], ' (from FAP_DEPLOYFILE)'],
    ['SHOP_DEPLOYFILE', (p) => [undefined, { FAP_APP: 'SHOP', SHOP_DEPLOYFILE: p }], ' (from SHOP_DEPLOYFILE, as FAP_APP=SHOP)'],
  ];
  const problems: [string, string][] = [
    ['nope.yml', 'no such file'],
    ['adir', 'is a directory'],
    ['afile/deploy.yml', 'a part of the path is a file, not a directory'],
  ];
  for (const [from, args, said] of sources) {
    for (const [path, problem] of problems) {
      const [given, env] = args(path);
      assert.throws(
        () => deployfile(given, env, dir),
        (e) => {
          assert.ok(e instanceof UsageError && e.exitCode === 2);
          assert.equal(e.message, `${join(dir, path)}${said}: ${problem}`, `${from} ${path}`);
          assert.doesNotMatch(e.message + (e.hint ?? ''), NODE_WORDS);
          return true;
        },
      );
    }
  }
  assert.throws(() => deployfile('', {}, dir), { message: "-f is empty: give the deploy file's path" });
  assert.throws(() => deployfile(' ', {}, dir), { message: "-f is empty: give the deploy file's path" });
  assert.throws(() => deployfile('adir', {}, dir), { hint: `give the deploy file in it, e.g. -f ${join('adir', 'deploy.yml')}` } as object);
});

test('a failed read in words: never node’s code or its "open \'path\'"', () => {
  const codes = ['ENOENT', 'EISDIR', 'EACCES', 'EPERM', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EIO'];
  fc.assert(
    fc.property(fc.constantFrom(...codes), fc.stringMatching(/^\/[a-z/]{1,20}$/), (code, path) => {
      const e = Object.assign(new Error(`${code}: some words, open '${path}'`), { code });
      const words = readFailure(e);
      assert.doesNotMatch(words, NODE_WORDS);
      assert.ok(!words.includes(path), 'the caller names the file, once');
      assert.ok(words.length > 0);
    }),
  );
  assert.match(readFailure(Object.assign(new Error('x'), { code: 'EACCES' })), /^permission denied: \S+ cannot read it$/);
  // loading a directory: one ConfigError naming it once
  const dir = tmp();
  assert.throws(() => loadDeployFile(dir), (e) => e instanceof ConfigError && e.message === `${dir}: is a directory (give the deploy file in it, e.g. ${join(dir, 'deploy.yml')})`);
});

test('several YAML documents: said in words, at the line and column where the second starts', () => {
  const doc = fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.integer({ min: 0, max: 99 })), { minLength: 1, maxLength: 3 }).map((pairs) => pairs.map(([k, v], i) => `${k}${i}: ${v}\n`).join(''));
  fc.assert(
    fc.property(fc.array(doc, { minLength: 2, maxLength: 4 }), fc.boolean(), fc.constantFrom('', ' # a comment'), (docs, leading, comment) => {
      const text = (leading ? '---\n' : '') + docs.join(`---${comment}\n`);
      const secondAt = (leading ? 1 : 0) + docs[0].split('\n').length;
      assert.throws(
        () => parseDeployText(text, '/app/deploy.yml'),
        (e) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.equal(e.message, `/app/deploy.yml:${secondAt}:1: the file holds more than one YAML document (the --- here starts a second); fap reads a deploy file as one: remove the --- or move the rest into the first`);
          assert.doesNotMatch(e.message, /parseAllDocuments|Source contains/);
          return true;
        },
      );
    }),
  );
});
