// What fap says when hosts fail (issue 15, items 6 and 7), against real sshd hosts: the cause
// quoted, not the last hint; one block for hosts that failed alike; the user's health check, not
// fap's retry loop; each refusal said once; and with several unreachable hosts (a closed port, a
// TCP server that closes at once, one that speaks HTTP, a stopped sshd) every one named with its
// own reason, the healthy host counted healthy, no retries after the phase, result.hosts filled.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from '../suite.js';
import { freePort, fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';
import { fap, jsonEvents, makeRepo, writeDeployFile, type Repo } from '../helpers.js';

const skip = fleetUnsupportedReason();
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('failure summaries', { skip }, () => {
  let fleet: Fleet;
  let repo: Repo;
  const servers: Server[] = [];
  before(async () => {
    fleet = await startFleet(3);
    repo = makeRepo();
  });
  after(async () => {
    for (const s of servers) s.close();
    await fleet?.stop();
  });

  const setup = (app: string, top: Record<string, unknown> = {}, hosts?: number[]) => writeDeployFile(fleet, { repo: repo.dir, hosts, top: { app_name: app, ...top } });
  const names = (hosts = [0, 1, 2]) => hosts.map((i) => fleet.hosts[i].name);

  function tcpServer(onSocket: (s: import('node:net').Socket) => void): Promise<number> {
    return new Promise((resolve) => {
      const srv = createServer((s) => {
        s.on('error', () => {});
        onSocket(s);
      });
      servers.push(srv);
      srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port));
    });
  }

  test('git fails alike on every host: one block naming them all, quoting git\'s first fatal: line, not its last hint', async () => {
    // the mirror's remote becomes a directory that is not a repository: git fetch says so first,
    // then two lines of advice
    const file = setup('f-git');
    assert.equal((await fap(['-f', file, 'deploy', 'production'])).code, 0);
    const notRepo = mkdtempSync(join(tmpdir(), 'fap-not-a-repo-'));
    const r = await fap(['-f', file, '--set', `repo=${notRepo}`, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^ {4}and the repository exists\.$/m, 'git wrote its hints last');
    const cause = `fatal: '${notRepo}' does not appear to be a git repository`;
    assert.equal(count(r.stderr, 'FAILED at'), 1, r.stderr);
    assert.ok(r.stderr.includes(`[${names().join(', ')}] FAILED at git: update mirror: ${cause}\n`), r.stderr);
    assert.doesNotMatch(r.stderr, /FAILED at [^\n]*: and the repository exists\./);
    // --json keeps one host.failed per host, each with the cause as its message
    const j = await fap(['-f', file, '--set', `repo=${notRepo}`, '--json', 'deploy', 'production']);
    const failed = jsonEvents(j.stdout).filter((e) => e.event === 'host.failed');
    assert.deepEqual(failed.map((e) => e.host).sort(), names().sort());
    for (const e of failed) assert.equal(e.message, `${e.host}: git: update mirror: ${cause}`);
  });

  test('a failing health check shows the user\'s command and its output, not fap\'s retry loop', async () => {
    const check = "echo starting; echo 'error: port 8000 not listening' >&2; exit 1";
    const file = setup('f-health', { health_check: check, health_check_timeout: 1, health_check_interval: 1 });
    const r = await fap(['-f', file, 'deploy', 'production']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(count(r.stderr, 'FAILED at'), 1, r.stderr);
    // the cause, then the command's exit status; fap's own words are not taken for its output
    assert.ok(r.stderr.includes(`[${names().join(', ')}] FAILED at health check: error: port 8000 not listening (exit status 1; still failing after 1s)\n`), r.stderr);
    assert.match(r.stderr, /^ {4}starting\n {4}error: port 8000 not listening\n {4}\$ echo starting; echo 'error: port 8000 not listening' >&2; exit 1$/m);
    assert.doesNotMatch(r.stderr, /fap_deadline|fap_out|while :/);
  });

  test('an authentication or host-key refusal is said once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fap-failures-'));
    const stranger = join(dir, 'stranger');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const auth = await fap(['-f', setup('f-auth', { ssh: { identity_file: stranger, known_hosts_file: fleet.knownHosts } }, [0]), 'deploy', 'production']);
    assert.equal(auth.code, 1, auth.stderr);
    assert.equal(count(auth.stderr, 'authentication failed'), 1, auth.stderr);
    assert.match(auth.stderr, new RegExp(`^fap: stopped before changing anything: could not connect to ${names([0])[0].replace(/\./g, '\\.')}$`, 'm'));
    const keys = await fap(['-f', setup('f-keys', { ssh: { identity_file: fleet.identityFile, known_hosts_file: join(dir, 'empty_known_hosts') } }, [0, 1]), 'deploy', 'production']);
    assert.equal(keys.code, 1, keys.stderr);
    assert.equal(count(keys.stderr, 'unknown host key'), 2, keys.stderr);
    assert.match(keys.stderr, /could not connect to 2 of 2 hosts/);
  });

  test('several unreachable hosts: each named with its own reason, the healthy one counted healthy, no retry after the phase, result.hosts filled', async () => {
    const closed = await freePort();
    const closer = await tcpServer((s) => s.destroy());
    const web = await tcpServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    // a stopped host: the kernel still accepts the connection, sshd never answers
    const stopped = fleet.hosts[2];
    process.kill(stopped.process.pid!, 'SIGSTOP');
    try {
      const hosts = [names([0])[0], `127.0.0.1:${closed}`, `127.0.0.1:${closer}`, `127.0.0.1:${web}`, stopped.name];
      const file = setup('f-unreachable', { ssh: { identity_file: fleet.identityFile, known_hosts_file: fleet.knownHosts, connect_timeout: 2 } }, [0]);
      const args = ['-f', file, '--set', `hosts=[${hosts.join(', ')}]`, 'deploy', 'production'];
      const r = await fap(args);
      assert.equal(r.code, 1, r.stderr);
      const reasons: Record<string, string> = {
        [hosts[1]]: `cannot connect to ${hosts[1]}: connection refused (is sshd running on that port?)`,
        [hosts[2]]: `connection closed before the SSH greeting (${hosts[2]}): is this an SSH port?`,
        [hosts[3]]: `${hosts[3]} is not an SSH server: it answered "HTTP/1.1 400 Bad Request"; is this the SSH port?`,
        [hosts[4]]: `no SSH answer within 2s (${hosts[4]})`,
      };
      for (const [h, why] of Object.entries(reasons)) {
        assert.ok(r.stderr.includes(`[${h}] FAILED at connect: ${why}\n`), `${h}: ${why}\n${r.stderr}`);
        const said = r.stderr.split('\n').filter((l) => !/retrying in/.test(l));
        assert.equal(count(said.join('\n'), why), 1, `${why} said once (besides the retries)`);
      }
      const lines = r.stderr.split('\n');
      const phaseEnd = lines.findIndex((l) => l.startsWith('lock: '));
      assert.match(lines[phaseEnd], /^lock: 1 ok, 4 failed /, 'the healthy host counts as healthy');
      assert.deepEqual(lines.slice(phaseEnd).filter((l) => /retrying/.test(l)), [], 'no retry after the phase ended');
      assert.match(r.stderr, new RegExp(`^fap: stopped before changing anything: could not connect to 4 of 5 hosts \\(.*\\)$`, 'm'));
      for (const h of hosts.slice(1)) assert.match(lines.find((l) => l.startsWith('fap: '))!, new RegExp(h.replace(/\./g, '\\.')));
      assert.ok(!existsSync(fleet.hostPath(0, join(fleet.deployDir, 'f-unreachable', '.fap', 'lock'))), 'the healthy host is unlocked');

      const j = await fap(['--json', ...args]);
      const result = jsonEvents(j.stdout).pop()!;
      assert.equal(result.event, 'result');
      const byHost = new Map((result.hosts as { host: string; outcome: string; step?: string; error?: string }[]).map((h) => [h.host, h]));
      assert.deepEqual([...byHost.keys()].sort(), [...hosts].sort());
      assert.equal(byHost.get(hosts[0])!.outcome, 'unchanged');
      for (const [h, why] of Object.entries(reasons)) assert.deepEqual(byHost.get(h), { host: h, role: 'web', outcome: 'failed', step: 'connect', error: `${h}: ${why}` });
    } finally {
      process.kill(stopped.process.pid!, 'SIGCONT');
    }
  });
});
