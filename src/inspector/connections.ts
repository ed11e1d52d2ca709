/**
 * The connections the inspector tracks and their states: at most `maxConnections` (closed ones
 * make room first, refusals counted), closed ones forgotten after their retention.
 */
import type { KeptFrame } from './kept-frame.js';
import type { StoreLimits } from './limits.js';
import { Ring } from './ring.js';
import type { ConnectionRecord, OpeningRecord } from './types.js';

/** A tracked connection: its record, its kept frames and what pairs replies with requests. */
export interface Tracked {
  record: ConnectionRecord;
  frames: Ring<KeptFrame>;
  /** Request id → time sent, to pair replies (bounded like the frames). */
  pending: Map<number, number>;
  pingAt?: number | undefined;
  /** Forgotten: its entries in the arrival order are stale. */
  gone: boolean;
}

export class ConnectionTable {
  private readonly byId = new Map<string, Tracked>();
  droppedConnections = 0;
  private sweptAt = Number.NEGATIVE_INFINITY;

  /** `onForget` hears of every connection forgotten (evicted or past retention), not of clear(). */
  constructor(
    private readonly limits: StoreLimits,
    private readonly onForget: (id: string, tracked: Tracked) => void,
  ) {}

  /** Starts tracking a connection; undefined when the table is full of open ones. */
  open(opening: OpeningRecord): Tracked | undefined {
    // At most once a second: a sweep walks every tracked connection, and a burst of thousands
    // of connections made each open pay for all the others.
    if (opening.connectedAt - this.sweptAt >= 1000) this.sweep(opening.connectedAt);
    if (this.byId.size >= this.limits.maxConnections && !this.evictOneClosed()) {
      this.droppedConnections++;
      return undefined;
    }
    const tracked: Tracked = {
      record: {
        ...opening,
        channels: [],
        errors: [],
        messagesIn: 0,
        messagesOut: 0,
        bytesIn: 0,
        bytesOut: 0,
        droppedFrames: 0,
      },
      frames: new Ring(this.limits.maxFramesPerConnection),
      pending: new Map(),
      gone: false,
    };
    this.byId.set(opening.id, tracked);
    return tracked;
  }

  get(id: string): Tracked | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Oldest first. */
  values(): IterableIterator<Tracked> {
    return this.byId.values();
  }

  update(id: string, change: Partial<ConnectionRecord>): ConnectionRecord | undefined {
    const tracked = this.byId.get(id);
    if (!tracked) return undefined;
    Object.assign(tracked.record, change);
    return tracked.record;
  }

  /** Keeps the last 20 errors a connection was sent (200 characters each), newest last. */
  noteError(id: string, error: string): ConnectionRecord | undefined {
    const record = this.byId.get(id)?.record;
    if (!record) return undefined;
    record.errors.push(error.slice(0, 200));
    if (record.errors.length > 20) record.errors.shift();
    return record;
  }

  /** Forgets closed connections past their retention. */
  sweep(now: number): void {
    this.sweptAt = now;
    for (const [id, tracked] of this.byId) {
      const closedAt = tracked.record.closedAt;
      if (closedAt !== undefined && now - closedAt > this.limits.closedRetentionMs)
        this.forget(id, tracked);
    }
  }

  /** Forgets everything at once, silently. */
  clear(): void {
    for (const tracked of this.byId.values()) tracked.gone = true;
    this.byId.clear();
  }

  private evictOneClosed(): boolean {
    for (const [id, tracked] of this.byId) {
      if (tracked.record.status === 'closed') {
        this.forget(id, tracked);
        return true;
      }
    }
    return false;
  }

  private forget(id: string, tracked: Tracked): void {
    tracked.gone = true;
    this.byId.delete(id);
    this.onForget(id, tracked);
  }
}
