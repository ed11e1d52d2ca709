import type { Broker } from '../broker/types.js';
import { DEFAULTS } from './defaults.js';
import { TokenBucket } from './limits.js';

/** The log channel: server log records published to a channel, storms collapsed, rate bounded. */

export interface LogStreamOptions {
  /** The channel records are published to; give its pattern a permission so only admins see it. */
  channel: string;
  /** Records kept in the channel's history for subscribers who join late. Default 100. */
  keep?: number;
  /**
   * A record that comes again within this window (other records between or not) is published
   * once, then summarised with a count at the window's end. 0 turns collapsing off. Default 5 s.
   */
  collapseMs?: number;
  /** Records published per second at most; the excess is counted and reported. Default 50. */
  maxPerSecond?: number;
}

export interface LogStream {
  /** Takes one record: an object, or a JSON line as pino writes it to a destination. */
  write(record: string | Record<string, unknown>): void;
  /** Publishes pending counts now and starts a new window. */
  flush(): void;
  close(): void;
  readonly history: { size: number; ttlMs: number };
}

/** Fields that differ between otherwise identical records. */
const VOLATILE = new Set(['time', 'pid', 'hostname', 'v']);

/** Event name of the channel's publications. */
export const LOG_EVENT = 'log';

/**
 * Distinct records tracked for collapsing within one window; past it, new records are published
 * as they come (still within `maxPerSecond`), so a flood of distinct records costs bounded memory.
 */
export const LOG_COLLAPSE_KEYS = 100;

/** A record seen in the current window, and how many times it came again since it was published. */
interface Seen {
  record: Record<string, unknown>;
  repeated: number;
}

/**
 * Publishes server log records to a channel, for an admin page or the inspector to watch live.
 * A record that comes again within the collapse window is counted, not published, even when
 * other records come between (a client retrying a bad token every second among ordinary
 * traffic): at the window's end each such record is summarised once with `repeated: n`, so a
 * storm becomes the first record plus one summary per window. The channel's history keeps the
 * last `keep` records for late joiners. Publishing goes straight to the broker, so a broker
 * failure is not logged again through this stream (it would feed itself).
 */
export function logStream(broker: Broker, options: LogStreamOptions): LogStream {
  const defaults = DEFAULTS.logStream;
  const collapseMs = options.collapseMs ?? defaults.collapseMs;
  const history = { size: options.keep ?? defaults.keep, ttlMs: defaults.historyTtlMs };
  const rate = options.maxPerSecond ?? defaults.maxPerSecond;
  const bucket = new TokenBucket(rate, rate);
  // In first-seen order, so the summaries come out in the order their records did.
  const seen = new Map<string, Seen>();
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const publish = (record: Record<string, unknown>) => {
    if (!bucket.take()) {
      dropped++;
      return;
    }
    // The next record that fits says how many were lost before it.
    const data = dropped > 0 ? { ...record, droppedBefore: dropped } : record;
    dropped = 0;
    broker.publish(options.channel, { event: LOG_EVENT, data }, { history }).catch(() => {});
  };

  /**
   * The window's end: one summary per record that came again. A record still repeating stays
   * tracked into the next window (a storm keeps one summary per window, not a fresh record);
   * one that did not is forgotten, so the timer stops once the log is quiet.
   */
  const endWindow = () => {
    clearTimeout(timer);
    timer = undefined;
    for (const [key, entry] of seen) {
      if (entry.repeated === 0) {
        seen.delete(key);
        continue;
      }
      publish({ ...entry.record, time: Date.now(), repeated: entry.repeated });
      entry.repeated = 0;
    }
    if (seen.size > 0 && !closed) arm();
  };

  const arm = () => {
    timer = setTimeout(endWindow, collapseMs);
    timer.unref?.();
  };

  return {
    history,
    write(input) {
      if (closed) return;
      let record: Record<string, unknown>;
      if (typeof input === 'string') {
        try {
          record = JSON.parse(input);
        } catch {
          return;
        }
      } else record = input;
      if (collapseMs <= 0) return publish(record);
      const key = JSON.stringify(record, (name, value) => (VOLATILE.has(name) ? undefined : value));
      const entry = seen.get(key);
      if (entry) {
        entry.repeated++;
        return;
      }
      if (seen.size < LOG_COLLAPSE_KEYS) {
        seen.set(key, { record, repeated: 0 });
        if (!timer) arm();
      }
      publish(record);
    },
    flush: endWindow,
    close() {
      closed = true;
      endWindow();
      seen.clear();
    },
  };
}
