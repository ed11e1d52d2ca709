/**
 * Keeps captured frames within their bounds: a ring per connection (a full one hands back its
 * oldest slot for reuse) and a total byte budget that evicts the oldest frame of any connection
 * in O(1), through a queue of frames in arrival order. Every drop is counted.
 */
import type { Tracked } from './connections.js';
import { blankFrame, fillFrame, type KeptFrame, keptBytes } from './kept-frame.js';
import type { StoreLimits } from './limits.js';
import type { Direction } from './types.js';

export class FrameKeeper {
  /** What the kept frames count against maxTotalBytes. */
  bytes = 0;
  droppedFrames = 0;
  private seq = 0;
  private liveFrames = 0;
  /**
   * Every kept frame, oldest first (three parallel arrays, so keeping one allocates nothing), so
   * the byte budget evicts the oldest frame anywhere without scanning every connection for it.
   * Entries whose frame left otherwise are skipped, and compacted away once they outnumber the
   * live ones.
   */
  private orderTracked: Tracked[] = [];
  private orderFrames: KeptFrame[] = [];
  private orderSeqs: number[] = [];
  private orderHead = 0;

  constructor(private readonly limits: StoreLimits) {}

  /** Entries in the arrival queue, live or stale: bounded by 2 × live frames + 1024. */
  get queued(): number {
    return this.orderFrames.length - this.orderHead;
  }

  /**
   * Keeps one frame of a tracked connection and returns its slot. A full ring hands back its
   * oldest slot to be overwritten: at steady state this allocates nothing, so a busy gateway's
   * inspector adds no garbage to collect.
   */
  keep(
    tracked: Tracked,
    direction: Direction,
    size: number,
    type: string,
    channel: string | undefined,
    event: string | undefined,
    id: number | undefined,
    content: string | Uint8Array | undefined,
    binary: boolean,
    sensitive: boolean,
    time: number,
  ): KeptFrame {
    let slot: KeptFrame;
    if (tracked.frames.length >= this.limits.maxFramesPerConnection) {
      slot = tracked.frames.shift()!;
      this.dropped(tracked, slot);
    } else {
      slot = blankFrame();
    }
    const max = binary ? this.limits.hexPreviewBytes : this.limits.maxFrameBytes;
    const seq = ++this.seq;
    fillFrame(
      slot,
      seq,
      direction,
      time,
      size,
      type,
      channel,
      event,
      id,
      content,
      binary,
      sensitive,
      max,
    );
    this.bytes += keptBytes(slot);
    tracked.frames.push(slot);
    this.liveFrames++;
    this.orderTracked.push(tracked);
    this.orderFrames.push(slot);
    this.orderSeqs.push(seq);
    while (this.bytes > this.limits.maxTotalBytes && this.dropOldestAnywhere());
    if (this.queued > 2 * this.liveFrames + 1024) this.compact();
    return slot;
  }

  /** A forgotten connection's frames leave the budget (not counted as drops). */
  release(tracked: Tracked): void {
    for (const frame of tracked.frames) this.bytes -= keptBytes(frame);
    this.liveFrames -= tracked.frames.length;
  }

  /** Every connection was forgotten (and marked gone): nothing is kept any more. */
  clear(): void {
    this.bytes = 0;
    this.liveFrames = 0;
    this.compact();
  }

  private dropped(tracked: Tracked, frame: KeptFrame): void {
    this.bytes -= keptBytes(frame);
    this.liveFrames--;
    tracked.record.droppedFrames++;
    this.droppedFrames++;
  }

  private dropOldestAnywhere(): boolean {
    while (this.orderHead < this.orderFrames.length) {
      const i = this.orderHead++;
      const tracked = this.orderTracked[i]!;
      const frame = this.orderFrames[i]!;
      if (!isLive(tracked, frame, this.orderSeqs[i]!)) continue;
      tracked.frames.shift();
      this.dropped(tracked, frame);
      return true;
    }
    return false;
  }

  private compact(): void {
    const tracked: Tracked[] = [];
    const frames: KeptFrame[] = [];
    const seqs: number[] = [];
    for (let i = this.orderHead; i < this.orderFrames.length; i++) {
      if (!isLive(this.orderTracked[i]!, this.orderFrames[i]!, this.orderSeqs[i]!)) continue;
      tracked.push(this.orderTracked[i]!);
      frames.push(this.orderFrames[i]!);
      seqs.push(this.orderSeqs[i]!);
    }
    this.orderTracked = tracked;
    this.orderFrames = frames;
    this.orderSeqs = seqs;
    this.orderHead = 0;
  }
}

/** Slots are reused once dropped, so a changed seq means the entry's frame is gone. */
function isLive(tracked: Tracked, frame: KeptFrame, seq: number): boolean {
  return !tracked.gone && frame.seq === seq && tracked.frames.length > 0;
}
