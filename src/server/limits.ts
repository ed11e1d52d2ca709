import { DEFAULTS } from './defaults.js';
import type { LimitOptions } from './types.js';

export type { LimitOptions };

/**
 * Per-connection and per-server limits: the options, their resolution against the defaults, and
 * the token bucket that enforces the message rate.
 */

export type Limits = Required<Omit<LimitOptions, 'allowedOrigins'>> & {
  allowedOrigins: string[] | undefined;
};

/** Fills every unset limit from DEFAULTS.limits (src/server/defaults.ts). */
export function resolveLimits(options: LimitOptions = {}): Limits {
  const defaults = DEFAULTS.limits;
  const maxMessageBytes = options.maxMessageBytes ?? defaults.maxMessageBytes;
  const messagesPerSecond = options.messagesPerSecond ?? defaults.messagesPerSecond;
  return {
    maxMessageBytes,
    hardMaxMessageBytes: Math.max(
      options.hardMaxMessageBytes ?? maxMessageBytes * defaults.hardMaxMessageFactor,
      maxMessageBytes,
    ),
    messagesPerSecond,
    burst: options.burst ?? messagesPerSecond * defaults.burstFactor,
    maxRateLimited: options.maxRateLimited ?? defaults.maxRateLimited,
    maxBatch: options.maxBatch ?? defaults.maxBatch,
    maxInFlight: options.maxInFlight ?? defaults.maxInFlight,
    maxSubscriptions: options.maxSubscriptions ?? defaults.maxSubscriptions,
    maxStreams: options.maxStreams ?? defaults.maxStreams,
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? defaults.maxConnectionsPerUser,
    maxConnections: options.maxConnections ?? defaults.maxConnections,
    maxQueueBytes: options.maxQueueBytes ?? defaults.maxQueueBytes,
    authTimeoutMs: options.authTimeoutMs ?? defaults.authTimeoutMs,
    allowedOrigins: options.allowedOrigins,
    closeTimeoutMs: options.closeTimeoutMs ?? defaults.closeTimeoutMs,
  };
}

/**
 * A token bucket that needs no timer: tokens are refilled lazily from the clock when spent.
 * Kept as plain fields on the connection's object to cost nothing per idle connection.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly capacity: number,
  ) {
    this.tokens = capacity;
    this.last = Date.now();
  }

  take(count = 1): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < count) return false;
    this.tokens -= count;
    return true;
  }
}
