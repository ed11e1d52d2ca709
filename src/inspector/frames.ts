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
  /**
   * Slots the byte budget evicted, for the next frames to reuse: once the budget is reached it
   * evicts one frame per frame kept, and allocating a fresh slot for each made garbage per frame.
   */
  private spare: KeptFrame[] = [];
  /** The slot kept last: the next frame shares its content when it is the same string. */
  private last: KeptFrame | undefined;

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
      slot = this.spare.pop() ?? blankFrame();
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
    this.count(slot);
    tracked.frames.push(slot);
    this.liveFrames++;
    this.orderTracked.push(tracked);
    this.orderFrames.push(slot);
    this.orderSeqs.push(seq);
    while (this.bytes > this.limits.maxTotalBytes && this.dropOldestAnywhere());
    // Stale entries pile up behind the head (evicted by the budget) or after it (pushed out of a
    // ring, or forgotten): either way the queue is rebuilt once they outnumber the live ones.
    if (this.orderFrames.length > 2 * this.liveFrames + 1024) this.compact();
    return slot;
  }

  /** A forgotten connection's frames leave the budget (not counted as drops). */
  release(tracked: Tracked): void {
    for (const frame of tracked.frames) this.uncount(frame);
    this.liveFrames -= tracked.frames.length;
  }

  /**
   * Counts a filled slot's content, once per content: a publication fanned out to a thousand
   * tracked connections is one string the gateway encoded once, and counting it a thousand times
   * made the budget evict (a random other connection's oldest frame, per frame kept) long before
   * memory was at stake.
   */
  private count(slot: KeptFrame): void {
    const last = this.last;
    this.last = slot;
    if (
      last !== undefined &&
      last !== slot &&
      last.seq !== 0 &&
      slot.content !== undefined &&
      last.content === slot.content
    ) {
      const share = (last.share ??= { refs: 1 });
      share.refs++;
      slot.share = share;
      return;
    }
    this.bytes += keptBytes(slot);
  }

  /** A slot leaves: its content leaves the budget with the last slot that holds it. */
  private uncount(frame: KeptFrame): void {
    const share = frame.share;
    frame.share = undefined;
    // Marks the slot dead, for the arrival queue and for sharing (see count).
    frame.seq = 0;
    if (share === undefined || --share.refs === 0) this.bytes -= keptBytes(frame);
  }

  /** Every connection was forgotten (and marked gone): nothing is kept any more. */
  clear(): void {
    this.bytes = 0;
    this.last = undefined;
    this.liveFrames = 0;
    this.compact();
  }

  private dropped(tracked: Tracked, frame: KeptFrame): void {
    this.uncount(frame);
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
      if (this.spare.length < SPARE_SLOTS) this.spare.push(frame);
      return true;
    }
    return false;
  }

  /** Moves the live entries to the front, in place: rebuilding three arrays made garbage each time. */
  private compact(): void {
    const tracked = this.orderTracked;
    const frames = this.orderFrames;
    const seqs = this.orderSeqs;
    let live = 0;
    for (let i = this.orderHead; i < frames.length; i++) {
      if (!isLive(tracked[i]!, frames[i]!, seqs[i]!)) continue;
      tracked[live] = tracked[i]!;
      frames[live] = frames[i]!;
      seqs[live] = seqs[i]!;
      live++;
    }
    tracked.length = live;
    frames.length = live;
    seqs.length = live;
    this.orderHead = 0;
  }
}

/** Evicted slots kept for reuse: enough for a burst of evictions, not a second store. */
const SPARE_SLOTS = 1024;

/** Slots are reused once dropped, so a changed seq means the entry's frame is gone. */
function isLive(tracked: Tracked, frame: KeptFrame, seq: number): boolean {
  return !tracked.gone && frame.seq === seq && tracked.frames.length > 0;
}
