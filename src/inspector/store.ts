/**
 * What the inspector remembers, bounded every way the debug-toolbar design asks: connections
 * (connections.ts), frames per connection in a ring and a total byte budget (frames.ts), text per
 * frame (cut at capture, kept-frame.ts), and how long closed connections stay. Every drop is
 * counted, so the panel can say what it lost. This class only puts those parts together behind
 * the API capture, the panel and apps use.
 */
import { isUtf8 } from 'node:buffer';
import { ConnectionTable } from './connections.js';
import { LiveFeed } from './feed.js';
import { FrameKeeper } from './frames.js';
import { DEFAULT_LIMITS, type StoreLimits } from './limits.js';
import { pair } from './pairing.js';
import { findFrame, findFrames, findKept } from './query.js';
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
  private untracked = 0;

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

  /** Counts a connection capture saw and left out (the `track` predicate, or sampling). */
  noteUntracked(): void {
    this.untracked++;
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

  /**
   * Records a WebSocket control frame: a ping or pong (its payload) or a close (its code and
   * reason). A close frame, either way, puts an open connection in the `closing` state and, the
   * first one, gives it its close code and reason (the side that started the closing handshake).
   * Control frames are not messages: they count in no message counter.
   */
  recordControl(
    connectionId: string,
    direction: Direction,
    kind: 'ping' | 'pong' | 'close',
    payload: Uint8Array | undefined,
    code?: number,
    reason = '',
    time = Date.now(),
  ): void {
    const tracked = this.table.get(connectionId);
    if (!tracked) return;
    let content: string | Uint8Array | undefined = payload;
    let binary = false;
    if (kind === 'close')
      content = code === undefined ? '' : reason ? `${code} ${reason}` : `${code}`;
    else if (payload && payload.byteLength > 0) {
      const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      if (isUtf8(bytes)) content = bytes.toString();
      else binary = true;
    }
    const size =
      kind === 'close'
        ? code === undefined
          ? 0
          : 2 + Buffer.byteLength(reason)
        : (payload?.byteLength ?? 0);
    const kept = this.keeper.keep(
      tracked,
      direction,
      size,
      kind,
      undefined,
      undefined,
      undefined,
      content,
      binary,
      true,
      time,
    );
    kept.control = true;
    kept.code = code;
    pair(tracked, kept, this.limits.maxFramesPerConnection);
    const record = tracked.record;
    if (kind === 'close' && (record.status === 'open' || record.status === 'connecting')) {
      record.status = 'closing';
      if (record.closeCode === undefined && code !== undefined) {
        record.closeCode = code;
        record.closeReason = reason;
      }
      this.feed.emit({ type: 'connection', connection: record });
    }
    if (this.feed.listened) {
      this.feed.emit({
        type: 'frame',
        frame: frameView(kept, connectionId, this.limits.hexPreviewBytes),
        connection: record,
      });
    }
  }

  /**
   * What a captured client frame held, for replaying it: undefined unless it came from the
   * client, is a message, and was kept whole (not cut, binary within its preview). Its text is as
   * captured, credentials included: it goes back to the server it was sent to, never to the panel.
   */
  replayable(seq: number): { connection: string; data: string | Uint8Array } | undefined {
    const found = findKept(this.table.values(), seq);
    if (!found) return undefined;
    const { kept } = found;
    if (kept.direction !== 'in' || kept.control || kept.cut || kept.content === undefined)
      return undefined;
    const content = kept.content;
    let data: string | Uint8Array;
    if (kept.binary) {
      if (typeof content === 'string' || content.byteLength !== kept.size) return undefined;
      data = content;
    } else {
      data =
        typeof content === 'string'
          ? content
          : Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString();
    }
    return { connection: found.tracked.record.id, data };
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
    let active = 0;
    for (const tracked of this.table.values()) {
      frames += tracked.frames.length;
      if (tracked.record.status !== 'closed') active++;
    }
    return {
      connections: this.table.size,
      active,
      untracked: this.untracked,
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
