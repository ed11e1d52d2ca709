/**
 * What the inspector remembers, bounded every way the debug-toolbar design asks: connections
 * (connections.ts), frames per connection in a ring and a total byte budget (frames.ts), text per
 * frame (cut at capture, kept-frame.ts), and how long closed connections stay. Every drop is
 * counted, so the panel can say what it lost. This class only puts those parts together behind
 * the API capture, the panel and apps use.
 */
import { ConnectionTable } from './connections.js';
import { LiveFeed } from './feed.js';
import { FrameKeeper } from './frames.js';
import { DEFAULT_LIMITS, type StoreLimits } from './limits.js';
import { pair } from './pairing.js';
import { findFrame, findFrames } from './query.js';
import type {
  ConnectionRecord,
  Direction,
  Filter,
  FrameRecord,
  OpeningRecord,
  StoreEvent,
  StoreStats,
} from './types.js';
import { frameView } from './view.js';

export class InspectorStore {
  readonly limits: StoreLimits;
  private readonly feed = new LiveFeed();
  private readonly keeper: FrameKeeper;
  private readonly table: ConnectionTable;

  constructor(limits: Partial<StoreLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.keeper = new FrameKeeper(this.limits);
    this.table = new ConnectionTable(this.limits, (id, tracked) => {
      this.keeper.release(tracked);
      this.feed.emit({ type: 'forget', id });
    });
  }

  /** Live updates for the panel: one listener per panel socket. */
  listen(listener: (event: StoreEvent) => void): () => void {
    return this.feed.listen(listener);
  }

  /** Starts tracking a connection; false when the bound is reached and none is closed. */
  openConnection(record: OpeningRecord): boolean {
    const tracked = this.table.open(record);
    if (!tracked) return false;
    this.feed.emit({ type: 'connection', connection: tracked.record });
    return true;
  }

  updateConnection(id: string, change: Partial<ConnectionRecord>): void {
    const record = this.table.update(id, change);
    if (record) this.feed.emit({ type: 'connection', connection: record });
  }

  /** The last few errors a connection was sent, newest last. */
  noteError(id: string, error: string): void {
    const record = this.table.noteError(id, error);
    if (record) this.feed.emit({ type: 'connection', connection: record });
  }

  connection(id: string): ConnectionRecord | undefined {
    return this.table.get(id)?.record;
  }

  connections(): ConnectionRecord[] {
    return [...this.table.values()].map((t) => t.record);
  }

  has(connectionId: string): boolean {
    return this.table.has(connectionId);
  }

  /** The newest `limit` frames matching `filter`, oldest first. */
  frames(filter: Filter = {}, limit = 500): FrameRecord[] {
    return findFrames(this.table.values(), filter, limit, this.limits.hexPreviewBytes);
  }

  frame(seq: number): FrameRecord | undefined {
    return findFrame(this.table.values(), seq, this.limits.hexPreviewBytes);
  }

  /**
   * Records one frame. Cheap on purpose: no copy of a small message, no decoding, no event
   * object unless a panel listens.
   */
  record(
    connectionId: string,
    direction: Direction,
    size: number,
    type: string,
    channel: string | undefined,
    event: string | undefined,
    id: number | undefined,
    content: string | Uint8Array | undefined,
    binary = false,
    sensitive = false,
    time = Date.now(),
  ): void {
    const tracked = this.table.get(connectionId);
    if (!tracked) return;
    const kept = this.keeper.keep(
      tracked,
      direction,
      size,
      type,
      channel,
      event,
      id,
      content,
      binary,
      sensitive,
      time,
    );
    pair(tracked, kept, this.limits.maxFramesPerConnection);
    const stats = tracked.record;
    if (direction === 'in') {
      stats.messagesIn++;
      stats.bytesIn += size;
    } else {
      stats.messagesOut++;
      stats.bytesOut += size;
    }
    if (this.feed.listened) {
      this.feed.emit({
        type: 'frame',
        frame: frameView(kept, connectionId, this.limits.hexPreviewBytes),
        connection: stats,
      });
    }
  }

  /** Convenience for callers that have a frame description at hand (tests, raw capture). */
  addFrame(
    connectionId: string,
    frame: Omit<FrameRecord, 'seq' | 'connection' | 'text' | 'truncated' | 'hex'>,
    content: string | Uint8Array | undefined,
  ): void {
    this.record(
      connectionId,
      frame.direction,
      frame.size,
      frame.type,
      frame.channel,
      frame.event,
      frame.id,
      content,
      frame.binary === true,
      false,
      frame.time,
    );
  }

  /** Forgets closed connections past their retention. */
  sweep(now = Date.now()): void {
    this.table.sweep(now);
  }

  stats(): StoreStats {
    let frames = 0;
    for (const tracked of this.table.values()) frames += tracked.frames.length;
    return {
      connections: this.table.size,
      frames,
      bytes: this.keeper.bytes,
      droppedConnections: this.table.droppedConnections,
      droppedFrames: this.keeper.droppedFrames,
    };
  }

  /** Forgets every connection and frame; the drop counters stay. */
  clear(): void {
    this.table.clear();
    this.keeper.clear();
  }
}
