/**
 * Which connections the inspector tracks: every one by default, none that the app's `track`
 * predicate opts out, and with `sample: N` one in N of the rest (the 1st, the N+1th…), so a busy
 * gateway can be watched at a fraction of the cost. Decided once, when a connection opens.
 */
import type { IncomingMessage } from 'node:http';

export interface TrackingOptions {
  /** Return false to leave a connection out (health checks, internal clients…). */
  track?: (request: IncomingMessage) => boolean;
  /** Track one connection in `sample` (of those `track` lets through). Default 1: all. */
  sample?: number;
}

/** Whether to track a connection, from its upgrade request. Never throws. */
export type TrackingPolicy = (request: IncomingMessage) => boolean;

export function trackingPolicy(options: TrackingOptions = {}): TrackingPolicy {
  const { track } = options;
  const every = Math.max(1, Math.floor(options.sample ?? 1));
  if (!track && every === 1) return () => true;
  let seen = 0;
  return (request) => {
    if (track) {
      try {
        if (!track(request)) return false;
      } catch {
        // A throwing predicate must not take the server down: leave the connection untracked.
        return false;
      }
    }
    return seen++ % every === 0;
  };
}
