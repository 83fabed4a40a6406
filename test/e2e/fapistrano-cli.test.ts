// Fapistrano's command line on the real fleet (issue 13 item 2): -d, --key=value overrides,
// fap once -c, fap shell on a real pseudo-terminal, and a role without a stage.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, FAP, jsonEvents, makeRepo, ROOT, type FapResult } from '../helpers.js';

const skip = fleetUnsupportedReason();
let fleet: Fleet;
let file = '';
let prodPath = '';
let stagingPath = '';

before(async () => {
  if (skip) return;
  fleet = await startFleet(2);
  const repo = makeRepo({
    'app.py': 'print("v1")\n',
    // a stand-in for a virtualenv's activate script: fap shell sources it (Fapistrano: deploy.py:119-120)
    'venv/bin/activate': 'FAP_T_VENV=activated; export FAP_T_VENV\n',
  });
  prodPath = join(fleet.deployDir, 'shop');
  stagingPath = join(fleet.deployDir, 'shop-staging');
  const dir = mkdtempSync(join(tmpdir(), 'fap-fapcli-'));
  file = join(dir, 'deploy.yml');
  const [h0, h1] = fleet.hosts.map((h) => h.name);
  writeFileSync(
    file,
    stringify({
      app_name: 'shop',
      path: prodPath,
      user: fleet.user,
      sudo_user: fleet.user,
      plugins: ['git'],
      repo: repo.dir,
      branch: 'main',
      keep_releases: 5,
      environment: { SOME_ENV_VAR: 'from the env file' },
      ssh: { identity_file: fleet.identityFile, known_hosts_file: fleet.knownHosts, host_key_checking: 'strict' },
      stage_role_configs: {
        production: { web: { hosts: [h0, h1] } },
        staging: { path: stagingPath, web: { hosts: [h1] } },
      },
    }),
  );
});
after(async () => {
  await fleet?.stop();
});

const releasesOn = (host: number, root: string) => {
  const dir = fleet.hostPath(host, join(root, 'releases'));
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^\d{14}$/.test(n)) : [];
};

test('-d PATH names the deploy file, before or after the command; --keep-releases=1 prunes', { skip }, async () => {
  // fapistrano-0.9.5 cli.py:15 @click.option('-d', '--deployfile', default='./deploy.yml')
  const first = await fap(['-d', file, 'deploy', 'production']);
  assert.equal(first.code, 0, first.stderr);
  const second = await fap(['deploy', 'production', '-d', file]);
  assert.equal(second.code, 0, second.stderr);
  const [r1, r2] = releasesOn(0, prodPath);
  assert.ok(r1 && r2, 'two releases (keep_releases: 5)');
  // fapistrano-0.9.5 cli.py:91-99 _apply_plugin_options: --keep-releases=1 sets env.keep_releases.
  // fap keeps the rollback target too, so 2 stay where keep_releases: 5 would keep 3
  const pruned = await fap(['deploy', 'production', 'web', '--keep-releases=1', '-d', file]);
  assert.equal(pruned.code, 0, pruned.stderr);
  for (const host of [0, 1]) {
    const left = releasesOn(host, prodPath);
    assert.equal(left.length, 2, `host ${host}: current and the rollback target`);
    assert.ok(!left.includes(r1), 'the oldest release was pruned');
  }
  // the separate-word form is the same override
  const again = await fap(['-d', file, 'deploy', 'production', '--keep-releases', '1']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(releasesOn(0, prodPath).length, 2);
  assert.ok(!releasesOn(0, prodPath).includes(r2));

  const missing = await fap(['-d', join(tmpdir(), 'no-such-dir', 'deploy.yml'), 'deploy', 'production']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no-such-dir\/deploy\.yml: no such file/);
});

test('--supervisor-refresh=true and --curl-options="-k -L" are --set overrides: fap config shows them with origin --set', { skip }, async () => {
  // fapistrano-0.9.5 cli.py:93-95: every configuration key is an option, underscores as dashes
  const r = await fap(['-d', file, 'config', 'production', 'web', '--supervisor-refresh=true', '--curl-options=-k -L', '--keep_releases', '7']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^supervisor_refresh: true # --set/m, 'parsed as YAML: the boolean true');
  assert.match(r.stdout, /^curl_options: -k -L # --set/m);
  assert.match(r.stdout, /^keep_releases: 7 # --set/m);
  // a near miss of a key is a usage error naming the key
  const typo = await fap(['-d', file, 'config', 'production', '--supervisor-refesh=true']);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, "fap: unknown option '--supervisor-refesh'\n  did you mean --supervisor-refresh? (fap config --help lists the options)\n");
  // fap's own option wins: --hosts selects hosts, it is not a --set of the hosts key
  const own = await fap(['-d', file, 'config', 'production', 'web', '--hosts', fleet.hosts[0].name]);
  assert.equal(own.code, 0, own.stderr);
  assert.doesNotMatch(own.stdout, /# --set/);
});

test('fap once -c runs one shell command line in current with .env, on every host; the exit code is the command’s', { skip }, async () => {
  // fapistrano-0.9.5 cli.py:61-70 (once -s -r -c) and deploy.py:101-104 (cd current_path, shell_env, run)
  const current = join(prodPath, 'current');
  const r = await fap(['-d', file, 'once', '-s', 'production', '-r', 'web', '-c', 'pwd; echo "v=$SOME_ENV_VAR"; exit 4']);
  assert.equal(r.code, 4, r.stderr);
  for (const h of fleet.hosts) {
    assert.ok(r.stdout.includes(`[${h.name}] ${current}\n`), r.stdout);
    assert.ok(r.stdout.includes(`[${h.name}] v=from the env file\n`), r.stdout);
  }
  const positional = await fap(['-d', file, '--hosts', fleet.hosts[1].name, 'once', 'production', 'web', '-c', 'test -f app.py && echo "$0" | grep -c sh']);
  assert.equal(positional.code, 0, positional.stderr);
  assert.equal(positional.stdout, '1\n');
  const noCommand = await fap(['-d', file, 'once', '-s', 'production', '-r', 'web']);
  assert.equal(noCommand.code, 2);
  assert.match(noCommand.stderr, /^fap: which command\? \(fap once -s production -r web -c 'COMMAND'\)$/m);
});

/**
 * Run fap shell under a real pseudo-terminal (python3's pty module is the local terminal, sized
 * 33x101, TERM=xterm-256color), type `input`, and report what the terminal showed, fap's exit
 * code, and whether the terminal was back in cooked mode (ICANON and ECHO) after fap exited.
 */
function inTerminal(args: string[], input: string): Promise<FapResult & { cooked: boolean }> {
  const py = String.raw`
import os, pty, select, struct, subprocess, sys, termios, fcntl, time
cmd = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 101, 0, 0))
    rc = subprocess.call(cmd)
    lflag = termios.tcgetattr(0)[3]
    os.write(1, ('\nLOCAL-TTY cooked=%d\n' % (1 if (lflag & termios.ICANON) and (lflag & termios.ECHO) else 0)).encode())
    os._exit(rc)
os.write(fd, os.environ['FAP_T_INPUT'].encode())
out = b''
deadline = time.time() + 90
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 1)
    if not r:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
`;
  return new Promise((resolve) => {
    const child = spawn('python3', ['-c', py, process.execPath, FAP, ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', TERM: 'xterm-256color', FAP_T_INPUT: input },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, cooked: /LOCAL-TTY cooked=1/.test(stdout) }));
  });
}

test('fap shell: a shell on a pseudo-terminal in current, .env exported, venv activated, exit code passed, terminal restored', { skip }, async () => {
  // fapistrano-0.9.5 cli.py:73-81 (shell -s -r) and deploy.py:110-120 (cd current_path, shell_env,
  // source venv/bin/activate); Fapistrano then ran only a Python shell, fap the user's shell
  const r = await inTerminal(['-d', file, 'shell', '-s', 'production', '-r', 'web'], 'pwd; echo "v=$SOME_ENV_VAR"; echo "venv=$FAP_T_VENV term=$TERM size=$(stty size)"; exit 3\r');
  assert.equal(r.code, 3, r.stdout + r.stderr);
  // the screen's lines: escape sequences (bash's bracketed paste) out, what a carriage return overwrote out
  // eslint-disable-next-line no-control-regex
  const lines = r.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/\r*\n/).map((l) => l.slice(l.lastIndexOf('\r') + 1));
  assert.ok(lines.includes(join(prodPath, 'current')), JSON.stringify(lines));
  assert.ok(lines.includes('v=from the env file'), JSON.stringify(lines));
  assert.ok(lines.includes('venv=activated term=xterm-256color size=33 101'), JSON.stringify(lines));
  assert.ok(r.cooked, `the local terminal is back in cooked mode after fap exits:\n${r.stdout}`);
});

test('fap shell refuses without a terminal and when --hosts selects more than one host', { skip }, async () => {
  const noTty = await fap(['-d', file, 'shell', 'production', 'web']);
  assert.equal(noTty.code, 2);
  assert.match(noTty.stderr, /^fap: fap shell needs a terminal, and stdin is not one; .*fap once -s production -r web -c/m);
  const hosts = fleet.hosts.map((h) => h.name).join(',');
  const two = await fap(['-d', file, '--hosts', hosts, 'shell', 'production', 'web']);
  assert.equal(two.code, 2);
  assert.ok(two.stderr.includes(`--hosts selects 2: ${fleet.hosts[0].name}, ${fleet.hosts[1].name}`), two.stderr);
});

test('a role without a stage runs in every stage that has it, in turn, each with its own events and result', { skip }, async () => {
  // fapistrano-0.9.5 cli.py:139-153 (_get_execute_stage_and_roles: role -> every stage with it)
  // and 157-161 (_execute: one combination after the other)
  const r = await fap(['-d', file, '--json', 'deploy', '-r', 'web']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^web is in stages production, staging: running each in turn$/m);
  const events = jsonEvents(r.stdout);
  assert.deepEqual(events.filter((e) => e.event === 'run.started').map((e) => e.stage), ['production', 'staging']);
  assert.deepEqual(events.filter((e) => e.event === 'result').map((e) => e.ok), [true, true]);
  assert.ok(existsSync(fleet.hostPath(1, join(stagingPath, 'current'))), 'staging was deployed');

  // the first stage that fails stops the rest; fap exits with its code
  const stagingBefore = releasesOn(1, stagingPath).length;
  const failed = await fap(['-d', file, 'deploy', '-r', 'web', '--branch=no-such-branch']);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /fap: production failed; not run: staging \(fap stopped at production\)/);
  assert.equal(releasesOn(1, stagingPath).length, stagingBefore, 'staging was not touched');

  const unknown = await fap(['-d', file, 'rollback', '-r', 'wbe']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown role "wbe" \(did you mean "web"\?\); roles per stage: production: web; staging: web/);
});
