// What an operator sees, on a real terminal and in CI logs, against real sshd hosts (issue 15
// items 8, 9, 10 and 15): a dry run that says what it would do, a lock wait that says whom it waits
// for, heals said once, restart and rollback that do not claim what they did not do.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { FAP, fap, fapLive, git, jsonEvents, makeRepo, ROOT, writeDeployFile, type Repo } from '../helpers.js';

const noPty = spawnSync('python3', ['-c', 'import pty']).status === 0 ? undefined : 'no python3 to drive a pseudo-terminal';
const skip = fleetUnsupportedReason();
let fleet: Fleet;
let repo: Repo;
before(async () => {
  if (skip) return;
  fleet = await startFleet(2);
  repo = makeRepo();
});
after(async () => {
  await fleet?.stop();
});

/** fap on a real pseudo-terminal (120 columns), as typed in a shell; the terminal's whole output. */
function onTerminal(args: string[], o: { keys?: { after: string; delay: number; send: string }[]; timeout?: number } = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [join(ROOT, 'test', 'pty', 'run.py'), JSON.stringify({ keys: o.keys ?? [], timeout: o.timeout ?? 60 }), '--', process.execPath, FAP, ...args], {
      env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(JSON.parse(out) as { code: number; output: string }));
  });
}

/** The lines a terminal ended up showing: spinner frames and escape sequences removed. */
function shownLines(output: string): string[] {
  return output
    .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '\n')
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * A README example block (the lines after `prompt` up to the fence), each line a pattern: release
 * names, hosts, commits, times and durations stand for any of their kind.
 */
function readmeExample(prompt: string): RegExp[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(prompt + '\n');
  assert.ok(start >= 0, `README has an example starting ${prompt}`);
  const block = readme.slice(start + prompt.length + 1, readme.indexOf('\n```', start));
  return block.split('\n').map(
    (line) =>
      new RegExp(
        '^' +
          line
            .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
            .replace(/\d{4}-\d\d-\d\dT[\d:]+\\\.\d+Z/g, '\\S+')
            .replace(/\d{14}/g, '\\d{14}')
            .replace(/@[0-9a-f]{7}/g, '@[0-9a-f]{7}')
            .replace(/ana@laptop/g, '\\S+@\\S+')
            .replace(/pid \d+/g, 'pid \\d+')
            .replace(/\\\[10\\\.0\\\.0\\\.5, 10\\\.0\\\.0\\\.6\\\]/g, '\\[[^\\]]+\\]')
            .replace(/\\\(\d+\\\.\ds\\\)/g, '\\(\\d+\\.\\ds\\)')
            .replace(/in \d+\\\.\d s$/, 'in \\d[\\d.]* m?s') +
          '$',
      ),
  );
}

const head = (ref = 'HEAD') => git(repo.dir, 'rev-parse', ref).slice(0, 7);
const current = (app: string) => fleet.hosts.map((_, i) => readlinkSync(fleet.hostPath(i, join(fleet.deployDir, app, 'current'))));
const noLock = (app: string) => fleet.hosts.every((_, i) => !existsSync(fleet.hostPath(i, join(fleet.deployDir, app, '.fap', 'lock'))));

describe('operator output', { skip }, () => {
  test('a dry run on a terminal says what it would deploy and prune, in a few lines; -v shows each distinct script once', { skip: noPty }, async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'dryop', keep_releases: 1 } });
    for (let i = 0; i < 2; i++) assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const before = current('dryop');
    // keep_releases 1 keeps current and the release a rollback would go to: the oldest goes
    const oldest = readdirSync(fleet.hostPath(0, join(fleet.deployDir, 'dryop', 'releases'))).sort()[0];
    const r = await onTerminal(['-f', file, '--dry-run', 'deploy', 'production']);
    assert.equal(r.code, 0, r.output);
    const lines = shownLines(r.output);
    assert.deepEqual(lines[0], 'fap deploy production: 2 hosts (dry run: nothing will be changed)');
    const last = lines[lines.length - 1];
    assert.match(last, new RegExp(`^✔ dry run, nothing was changed: would deploy main@${head()} as \\d{14} to 2 hosts; would prune ${oldest} on every host \\(fap -v --dry-run deploy shows the scripts\\)$`));
    assert.equal(lines.length, 2, r.output);
    assert.doesNotMatch(r.output, /script:|✔ deployed|prepare: 2/);
    assert.deepEqual(current('dryop'), before);
    // the README's example is what a dry run prints
    const example = readmeExample('$ fap --dry-run deploy production');
    const plain = (await fap(['-f', file, '--dry-run', 'deploy', 'production'])).stderr.trimEnd().split('\n');
    assert.equal(plain.length, example.length, plain.join('\n'));
    example.forEach((re, i) => assert.match(plain[i], re));

    // -v: the plan's scripts, one copy for the hosts whose scripts are identical
    const v = await fap(['-f', file, '-v', '--dry-run', 'deploy', 'production']);
    assert.equal(v.code, 0, v.stderr);
    const both = `[${fleet.hosts[0].name}, ${fleet.hosts[1].name}]`;
    assert.equal(v.stderr.match(/ prepare script:\n/g)?.length, 1, v.stderr);
    assert.ok(v.stderr.includes(`${both} prepare script:\n    set -e`), v.stderr);

    // a branch the repository does not have: the real deploy would fail, so the dry run does (exit
    // 1), said once for both hosts, the rest of the plan still shown
    const bad = await fap(['-f', file, '--dry-run', '--set', 'branch=no-such-branch', 'deploy', 'production']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.equal(bad.stderr.match(/FAILED at git: revision: branch "no-such-branch" not found/g)?.length, 1, bad.stderr);
    assert.match(bad.stderr, /^✖ dry run: the real deploy would fail at git: revision on \S+, \S+; the rest of the plan: would deploy \d{14} to 2 hosts/m);

    // --json: the result's summary is the plan
    const json = await fap(['-f', file, '--json', '--dry-run', 'deploy', 'production']);
    const result = jsonEvents(json.stdout).pop()!;
    assert.equal(result.event, 'result');
    assert.equal(result.ok, true);
    assert.match(String(result.release), /^\d{14}$/);
    assert.ok(noLock('dryop'));
  });

  test('a lock held by another run: the terminal says whom fap waits for and counts the wait; hosts never exceed their number', { skip: noPty }, async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'waitop' } });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const holder = fap(['-f', file, '--set', 'health_check=sleep 6', 'deploy', 'production']);
    // the holder has the lock once its release is planned
    await new Promise((r) => setTimeout(r, 2500));
    const r = await onTerminal(['-f', file, 'deploy', 'production', '--lock-wait', '60s']);
    assert.equal((await holder).code, 0);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /waiting for the deploy lock held by \S+@\S+ \(pid \d+, "fap deploy production"\) since \S+ \(lease renewed \d+ s ago\); waiting up to 1 min/);
    assert.match(r.output, /lock: waiting for \S+@\S+ \(pid \d+, "fap deploy production"\): \d+ s of 1 min/);
    assert.doesNotMatch(r.output, /\(([3-9]|\d{2,})\/2 hosts\)/, 'a host retried while waiting counts once');
    assert.match(r.output, /✔ deployed main@[0-9a-f]{7} as \d{14} to 2 hosts in /);

    // --json: lock.waiting names the holder, the hosts, the wait so far and the limit
    const holder2 = fap(['-f', file, '--set', 'health_check=sleep 4', 'deploy', 'production']);
    await new Promise((res) => setTimeout(res, 2500));
    const j = await fap(['-f', file, '--json', 'deploy', 'production', '--lock-wait', '60s']);
    await holder2;
    const waiting = jsonEvents(j.stdout).find((e) => e.event === 'lock.waiting')!;
    assert.ok(waiting, j.stdout);
    assert.match(String(waiting.holder), /\(pid \d+, "fap deploy production"\)/);
    assert.equal(waiting.timeoutMs, 60_000);
    assert.ok(Array.isArray(waiting.hosts) && (waiting.hosts as string[]).length >= 1);
    assert.equal(typeof waiting.waitedMs, 'number');
    assert.ok(noLock('waitop'));
  });

  test('a heal is said once for the hosts it healed, with when the interrupted run started', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'healop' } });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const before = current('healop');
    // killed while publishing (the health check runs after the flip): on the event, not after a guess at the time
    let poll: NodeJS.Timeout | undefined;
    const killed = await fapLive(['-f', file, '--set', 'health_check=sleep 8', 'deploy', 'production'], (e, kill) => {
      // once every host is switched (the health check still running), kill -9
      if (e.event === 'deploy.published' && !poll)
        poll = setInterval(() => {
          if (current('healop').every((c, i) => c !== before[i])) {
            clearInterval(poll);
            kill();
          }
        }, 50);
    });
    clearInterval(poll);
    assert.ok(killed.killed, killed.stderr);
    const next = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(next.code, 0, next.stderr);
    const heals = next.stderr.split('\n').filter((l) => /heal: /.test(l));
    assert.equal(heals.length, 1, next.stderr);
    assert.ok(heals[0].startsWith(`[${fleet.hosts[0].name}, ${fleet.hosts[1].name}] heal: cleaning up an interrupted deploy`) || heals[0].startsWith(`[${fleet.hosts[1].name}, ${fleet.hosts[0].name}] heal: cleaning up an interrupted deploy`), heals[0]);
    assert.match(heals[0], /\(the run started \d{4}-\d\d-\d\dT/);
    assert.notDeepEqual(current('healop'), before);
    // the README's example of what a run prints is what this run printed, line for line
    const example = readmeExample('$ fap deploy production');
    const printed = next.stderr.trimEnd().split('\n');
    assert.equal(printed.length, example.length, next.stderr);
    example.forEach((re, i) => assert.match(printed[i], re));
  });

  test('restart with no plugin that restarts anything is refused before any host is contacted', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'restartop' } });
    const r = await fap(['-f', file, 'restart', 'production']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /nothing to restart in production: no plugin of the selected roles handles restart \(their plugins: git\); no host was contacted/);
    assert.match(r.stderr, /supervisorctl/);
    assert.doesNotMatch(r.stderr, /✔/);
    assert.ok(!existsSync(fleet.hostPath(0, join(fleet.deployDir, 'restartop'))), 'nothing created on the host');
    const j = await fap(['-f', file, '--json', 'restart', 'production']);
    const result = jsonEvents(j.stdout).pop()!;
    assert.equal(result.event, 'result');
    assert.equal(result.exitCode, 2);
  });

  test('rollback --to a release that does not exist: one reason naming the hosts, and the releases to choose from', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'toop' } });
    for (let i = 0; i < 2; i++) assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const rels = current('toop').map((c) => c.replace('releases/', ''));
    const r = await fap(['-f', file, 'rollback', 'production', '--to', '20991231000000']);
    assert.equal(r.code, 1);
    const summary = r.stderr.split('\n').find((l) => l.startsWith('✖'))!;
    assert.equal(r.stderr.match(/20991231000000 does not exist/g)?.length, 1, `said once: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /^\s+\S+ \(web\): failed$/m, 'no per-host list under a refusal');
    const refusedEvents = jsonEvents((await fap(['-f', file, '--json', 'rollback', 'production', '--to', '20991231000000'])).stdout).filter((e) => e.event === 'host.failed');
    assert.equal(refusedEvents.length, 2);
    assert.ok(refusedEvents.every((e) => e.refused === true));
    assert.match(summary, new RegExp(`release 20991231000000 does not exist on ${fleet.hosts[0].name}, ${fleet.hosts[1].name}; good releases on every host, newest first: ${rels[0]}, \\d{14}`));
    // --to where every host already is
    const same = await fap(['-f', file, 'rollback', 'production', '--to', rels[0]]);
    assert.equal(same.code, 0);
    assert.match(same.stderr, new RegExp(`✔ every host is already on ${rels[0]}; nothing to roll back`));
    assert.doesNotMatch(same.stderr, /: 0 ok/, 'no phase without hosts');
  });

  test('fap releases: the table alone, relative times, FORCE_COLOR colours it in a pipe, --json keeps absolute times', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'tableop' } });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const r = await fap(['-f', file, 'releases', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /inspect: /, 'no phase line above the table');
    assert.match(r.stdout, /^HOST +ROLE +RELEASE +REVISION +STATUS +CURRENT +DEPLOYED +BY$/m);
    assert.match(r.stdout, / ok +\* +(just now|\d+ s ago) /);
    assert.doesNotMatch(r.stdout, /\u001b/);
    const forced = await fap(['-f', file, 'releases', 'production'], { env: { FORCE_COLOR: '1', NO_COLOR: '' } });
    assert.match(forced.stdout, /\u001b\[32m\*/);
    const json = await fap(['-f', file, '--json', 'releases', 'production']);
    const result = jsonEvents(json.stdout).pop()!;
    const releases = (result.hosts as { releases: { deployed_at: string }[] }[])[0].releases;
    assert.match(releases[0].deployed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
  });

  test('an error at the end comes after every line the hosts said before it (fap shell to a host that does not answer)', { skip: noPty }, async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'orderop' }, role: { hosts: ['127.0.0.1:1'] } });
    const r = await onTerminal(['-f', file, 'shell', 'production', 'web']);
    assert.equal(r.code, 255, r.output);
    const lines = shownLines(r.output);
    const retries = lines.map((l, i) => (/retrying in/.test(l) ? i : -1)).filter((i) => i >= 0);
    const error = lines.findIndex((l) => /^fap: .*cannot connect to 127\.0\.0\.1:1/.test(l));
    assert.ok(retries.length >= 1 && error > Math.max(...retries), r.output);
  });

  test('a revert with nothing to restart gives the lock back in a phase named for that, not "restart after revert"', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'unlockop' } });
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const r = await fap(['-f', file, '--json', '--set', 'health_check="false"', '--set', 'health_check_timeout=1', 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    const phases = jsonEvents(r.stdout).filter((e) => e.event === 'phase.started').map((e) => e.phase);
    assert.deepEqual(phases.slice(-2), ['revert', 'unlock']);
    assert.ok(noLock('unlockop'));
  });

  test('--hosts takes globs: the hosts they match, and a glob that matches none is refused', async () => {
    const file = writeDeployFile(fleet, { repo: repo.dir, top: { app_name: 'globop' } });
    const one = await fap(['-f', file, '--hosts', `*:${fleet.hosts[1].port}`, 'deploy', 'production']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stderr, /^fap deploy production: 1 host$/m);
    assert.ok(existsSync(fleet.hostPath(1, join(fleet.deployDir, 'globop', 'current'))));
    assert.ok(!existsSync(fleet.hostPath(0, join(fleet.deployDir, 'globop', 'current'))), 'the other host untouched');
    const all = await fap(['-f', file, '--hosts', '127.0.0.1:*', 'releases', 'production']);
    assert.equal(all.code, 0, all.stderr);
    const none = await fap(['-f', file, '--hosts', 'web*', 'releases', 'production']);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /--hosts: "web\*" is not a host of production/);
  });
});
