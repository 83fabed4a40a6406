// Golden files of the composed phase scripts (Mina's and Kamal's practice): what runs on a host in
// a first deploy, a revert and a heal, as text under test/kernel/golden/, so every change to it
// shows in review as a diff. The scripts are the ones the kernel really sent (and that really ran)
// on local hosts; what differs per run (the directory, tokens, release names, times, the owner
// record) is replaced by placeholders. FAP_UPDATE_GOLDEN=1 npm test rewrites them.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { makeFleet, runCommand, stepNames, type Fleet, type Outcome } from './harness.js';

// from dist/test/kernel back to the sources' test/kernel/golden
const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'kernel', 'golden');
const update = process.env.FAP_UPDATE_GOLDEN === '1';

/** Placeholders for what differs per run, numbered in order of appearance so the text stays meaningful. */
export function normalise(text: string, fleet: Fleet): string {
  const names = new Map<string, string>();
  const number = (kind: string) => (m: string) => {
    if (!names.has(m)) names.set(m, `${kind}${[...names.keys()].filter((k) => names.get(k)!.startsWith(kind)).length + 1}`);
    return names.get(m)!;
  };
  return text
    .split(fleet.dir).join('/srv/shop')
    .replace(/\{"user":[^}]*\}/g, '<owner record>')
    .replace(/\b[0-9a-f]{24}\b/g, number('TOKEN'))
    .replace(/\b20\d{12}\b/g, number('RELEASE'))
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>')
    // who ran it: user@machine, in the record and in revisions.log lines
    .replace(/ [^\s@']+@[^\s@']+ deploy > /g, ' <user>@<machine> deploy > ')
    .replace(/ by=[^\s@']+@[^\s@']+/g, ' by=<user>@<machine>');
}

function compare(name: string, out: Outcome, fleet: Fleet, host: string, scripts: number[]): void {
  const sent = out.scripts.get(host)!;
  const text = scripts.map((i) => `# ---- script ${i} of ${sent.length}: ${stepNames(sent[i - 1]).join(', ')}\n${sent[i - 1]}`).join('\n');
  const got = normalise(text, fleet);
  const file = join(GOLDEN, `${name}.sh`);
  if (update || !existsSync(file)) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, got);
    if (!update) assert.fail(`${file} did not exist; written now: review it and commit it`);
    return;
  }
  assert.equal(got, readFileSync(file, 'utf8'), `${name}: what runs on a host changed; if that is intended, run FAP_UPDATE_GOLDEN=1 npm test and review the diff of ${file}`);
}

describe('golden phase scripts', () => {
  const fleets: Fleet[] = [];
  after(() => fleets.forEach((f) => f.remove()));
  const fleet = async () => {
    const f = await makeFleet(2, { linked_files: ['config.json'], environment: { APP_ENV: 'production' } });
    fleets.push(f);
    return f;
  };

  test('first deploy: lock, prepare, publish, finish', async () => {
    const f = await fleet();
    const { putShared } = await import('./harness.js');
    putShared(f, 'config.json', '{}\n');
    const out = await runCommand(f, 'deploy');
    assert.equal(out.result?.ok, true, out.result?.summary);
    compare('first-deploy', out, f, 'h1', [1, 2, 3, 4]);
  });

  test('revert: a publish lost on h2, every published host put back', async () => {
    const f = await fleet();
    const { putShared } = await import('./harness.js');
    putShared(f, 'config.json', '{}\n');
    assert.equal((await runCommand(f, 'deploy')).result?.ok, true);
    const out = await runCommand(f, 'deploy', { faults: [{ host: 'h2', kind: 'drop-after-last', at: 3 }] });
    assert.equal(out.result?.ok, false);
    // h1: lock, prepare, publish, then the revert and the restart after it
    compare('revert', out, f, 'h1', [4, 5]);
  });

  test('heal: the deploy after fap was killed mid-publish', async () => {
    const f = await fleet();
    const { putShared } = await import('./harness.js');
    putShared(f, 'config.json', '{}\n');
    assert.equal((await runCommand(f, 'deploy')).result?.ok, true);
    const killed = await runCommand(f, 'deploy', { faults: [{ host: 'h1', kind: 'kill', at: 3, step: 4 }] });
    assert.equal(killed.killed, true);
    const out = await runCommand(f, 'deploy');
    assert.equal(out.result?.ok, true, out.result?.summary);
    // taking over the dead run's lock, locking, and the prepare that begins with the heal
    compare('heal', out, f, 'h1', [2, 3, 4]);
  });
});
