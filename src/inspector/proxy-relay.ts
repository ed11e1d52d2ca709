/**
 * One direction of a proxied connection's byte relay: forwards every chunk as it comes, holds the
 * source back while the destination is full, and writes injected frames only between messages.
 */
import type { Duplex } from 'node:stream';

/**
 * One direction of a tunnel: forwards every chunk as it comes (and before reading it), holds the
 * source back while the destination is full, and writes injected frames only between messages.
 */
export class Relay {
  private pending: Buffer[] = [];
  closed = false;

  constructor(
    private readonly from: Duplex,
    private readonly to: Duplex,
    private readonly observe: (chunk: Buffer, onBoundary?: (offset: number) => void) => void,
    private readonly atBoundary: () => boolean,
  ) {
    from.on('data', (chunk: Buffer) => this.onData(chunk));
    to.on('drain', () => from.resume());
  }

  private write(bytes: Buffer): void {
    if (bytes.length > 0 && !this.to.write(bytes)) this.from.pause();
  }

  /** Relays a chunk that came from the source. */
  receive(chunk: Buffer): void {
    this.onData(chunk);
  }

  private onData(chunk: Buffer): void {
    if (this.pending.length === 0) {
      this.write(chunk);
      this.observe(chunk);
      return;
    }
    let start = 0;
    this.observe(chunk, (offset) => {
      if (this.pending.length === 0) return;
      this.write(chunk.subarray(start, offset));
      start = offset;
      this.flush();
    });
    this.write(chunk.subarray(start));
  }

  private flush(): void {
    for (const frame of this.pending.splice(0)) this.write(frame);
  }

  /** Writes `frame` now if the stream is between messages, else as soon as it is. */
  inject(frame: Buffer): void {
    if (this.pending.length === 0 && this.atBoundary()) this.write(frame);
    else this.pending.push(frame);
  }

  drop(): void {
    this.pending = [];
  }
}
