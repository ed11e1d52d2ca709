/** The Redis broker's options, and the logger it reports connection trouble to. */
import type { Cluster, Redis } from 'ioredis';

export interface RedisBrokerOptions {
  /** Default redis://127.0.0.1:6379. Ignored when `redis` is given. */
  url?: string;
  /** Your own ioredis client or Cluster; the broker duplicates it for subscribing and does not close it. */
  redis?: Redis | Cluster;
  /** Prefix of every key and pub/sub channel, so several apps (or tests) share one Redis. Default 'switchboard:'. */
  prefix?: string;
  /** Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7+) so fan-out scales with a Cluster's shards. */
  sharded?: boolean;
  /** How long an idempotency key is remembered. Default 2 min. */
  idempotencyWindowMs?: number;
  /** How long a channel nobody publishes to keeps its offset and epoch. Default 5 min. */
  idleChannelTtlMs?: number;
  /** A command not answered within this fails with UNAVAILABLE. Default 2 s. */
  commandTimeoutMs?: number;
  /** How long to wait for the first connection before commands fail. Default 5 s. */
  connectTimeoutMs?: number;
  /**
   * How often a channel that had no publication meanwhile is checked against the stored
   * position, to find losses no later publication would reveal. Default 5 s; 0 turns it off.
   */
  positionCheckMs?: number;
  /** Told of rollbacks found and fenced, and of catch-ups that failed. */
  onError?: (error: unknown, channel: string) => void;
  /**
   * Told of connection failures: the cause (e.g. `getaddrinfo ENOTFOUND redis`) once per outage
   * at error level, not on every retry, and `info` when the connection is back. A pino logger
   * (the server's `logger`) fits. Without it connection errors are silent, but `healthy()` and
   * `unhealthyReason()` (what /readyz answers) still report them.
   */
  logger?: RedisBrokerLogger;
}

/** The part of a logger (pino's, the gateway's) the broker reports connection trouble to. */
export interface RedisBrokerLogger {
  error(object: object, message?: string): void;
  info?(object: object, message?: string): void;
}
