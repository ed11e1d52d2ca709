export interface ReconnectOptions {
  /** Upper bound of the first retry's delay. Default 500 ms. */
  minDelayMs?: number;
  /** Cap of the exponential growth. Default 10 s. */
  maxDelayMs?: number;
  /**
   * Give up (state 'closed') after this many failed attempts in a row. Default: never. A
   * connection dropped within 5 s of being established counts as failed: a server that accepts
   * and drops at once is retried with growing delays, like one that refuses.
   */
  maxAttempts?: number;
}

/**
 * "Full jitter": a uniformly random delay below the exponential bound, so a thousand clients
 * dropped by one server restart do not come back in lockstep.
 */
export function backoffDelay(
  attempt: number,
  options: ReconnectOptions,
  random = Math.random,
): number {
  const min = options.minDelayMs ?? 500;
  const max = options.maxDelayMs ?? 10_000;
  return Math.floor(random() * Math.min(max, min * 2 ** Math.min(attempt, 30)));
}
