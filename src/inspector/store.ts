import { redactText } from './redact.js';
/**
 * What the inspector remembers, bounded every way the debug-toolbar design asks: connections,
 * frames per connection (a ring), bytes per frame (truncated, flagged), a total byte budget, and
 * how long closed connections stay. Every drop is counted, so the panel can say what it lost.
 */

export type Direction = 'in' | 'out';
export type ConnectionStatus = 'connecting' | 'open' | 'closing' | 'closed';

export interface FrameRecord {
  seq: number;
  connection: string;
  direction: Direction;
  time: number;
  size: number;
  /** Decoded frame type (`publish`, `message`…); 'raw' for a plain ws server or undecodable data. */
  type: string;
  channel?: string;
  event?: string;
  id?: number;
  /** Milliseconds from the request to this reply (on replies and errors answering a request). */
  latencyMs?: number;
  /** Text content (JSON as sent, tokens redacted), cut at the per-frame limit. */
  text?: string;
  truncated?: boolean;
  binary?: boolean;
  /** Hex of the first bytes of a binary frame, when enabled. */
  hex?: string;
}

export interface ConnectionRecord {
  id: string;
  status: ConnectionStatus;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  remoteAddress?: string;
  user?: string;
  channels: string[];
  connectedAt: number;
  closedAt?: number;
  closeCode?: number;
  closeReason?: string;
  errors: string[];
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  rttMs?: number;
  /** Frames this connection had to forget (ring full or byte budget). */
  droppedFrames: number;
}

export interface StoreLimits {
  /** Connections tracked at once (open and closed). Default 50. */
  maxConnections: number;
  /** Frames kept per connection, newest win. Default 100. */
  maxFramesPerConnection: number;
  /** Text kept per frame before truncation. Default 10 KiB. */
  maxFrameBytes: number;
  /** Hex preview of binary frames, bytes (0: none). Default 256. */
  hexPreviewBytes: number;
  /** How long closed connections are kept. Default 1 hour. */
  closedRetentionMs: number;
  /** All kept frame text together. Default 8 MiB. */
  maxTotalBytes: number;
}

export const DEFAULT_LIMITS: StoreLimits = {
  maxConnections: 50,
  maxFramesPerConnection: 100,
  maxFrameBytes: 10 * 1024,
  hexPreviewBytes: 256,
  closedRetentionMs: 60 * 60_000,
  maxTotalBytes: 8 * 1024 * 1024,
};

export interface Filter {
  connection?: string;
  user?: string;
  channel?: string;
  event?: string;
  direction?: Direction;
  /** Case-insensitive substring of the frame's text. */
  text?: string;
}

export interface StoreStats {
  connections: number;
  frames: number;
  bytes: number;
  droppedConnections: number;
  droppedFrames: number;
}

/**
 * A captured frame as kept: the content is the already-encoded message (for a broadcast, one
 * buffer shared by every recipient), turned into text only when the panel or an export reads it.
 */
interface StoredFrame {
  seq: number;
  direction: Direction;
  time: number;
  size: number;
  type: string;
  channel: string | undefined;
  event: string | undefined;
  id: number | undefined;
  latencyMs: number | undefined;
  binary: boolean;
  /** Cut to maxFrameBytes at capture, so a huge message is never kept whole. */
  content: string | Uint8Array | undefined;
  cut: boolean;
  /** Inbound text may hold credentials: redacted when read. */
  sensitive: boolean;
}

/** A fixed-size ring: pushing into a full one overwrites the oldest, in O(1). */
class Ring<T> {
  private items: (T | undefined)[];
  private head = 0;
  length = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array(Math.min(capacity, 16));
  }

  /** Returns the item pushed out, if the ring was full. */
  push(item: T): T | undefined {
    if (this.length < this.capacity) {
      if (this.length === this.items.length) this.grow();
      this.items[(this.head + this.length) % this.items.length] = item;
      this.length++;
      return undefined;
    }
    const evicted = this.items[this.head];
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.items.length;
    return evicted;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.length--;
    return item;
  }

  first(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.length; i++) yield this.items[(this.head + i) % this.items.length]!;
  }

  private grow(): void {
    const size = Math.min(this.capacity, this.items.length * 2);
    const next: (T | undefined)[] = new Array(size);
    for (let i = 0; i < this.length; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}

interface Tracked {
  record: ConnectionRecord;
  frames: Ring<StoredFrame>;
  /** Request id → time sent, to pair replies (bounded like the frames). */
  pending: Map<number, number>;
  pingAt?: number | undefined;
  /** Forgotten: its entries in the eviction order are stale. */
  gone: boolean;
}

/** Every field present from the start keeps records compact (in-object) for V8. */
const blankFrame = (): StoredFrame => ({
  seq: 0,
  direction: 'in',
  time: 0,
  size: 0,
  type: '',
  channel: undefined,
  event: undefined,
  id: undefined,
  latencyMs: undefined,
  binary: false,
  content: undefined,
  cut: false,
  sensitive: false,
});

const contentBytes = (f: StoredFrame) =>
  (typeof f.content === 'string' ? f.content.length : (f.content?.byteLength ?? 0)) + 96;

export function matches(
  filter: Filter,
  frame: FrameRecord,
  connection: ConnectionRecord | undefined,
): boolean {
  if (filter.connection && frame.connection !== filter.connection) return false;
  if (filter.direction && frame.direction !== filter.direction) return false;
  if (filter.channel && frame.channel !== filter.channel) return false;
  if (filter.event && frame.event !== filter.event) return false;
  if (filter.user && connection?.user !== filter.user) return false;
  if (filter.text && !frame.text?.toLowerCase().includes(filter.text.toLowerCase())) return false;
  return true;
}

export class InspectorStore {
  readonly limits: StoreLimits;
  private readonly tracked = new Map<string, Tracked>();
  private bytes = 0;
  private seq = 0;
  private droppedConnections = 0;
  private droppedFrames = 0;
  /**
   * Every recorded frame, oldest first (three parallel arrays, so recording allocates nothing),
   * so the total-bytes bound evicts the oldest frame anywhere in O(1) instead of scanning every
   * connection for it on each frame. Entries whose frame left otherwise are skipped, and
   * compacted away once they outnumber the live ones.
   */
  private orderTracked: Tracked[] = [];
  private orderFrames: StoredFrame[] = [];
  private orderSeqs: number[] = [];
  private orderHead = 0;
  private liveFrames = 0;
  private readonly listeners = new Set<(event: StoreEvent) => void>();

  constructor(limits: Partial<StoreLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Live updates for the panel: one listener per panel socket. */
  listen(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Whether anyone (a panel) is watching live. */
  get watched(): boolean {
    return this.listeners.size > 0;
  }

  openConnection(
    record: Omit<
      ConnectionRecord,
      | 'channels'
      | 'errors'
      | 'messagesIn'
      | 'messagesOut'
      | 'bytesIn'
      | 'bytesOut'
      | 'droppedFrames'
    >,
  ): boolean {
    this.sweep(record.connectedAt);
    if (this.tracked.size >= this.limits.maxConnections && !this.evictOneClosed()) {
      this.droppedConnections++;
      return false;
    }
    const full: ConnectionRecord = {
      ...record,
      channels: [],
      errors: [],
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      droppedFrames: 0,
    };
    this.tracked.set(record.id, {
      record: full,
      frames: new Ring(this.limits.maxFramesPerConnection),
      pending: new Map(),
      gone: false,
    });
    this.emit({ type: 'connection', connection: full });
    return true;
  }

  updateConnection(id: string, change: Partial<ConnectionRecord>): void {
    const tracked = this.tracked.get(id);
    if (!tracked) return;
    Object.assign(tracked.record, change);
    this.emit({ type: 'connection', connection: tracked.record });
  }

  /** The last few errors a connection was sent, newest last. */
  noteError(id: string, error: string): void {
    const record = this.tracked.get(id)?.record;
    if (!record) return;
    record.errors.push(error.slice(0, 200));
    if (record.errors.length > 20) record.errors.shift();
    this.emit({ type: 'connection', connection: record });
  }

  connection(id: string): ConnectionRecord | undefined {
    return this.tracked.get(id)?.record;
  }

  connections(): ConnectionRecord[] {
    return [...this.tracked.values()].map((t) => t.record);
  }

  has(connectionId: string): boolean {
    return this.tracked.has(connectionId);
  }

  frames(filter: Filter = {}, limit = 500): FrameRecord[] {
    const out: FrameRecord[] = [];
    for (const tracked of this.tracked.values()) {
      for (const stored of tracked.frames) {
        const frame = this.materialize(stored, tracked.record.id);
        if (matches(filter, frame, tracked.record)) out.push(frame);
      }
    }
    out.sort((a, b) => a.seq - b.seq);
    return out.slice(-limit);
  }

  frame(seq: number): FrameRecord | undefined {
    for (const tracked of this.tracked.values()) {
      for (const stored of tracked.frames)
        if (stored.seq === seq) return this.materialize(stored, tracked.record.id);
    }
    return undefined;
  }

  /** The panel's view of a frame: text decoded, redacted and cut, or a hex preview. */
  private materialize(stored: StoredFrame, connection: string): FrameRecord {
    const frame: FrameRecord = {
      seq: stored.seq,
      connection,
      direction: stored.direction,
      time: stored.time,
      size: stored.size,
      type: stored.type,
    };
    if (stored.channel !== undefined) frame.channel = stored.channel;
    if (stored.event !== undefined) frame.event = stored.event;
    if (stored.id !== undefined) frame.id = stored.id;
    if (stored.latencyMs !== undefined) frame.latencyMs = stored.latencyMs;
    if (stored.cut) frame.truncated = true;
    const content = stored.content;
    if (stored.binary) {
      frame.binary = true;
      if (content instanceof Uint8Array && this.limits.hexPreviewBytes > 0) {
        frame.hex = Buffer.from(
          content.buffer,
          content.byteOffset,
          Math.min(content.byteLength, this.limits.hexPreviewBytes),
        ).toString('hex');
        if (content.byteLength > this.limits.hexPreviewBytes) frame.truncated = true;
      }
    } else if (content !== undefined) {
      const text =
        typeof content === 'string'
          ? content
          : Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString();
      frame.text = stored.sensitive ? redactText(text) : text;
    }
    return frame;
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
    const tracked = this.tracked.get(connectionId);
    if (!tracked) return;
    const max = binary ? this.limits.hexPreviewBytes : this.limits.maxFrameBytes;
    let cut = false;
    if (content !== undefined) {
      const length = typeof content === 'string' ? content.length : content.byteLength;
      if (length > max) {
        cut = true;
        content =
          typeof content === 'string'
            ? content.slice(0, max)
            : Uint8Array.prototype.slice.call(content, 0, max);
      }
    }
    // A full ring hands back its oldest record to be overwritten: at steady state capture
    // allocates nothing, so a busy gateway's inspector adds no garbage to collect.
    let stored: StoredFrame;
    if (tracked.frames.length >= this.limits.maxFramesPerConnection) {
      stored = tracked.frames.shift()!;
      this.dropped(tracked, stored);
    } else {
      stored = blankFrame();
    }
    stored.seq = ++this.seq;
    stored.direction = direction;
    stored.time = time;
    stored.size = size;
    stored.type = type;
    stored.channel = channel;
    stored.event = event;
    stored.id = id;
    stored.latencyMs = undefined;
    stored.binary = binary;
    stored.content = content;
    stored.cut = cut;
    stored.sensitive = sensitive;
    this.pair(tracked, stored);
    const stats = tracked.record;
    if (direction === 'in') {
      stats.messagesIn++;
      stats.bytesIn += size;
    } else {
      stats.messagesOut++;
      stats.bytesOut += size;
    }
    this.bytes += contentBytes(stored);
    tracked.frames.push(stored);
    this.liveFrames++;
    this.orderTracked.push(tracked);
    this.orderFrames.push(stored);
    this.orderSeqs.push(stored.seq);
    while (this.bytes > this.limits.maxTotalBytes && this.dropOldestAnywhere());
    if (this.orderFrames.length - this.orderHead > 2 * this.liveFrames + 1024) this.compactOrder();
    if (this.listeners.size > 0) {
      this.emit({
        type: 'frame',
        frame: this.materialize(stored, connectionId),
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

  /** Replies carry the latency of their request; a pong gives the round-trip time. */
  private pair(tracked: Tracked, record: StoredFrame): void {
    if (record.direction === 'in' && record.id !== undefined && record.type !== 'raw') {
      tracked.pending.set(record.id, record.time);
      if (tracked.pending.size > this.limits.maxFramesPerConnection) {
        tracked.pending.delete(tracked.pending.keys().next().value!);
      }
    } else if (
      record.direction === 'out' &&
      record.id !== undefined &&
      (record.type === 'reply' || record.type === 'error')
    ) {
      const sentAt = tracked.pending.get(record.id);
      if (sentAt !== undefined) {
        record.latencyMs = record.time - sentAt;
        tracked.pending.delete(record.id);
      }
    } else if (record.direction === 'out' && record.type === 'ping') {
      tracked.pingAt = record.time;
    } else if (
      record.direction === 'in' &&
      record.type === 'pong' &&
      tracked.pingAt !== undefined
    ) {
      tracked.record.rttMs = record.time - tracked.pingAt;
      tracked.pingAt = undefined;
    }
  }

  private dropped(tracked: Tracked, frame: StoredFrame): void {
    this.bytes -= contentBytes(frame);
    this.liveFrames--;
    tracked.record.droppedFrames++;
    this.droppedFrames++;
  }

  private dropOldestAnywhere(): boolean {
    while (this.orderHead < this.orderFrames.length) {
      const i = this.orderHead++;
      const tracked = this.orderTracked[i]!;
      const frame = this.orderFrames[i]!;
      if (!this.isLive(tracked, frame, this.orderSeqs[i]!)) continue;
      tracked.frames.shift();
      this.dropped(tracked, frame);
      return true;
    }
    return false;
  }

  /** Frames are reused once dropped, so a changed seq means the entry's frame is gone. */
  private isLive(tracked: Tracked, frame: StoredFrame, seq: number): boolean {
    return !tracked.gone && frame.seq === seq && tracked.frames.length > 0;
  }

  private compactOrder(): void {
    const tracked: Tracked[] = [];
    const frames: StoredFrame[] = [];
    const seqs: number[] = [];
    for (let i = this.orderHead; i < this.orderFrames.length; i++) {
      if (!this.isLive(this.orderTracked[i]!, this.orderFrames[i]!, this.orderSeqs[i]!)) continue;
      tracked.push(this.orderTracked[i]!);
      frames.push(this.orderFrames[i]!);
      seqs.push(this.orderSeqs[i]!);
    }
    this.orderTracked = tracked;
    this.orderFrames = frames;
    this.orderSeqs = seqs;
    this.orderHead = 0;
  }

  private evictOneClosed(): boolean {
    for (const [id, tracked] of this.tracked) {
      if (tracked.record.status === 'closed') {
        this.forget(id, tracked);
        return true;
      }
    }
    return false;
  }

  private forget(id: string, tracked: Tracked): void {
    for (const frame of tracked.frames) this.bytes -= contentBytes(frame);
    this.liveFrames -= tracked.frames.length;
    tracked.gone = true;
    this.tracked.delete(id);
    this.emit({ type: 'forget', id });
  }

  /** Forgets closed connections past their retention. */
  sweep(now = Date.now()): void {
    for (const [id, tracked] of this.tracked) {
      const closedAt = tracked.record.closedAt;
      if (closedAt !== undefined && now - closedAt > this.limits.closedRetentionMs)
        this.forget(id, tracked);
    }
  }

  stats(): StoreStats {
    let frames = 0;
    for (const tracked of this.tracked.values()) frames += tracked.frames.length;
    return {
      connections: this.tracked.size,
      frames,
      bytes: this.bytes,
      droppedConnections: this.droppedConnections,
      droppedFrames: this.droppedFrames,
    };
  }

  clear(): void {
    for (const tracked of this.tracked.values()) tracked.gone = true;
    this.tracked.clear();
    this.bytes = 0;
    this.liveFrames = 0;
    this.compactOrder();
  }
}

export type StoreEvent =
  | { type: 'connection'; connection: ConnectionRecord }
  | { type: 'frame'; frame: FrameRecord; connection: ConnectionRecord }
  | { type: 'forget'; id: string };
