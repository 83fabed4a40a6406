// npm run demo: deploy the example app to a throwaway sshd on loopback, with no root and no
// Docker. Starts sshd as the current user, deploys three times, rolls back once, prints
// `fap releases`, then stops sshd and removes everything it made.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, SSHD, sshdConfig, waitForPort } from '../test/fleet/fleet.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FAP = join(ROOT, 'bin', 'fap.js');

function must(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error}`);
  return r.stdout.trim();
}

function fap(args: string[], env: NodeJS.ProcessEnv): number {
  console.log(`\n$ fap ${args.join(' ')}`);
  return spawnSync(process.execPath, [FAP, ...args], { stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;
}

async function main(): Promise<number> {
  if (!SSHD) {
    console.error('The demo needs the OpenSSH server binary (sshd), which is not installed.\nInstall the package "openssh-server" (Debian/Ubuntu: sudo apt-get install openssh-server; Fedora: sudo dnf install openssh-server), then run npm run demo again.');
    return 1;
  }
  if (spawnSync('git', ['--version']).status !== 0) {
    console.error('The demo needs git: install the package "git".');
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fap-demo-'));
  const keep = !!process.env.FAP_DEMO_KEEP;
  let sshd: ReturnType<typeof spawn> | undefined;
  try {
    // sshd wants absolute paths for every file it is given
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    const clientKey = join(dir, 'id_ed25519');
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fap-demo', '-f', clientKey]);
    copyFileSync(clientKey + '.pub', join(dir, 'authorized_keys'));
    const port = await freePort();
    writeFileSync(join(dir, 'sshd_config'), sshdConfig({ port, hostKey, pidFile: join(dir, 'sshd.pid'), authorizedKeys: join(dir, 'authorized_keys') }));
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
    const [type, key] = readFileSync(hostKey + '.pub', 'utf8').trim().split(/\s+/);
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${type} ${key}\n`);

    sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let sshdErr = '';
    sshd.stderr!.on('data', (d) => (sshdErr += d));
    await waitForPort(port).catch((e) => {
      throw new Error(`${(e as Error).message}\n${sshdErr}`);
    });
    console.log(`sshd (pid ${sshd.pid}) listening on 127.0.0.1:${port}, host key in ${dir}/known_hosts`);

    // a git repository with the example app
    const repo = join(dir, 'repo');
    mkdirSync(repo);
    const g = (...a: string[]) => must('git', ['-c', 'user.name=fap demo', '-c', 'user.email=demo@fap.invalid', ...a], repo);
    g('init', '-q', '-b', 'main');
    for (const f of readdirSync(join(ROOT, 'examples/app'))) if (f !== 'configs') copyFileSync(join(ROOT, 'examples/app', f), join(repo, f));

    // the deploy root, with a config file that lives only in shared/ (never in the repository)
    const deployRoot = join(dir, 'srv', 'demo-app');
    mkdirSync(join(deployRoot, 'shared', 'configs'), { recursive: true });
    writeFileSync(join(deployRoot, 'shared', 'configs', 'app.conf'), 'listen = 127.0.0.1:8000\n');

    const deployfile = join(dir, 'deploy.yml');
    writeFileSync(
      deployfile,
      stringify({
        app_name: 'demo-app',
        path: join(dir, 'srv', '%(app_name)s'),
        user: userInfo().username,
        // Fapistrano's default sudo_user is deploy: work as the login user instead (no sudo)
        sudo_user: userInfo().username,
        keep_releases: 2,
        plugins: ['git'],
        repo,
        branch: 'main',
        linked_files: ['configs/app.conf'],
        linked_dirs: ['log'],
        environment: { GREETING: '${DEMO_GREETING:-hello from fap}', SECRET_KEY: '${DEMO_SECRET_KEY}' },
        ssh: { identity_file: clientKey, known_hosts_file: join(dir, 'known_hosts'), host_key_checking: 'strict' },
        stage_role_configs: { demo: { web: { hosts: [`127.0.0.1:${port}`] } } },
      }),
    );
    const env = { DEMO_SECRET_KEY: 's3cr3t-demo-value', SSH_AUTH_SOCK: '' };

    for (let i = 1; i <= 3; i++) {
      writeFileSync(join(repo, 'VERSION'), `${i}\n`);
      g('add', '-A');
      g('commit', '-q', '-m', `version ${i}`);
      if (fap(['-f', deployfile, 'deploy', 'demo', 'web'], env) !== 0) return 1;
    }
    if (fap(['-f', deployfile, 'rollback', 'demo', 'web'], env) !== 0) return 1;
    if (fap(['-f', deployfile, 'releases', 'demo', 'web'], env) !== 0) return 1;

    const current = join(deployRoot, 'current');
    console.log(`\ncurrent -> ${must('readlink', [current])}; running the app from it:`);
    console.log(must('sh', ['-c', 'set -a; . ./.env; python3 app.py'], current));
    console.log(`\nEverything lived in ${dir}: sshd config and keys, the git repository (repo/), the deploy root (srv/demo-app/).`);
    return 0;
  } finally {
    sshd?.kill('SIGTERM');
    if (keep) console.log(`FAP_DEMO_KEEP is set: left ${dir} in place (sshd stopped).`);
    else {
      rmSync(dir, { recursive: true, force: true });
      console.log(`sshd stopped and ${dir} removed.`);
    }
  }
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    console.error(`demo failed: ${(e as Error).message}`);
    process.exitCode = 1;
  },
);
