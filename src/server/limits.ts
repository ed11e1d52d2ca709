export interface LimitOptions {
  /** Larger messages get TOO_LARGE and the connection stays. Default 64 KiB. */
  maxMessageBytes?: number;
  /** Larger than this and ws closes the socket (1009) without reading it. Default 4× maxMessageBytes. */
  hardMaxMessageBytes?: number;
  /** Token bucket refill rate per connection, frames per second. Default 100. */
  messagesPerSecond?: number;
  /** Token bucket size: the burst allowed above the rate. Default 2× messagesPerSecond. */
  burst?: number;
  /** Frames refused for rate in a row before the connection is closed (4008). Default 100. */
  maxRateLimited?: number;
  /** Frames in one batched message. Default 100. */
  maxBatch?: number;
  /** Requests of one connection being processed at once (RPCs, publishes awaiting the broker). Default 64. */
  maxInFlight?: number;
  /** Channels one connection may be subscribed to. Default 128. */
  maxSubscriptions?: number;
  /** Streams one user may have open at once on this node. Default 16. */
  maxStreams?: number;
  /** Concurrent connections per user id (anonymous connections are not counted). Default 100. */
  maxConnectionsPerUser?: number;
  /** Connections on this server; further upgrades get HTTP 503. Default unlimited. */
  maxConnections?: number;
  /** Bytes waiting to be written to one socket before it counts as a slow consumer (4007). Default 1 MiB. */
  maxQueueBytes?: number;
  /** Time to send `connect` after the socket opens (4005). Default 10 s. */
  authTimeoutMs?: number;
  /** Origin header values allowed to upgrade; others get HTTP 403. Default: any. */
  allowedOrigins?: string[];
  /** How long `close()` waits for clients to finish the closing handshake. Default 5 s. */
  closeTimeoutMs?: number;
}

export type Limits = Required<Omit<LimitOptions, 'allowedOrigins'>> & {
  allowedOrigins: string[] | undefined;
};

export function resolveLimits(options: LimitOptions = {}): Limits {
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024;
  const messagesPerSecond = options.messagesPerSecond ?? 100;
  return {
    maxMessageBytes,
    hardMaxMessageBytes: Math.max(
      options.hardMaxMessageBytes ?? maxMessageBytes * 4,
      maxMessageBytes,
    ),
    messagesPerSecond,
    burst: options.burst ?? messagesPerSecond * 2,
    maxRateLimited: options.maxRateLimited ?? 100,
    maxBatch: options.maxBatch ?? 100,
    maxInFlight: options.maxInFlight ?? 64,
    maxSubscriptions: options.maxSubscriptions ?? 128,
    maxStreams: options.maxStreams ?? 16,
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? 100,
    maxConnections: options.maxConnections ?? Number.POSITIVE_INFINITY,
    maxQueueBytes: options.maxQueueBytes ?? 1024 * 1024,
    authTimeoutMs: options.authTimeoutMs ?? 10_000,
    allowedOrigins: options.allowedOrigins,
    closeTimeoutMs: options.closeTimeoutMs ?? 5_000,
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
