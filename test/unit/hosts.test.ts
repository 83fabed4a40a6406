// Unit tests for src/config/hosts.ts: the host forms deploy.yml accepts, and the ones it refuses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatHost, parseHost } from '../../src/config/hosts.js';

describe('parseHost strings', () => {
  test('bare host', () => {
    assert.deepEqual(parseHost('web1.example.com'), { name: 'web1.example.com', hostname: 'web1.example.com', user: undefined, port: undefined });
  });

  test('surrounding whitespace is trimmed', () => {
    assert.equal(parseHost('  web1  ').hostname, 'web1');
  });

  test('IPv4 address', () => {
    assert.deepEqual(parseHost('10.0.0.5:2200'), { name: '10.0.0.5:2200', hostname: '10.0.0.5', user: undefined, port: 2200 });
  });

  test('user@host', () => {
    assert.deepEqual(parseHost('deploy@web1'), { name: 'deploy@web1', hostname: 'web1', user: 'deploy', port: undefined });
  });

  test('user@host:port', () => {
    assert.deepEqual(parseHost('deploy@web1:2222'), { name: 'deploy@web1:2222', hostname: 'web1', user: 'deploy', port: 2222 });
  });

  test('host:port', () => {
    const h = parseHost('web1:22');
    assert.equal(h.port, 22);
    assert.equal(h.name, 'web1:22');
  });

  test('[::1]:2222', () => {
    assert.deepEqual(parseHost('[::1]:2222'), { name: '[::1]:2222', hostname: '::1', user: undefined, port: 2222 });
  });

  test('user@[v6] without port, and with zone', () => {
    assert.deepEqual(parseHost('root@[fe80::1%eth0]'), { name: 'root@[fe80::1%eth0]', hostname: 'fe80::1%eth0', user: 'root', port: undefined });
    assert.deepEqual(parseHost('me@[2001:db8::5]:65535'), { name: 'me@[2001:db8::5]:65535', hostname: '2001:db8::5', user: 'me', port: 65535 });
  });

  test('a number is a host name', () => {
    assert.equal(parseHost(1234).hostname, '1234');
  });
});

describe('parseHost maps', () => {
  test('host, user, port', () => {
    assert.deepEqual(parseHost({ host: 'web1', user: 'deploy', port: 2222 }), { name: 'deploy@web1:2222', hostname: 'web1', user: 'deploy', port: 2222 });
  });

  test('host only', () => {
    assert.deepEqual(parseHost({ host: 'web1' }), { name: 'web1', hostname: 'web1', user: undefined, port: undefined });
  });

  test('map keys override what the host string says', () => {
    const h = parseHost({ host: 'a@web1:22', user: 'b', port: '2200' });
    assert.equal(h.user, 'b');
    assert.equal(h.port, 2200);
    assert.equal(h.name, 'b@web1:2200');
  });

  test('an IPv6 host in a map', () => {
    assert.deepEqual(parseHost({ host: '[::1]', port: 2222 }), { name: '[::1]:2222', hostname: '::1', user: undefined, port: 2222 });
  });

  test('unknown map key', () => {
    assert.throws(() => parseHost({ host: 'web1', hostname: 'x' }), /unknown host key "hostname" \(expected host, user, port\)/);
    assert.throws(() => parseHost({ host: 'web1', prot: 22 }), /unknown host key "prot"/);
  });

  test('map without host', () => {
    assert.throws(() => parseHost({ user: 'x' }), /a host map needs "host"/);
    assert.throws(() => parseHost({ host: 5 }), /a host map needs "host"/);
  });

  test('bad user or port in a map', () => {
    assert.throws(() => parseHost({ host: 'web1', port: 0 }), /port 0 is out of range 1-65535/);
    assert.throws(() => parseHost({ host: 'web1', port: 'ssh' }), /port "ssh" is not a number/);
    assert.throws(() => parseHost({ host: 'web1', user: 'bad user' }), /"bad user" is not a valid user name/);
  });
});

describe('parseHost errors', () => {
  const cases: [unknown, RegExp][] = [
    ['web1:99999', /port 99999 is out of range 1-65535/],
    ['web1:0', /port 0 is out of range/],
    ['web1:65536', /out of range/],
    ['web1:abc', /port "abc" is not a number/],
    ['web1:', /port "" is not a number/],
    ['web1:-1', /port "-1" is not a number/],
    ['web1:22.5', /port "22.5" is not a number/],
    ['[::1]:x', /port "x" is not a number/],
    ['::1', /IPv6 address "::1" must be written as \[::1\] or \[::1\]:port/],
    ['deploy@2001:db8::1', /IPv6 address "2001:db8::1" must be written as/],
    ['[::1', /unclosed "\[" in host "\[::1"/],
    ['[::1]2222', /unexpected "2222" after "\]"/],
    ['[not v6!]', /is not an IPv6 address/],
    ['[]', /is not an IPv6 address/],
    ['', /empty host/],
    ['   ', /empty host/],
    ['web 1', /"web 1" is not a valid host name/],
    ['web1;rm -rf /', /is not a valid host name/],
    ['@web1', /"" is not a valid user name/],
    ['-oProxyCommand=x@web1', /is not a valid user name/],
    ['web1/x', /is not a valid host name/],
    [null, /a host must be a string or a map, not null/],
    [undefined, /not undefined/],
    [['web1'], /not a list/],
    [true, /not boolean/],
  ];
  for (const [input, re] of cases) {
    test(`rejects ${JSON.stringify(input) ?? 'undefined'}`, () => {
      assert.throws(() => parseHost(input), re);
    });
  }
});

describe('formatHost', () => {
  test('brackets IPv6 and adds user and port', () => {
    assert.equal(formatHost({ hostname: '::1' }), '[::1]');
    assert.equal(formatHost({ hostname: '::1', port: 22 }), '[::1]:22');
    assert.equal(formatHost({ hostname: 'h', user: 'u', port: 1 }), 'u@h:1');
    assert.equal(formatHost({ hostname: 'h' }), 'h');
  });

  test('parseHost(name) is stable', () => {
    for (const s of ['h', 'u@h', 'u@h:2', '[::1]', 'u@[::1]:2222', '1.2.3.4:5']) {
      const h = parseHost(s);
      assert.equal(h.name, s);
      assert.deepEqual(parseHost(h.name), h);
    }
  });
});
