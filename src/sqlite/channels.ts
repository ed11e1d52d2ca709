/** The channels' cached state: loaded from the file when first touched, or made anew in memory. */

import { newEpoch } from '../broker/history.js';
import type { ChannelState } from './state.js';
import type { Statements } from './statements.js';

export class Channels {
  /** Channels this process has touched, by name; the file has the rest. */
  readonly cache = new Map<string, ChannelState>();
  /** Channels created in memory whose rows the next commit inserts. */
  readonly unsaved = new Set<ChannelState>();

  /**
   * @param created told when a channel is made in memory: its row waits for the next commit.
   */
  constructor(
    private readonly sql: Statements,
    private readonly startedAt: number,
    private readonly created: () => void,
  ) {}

  get(channel: string): ChannelState | undefined {
    return this.cache.get(channel);
  }

  stateOf(channel: string): ChannelState {
    let s = this.cache.get(channel);
    if (s) return s;
    const row = this.sql.channelByName.get(channel);
    if (row) {
      s = {
        name: channel,
        id: row.id,
        epoch: row.epoch,
        offset: row.last_seq,
        durable: row.last_seq,
        floor: row.floor,
        ttlMs: row.ttl_ms,
        lastTime: row.last_time,
        activeAt: Math.max(row.active_at, this.startedAt),
        saved: true,
        pending: 0,
        holes: [],
        holed: 0,
      };
    } else {
      // Kept like any other from the next commit, so whoever reads its position can recover
      // against it later, across restarts too.
      s = {
        name: channel,
        id: 0,
        epoch: newEpoch(),
        offset: 0,
        durable: 0,
        floor: 1,
        ttlMs: 0,
        lastTime: 0,
        activeAt: Date.now(),
        saved: false,
        pending: 0,
        holes: [],
        holed: 0,
      };
      this.unsaved.add(s);
      this.created();
    }
    this.cache.set(channel, s);
    return s;
  }
}
