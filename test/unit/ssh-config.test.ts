// The OpenSSH client config (src/remote/ssh-config.ts, route.ts): parsing `ssh -G` output, ProxyJump
// values and % tokens (pure), then the real `ssh -G` on temporary config files: the precedence between
// the host string, the ssh config and deploy.yml, ProxyJump chains, and a missing ssh binary.
import type { SshSettings } from '../../src/config/schema.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from '../suite.js';
import { forwardFailure } from '../../src/remote/connection.js';
import { resolveRoute, type RouteInput } from '../../src/remote/route.js';
import { DEFAULT_GLOBAL_KNOWN_HOSTS, expandSshPath, parseProxyJump, parseSshG, SshConfig, UNSET_IDENTITY, UNSET_KNOWN_HOSTS, UNSET_USER } from '../../src/remote/ssh-config.js';
import { SshConfigError } from '../../src/errors.js';

const SAMPLE = `host web1
user deploy
hostname 10.0.0.5
port 2200
addressfamily any
batchmode no
serveralivecountmax 3
serveraliveinterval 7
identityfile ~/.ssh/%r_key
identityfile /keys/k2
identityfile ${UNSET_IDENTITY}
globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2
userknownhostsfile ~/.ssh/kh_%h "/with space/kh"
connecttimeout 9
proxyjump jumpuser@bastion:2022,other
`;

describe('parseSshG', () => {
  test('reads the options fap uses', () => {
    const e = parseSshG(SAMPLE);
    assert.deepEqual(e, {
      hostname: '10.0.0.5',
      port: 2200,
      user: 'deploy',
      identityFiles: ['~/.ssh/%r_key', '/keys/k2'],
      userKnownHostsFiles: ['~/.ssh/kh_%h', '/with space/kh'],
      globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      hostKeyAlias: undefined,
      proxyJump: 'jumpuser@bastion:2022,other',
      proxyCommand: undefined,
      serverAliveInterval: 7,
      serverAliveCountMax: 3,
      connectTimeout: 9,
    });
  });

  test('sentinels and OpenSSH defaults read as "not set"', () => {
    const e = parseSshG(
      [
        'host plain',
        `user ${UNSET_USER}`,
        'hostname plain',
        'port 22',
        'serveraliveinterval 0',
        'serveralivecountmax 3',
        'connecttimeout none',
        `identityfile ${UNSET_IDENTITY}`,
        `userknownhostsfile ${UNSET_KNOWN_HOSTS}`,
        'proxycommand none',
      ].join('\n'),
    );
    assert.equal(e.user, undefined);
    assert.deepEqual(e.identityFiles, []);
    assert.equal(e.userKnownHostsFiles, undefined);
    assert.equal(e.serverAliveInterval, undefined);
    assert.equal(e.connectTimeout, undefined);
    assert.equal(e.proxyJump, undefined);
    assert.equal(e.proxyCommand, undefined);
    assert.equal(e.hostname, 'plain');
    assert.equal(e.port, 22);
  });

  test('a ProxyCommand is reported, not run', () => {
    assert.equal(parseSshG('hostname a\nproxycommand nc %h %p\n').proxyCommand, 'nc %h %p');
  });
});

describe('parseProxyJump', () => {
  test('one or several hops, user@host:port and ssh:// forms', () => {
    assert.deepEqual(parseProxyJump('bastion'), [{ name: 'bastion', alias: 'bastion', user: undefined, port: undefined }]);
    assert.deepEqual(parseProxyJump('ops@gw1:2222, ssh://u@gw2:33,[fd00::1]:22'), [
      { name: 'ops@gw1:2222', alias: 'gw1', user: 'ops', port: 2222 },
      { name: 'ssh://u@gw2:33', alias: 'gw2', user: 'u', port: 33 },
      { name: '[fd00::1]:22', alias: 'fd00::1', user: undefined, port: 22 },
    ]);
    assert.deepEqual(parseProxyJump('none'), []);
  });

  test('bad hops are errors that quote the value', () => {
    assert.throws(() => parseProxyJump('a,,b'), /empty hop in ProxyJump "a,,b"/);
    assert.throws(() => parseProxyJump('gw:99999'), /bad hop "gw:99999".*out of range/);
    assert.throws(() => parseProxyJump('-oProxyCommand=x'), /bad hop/);
  });
});

test('expandSshPath: ~ and % tokens', () => {
  const local = { home: '/home/me', user: 'me', uid: 1000, host: 'laptop.example.com' };
  const c = { hostname: '10.0.0.5', port: 2200, user: 'deploy', alias: 'web1' };
  assert.equal(expandSshPath('~/.ssh/%r@%h:%p-%n', c, local), '/home/me/.ssh/deploy@10.0.0.5:2200-web1');
  assert.equal(expandSshPath('%d/%u/%i/%L/%l/100%%', c, local), '/home/me/me/1000/laptop/laptop.example.com/100%');
  assert.equal(expandSshPath('~', c, local), '/home/me');
  assert.match(expandSshPath('/x/%C', c, local), /^\/x\/[0-9a-f]{40}$/);
});

test('forwardFailure: a jump host\'s channel-open failure in fap\'s words', () => {
  assert.match(forwardFailure({ message: '(SSH) Channel open failure: Connection refused', reason: 2 }), /connection refused/);
  assert.match(forwardFailure({ message: '(SSH) Channel open failure: No route to host', reason: 2 }), /host unreachable/);
  assert.match(forwardFailure({ message: '(SSH) Channel open failure: Name or service not known', reason: 2 }), /host name not found/);
  assert.match(forwardFailure({ message: '(SSH) Channel open failure: Connection timed out', reason: 2 }), /timed out/);
  assert.match(forwardFailure({ message: '(SSH) Channel open failure: administratively prohibited: open failed', reason: 1 }), /refused to forward.*AllowTcpForwarding/);
});

const noSsh = spawnSync('ssh', ['-V']).error ? 'the OpenSSH client (ssh) is not installed' : undefined;

describe('ssh -G through the config wrapper', { skip: noSsh }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fap-sshcfg-unit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'id_test');
  writeFileSync(key, 'not really a key\n');
  const file = join(dir, 'config');
  writeFileSync(
    file,
    [
      'Host web1',
      '  HostName 10.1.0.1',
      '  Port 2201',
      '  User cfguser',
      `  IdentityFile ${join(dir, 'missing_key')}`,
      `  IdentityFile ${key}`,
      '  ProxyJump bastion',
      '  ServerAliveInterval 5',
      '  ConnectTimeout 7',
      `  UserKnownHostsFile ${join(dir, 'kh_%h')}`,
      'Host web2',
      '  HostName 10.1.0.2',
      'Host web*',
      '  HostName 10.1.0.%h',
      'Match user special',
      '  Port 4444',
      'Host bastion',
      '  HostName 127.0.0.9',
      '  Port 2022',
      '  ProxyJump gw',
      'Host gw',
      '  HostName 127.0.0.8',
      '  User gwuser',
      'Host loop1',
      '  ProxyJump loop2',
      'Host loop2',
      '  ProxyJump loop1',
      'Host pc',
      '  ProxyCommand nc %h %p',
      '',
    ].join('\n'),
  );
  const ssh: SshSettings = { config_file: '~/.ssh/config', forward_agent: false, known_hosts_file: '~/.ssh/known_hosts', host_key_checking: 'strict', connect_timeout: 20, connect_retries: 2 };
  const input = (o: Partial<RouteInput>): RouteInput => ({ name: o.alias ?? 'x', alias: 'x', fallbackUser: 'yamluser', ssh, explicit: new Set(), ...o });
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);

  test('the ssh config beats deploy.yml; the host string beats the ssh config', async () => {
    const cfg = new SshConfig(file, warn);
    const r = await resolveRoute(input({ alias: 'web1' }), cfg, warn);
    assert.equal(r.target.hostname, '10.1.0.1');
    assert.equal(r.target.port, 2201);
    assert.equal(r.target.user, 'cfguser', 'the ssh config User beats deploy.yml user');
    assert.equal(r.target.identityFile, key, 'the first IdentityFile that exists');
    assert.equal(r.target.knownHostsFile, join(dir, 'kh_10.1.0.1'));
    assert.equal(r.target.connectTimeoutSec, 7);
    assert.equal(r.target.keepaliveIntervalSec, 5);
    const cli = await resolveRoute(input({ alias: 'web1', user: 'hostuser', port: 22 }), cfg, warn);
    assert.equal(cli.target.user, 'hostuser', 'user@host beats the ssh config');
    assert.equal(cli.target.port, 22, 'host:port beats the ssh config');
    assert.equal(cli.target.hostname, '10.1.0.1');
  });

  test('explicit deploy.yml ssh keys beat the ssh config; defaults do not', async () => {
    const cfg = new SshConfig(file, warn);
    const explicit = await resolveRoute(
      input({ alias: 'web1', ssh: { ...ssh, identity_file: '/k/mine', known_hosts_file: '/k/kh', connect_timeout: 3 }, explicit: new Set(['identity_file', 'known_hosts_file', 'connect_timeout']) }),
      cfg,
      warn,
    );
    assert.equal(explicit.target.identityFile, '/k/mine');
    assert.equal(explicit.target.knownHostsFile, '/k/kh');
    assert.equal(explicit.target.connectTimeoutSec, 3);
  });

  test('no User in the ssh config: deploy.yml user, and Match user sees it', async () => {
    const cfg = new SshConfig(file, warn);
    const r = await resolveRoute(input({ alias: 'web2' }), cfg, warn);
    assert.equal(r.target.user, 'yamluser');
    assert.equal(r.target.port, 22);
    assert.equal(r.target.identityFile, undefined, 'OpenSSH\'s default identity files are not forced: agent and defaults as without a config');
    assert.equal(r.target.knownHostsFile, '~/.ssh/known_hosts');
    const special = await resolveRoute(input({ alias: 'web2', fallbackUser: 'special' }), cfg, warn);
    assert.equal(special.target.port, 4444);
    // %h in HostName
    assert.equal((await resolveRoute(input({ alias: 'web7' }), cfg, warn)).target.hostname, '10.1.0.web7');
    // not in the config at all
    const plain = await resolveRoute(input({ alias: 'db.example.com', port: 2222 }), cfg, warn);
    assert.deepEqual([plain.target.hostname, plain.target.port, plain.target.user], ['db.example.com', 2222, 'yamluser']);
  });

  test('ProxyJump: the first hop\'s own ProxyJump comes first; hops default to the local user', async () => {
    const cfg = new SshConfig(file, warn);
    const r = await resolveRoute(input({ alias: 'web1' }), cfg, warn);
    assert.deepEqual(
      r.jumps.map((j) => [j.name, j.hostname, j.port, j.user]),
      [
        ['gw', '127.0.0.8', 22, 'gwuser'],
        ['bastion', '127.0.0.9', 2022, userInfo().username],
      ],
    );
    const loop = resolveRoute(input({ alias: 'loop1' }), cfg, warn);
    await assert.rejects(loop, (e: Error) => e instanceof SshConfigError && /loop|more than/.test(e.message));
    await assert.rejects(resolveRoute(input({ alias: 'pc' }), cfg, warn), /ProxyCommand, which fap does not run; use ProxyJump/);
  });

  test('answers are cached per (alias, user, port)', async () => {
    const calls: string[] = [];
    const counting = join(dir, 'ssh-counting');
    writeFileSync(counting, `#!/bin/sh\necho "$*" >> ${join(dir, 'calls')}\nexec ssh "$@"\n`, { mode: 0o755 });
    const cfg = new SshConfig(file, warn, counting);
    await Promise.all([cfg.lookup('web1'), cfg.lookup('web1'), cfg.lookup('web1', { port: 22 })]);
    await cfg.lookup('web1');
    const { readFileSync } = await import('node:fs');
    calls.push(...readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n'));
    assert.equal(calls.length, 2, calls.join('\n'));
  });

  test('a syntax error in the config fails the lookup with OpenSSH\'s message', async () => {
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'Host x\n  NoSuchOption 1\n');
    await assert.rejects(new SshConfig(bad, warn).lookup('x'), (e: Error) => e instanceof SshConfigError && /NoSuchOption|Bad configuration option/i.test(e.message) && e.message.includes(bad));
  });
});

test('no ssh binary: one warning, then no config', async () => {
  const warnings: string[] = [];
  const cfg = new SshConfig(join(homedir(), '.ssh', 'config'), (m) => warnings.push(m), '/nonexistent/ssh');
  assert.equal(await cfg.lookup('a'), undefined);
  assert.equal(await cfg.lookup('b'), undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /ssh \(the OpenSSH client\) is not installed/);
});

describe('every known_hosts file OpenSSH consults, and HostKeyAlias', () => {
  test('parseSshG reads globalknownhostsfile (none: no file) and hostkeyalias (none: unset)', () => {
    const e = parseSshG(['host a', 'hostname a', 'globalknownhostsfile /g/one "/g/t wo"', 'hostkeyalias frontdoor', ''].join('\n'));
    assert.deepEqual(e.globalKnownHostsFiles, ['/g/one', '/g/t wo']);
    assert.equal(e.hostKeyAlias, 'frontdoor');
    const n = parseSshG(['host a', 'hostname a', 'globalknownhostsfile none', 'hostkeyalias none', ''].join('\n'));
    assert.deepEqual(n.globalKnownHostsFiles, []);
    assert.equal(n.hostKeyAlias, undefined);
    assert.equal(parseSshG('host a\n').globalKnownHostsFiles, undefined, 'not printed: undefined (the route falls back to OpenSSH\'s default)');
  });

  test('%k is the HostKeyAlias, else the alias', () => {
    const local = { home: '/h', user: 'me', uid: 1, host: 'l' };
    assert.equal(expandSshPath('/kh/%k', { hostname: 'h', port: 22, user: 'u', alias: 'web1', hostKeyAlias: 'front' }, local), '/kh/front');
    assert.equal(expandSshPath('/kh/%k', { hostname: 'h', port: 22, user: 'u', alias: 'web1' }, local), '/kh/web1');
  });

  const ssh: SshSettings = { config_file: '~/.ssh/config', forward_agent: false, known_hosts_file: '~/.ssh/known_hosts', host_key_checking: 'strict', connect_timeout: 20, connect_retries: 2 };
  const input = (o: Partial<RouteInput>): RouteInput => ({ name: 'x', alias: 'x', fallbackUser: 'u', ssh, explicit: new Set(), ...o });
  const warn = () => {};

  test('no ssh config: deploy.yml\'s file, then OpenSSH\'s global files; no alias', async () => {
    const r = await resolveRoute(input({ alias: 'h1' }), undefined, warn);
    assert.equal(r.target.knownHostsFile, '~/.ssh/known_hosts');
    assert.deepEqual(r.target.otherKnownHostsFiles, [...DEFAULT_GLOBAL_KNOWN_HOSTS]);
    assert.equal(r.target.hostKeyAlias, undefined);
  });

  describe('through ssh -G', { skip: noSsh }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'fap-sshcfg-kh-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'Host multi',
        '  HostName 10.2.0.1',
        `  UserKnownHostsFile ${dir}/u1_%h ${dir}/u2`,
        `  GlobalKnownHostsFile ${dir}/g1 ${dir}/g2`,
        '  HostKeyAlias Front.Door',
        '  ProxyJump hop',
        'Host hop',
        '  HostName 10.2.0.9',
        `  GlobalKnownHostsFile ${dir}/hopglobal`,
        'Host plain',
        '  HostName 10.2.0.2',
        '',
      ].join('\n'),
    );

    test('every UserKnownHostsFile (the first is written), then every GlobalKnownHostsFile; HostKeyAlias lowercased as ssh does', async () => {
      const r = await resolveRoute(input({ alias: 'multi' }), new SshConfig(file, warn), warn);
      assert.equal(r.target.knownHostsFile, `${dir}/u1_10.2.0.1`);
      assert.deepEqual(r.target.otherKnownHostsFiles, [`${dir}/u2`, `${dir}/g1`, `${dir}/g2`]);
      assert.equal(r.target.hostKeyAlias, 'front.door');
      assert.equal(r.jumps.length, 1);
      assert.deepEqual(r.jumps[0].otherKnownHostsFiles, [`${dir}/hopglobal`], 'a jump host has its own global files');
      assert.equal(r.jumps[0].hostKeyAlias, undefined, 'and no alias of the target\'s');
    });

    test('an explicit ssh.known_hosts_file replaces the user files; the global files still count', async () => {
      const r = await resolveRoute(
        input({ alias: 'multi', ssh: { ...ssh, known_hosts_file: '/k/mine' }, explicit: new Set(['known_hosts_file']) }),
        new SshConfig(file, warn),
        warn,
      );
      assert.equal(r.target.knownHostsFile, '/k/mine');
      assert.deepEqual(r.target.otherKnownHostsFiles, [`${dir}/g1`, `${dir}/g2`]);
      assert.equal(r.target.hostKeyAlias, 'front.door');
    });

    test('a host the config says nothing about: OpenSSH\'s defaults for the global files', async () => {
      const r = await resolveRoute(input({ alias: 'plain' }), new SshConfig(file, warn), warn);
      assert.equal(r.target.knownHostsFile, '~/.ssh/known_hosts');
      assert.deepEqual(r.target.otherKnownHostsFiles, ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
    });
  });
});
