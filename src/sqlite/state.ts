/** The shapes the SQLite broker's parts share: rows, cached channel state, queued operations. */

import type {
  CompactRun,
  HistoryOptions,
  LatestOptions,
  Publication,
  PublishInput,
  PublishResult,
} from '../broker/types.js';

/** What a history row holds besides its channel, offset, epoch and time. */
export type Stored = Pick<
  Publication,
  'event' | 'data' | 'user' | 'exceptConnection' | 'stream' | 'covers'
>;

export interface ChannelRow {
  id: number;
  name: string;
  epoch: string;
  last_seq: number;
  floor: number;
  ttl_ms: number;
  last_time: number;
  active_at: number;
}

export interface HistoryRow {
  seq: number;
  time: number;
  body: string;
}

export interface ChannelState {
  readonly name: string;
  /** Its row; 0 until inserted. */
  id: number;
  readonly epoch: string;
  /** The last offset handed out (committed, perhaps not yet on disk). */
  offset: number;
  /** The last offset on disk: what positions and history show, so nothing unsynced is seen. */
  durable: number;
  /** History keeps offsets from here (by size)… */
  floor: number;
  /** …none older than this. */
  ttlMs: number;
  /** Publication times never go back within a channel, so the age cut is a prefix. */
  lastTime: number;
  /** Last publish, subscribe or unsubscribe here: idle channels are forgotten some time after. */
  activeAt: number;
  /** Its row is on disk: a position read now can be recovered against after a restart. */
  saved: boolean;
  /** Operations queued or waiting for their sync: the state must stay cached meanwhile. */
  pending: number;
  /**
   * Rolled-up streams' runs at or above `floor`, oldest first, and their offsets in all: history
   * counts rows, so the floor moves past these without counting them. Known for runs rolled up
   * since the state was cached; older ones count as rows (history then keeps fewer, never more).
   */
  holes: { from: number; to: number }[];
  holed: number;
}

export interface PublishOp {
  kind: 'publish';
  state: ChannelState;
  input: PublishInput;
  /** Kept in history with these options, as this JSON; undefined: not kept. */
  history: HistoryOptions | undefined;
  body: string;
  /** A stream's end that may replace its run (see `PublishOptions.compact`). */
  compact?: { run: CompactRun; body: string; own: string };
  /** Set when it replaced its run: deleted once the end is on disk. */
  compacted?: CompactRun;
  key: string | undefined;
  ephemeral: boolean;
  /** Kept as its event's latest value with these options; undefined: not kept. */
  latest: LatestOptions | undefined;
  resolve(result: PublishResult): void;
  reject(error: unknown): void;
  result?: PublishResult;
  /** Set when it was published (not a repeated key): fanned out once on disk. */
  publication?: Publication;
}

/** Waits for the channel's row to be on disk. */
export interface CreateOp {
  kind: 'create';
  state: ChannelState;
  resolve(): void;
  reject(error: unknown): void;
}

export type Op = PublishOp | CreateOp;

/** One commit's operations, in order, waiting for the fsync that makes them durable. */
export interface Batch {
  ops: Op[];
  created: ChannelState[];
}
