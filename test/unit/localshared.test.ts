// The localshared plugin's steps, run by a real sh on a scratch deploy root: prepare stages the
// source (creating only what shared/ lacks), publish saves and replaces, a revert puts shared/
// back byte for byte, and nothing writes through a symlink. Names of any bytes (fast-check).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { publishScript, restoreScript, stageScript, stagingRoot } from '../../plugins/localshared/index.js';
import { layout, type Paths } from '../../src/release/paths.js';
import { logOutput, quote } from '../../src/remote/shell.js';

const R1 = '20260101000000';
const R2 = '20260102000000';

function sh(script: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', 'set -e\n' + script], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function put(path: string, body: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, body);
}

/** A deploy root with current -> releases/R1, and a source dir. */
function scratch(): { p: Paths; src: string } {
  const root = mkdtempSync(join(tmpdir(), 'fap-ls-'));
  const p = layout(join(root, 'app'), R2);
  mkdirSync(join(p.releases, R1), { recursive: true });
  mkdirSync(p.shared, { recursive: true });
  mkdirSync(p.state, { recursive: true });
  symlinkSync(`releases/${R1}`, p.current);
  return { p, src: join(root, 'src') };
}

const log = (m: string) => logOutput('localshared', m);
const stage = (p: Paths, src: string, files: string[], dirs: string[], release = R2) => sh(stageScript(p, release, src, files, dirs, quote, log));
const publish = (p: Paths, release = R2) => sh(publishScript(p, release, quote));
const revert = (p: Paths, release = R2) => sh(`if [ -d ${quote(join(stagingRoot(p), release + '.prev'))} ]; then\n${restoreScript(p, quote(join(stagingRoot(p), release + '.prev')), quote)}\nfi`);

/** Every entry under dir: path -> file content, or -> link target for a symlink. */
function tree(dir: string, base = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const rel = base ? `${base}/${name}` : name;
    const st = lstatSync(full);
    if (st.isSymbolicLink()) out[rel] = '-> ' + readlinkSync(full);
    else if (st.isDirectory()) Object.assign(out, tree(full, rel), { [rel + '/']: '' });
    else out[rel] = readFileSync(full, 'utf8');
  }
  return out;
}

test('prepare stages what shared/ has and leaves it untouched; publish replaces; revert puts it back', () => {
  // fapistrano-0.9.5 plugins/localshared.py:44-50 copies every linked file on every deploy
  const { p, src } = scratch();
  put(join(src, 'configs/app.conf'), 'new\n');
  put(join(src, 'media/logo.txt'), 'new logo\n');
  put(join(p.shared, 'configs/app.conf'), 'old\n');
  put(join(p.shared, 'media/logo.txt'), 'old logo\n');
  put(join(p.shared, 'media/upload.bin'), 'user data\n');
  const before = tree(p.shared);
  const s = stage(p, src, ['configs/app.conf'], ['media']);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(tree(p.shared), before, 'prepare changes nothing shared/ already has');
  const pub = publish(p);
  assert.equal(pub.code, 0, pub.stderr);
  assert.equal(readFileSync(join(p.shared, 'configs/app.conf'), 'utf8'), 'new\n');
  assert.equal(readFileSync(join(p.shared, 'media/logo.txt'), 'utf8'), 'new logo\n');
  // fapistrano-0.9.5 plugins/localshared.py:56 `cp -R <src>/<dir>/* <shared>/<dir>`: a merge, what the source lacks stays
  assert.equal(readFileSync(join(p.shared, 'media/upload.bin'), 'utf8'), 'user data\n');
  const rv = revert(p);
  assert.equal(rv.code, 0, rv.stderr);
  assert.deepEqual(tree(p.shared), before, 'the revert puts shared/ back exactly');
});

test('what shared/ lacks is created in prepare (the linked-file check needs it); new entries of a merged dir come at publish and go on revert', () => {
  const { p, src } = scratch();
  put(join(src, 'configs/app.conf'), 'first\n');
  put(join(src, 'media/new.txt'), 'added\n');
  mkdirSync(join(p.shared, 'media'));
  const s = stage(p, src, ['configs/app.conf'], ['media']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(readFileSync(join(p.shared, 'configs/app.conf'), 'utf8'), 'first\n', 'created at once: no live release reads it');
  assert.ok(!existsSync(join(p.shared, 'media/new.txt')), 'an existing linked dir changes only at publish');
  assert.equal(publish(p).code, 0);
  assert.equal(readFileSync(join(p.shared, 'media/new.txt'), 'utf8'), 'added\n');
  assert.equal(revert(p).code, 0);
  assert.ok(!existsSync(join(p.shared, 'media/new.txt')), 'what the publish added is removed by the revert');
  assert.ok(existsSync(join(p.shared, 'media')));
});

test('a source entry that is missing is a warning, not a failure (Fapistrano red_alert)', () => {
  // fapistrano-0.9.5 plugins/localshared.py:49-50 red_alert('Missing %(localshared_source)s/%(linked_file)s')
  const { p, src } = scratch();
  mkdirSync(src, { recursive: true });
  put(join(p.shared, 'configs/app.conf'), 'kept\n');
  const s = stage(p, src, ['configs/app.conf'], ['media']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, new RegExp(`warning: missing ${src}/configs/app.conf; shared/ keeps what it has`));
  assert.match(s.stdout, new RegExp(`warning: missing ${src}/media`));
  assert.equal(publish(p).code, 0);
  assert.equal(readFileSync(join(p.shared, 'configs/app.conf'), 'utf8'), 'kept\n');
  const gone = stage(p, join(src, 'nope'), ['configs/app.conf'], []);
  assert.equal(gone.code, 0, gone.stderr);
  assert.match(gone.stdout, /warning: localshared_source .*nope is not a directory on this host; nothing copied/);
});

test('symlinks are never followed: a shared file that is a symlink is replaced, a source symlink is copied as a link', () => {
  const { p, src } = scratch();
  const outside = join(dirname(p.root), 'outside.txt');
  writeFileSync(outside, 'must not change\n');
  put(join(src, 'a.conf'), 'new a\n');
  mkdirSync(join(src, 'd'), { recursive: true });
  symlinkSync('/etc/hostname', join(src, 'd/link'));
  mkdirSync(join(p.shared, 'd'), { recursive: true });
  symlinkSync(outside, join(p.shared, 'a.conf'));
  assert.equal(stage(p, src, ['a.conf'], ['d']).code, 0);
  const pub = publish(p);
  assert.equal(pub.code, 0, pub.stderr);
  assert.equal(readFileSync(outside, 'utf8'), 'must not change\n', 'not written through');
  assert.ok(!lstatSync(join(p.shared, 'a.conf')).isSymbolicLink(), 'the link was replaced by the file');
  assert.equal(readlinkSync(join(p.shared, 'd/link')), '/etc/hostname', 'a link in the source stays a link');
  assert.equal(revert(p).code, 0);
  assert.equal(readlinkSync(join(p.shared, 'a.conf')), outside, 'the revert puts the link itself back');
  assert.ok(!existsSync(join(p.shared, 'd/link')));
});

test('a publish killed before its release went live is put back by the next prepare', () => {
  const { p, src } = scratch();
  put(join(src, 'c.conf'), 'v2\n');
  put(join(p.shared, 'c.conf'), 'v1\n');
  assert.equal(stage(p, src, ['c.conf'], []).code, 0);
  assert.equal(publish(p).code, 0);
  assert.equal(readFileSync(join(p.shared, 'c.conf'), 'utf8'), 'v2\n');
  // killed here: current still on R1 (or healed back to it); the next run's prepare, staging R3
  put(join(src, 'c.conf'), 'v3\n');
  const s = stage(p, src, ['c.conf'], [], '20260103000000');
  assert.equal(s.code, 0, s.stderr);
  assert.equal(readFileSync(join(p.shared, 'c.conf'), 'utf8'), 'v1\n', 'back to what the live release had');
  assert.match(s.stdout, /put back the shared\/ copies an interrupted deploy had replaced/);
  assert.deepEqual(readdirSync(stagingRoot(p)), ['20260103000000'], 'older staging areas are gone');
  // but a publish whose release is live is kept (a killed run healed forward)
  assert.equal(publish(p, '20260103000000').code, 0);
  rmSync(p.current);
  symlinkSync(join(p.releases, '20260103000000'), p.current); // absolute, as Fapistrano wrote it
  assert.equal(stage(p, src, ['c.conf'], [], '20260104000000').code, 0);
  assert.equal(readFileSync(join(p.shared, 'c.conf'), 'utf8'), 'v3\n');
});

test('any file names: publish installs the source, revert restores shared/ byte for byte (fast-check)', () => {
  // names of any bytes but / and NUL, including newlines, quotes, $(...), leading dashes
  const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => !s.includes('/') && !s.includes('\u0000') && s !== '.' && s !== '..' && !s.includes('.fap-localshared.'));
  fc.assert(
    fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 4 }), fc.uniqueArray(name, { maxLength: 3 }), (srcNames, sharedNames) => {
      const { p, src } = scratch();
      for (const n of srcNames) put(join(src, 'd', n), `src ${n}`);
      mkdirSync(join(p.shared, 'd'), { recursive: true });
      for (const n of sharedNames) put(join(p.shared, 'd', n), `old ${n}`);
      const before = tree(p.shared);
      assert.equal(stage(p, src, [], ['d']).code, 0);
      assert.deepEqual(tree(p.shared), before);
      const pub = publish(p);
      assert.equal(pub.code, 0, pub.stderr);
      for (const n of srcNames) assert.equal(readFileSync(join(p.shared, 'd', n), 'utf8'), `src ${n}`);
      for (const n of sharedNames.filter((x) => !srcNames.includes(x))) assert.equal(readFileSync(join(p.shared, 'd', n), 'utf8'), `old ${n}`);
      const rv = revert(p);
      assert.equal(rv.code, 0, rv.stderr);
      assert.deepEqual(tree(p.shared), before);
      rmSync(dirname(p.root), { recursive: true, force: true });
    }),
    { numRuns: 40 },
  );
});
