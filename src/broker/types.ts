import type { PresenceMember, StreamMarker, StreamPosition } from '../protocol/frames.js';

export type { PresenceMember, StreamMarker };

/** A channel publication as the broker stores and fans it out. */
export interface Publication {
  channel: string;
  event: string;
  data: unknown;
  /** Strictly increasing within `epoch`, starting at 1. */
  offset: number;
  /** Changes whenever the channel's history may have been lost; offsets restart with it. */
  epoch: string;
  /** Broker time of publication, ms since the Unix epoch. */
  time: number;
  /** The publishing user, when a client published it. */
  user?: string;
  /** A connection that must not receive it (the sender, for `exceptSelf`). */
  exceptConnection?: string;
  /** Delivered to current subscribers only; `offset` is the channel's position, not its own. */
  ephemeral?: true;
  stream?: StreamMarker;
  /**
   * Set on a stream's end marker that replaced its chunks in history: the first offset it stands
   * for (its chunks are `covers`…`offset - 1`; see `PublishOptions.compact`).
   */
  covers?: number;
  /**
   * Unique per publication where the store can roll back (Redis): how a node tells a repeat of
   * what it delivered from another publication given the same offset after a rollback.
   */
  id?: string;
}

export interface PublishInput {
  event: string;
  data: unknown;
  user?: string;
  exceptConnection?: string;
  stream?: StreamMarker;
}

export interface HistoryOptions {
  /** Publications kept per channel; 0 keeps none (offsets are still assigned). */
  size: number;
  /** Publications older than this are dropped from history. */
  ttlMs: number;
}

export interface PublishOptions {
  history?: HistoryOptions;
  /** A repeat of a key inside the broker's idempotency window returns the first result unpublished. */
  idempotencyKey?: string;
  /** Fan out without assigning an offset or keeping it (typing indicators, presence events). */
  ephemeral?: boolean;
  /** Keep it as its event's latest value on the channel (ephemeral ones too): see `latest()`. */
  latest?: LatestOptions;
  /**
   * On a stream's end marker (whose `stream.rollup` holds its chunks' data): drop offsets
   * `from`…`to` (the stream's own publications, nothing else between) from history and stamp
   * `covers: from` on the end — only if, in the same step, the end gets offset `to + 1` in
   * `epoch` and every one of them still kept belongs to this stream. Else it is kept as asked,
   * beside its chunks.
   */
  compact?: CompactRun;
}

/** A finished stream's run of publications, right before its end marker. */
export interface CompactRun {
  from: number;
  to: number;
  epoch: string;
}

/**
 * A channel's latest value per event name, for late joiners (an agent's status, a progress bar).
 * Kept apart from history: a snapshot, not part of the channel's sequence.
 */
export interface LatestOptions {
  /**
   * Distinct event names kept per channel. A publication of a new name when full evicts the
   * least recently updated name.
   */
  maxEvents: number;
  /** The channel's latest values are forgotten this long after its last publication kept as one. */
  ttlMs: number;
}

export interface PublishResult extends StreamPosition {
  /** True when the key was seen before and nothing was published this time. */
  duplicate: boolean;
}

export interface HistoryQuery {
  /** Return publications after this position. Without it: the newest `limit`. */
  since?: StreamPosition;
  /** At most this many publications (default: all that are kept). */
  limit?: number;
}

export interface HistoryResult extends StreamPosition {
  publications: Publication[];
  /**
   * With `since`: true when `publications` holds every publication after it (same epoch, none
   * aged or pushed out of history). Without `since`: always true.
   */
  recovered: boolean;
  /** Set when `limit` cut the page short of the channel's position (not a gap): page on with `since`. */
  more?: true;
}

export type PublicationHandler = (publication: Publication) => void;

/**
 * The scale-out seam (Socket.IO's adapter, Centrifugo's engine). A gateway node subscribes once
 * per channel that has local subscribers and fans out to them itself; the broker assigns offsets,
 * keeps history and carries publications between nodes. One broker instance may serve several
 * gateways in one process: that is how clustering is tested before Redis enters.
 */
export interface Broker {
  publish(channel: string, input: PublishInput, options?: PublishOptions): Promise<PublishResult>;
  /**
   * Deliver this channel's future publications to `handler`, in offset order. `onReset` is
   * called if the broker finds that publications were lost to this node and cannot be replayed
   * (its link to a shared store broke and the store lost the channel's history meanwhile): the
   * gateway then makes the channel's subscribers resync, which tells them of the gap.
   */
  subscribe(channel: string, handler: PublicationHandler, onReset?: () => void): Promise<void>;
  unsubscribe(channel: string, handler: PublicationHandler): Promise<void>;
  history(channel: string, query?: HistoryQuery): Promise<HistoryResult>;
  /**
   * The latest publication of each event name kept with `latest`, least recently updated first.
   * Each keeps the offset and epoch it was published with (an ephemeral one: the channel's
   * position then), so they are a snapshot, never a position to recover from.
   */
  latest(channel: string): Promise<Publication[]>;
  /**
   * Records a connection as present. `ttlMs` bounds how long the entry outlives its node if the
   * node dies without removing it; live nodes call this again before it runs out.
   */
  presenceAdd(channel: string, member: PresenceMember, ttlMs: number): Promise<void>;
  presenceRemove(channel: string, connection: string): Promise<void>;
  presence(channel: string): Promise<PresenceMember[]>;
  /** Whether the broker can take publications now (for readiness checks). Default: true. */
  healthy?(): boolean;
  /**
   * Why `healthy()` is false, in words an operator can act on (e.g. the last connection error:
   * "Redis unreachable: getaddrinfo ENOTFOUND redis"); undefined when healthy or unknown.
   */
  unhealthyReason?(): string | undefined;
  close(): Promise<void>;
}
