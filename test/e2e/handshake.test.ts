// A connection that ends during the SSH handshake fails promptly with its own message, never hangs
// (issue 12 item 15): real sockets on loopback, and a real sshd cut off after N bytes.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Connection } from '../../src/remote/connection.js';
import { fleetUnsupportedReason, startFleet, type Fleet } from '../fleet/fleet.js';

const HANG = 30_000; // a hang detector only, not a speed assertion

function server(onSocket: (s: Socket) => void): Promise<{ port: number; srv: Server; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  return new Promise((resolve) => {
    const srv = createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      onSocket(s);
    });
    srv.listen(0, '127.0.0.1', () => resolve({ port: (srv.address() as { port: number }).port, srv, sockets }));
  });
}

async function openTo(port: number, connectTimeoutSec = 20): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('HUNG'), HANG)));
  const attempt = Connection.open({ name: 'h', hostname: '127.0.0.1', port, user: 'nobody', knownHostsFile: '/nonexistent/known_hosts', connectTimeoutSec, hostKeyChecking: 'off', warn: () => {} }).then(
    (c) => {
      c.close();
      return 'CONNECTED';
    },
    (e: Error) => e.message,
  );
  const r = await Promise.race([attempt, hang]);
  clearTimeout(timer);
  return r;
}

test('a TCP server that accepts and closes at once: "closed before the SSH greeting"', async () => {
  const { port, srv } = await server((s) => s.destroy());
  assert.match(await openTo(port), /connection closed before the SSH greeting \(127\.0\.0\.1:\d+\): is this an SSH port\?/);
  srv.close();
});

test('a server that sends part of an SSH banner and closes: "closed during the SSH handshake"', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 'SSH-2.0-OpenSSH_9.2p1 Debian\r\n'.length }), fc.boolean(), async (n, half) => {
      const { port, srv } = await server((s) => {
        s.write('SSH-2.0-OpenSSH_9.2p1 Debian\r\n'.slice(0, n));
        // a half close (FIN, socket kept) is the path where ssh2 cancels its own timeout
        setTimeout(() => (half ? s.end() : s.destroy()), 20);
      });
      const r = await openTo(port);
      srv.close();
      assert.match(r, /connection closed during the SSH handshake/);
    }),
    { numRuns: 12 },
  );
});

// issue 15 item 7: raw ssh2 and system errors are worded for people, each with host:port
test('a server that answers something other than SSH (a web server, a database): "is not an SSH server", with what it said', async () => {
  const lineArb = fc.string({ minLength: 1, maxLength: 50 }).filter((l) => !l.includes('SSH-') && !/[\r\n]/.test(l));
  await fc.assert(
    fc.asyncProperty(lineArb, fc.boolean(), async (line, close) => {
      const { port, srv, sockets } = await server((s) => {
        s.write(`${line}\r\nmore\r\n`);
        if (close) setTimeout(() => s.end(), 20);
      });
      const r = await openTo(port, 1);
      for (const s of sockets) s.destroy();
      srv.close();
      assert.ok(r.startsWith(`h: 127.0.0.1:${port} is not an SSH server: it answered ${JSON.stringify(line.slice(0, 60))}`), r);
    }),
    { numRuns: 10 },
  );
});

test('a connection reset before any byte reads as the early close it is, however the timing makes it', async () => {
  const { port, srv } = await server((s) => s.resetAndDestroy());
  for (let i = 0; i < 5; i++) assert.match(await openTo(port), /connection closed before the SSH greeting \(127\.0\.0\.1:\d+\): is this an SSH port\?/);
  srv.close();
});

test('a closed port and an unknown name: the reason with host:port', async () => {
  const { port, srv } = await server(() => {});
  await new Promise((r) => srv.close(r));
  assert.equal(await openTo(port), `h: cannot connect to 127.0.0.1:${port}: connection refused (is sshd running on that port?)`);
  const unknown = await Connection.open({ name: 'h', hostname: 'nosuchhost.invalid', port: 2222, user: 'nobody', knownHostsFile: '/nonexistent/known_hosts', connectTimeoutSec: 5, hostKeyChecking: 'off' }).then(
    () => 'CONNECTED',
    (e: Error) => e.message,
  );
  assert.match(unknown, /^h: cannot connect to nosuchhost\.invalid:2222: host name (not found|lookup failed \(temporary\))$/);
});

test('a server that never answers fails after connect_timeout', async () => {
  const { port, srv, sockets } = await server(() => {});
  assert.match(await openTo(port, 1), /no SSH answer within 1s/);
  for (const s of sockets) s.destroy();
  srv.close();
});

const skip = fleetUnsupportedReason();
let fleet: Fleet;
before(async () => {
  if (!skip) fleet = await startFleet(1);
});
after(async () => {
  await fleet?.stop();
});

test('a real sshd cut off after N bytes of the handshake: a prompt failure, never a hang', { skip }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 3000 }), async (n) => {
      // proxy to the real sshd, passing its first n bytes to the client, then close both sides
      const { port, srv } = await server((client) => {
        const up = connect(fleet.hosts[0].port, '127.0.0.1');
        up.on('error', () => client.destroy());
        let sent = 0;
        up.on('data', (d: Buffer) => {
          const room = n - sent;
          if (room > 0) client.write(d.subarray(0, room));
          sent += d.length;
          if (sent >= n) {
            up.destroy();
            client.destroy();
          }
        });
        client.on('data', (d) => up.write(d));
        if (n === 0) {
          up.destroy();
          client.destroy();
        }
      });
      const r = await openTo(port);
      srv.close();
      assert.notEqual(r, 'HUNG', `hung with ${n} bytes`);
      if (n === 0) assert.match(r, /before the SSH greeting/);
      else assert.match(r, /^h: (connection closed during the SSH handshake|authentication failed|cannot connect to 127.0.0.1:\d+: connection reset by the host)/, `${n} bytes: ${r}`);
    }),
    { numRuns: 25 },
  );
});
