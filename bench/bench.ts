// npm run bench: fap against the floor (OpenSSH opening a connection to every host and running
// `true`), on the real sshd fleet. Interleaved rounds, medians; ratios, channels per host, peak RSS.
// FAP_BENCH_HOSTS (20), FAP_BENCH_ROUNDS (5), FAP_BENCH_BIG (100; 0 skips the scaling run).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../test/fleet/fleet.js';
import { FAP, makeRepo, ROOT, writeDeployFile } from '../test/helpers.js';

const HOSTS = Number(process.env.FAP_BENCH_HOSTS ?? 20);
const ROUNDS = Math.max(5, Number(process.env.FAP_BENCH_ROUNDS ?? 5));
const BIG = Number(process.env.FAP_BENCH_BIG ?? 100);

interface Sample {
  ms: number;
  channels?: number;
  rssMb?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function timed(cmd: string, args: string[]): Promise<{ ms: number; code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '', NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code: code ?? -1, stdout, stderr }));
  });
}

/** The floor: OpenSSH opens a connection to every host at once and runs `true`. */
async function floor(fleet: Fleet): Promise<Sample> {
  const started = process.hrtime.bigint();
  const runs = fleet.hosts.map((h) =>
    timed('ssh', ['-p', String(h.port), '-i', fleet.identityFile, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${fleet.knownHosts}`, `${fleet.user}@127.0.0.1`, 'true']),
  );
  const results = await Promise.all(runs);
  if (results.some((r) => r.code !== 0)) throw new Error(`ssh failed: ${results.find((r) => r.code)!.stderr}`);
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, channels: 1 };
}

async function fap(file: string, args: string[]): Promise<Sample> {
  const r = await timed(process.execPath, [FAP, '-f', file, '--json', ...args]);
  if (r.code !== 0) throw new Error(`fap ${args.join(' ')} failed: ${r.stderr}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { channels: Record<string, number>; maxRssKb: number };
  return { ms: r.ms, channels: Math.max(...Object.values(result.channels)), rssMb: result.maxRssKb / 1024 };
}

async function setup(fleet: Fleet, app: string) {
  const repo = makeRepo({ 'app.py': 'print("bench")\n', 'requirements.txt': '' });
  for (let i = 0; i < fleet.hosts.length; i++) {
    const shared = fleet.hostPath(i, join(fleet.deployDir, app, 'shared', 'configs'));
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, 'app.conf'), 'x=1\n');
  }
  return writeDeployFile(fleet, { repo: repo.dir, top: { app_name: app, linked_files: ['configs/app.conf'], keep_releases: 5 } });
}

async function main() {
  const reason = fleetUnsupportedReason();
  if (reason) throw new Error(`the benchmark needs the sshd fleet: ${reason}`);
  // the artifact for fap release --curl-url, served on loopback
  const build = mkdtempSync(join(tmpdir(), 'fap-bench-build-'));
  writeFileSync(join(build, 'app.py'), 'print("artifact")\n');
  const tgzFile = join(build, '..', `fap-bench-${process.pid}.tgz`);
  spawnSync('tar', ['-czf', tgzFile, '-C', build, '.']);
  const tgz = readFileSync(tgzFile);
  const sha = createHash('sha256').update(tgz).digest('hex');
  const server = createServer((_req, res) => res.end(tgz));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/build.tgz`;

  const fleet = await startFleet(HOSTS);
  const results: Record<string, Sample[]> = { floor: [], deploy: [], release: [], rollback: [] };
  let big: { hosts: number; deploy: Sample; small: Sample } | undefined;
  try {
    const file = await setup(fleet, 'bench');
    await fap(file, ['deploy', 'production']); // warm the mirror, one release to roll back to
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
      results.floor.push(await floor(fleet));
      results.deploy.push(await fap(file, ['deploy', 'production']));
      results.release.push(await fap(file, ['release', 'production', '--curl-url', url, '--curl-sha256', sha]));
      results.rollback.push(await fap(file, ['rollback', 'production']));
    }
  } finally {
    await fleet.stop();
  }
  if (BIG > 0) {
    process.stderr.write(`scaling: ${BIG} hosts\n`);
    const large = await startFleet(BIG);
    try {
      const file = await setup(large, 'big');
      await fap(file, ['deploy', 'production']);
      const deploys = [await fap(file, ['deploy', 'production']), await fap(file, ['deploy', 'production']), await fap(file, ['deploy', 'production'])];
      big = { hosts: BIG, deploy: { ms: median(deploys.map((d) => d.ms)), channels: Math.max(...deploys.map((d) => d.channels!)), rssMb: Math.max(...deploys.map((d) => d.rssMb!)) }, small: { ms: median(results.deploy.map((d) => d.ms)) } };
    } finally {
      await large.stop();
    }
  }
  server.close();

  const floorMs = median(results.floor.map((s) => s.ms));
  const row = (name: string, target?: number, channelTarget?: number) => {
    const s = results[name];
    const ms = median(s.map((x) => x.ms));
    return {
      name,
      medianMs: Math.round(ms),
      ratio: Number((ms / floorMs).toFixed(2)),
      target,
      channelsPerHost: Math.max(...s.map((x) => x.channels ?? 0)),
      channelTarget,
      peakRssMb: s[0].rssMb !== undefined ? Number(Math.max(...s.map((x) => x.rssMb!)).toFixed(1)) : undefined,
      samplesMs: s.map((x) => Math.round(x.ms)),
    };
  };
  const rows = [row('floor'), row('deploy', 1.3, 4), row('release'), row('rollback', 1.1, 2)];
  const report = {
    date: new Date().toISOString(),
    hosts: HOSTS,
    rounds: ROUNDS,
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    rows,
    scaling: big && {
      hosts: big.hosts,
      deployMs: Math.round(big.deploy.ms),
      peakRssMb: Number(big.deploy.rssMb!.toFixed(1)),
      channelsPerHost: big.deploy.channels,
      timeRatioVs: { hosts: HOSTS, ratio: Number((big.deploy.ms / big.small.ms).toFixed(2)), hostsRatio: big.hosts / HOSTS },
    },
  };
  const md = [
    `# fap benchmark`,
    '',
    `${report.date} · ${HOSTS} sshd hosts on 127.0.0.1 · ${ROUNDS} interleaved rounds, medians · ${report.machine.cpus} CPUs · Node ${report.machine.node}`,
    '',
    '| command | median | × floor | target | SSH channels per host | target | peak RSS |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.name === 'floor' ? 'floor: `ssh host true` to all hosts at once' : `fap ${r.name === 'release' ? 'release --curl-url' : r.name}`} | ${(r.medianMs / 1000).toFixed(2)} s | ${r.ratio} | ${r.target ? '≤ ' + r.target : ''} | ${r.channelsPerHost} | ${r.channelTarget ? '≤ ' + r.channelTarget : ''} | ${r.peakRssMb !== undefined ? r.peakRssMb + ' MB' : ''} |`),
    '',
    ...(report.scaling
      ? [
          `Scaling: ${report.scaling.hosts} hosts deploy in ${(report.scaling.deployMs / 1000).toFixed(2)} s (${report.scaling.timeRatioVs.ratio}× the ${HOSTS}-host time for ${report.scaling.timeRatioVs.hostsRatio}× the hosts), peak RSS ${report.scaling.peakRssMb} MB (target ≤ 150 MB), ${report.scaling.channelsPerHost} channels per host.`,
        ]
      : []),
    '',
  ].join('\n');
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(out, 'latest.md'), md);
  process.stdout.write(md);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
