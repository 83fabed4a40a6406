// One input read once and given whole to several readers (fap run: fap's stdin to every host, each
// getting the same bytes, then end-of-file). Readers start at different times (connections open at
// their own pace, --parallel holds some back), so a reader that has not started keeps what it has
// not read yet; the input is read at the pace of the slowest reader that has started, and never
// waits for one that has not (with --parallel 1 the first host reads everything before the second
// starts). What a reader no longer needs (its command ended, its host failed) is dropped at once.
import { PassThrough, type Readable } from 'node:stream';

export class Fanout {
  private readonly outs: (PassThrough | undefined)[];
  private readonly started = new Set<PassThrough>();
  private readonly stalled = new Set<PassThrough>();

  constructor(
    private readonly input: Readable,
    readers: number,
  ) {
    this.outs = Array.from({ length: readers }, () => new PassThrough());
    input.on('data', (chunk: Buffer) => {
      for (const out of this.outs) {
        if (!out || out.destroyed) continue;
        // a reader not started buffers whatever it is given; only started ones hold the input back
        if (!out.write(chunk) && this.started.has(out) && !this.stalled.has(out)) {
          this.stalled.add(out);
          out.once('drain', () => this.unstall(out));
        }
      }
      if (this.stalled.size) input.pause();
    });
    // a read error ends the input where it is, as the end of a pipe would
    const end = () => {
      for (const out of this.outs) out?.end();
    };
    input.on('end', end);
    input.on('error', end);
    if (!readers) this.close();
  }

  /** reader i's stream: the whole input from its start, then end-of-file */
  take(i: number): Readable {
    const out = this.outs[i];
    if (!out) throw new Error(`fanout reader ${i} was already released`);
    this.started.add(out);
    return out;
  }

  /** reader i needs no more (its command ended, or never started): it no longer holds the input back */
  release(i: number): void {
    const out = this.outs[i];
    if (!out) return;
    this.outs[i] = undefined;
    this.started.delete(out);
    this.unstall(out);
    out.destroy();
    if (this.outs.every((o) => !o)) this.close();
  }

  /** stop reading the input (every reader is done; an endless producer must not keep fap alive) */
  close(): void {
    for (let i = 0; i < this.outs.length; i++) if (this.outs[i]) this.release(i);
    this.input.pause();
    this.input.destroy();
  }

  private unstall(out: PassThrough): void {
    if (!this.stalled.delete(out)) return;
    if (!this.stalled.size) this.input.resume();
  }
}
