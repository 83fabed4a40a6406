// hosts: [local] through the real CLI, root-free: no sshd, real git, real /bin/sh. The same
// transaction as over SSH: deploy, rollback, releases, check, run; a kill -9 mid-publish is ended by
// the driver's watchdog and healed by the next run; a bad local host spec is a config error.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { FAP, fap, fapLive, jsonEvents, makeRepo, ROOT } from '../helpers.js';
import { writeFaultPlugin } from '../fault-plugin.js';

const me = userInfo().username;

function setup(role: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fap-local-'));
  const repo = makeRepo({ 'app.py': 'print("v1")\n' });
  const root = join(dir, 'srv', 'shop');
  const file = join(dir, 'deploy.yml');
  const doc = {
    app_name: 'shop',
    path: root,
    sudo_user: me,
    plugins: ['git'],
    repo: repo.dir,
    branch: 'main',
    stage_role_configs: { production: { web: { hosts: ['local'], ...role } } },
  };
  writeFileSync(file, stringify(doc));
  return { dir, repo, root, file };
}

const releasesOf = (root: string) => readdirSync(join(root, 'releases')).sort();
const current = (root: string) => readlinkSync(join(root, 'current')).split('/').pop();
const noLock = (root: string) => !existsSync(join(root, '.fap', 'lock'));

describe('hosts: [local]', () => {
  const made: string[] = [];
  after(() => made.length);

  test('deploy, deploy, rollback, releases, run and check on this machine, no SSH', async () => {
    const s = setup();
    const first = await fap(['-f', s.file, 'deploy', 'production']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^✔ deployed main@[0-9a-f]{7} as \d{14} to 1 host in \d[\d.]* m?s$/m);
    const v2 = s.repo.commit({ 'app.py': 'print("v2")\n' });
    const second = await fap(['-f', s.file, '--json', 'deploy', 'production']);
    assert.equal(second.code, 0, second.stderr);
    // the local host has no port: user@local, not user@local:22
    assert.deepEqual(Object.keys(jsonEvents(second.stdout).at(-1)!.channels as object), [`${me}@local`]);
    const [r1, r2] = releasesOf(s.root);
    assert.equal(current(s.root), r2);
    assert.equal(readFileSync(join(s.root, 'current', 'app.py'), 'utf8'), 'print("v2")\n');
    assert.equal(readFileSync(join(s.root, 'current', 'REVISION'), 'utf8').trim(), v2);
    const result = jsonEvents(second.stdout).find((e) => e.event === 'result')!;
    assert.deepEqual(result.hosts, [{ host: 'local', role: 'web', outcome: 'deployed', revision: v2 }]);
    assert.ok(noLock(s.root));

    const back = await fap(['-f', s.file, 'rollback', 'production']);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(current(s.root), r1);
    assert.equal(readFileSync(join(s.root, '.fap', 'releases', `${r2}.status`), 'utf8').trim(), 'rolled-back');

    const rel = await fap(['-f', s.file, 'releases', 'production']);
    assert.equal(rel.code, 0, rel.stderr);
    assert.match(rel.stdout, new RegExp(`local\\s+web\\s+${r1}.*ok\\s+\\*`));

    const run = await fap(['-f', s.file, 'run', 'production', 'web', '--', 'cat', 'app.py']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'print("v1")\n');

    const check = await fap(['-f', s.file, 'check', 'production']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, new RegExp(`local\\s+connection\\s+ok\\s+this machine, as ${me} \\(no SSH\\)`));
    assert.ok(noLock(s.root));
  });

  test('fap killed with -9 mid-publish: the watchdog ends the script, the next deploy heals and finishes', async () => {
    const s = setup({ health_check: 'sleep 30', health_check_timeout: 60 });
    const ok = await fap(['-f', s.file, 'deploy', 'production', '--set', 'health_check=test -d .']);
    assert.equal(ok.code, 0, ok.stderr);
    const [r1] = releasesOf(s.root);
    const killed = await fapLive(['-f', s.file, 'deploy', 'production'], (e, kill) => {
      if (e.event === 'phase.started' && e.phase === 'publish') setTimeout(kill, 500);
    });
    assert.ok(killed.killed);
    const left = releasesOf(s.root);
    assert.equal(left.length, 2, 'the killed run left its release');
    // the lock stays (its holder's pid is gone: the next run proves it and takes over)
    assert.ok(!noLock(s.root));
    const next = await fap(['-f', s.file, '--json', 'deploy', 'production', '--set', 'health_check=test -d .']);
    assert.equal(next.code, 0, next.stderr);
    const heal = jsonEvents(next.stdout).find((e) => e.event === 'heal');
    assert.ok(heal, 'the next run healed the interrupted deploy');
    assert.match(String(heal.action), new RegExp(`interrupted deploy of ${left[1]}`));
    // marked failed by the heal, then pruned by the deploy's finish (failed releases go first)
    assert.match(readFileSync(join(s.root, 'revisions.log'), 'utf8'), new RegExp(`heal release=${r1} .*interrupted=deploy:${left[1]}:publish`));
    assert.ok(!existsSync(join(s.root, 'releases', left[1])), 'the interrupted release is gone, never a rollback target');
    assert.notEqual(current(s.root), left[1]);
    assert.notEqual(current(s.root), r1);
    assert.ok(noLock(s.root));
  });

  test('SIGHUP (the terminal went away) mid-publish: the run stops at the phase boundary, puts every host back and unlocks (found by the attack pass)', async () => {
    const s = setup({ health_check: 'sleep 2', health_check_timeout: 60 });
    const ok = await fap(['-f', s.file, 'deploy', 'production']);
    assert.equal(ok.code, 0, ok.stderr);
    const [r1] = releasesOf(s.root);
    const hup = await fapLive(['-f', s.file, 'deploy', 'production'], (e, kill) => {
      if (e.event === 'phase.started' && e.phase === 'publish') setTimeout(kill, 300);
    }, { signal: 'SIGHUP' });
    assert.equal(hup.code, 1, hup.stderr);
    const result = jsonEvents(hup.stdout).find((e) => e.event === 'result')!;
    assert.deepEqual((result.hosts as { outcome: string }[]).map((h) => h.outcome), ['reverted']);
    assert.match(hup.stderr + hup.stdout, /SIGHUP/);
    assert.equal(current(s.root), r1);
    assert.ok(noLock(s.root));
  });

  test('no sudo on the host: stopped before changing anything, and no claim of a lock left behind (found by the attack pass)', async () => {
    const s = setup();
    // a PATH with the usual tools but no sudo
    const bin = join(s.dir, 'bin');
    mkdirSync(bin);
    for (const dir of (process.env.PATH ?? '').split(':')) {
      for (const name of existsSync(dir) ? readdirSync(dir) : []) {
        if (name !== 'sudo' && !existsSync(join(bin, name))) symlinkSync(join(dir, name), join(bin, name));
      }
    }
    const out = await fap(['-f', s.file, 'deploy', 'production', '--set', 'sudo_user=nobody-here'], { env: { PATH: bin } });
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /sudo: not found/);
    assert.doesNotMatch(out.stderr, /could not be released|could not release/);
    // fap run says why too, not just the shell's exit 127 (found by the second attack pass)
    const run = await fap(['-f', s.file, 'run', 'production', 'web', '--set', 'sudo_user=nobody-here', '--', 'true'], { env: { PATH: bin } });
    assert.equal(run.code, 127, run.stderr);
    assert.match(run.stderr, /warning: .*sudo_user/);
  });

  test('fap --json run: the command\'s output comes as run.output events, so stdout carries only JSON lines and none can be forged (found by the attack pass)', async () => {
    const s = setup();
    assert.equal((await fap(['-f', s.file, 'deploy', 'production'])).code, 0);
    const forged = '{"ts":"2024-01-01T00:00:00.000Z","event":"result","ok":true,"exitCode":0}';
    const out = await fap(['-f', s.file, '--json', 'run', 'production', 'web', '--', 'sh', '-c', `echo hi; echo '${forged}'; printf tail; echo err >&2; exit 5`]);
    assert.equal(out.code, 5, out.stderr);
    const events = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const output = events.filter((e) => e.event === 'run.output').map((e) => `${e.stream}:${e.line}`);
    assert.deepEqual(output.filter((l) => l.startsWith('stdout:')), ['stdout:hi', `stdout:${forged}`, 'stdout:tail']);
    assert.deepEqual(output.filter((l) => l.startsWith('stderr:')), ['stderr:err']);
    const results = events.filter((e) => e.event === 'result');
    assert.equal(results.length, 1);
    assert.equal(results[0].ok, false);
    assert.equal(events.at(-1)!.event, 'result');
  });

  // Every way to name an artifact that is not one readable regular file, given as --artifact and
  // as curl_artifact in deploy.yml: a configuration error before any host is touched (found by the
  // attack passes: a directory left the lock; in deploy.yml it failed only at the upload; "file/"
  // was accepted; '' named the current directory)
  test('an artifact that is not one readable file: exit 2 naming it, before anything is locked, from --artifact or deploy.yml', async () => {
    const s = setup();
    const tgz = join(s.dir, 'build.tgz');
    writeFileSync(tgz, 'x');
    const fifo = join(s.dir, 'pipe.tgz');
    spawnSync('mkfifo', [fifo]);
    const cases: [string, RegExp, RegExp?][] = [
      [s.dir, /is a directory: give the built archive/],
      [`${tgz}/`, /ends with "\/", so it names a directory/],
      // in deploy.yml an empty string is no artifact at all
      ['', /is empty: give the path of a file/, /curl_url: the curl plugin needs an artifact/],
      ['   ', /is empty: give the path of a file/],
      [join(s.dir, 'missing.tgz'), /no such file .*missing\.tgz/],
      [fifo, /is not a regular file/],
    ];
    for (const [artifact, says, fileSays] of cases) {
      const flag = await fap(['-f', s.file, 'release', 'production', '--artifact', artifact]);
      assert.equal(flag.code, 2, `--artifact ${JSON.stringify(artifact)}: ${flag.stderr}`);
      assert.match(flag.stderr, new RegExp(`^fap: --artifact: (.* )?${says.source}`, 'm'));
      const file = join(s.dir, 'deploy-artifact.yml');
      writeFileSync(file, readFileSync(s.file, 'utf8').replace('plugins:\n  - git', `curl_artifact: ${JSON.stringify(artifact)}\nplugins:\n  - curl`));
      const inFile = await fap(['-f', file, 'deploy', 'production']);
      assert.equal(inFile.code, 2, `curl_artifact: ${JSON.stringify(artifact)}: ${inFile.stderr}`);
      assert.match(inFile.stderr, fileSays ?? new RegExp(`deploy-artifact\\.yml:\\d+:\\d+: curl_artifact: (.* )?${says.source}`));
      for (const out of [flag, inFile]) assert.doesNotMatch(out.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(!existsSync(s.root), 'nothing was created on the host');
    }
  });

  // README: with --json the last line is always a result (found by the attack pass: a second Ctrl-C,
  // a configuration error and a usage error ended the stream without one)
  test('--json: the last line is always a result, whatever ends fap', async () => {
    const s = setup();
    const lastResult = (stdout: string, exitCode: number, command: string) => {
      const events = jsonEvents(stdout);
      const last = events.at(-1);
      assert.equal(last?.event, 'result', stdout);
      assert.equal(last?.exitCode, exitCode, stdout);
      assert.equal(last?.command, command, stdout);
      assert.equal(events.filter((e) => e.event === 'result').length, 1, stdout);
      return last!;
    };
    writeFileSync(join(s.dir, 'bad.yml'), readFileSync(s.file, 'utf8').replace(/^repo: .*$/m, 'repo: ${FAP_TEST_UNSET_VAR:?set it}'));
    const config = await fap(['-f', join(s.dir, 'bad.yml'), '--json', 'deploy', 'production']);
    assert.match(String(lastResult(config.stdout, 2, 'deploy').error), /bad\.yml:\d+:\d+: repo: set it/);
    const usage = await fap(['-f', s.file, '--json', 'deploy', 'production', '--no-such-option']);
    assert.match(String(lastResult(usage.stdout, 2, 'deploy').error), /unknown option '--no-such-option'/);
    const unknown = await fap(['-f', s.file, '--json', 'deploy', 'nostage']);
    assert.match(String(lastResult(unknown.stdout, 2, 'deploy').error), /unknown stage "nostage"/);
    lastResult((await fap(['-f', s.file, '--json', 'config', 'production'])).stdout, 0, 'config');
    assert.equal((await fap(['-f', s.file, 'deploy', 'production'])).code, 0);

    // Ctrl-C twice during a deploy: quit at once, locks given back, and a result line last
    const quit = await new Promise<{ code: number | null; stdout: string }>((done) => {
      const child = spawn(process.execPath, [FAP, '-f', s.file, '--json', '--set', 'health_check=sleep 30', 'deploy', 'production'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (/"phase":"publish"/.test(stdout) && !child.killed) {
          child.kill('SIGINT');
          setTimeout(() => child.kill('SIGINT'), 300);
        }
      });
      child.stderr.resume();
      child.on('close', (code) => done({ code, stdout }));
    });
    assert.equal(quit.code, 130, quit.stdout);
    assert.match(String(lastResult(quit.stdout, 130, 'deploy').error), /SIGINT again/);
    assert.ok(noLock(s.root), 'the second Ctrl-C gave the lock back');
    const next = await fap(['-f', s.file, 'deploy', 'production']);
    assert.equal(next.code, 0, next.stderr);

    // a signal while fap starts (before or while its commands load): still a result last
    let interrupted = 0;
    for (const ms of [80, 150, 300, 600]) {
      const early = await new Promise<{ code: number | null; stdout: string }>((done) => {
        const child = spawn(process.execPath, [FAP, '-f', s.file, '--json', 'deploy', 'production'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        setTimeout(() => child.kill('SIGINT'), ms);
        child.on('close', (code) => done({ code, stdout }));
      });
      if (early.code !== 130) continue;
      interrupted++;
      assert.equal(jsonEvents(early.stdout).at(-1)?.event, 'result', early.stdout);
      assert.equal(jsonEvents(early.stdout).at(-1)?.exitCode, 130, early.stdout);
    }
    assert.ok(interrupted > 0, 'no start-up was interrupted');
    assert.ok(noLock(s.root));
  });

  test('an ssh config alias named "local" for another machine is refused, not shadowed; one for this machine is fine (found by the attack pass)', { skip: spawnSync('ssh', ['-V']).error ? 'no OpenSSH client (ssh -G reads the config)' : false }, async () => {
    const s = setup();
    const cfg = join(s.dir, 'ssh_config');
    writeFileSync(cfg, 'Host local\n  HostName 192.0.2.7\n');
    for (const command of [['deploy', 'production'], ['check', 'production'], ['--dry-run', 'deploy', 'production']]) {
      const r = await fap(['-f', s.file, '--set', `ssh.config_file=${cfg}`, ...command]);
      assert.equal(r.code, 2, `${command.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^fap: hosts: "local" is fap's name for this machine \(no SSH\), but .*ssh_config makes "local" an alias of 192\.0\.2\.7; to deploy there write 192\.0\.2\.7 in hosts/m);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(s.root), 'nothing was created');
    }
    // this machine as another login or through another port (a Vagrant box, a tunnel) is not local either
    for (const [text, dest] of [
      ['Host local\n  HostName 127.0.0.1\n  Port 2222\n  User vagrant\n', 'vagrant@127.0.0.1:2222'],
      ['Host local\n  HostName localhost\n  Port 2222\n', 'localhost:2222'],
      ['Host local\n  HostName 127.0.0.1\n  User nobody-else\n', 'nobody-else@127.0.0.1'],
    ]) {
      writeFileSync(cfg, text);
      const r = await fap(['-f', s.file, '--set', `ssh.config_file=${cfg}`, 'deploy', 'production']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`makes "local" an alias of ${dest.replace(/\./g, '\\.')};`));
      assert.ok(!existsSync(s.root), 'nothing was created');
    }
    const off = await fap(['-f', s.file, '--set', `ssh.config_file=${cfg}`, '--set', 'use_ssh_config=false', 'deploy', 'production']);
    assert.equal(off.code, 0, off.stderr);
    writeFileSync(cfg, `Host local\n  HostName localhost\n  User ${me}\n`);
    const same = await fap(['-f', s.file, '--set', `ssh.config_file=${cfg}`, 'deploy', 'production']);
    assert.equal(same.code, 0, same.stderr);
    // a missing ssh config named in deploy.yml is warned about, local host in the stage or not
    const missing = await fap(['-f', s.file, '--set', `ssh.config_file=${join(s.dir, 'no-such-config')}`, 'deploy', 'production']);
    assert.equal(missing.code, 0, missing.stderr);
    assert.match(missing.stderr, /warning: ssh\.config_file .*no-such-config does not exist/);
  });

  test('fap unlock while a deploy runs: the deploy stops saying its lock was removed, not that a newer attempt superseded it; the next deploy heals (found by the attack pass)', async () => {
    const s = setup();
    assert.equal((await fap(['-f', s.file, 'deploy', 'production'])).code, 0);
    let unlocked: Promise<unknown> | undefined;
    const run = await fapLive(['-f', s.file, '--set', 'health_check=sleep 2', 'deploy', 'production'], (e) => {
      if (e.event === 'phase.started' && e.phase === 'publish' && !unlocked) unlocked = new Promise((r) => setTimeout(r, 800)).then(() => fap(['-f', s.file, 'unlock', 'production']));
    });
    const u = (await unlocked) as { code: number; stderr: string };
    assert.equal(u.code, 0, u.stderr);
    assert.equal(run.code, 1, run.stderr);
    const reasons = jsonEvents(run.stdout).filter((e) => e.event === 'host.failed').map((e) => String(e.stderr));
    assert.ok(reasons.length > 0, run.stdout);
    for (const r of reasons) assert.match(r, /^this run no longer holds the deploy lock( on \S+)? \(removed with fap unlock, or taken over\)/);
    const next = await fap(['-f', s.file, 'deploy', 'production']);
    assert.equal(next.code, 0, next.stderr);
    assert.ok(noLock(s.root));
    assert.ok(existsSync(join(s.root, 'current', 'app.py')), 'current is a complete release');
  });

  test('revisions.log: a deploy is logged at the time current was switched, not when the run started (found by the attack pass)', async () => {
    const s = setup();
    const plugin = writeFaultPlugin(s.dir);
    writeFileSync(s.file, readFileSync(s.file, 'utf8').replace('plugins:\n  - git', `plugins:\n  - git\n  - ${plugin}`));
    const r = await fap(['-f', s.file, '--json', '--set', 'fault_signal=deploy.updated', '--set', 'fault_action=sleep 1.5', 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    const started = Date.parse(String(jsonEvents(r.stdout).find((e) => e.event === 'run.started')!.ts));
    const line = readFileSync(join(s.root, 'revisions.log'), 'utf8').trim().split('\n').pop()!;
    assert.match(line, / deploy release=\d{14} /);
    const at = Date.parse(line.split(' ')[0]);
    assert.ok(at - started >= 1400, `logged ${at - started} ms after the run started: ${line}`);
  });

  test('the local host\'s work sees a login\'s environment, not fap\'s (found by the attack pass: GIT_DIR broke the git plugin on local only)', async () => {
    const s = setup();
    const env = { GIT_DIR: join(s.repo.dir, '.git'), FAP_TEST_CI_TOKEN: 'tok-123', VIRTUAL_ENV: '/opt/venv', LC_ALL: 'C.UTF-8' };
    const d = await fap(['-f', s.file, 'deploy', 'production'], { env });
    assert.equal(d.code, 0, d.stderr);
    const r = await fap(['-f', s.file, 'run', 'production', 'web', '--', 'env'], { env });
    assert.equal(r.code, 0, r.stderr);
    const seen = new Map(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
    for (const k of ['GIT_DIR', 'FAP_TEST_CI_TOKEN', 'VIRTUAL_ENV', 'SSH_AUTH_SOCK']) assert.ok(!seen.has(k), `${k} reached the host's work`);
    assert.equal(seen.get('USER'), me);
    assert.equal(seen.get('LC_ALL'), 'C.UTF-8', 'the locale passes, as sshd accepts it');
    assert.ok(seen.get('PATH'), 'a PATH');
  });

  test('a plugin by path in --set plugins or only in deploy_plugins: its keys and defaults are known, and fap check looks for its tools (found by the attack pass)', async () => {
    const s = setup();
    writeFileSync(
      join(s.dir, 'tools.mjs'),
      `export default { name: 'tools', keys: { tooly_cmd: { type: 'string', default: 'fap-no-such-tool-xyz --go', description: 'x' } }, tools: (c) => [c.tooly_cmd], on: { 'deploy.updated': (ctx) => ctx.script('tool', 'echo ' + ctx.quote(ctx.config.tooly_cmd.trimEnd())) } };\n`,
    );
    const viaSet = await fap(['-f', s.file, '--set', 'plugins=[git, ./tools.mjs]', 'deploy', 'production']);
    assert.equal(viaSet.code, 0, viaSet.stderr);
    assert.doesNotMatch(viaSet.stderr, /internal|TypeError/);
    const config = await fap(['-f', s.file, '--set', 'plugins=[git, ./tools.mjs]', '--set', 'tooly_cmd=other', 'config', 'production']);
    assert.match(config.stdout, /^tooly_cmd: other # --set/m);
    const check = await fap(['-f', s.file, '--set', 'plugins=[git, ./tools.mjs]', 'check', 'production']);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /fap-no-such-tool-xyz/);
    // only in deploy_plugins: fap check looks for it too, and its keys do not warn
    writeFileSync(s.file, readFileSync(s.file, 'utf8').replace('plugins:\n  - git', 'plugins:\n  - git\ndeploy_plugins:\n  - git\n  - ./tools.mjs\ntooly_cmd: fap-no-such-tool-abc'));
    const onlyDeploy = await fap(['-f', s.file, 'check', 'production']);
    assert.equal(onlyDeploy.code, 1, onlyDeploy.stdout + onlyDeploy.stderr);
    assert.match(onlyDeploy.stdout, /fap-no-such-tool-abc/);
    assert.doesNotMatch(onlyDeploy.stderr, /belongs to the .* plugin, which is not enabled/);
  });

  test('one host in two roles with their own paths is one host in the summary (found by the attack pass: "to 2 host(s)")', async () => {
    const s = setup();
    writeFileSync(s.file, readFileSync(s.file, 'utf8').replace(/stage_role_configs:[\s\S]*$/, `stage_role_configs:\n  production:\n    web:\n      hosts: [local]\n    worker:\n      hosts: [local]\n      path: ${join(s.dir, 'srv', 'worker')}\n`));
    const r = await fap(['-f', s.file, 'deploy', 'production']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /deployed \S+ as \d{14} to 1 host \(2 deploy paths\)/);
    const back = await fap(['-f', s.file, 'rollback', 'production']);
    assert.equal(back.code, 1);
    // each path refuses for the same reason: said once
    const summary = back.stderr.split('\n').find((l) => l.startsWith('✖'))!;
    assert.equal(summary.match(/no earlier good release to roll back to on local/g)?.length, 1, back.stderr);
  });

  // README: Ctrl-C stops at the next phase boundary. Typed on a real terminal it must become a
  // SIGINT (found by a newcomer: ora's discardStdin put the terminal in raw mode, so ^C was a byte)
  test('Ctrl-C typed on a real terminal: once stops at the phase boundary and puts the hosts back; twice quits at once; no lock left', { skip: spawnSync('python3', ['-c', 'import pty']).status === 0 ? false : 'no python3 to drive a pseudo-terminal' }, async () => {
    const s = setup();
    assert.equal((await fap(['-f', s.file, 'deploy', 'production'])).code, 0);
    const before = current(s.root);
    const onTerminal = (keys: { after: string; delay: number; send: string }[]) => {
      const r = spawnSync('python3', [join(ROOT, 'test', 'pty', 'run.py'), JSON.stringify({ keys, timeout: 60 }), '--', process.execPath, FAP, '-f', s.file, '--set', 'health_check=sleep 4', 'deploy', 'production'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { code: number; output: string; unsent: number };
    };
    const once = onTerminal([{ after: 'publish', delay: 1, send: '\u0003' }]);
    assert.equal(once.unsent, 0);
    assert.match(once.output, /SIGINT: stopping at the next phase boundary/);
    assert.notEqual(once.code, 0, once.output);
    assert.doesNotMatch(once.output, /✔ deployed/);
    assert.equal(current(s.root), before, 'the hosts were put back');
    assert.ok(noLock(s.root));
    const twice = onTerminal([
      { after: 'publish', delay: 1, send: '\u0003' },
      { after: 'SIGINT: stopping', delay: 0.3, send: '\u0003' },
    ]);
    assert.equal(twice.code, 130, twice.output);
    assert.match(twice.output, /SIGINT again: releasing this run's locks and quitting/);
    assert.ok(noLock(s.root));
    // the next deploy heals what the quit left
    const next = await fap(['-f', s.file, 'deploy', 'production']);
    assert.equal(next.code, 0, next.stderr);
  });

  // fap run -i on this machine: the command has fap's own terminal, so a Ctrl-C typed there reaches
  // both; it is the command's (found: fap ended with 130 under it, dash's /bin/sh -c wrapper died
  // and left the command on the terminal). fap run without -i: stdin given, or end-of-file.
  test('fap run on this machine: stdin given whole then end-of-file; -i on a real terminal: typed input, Ctrl-C and Ctrl-\\ are the command\'s, its exit code passed through', { skip: spawnSync('python3', ['-c', 'import pty']).status === 0 ? false : 'no python3 to drive a pseudo-terminal' }, async () => {
    const s = setup();
    assert.equal((await fap(['-f', s.file, 'deploy', 'production'])).code, 0);
    const piped = spawnSync(process.execPath, [FAP, '-f', s.file, 'run', 'production', 'web', '--', 'sh', '-c', 'cat; echo "[end]"'], { input: 'a\nb', encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 });
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(piped.stdout, 'a\nb[end]\n');
    const onTerminal = (words: string[], keys: { after: string; delay: number; send: string }[]) => {
      const r = spawnSync('python3', [join(ROOT, 'test', 'pty', 'run.py'), JSON.stringify({ keys, timeout: 30 }), '--', process.execPath, FAP, '-f', s.file, 'run', ...words], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { code: number; output: string; unsent: number };
    };
    const talk = onTerminal(['-i', 'production', 'web', '--', 'sh', '-c', 'printf "name? "; read x; echo "got [$x]"; exit 7'], [{ after: 'name? ', delay: 0.3, send: 'ada\r' }]);
    assert.equal(talk.code, 7, talk.output);
    assert.match(talk.output, /got \[ada\]/);
    for (const [key, sig] of [['\u0003', 'INT'], ['\u001c', 'QUIT']]) {
      const r = onTerminal(['-i', 'production', 'web', '--', 'sh', '-c', `trap "echo trapped ${sig}; exit 9" ${sig}; printf "ready> "; sleep 20`], [{ after: 'ready> ', delay: 0.5, send: key }]);
      assert.equal(r.code, 9, `${sig}: ${r.output}`);
      assert.match(r.output, new RegExp(`trapped ${sig}`));
      assert.doesNotMatch(r.output, /fap: interrupted/);
    }
    const eof = onTerminal(['production', 'web', '--', 'sh', '-c', 'if read x; then echo "read [$x]"; else echo "end-of-file"; fi'], []);
    assert.equal(eof.code, 0, eof.output);
    assert.match(eof.output, /end-of-file/);
  });

  test('fap run on this machine: the command\'s stdout and stderr are its bytes, binary included', async () => {
    const s = setup();
    assert.equal((await fap(['-f', s.file, 'deploy', 'production'])).code, 0);
    for (const size of [2, 70_000, 300_001]) {
      const blob = randomBytes(size);
      writeFileSync(join(s.root, 'shared', 'blob.bin'), blob);
      for (const [stream, redirect] of [['stdout', ''], ['stderr', ' >&2']] as const) {
        const r = spawnSync(process.execPath, [FAP, '-f', s.file, 'run', 'production', 'web', '--', 'sh', '-c', `cat ../../shared/blob.bin${redirect}`], { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
        assert.equal(r.status, 0, r.stderr.toString());
        const got = r[stream];
        assert.ok(got.subarray(got.length - size).equals(blob) && (stream === 'stderr' || got.length === size), `${stream}: ${size} bytes in, ${got.length} out`);
      }
    }
  });

  test('local takes no user or port: a config error naming file:line:col', async () => {
    const s = setup();
    writeFileSync(s.file, readFileSync(s.file, 'utf8').replace('- local', '- deploy@local'));
    const r = await fap(['-f', s.file, 'deploy', 'production']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /deploy\.yml:\d+:\d+: .*the local host takes no user or port/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
