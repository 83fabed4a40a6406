// fap run's stdin to every host (src/transport/fanout.ts): whatever the chunks, however late a
// reader starts (--parallel holds hosts back) and whatever a reader leaves unread, every reader that
// reads to the end gets exactly the input, nobody waits for a reader that stopped, and once every
// reader is done the input is let go (an endless producer must not keep fap alive).
import assert from 'node:assert/strict';
import { PassThrough, Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { Fanout } from '../../src/transport/fanout.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** a slow sink, as a channel whose window is full: each write completes after `ms` */
function sink(ms: number, limit = Infinity): { w: Writable; got: () => Buffer; full: Promise<void> } {
  const parts: Buffer[] = [];
  let size = 0;
  let reached!: () => void;
  const full = new Promise<void>((r) => (reached = r));
  const w = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _e, cb) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= limit) reached();
      setTimeout(cb, ms);
    },
  });
  w.on('finish', () => reached());
  return { w, got: () => Buffer.concat(parts), full };
}

test('every reader gets the whole input, then end-of-file; readers that stop early or start late hold nobody back', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 40_000 }), { maxLength: 12 }),
      fc.array(fc.record({ startMs: fc.nat(20), slowMs: fc.nat(2), stopAfter: fc.option(fc.nat(60_000), { nil: undefined }) }), { minLength: 1, maxLength: 4 }),
      async (chunks, readers) => {
        const input = new PassThrough();
        const destroyed = new Promise<void>((r) => input.on('close', () => r()));
        const fan = new Fanout(input, readers.length);
        void (async () => {
          for (const c of chunks) {
            if (!input.write(Buffer.from(c))) await new Promise((r) => input.once('drain', r));
          }
          input.end();
        })();
        const whole = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        await Promise.all(
          readers.map(async (r, i) => {
            await tick(r.startMs);
            const s = sink(r.slowMs, r.stopAfter);
            const stream = fan.take(i);
            stream.pipe(s.w);
            await s.full;
            stream.unpipe(s.w);
            fan.release(i);
            if (r.stopAfter === undefined || r.stopAfter > whole.length) assert.ok(s.got().equals(whole), `reader ${i} got the input whole`);
            else assert.ok(whole.subarray(0, s.got().length).equals(s.got()), `reader ${i} got a prefix`);
          }),
        );
        // every reader is done: the input is no longer read
        await Promise.race([destroyed, tick(2000).then(() => assert.fail('the input was not let go'))]);
      },
    ),
    { numRuns: 60 },
  );
});

test('an endless input: the readers stop, fap lets go of it; a reader that never starts is released unread', async () => {
  let pushed = 0;
  const endless = new Readable({
    read() {
      pushed++;
      this.push(Buffer.alloc(16 * 1024, 'y'));
    },
  });
  const fan = new Fanout(endless, 2);
  const s = sink(0, 100_000);
  fan.take(0).pipe(s.w);
  await s.full;
  fan.release(0);
  // reader 1 never started (its host could not be reached): released, the input is let go
  fan.release(1);
  await tick(50);
  assert.ok(endless.destroyed);
  const after = pushed;
  await tick(50);
  assert.equal(pushed, after, 'nothing more is read');
});

test('--parallel 1: the second reader starts only once the first has read everything, and still gets it all', async () => {
  const whole = Buffer.alloc(1024 * 1024, 'abc');
  const fan = new Fanout(Readable.from([whole.subarray(0, 300_000), whole.subarray(300_000)]), 2);
  for (const i of [0, 1]) {
    const s = sink(0);
    fan.take(i).pipe(s.w);
    await Promise.race([s.full, tick(5000).then(() => assert.fail(`reader ${i} waits for a reader that has not started`))]);
    fan.release(i);
    assert.ok(s.got().equals(whole), `reader ${i} got the input whole`);
  }
});
