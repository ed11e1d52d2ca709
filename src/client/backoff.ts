/**
 * The delay before a retry: "full jitter", a uniformly random delay below the exponential bound,
 * so a thousand clients dropped by one server restart do not come back in lockstep.
 */
import type { Backoff } from './types.js';

export function backoffDelay(attempt: number, delays: Backoff, random = Math.random): number {
  const { minDelayMs, maxDelayMs } = delays;
  return Math.floor(random() * Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(attempt, 30)));
}
