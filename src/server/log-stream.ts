import type { Broker } from '../broker/types.js';
import { DEFAULTS } from './defaults.js';
import { TokenBucket } from './limits.js';

/** The log channel: server log records published to a channel, storms collapsed, rate bounded. */

export interface LogStreamOptions {
  /** The channel records are published to; give its pattern a permission so only admins see it. */
  channel: string;
  /** Records kept in the channel's history for subscribers who join late. Default 100. */
  keep?: number;
  /** Identical records within this window are published once, then summarised with a count. Default 5 s. */
  collapseMs?: number;
  /** Records published per second at most; the excess is counted and reported. Default 50. */
  maxPerSecond?: number;
}

export interface LogStream {
  /** Takes one record: an object, or a JSON line as pino writes it to a destination. */
  write(record: string | Record<string, unknown>): void;
  /** Publishes pending counts and stops the timer. */
  flush(): void;
  close(): void;
  readonly history: { size: number; ttlMs: number };
}

/** Fields that differ between otherwise identical records. */
const VOLATILE = new Set(['time', 'pid', 'hostname', 'v']);

/** Event name of the channel's publications. */
export const LOG_EVENT = 'log';

/**
 * Publishes server log records to a channel, for an admin page or the inspector to watch live.
 * A storm of one record (a client retrying a bad token every second) becomes the first record
 * plus one summary with `repeated: n` per window, and the channel's history keeps the last
 * `keep` records for late joiners. Publishing goes straight to the broker, so a broker failure
 * is not logged again through this stream (it would feed itself).
 */
export function logStream(broker: Broker, options: LogStreamOptions): LogStream {
  const defaults = DEFAULTS.logStream;
  const collapseMs = options.collapseMs ?? defaults.collapseMs;
  const history = { size: options.keep ?? defaults.keep, ttlMs: defaults.historyTtlMs };
  const rate = options.maxPerSecond ?? defaults.maxPerSecond;
  const bucket = new TokenBucket(rate, rate);
  let lastKey: string | undefined;
  let lastRecord: Record<string, unknown> | undefined;
  let repeated = 0;
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

  const flushRepeats = () => {
    clearTimeout(timer);
    timer = undefined;
    if (repeated > 0 && lastRecord) {
      publish({ ...lastRecord, time: Date.now(), repeated });
      repeated = 0;
    }
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
      const key = JSON.stringify(record, (name, value) => (VOLATILE.has(name) ? undefined : value));
      if (key === lastKey && collapseMs > 0) {
        repeated++;
        if (!timer) {
          timer = setTimeout(flushRepeats, collapseMs);
          timer.unref?.();
        }
        return;
      }
      flushRepeats();
      lastKey = key;
      lastRecord = record;
      publish(record);
    },
    flush: flushRepeats,
    close() {
      flushRepeats();
      closed = true;
    },
  };
}
