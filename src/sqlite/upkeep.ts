/**
 * Background upkeep, in bounded steps on a timer: expired idempotency keys, latest values and
 * presence, history trimmed that aged out while nobody published, idle channels forgotten and
 * their cache dropped.
 */

import type { Delivery } from '../broker/delivery.js';
import type { Channels } from './channels.js';
import type { Database } from './driver.js';
import type { Presence } from './presence.js';
import type { ChannelRow, ChannelState } from './state.js';
import type { Statements } from './statements.js';
import { trim } from './trim.js';
import type { Writer } from './writer.js';

/** History rows one upkeep step deletes at most (and keys it expires). */
const TRIM_BATCH = 1_000;
/** Channels one upkeep step visits. */
const CHANNELS_PER_STEP = 500;

export interface UpkeepOptions {
  db: Database;
  sql: Statements;
  channels: Channels;
  presence: Presence;
  delivery: Delivery;
  writer: Writer;
  /** Channels whose last trim ran out of budget: upkeep goes on with them first. */
  backlog: Set<string>;
  /** When the broker started: no channel counts as idle since before. */
  startedAt: number;
  /** How long an idle channel is kept. */
  idleMs: number;
  /** How long between steps when there is no work left for right away. */
  sweepMs: number;
  /** Told of failures in a step. */
  onError: ((error: unknown) => void) | undefined;
}

export class Upkeep {
  /** Where the upkeep's walk over the channels table stands. */
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly pageSize: number;

  constructor(private readonly options: UpkeepOptions) {
    this.pageSize = Number(options.db.pragma('page_size', { simple: true }));
    this.timer = setTimeout(this.sweep, options.sweepMs);
    this.timer.unref?.();
  }

  /** No more steps. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private readonly sweep = () => {
    this.timer = undefined;
    const { db, sql, writer, sweepMs } = this.options;
    if (this.stopped || !db.open) return;
    let more = false;
    try {
      more = this.step(Date.now());
    } catch (error) {
      this.options.onError?.(error);
    }
    // Unhealthy after a failed commit, a node gets no traffic (/readyz 503), so no commit would
    // ever say the file takes writes again: a write of a page's size does.
    if (writer.writeFailure && !this.stopped) {
      try {
        sql.probe.run(this.pageSize);
        writer.writeFailure = undefined;
      } catch {
        // Still failing: stays unhealthy, tried again next time.
      }
    }
    this.timer = setTimeout(this.sweep, more ? 0 : sweepMs);
    this.timer.unref?.();
  };

  /**
   * One bounded step of upkeep, in one transaction: expired idempotency keys, backlogged trims,
   * then the next channels of the walk (history aged out while nobody published, idle channels
   * forgotten, their cache entries dropped). Returns whether work is left for right away.
   */
  private step(now: number): boolean {
    const { db, sql, backlog } = this.options;
    const cache = this.options.channels.cache;
    if (this.cursor === 0) this.options.presence.expire(now);
    let budget = TRIM_BATCH;
    sql.begin.run();
    try {
      const expired = sql.keysExpire.run(now, budget).changes;
      const lapsed = sql.latestExpire.run(now, budget).changes;
      const more = expired === budget || lapsed === budget;
      for (const name of backlog) {
        if (budget <= 0) break;
        const s = cache.get(name);
        const deleted = s && s.id > 0 ? trim(sql, s.id, s.floor, s.ttlMs, now, budget) : 0;
        budget -= deleted;
        if (deleted === 0) backlog.delete(name);
      }
      if (budget > 0) {
        const rows = sql.channelsAfter.all(this.cursor, CHANNELS_PER_STEP);
        for (const row of rows) {
          if (budget <= 0) break;
          const s = cache.get(row.name);
          budget -= trim(sql, row.id, s?.floor ?? row.floor, s?.ttlMs ?? row.ttl_ms, now, budget);
          if (budget <= 0) break; // not done with this one: the next step starts with it
          this.cursor = row.id;
          if (this.forgettable(row, s, now) && !sql.any.get(row.id)) {
            sql.channelDelete.run(row.id);
            cache.delete(row.name);
            backlog.delete(row.name);
          } else if (s && this.evictable(s, now)) {
            cache.delete(row.name);
          }
        }
        if (budget > 0 && rows.length < CHANNELS_PER_STEP) this.cursor = 0;
      }
      sql.commit.run();
      return more || budget <= 0 || backlog.size > 0;
    } catch (error) {
      if (db.inTransaction) sql.rollback.run();
      throw error;
    }
  }

  /**
   * Nothing would be lost by forgetting the channel: idle for the window, nobody subscribed or
   * present here, nothing in flight, no history left (checked by the caller). It starts a new
   * epoch next time, which is honest: a returning subscriber is told `recovered: false`.
   */
  private forgettable(row: ChannelRow, s: ChannelState | undefined, now: number): boolean {
    const { startedAt, idleMs, delivery, presence } = this.options;
    const activeAt = Math.max(row.active_at, s?.activeAt ?? 0, startedAt);
    if (now - activeAt < idleMs) return false;
    if (s && (s.pending > 0 || !s.saved)) return false;
    return !delivery.has(row.name) && !presence.has(row.name);
  }

  /** The cached state can go (the file has it): idle, nothing in flight, nobody here using it. */
  private evictable(s: ChannelState, now: number): boolean {
    const { idleMs, delivery, presence } = this.options;
    return (
      s.saved &&
      s.pending === 0 &&
      now - s.activeAt >= idleMs &&
      !delivery.has(s.name) &&
      !presence.has(s.name)
    );
  }
}
