/**
 * Pairs frames the way the panel shows them: a reply or error carries the latency of the request
 * it answers, and a pong gives its connection's round-trip time to the last ping.
 */
import type { Tracked } from './connections.js';
import type { KeptFrame } from './kept-frame.js';

/** Notes `frame` (just kept) against its connection's open requests and last ping. */
export function pair(tracked: Tracked, frame: KeptFrame, maxPending: number): void {
  if (frame.direction === 'in' && frame.id !== undefined && frame.type !== 'raw') {
    tracked.pending.set(frame.id, frame.time);
    if (tracked.pending.size > maxPending) {
      tracked.pending.delete(tracked.pending.keys().next().value!);
    }
  } else if (frame.direction === 'out' && frame.id !== undefined) {
    // A reply or an error (or, from another JSON protocol, any answer carrying the request's id).
    const sentAt = tracked.pending.get(frame.id);
    if (sentAt !== undefined) {
      frame.latencyMs = frame.time - sentAt;
      tracked.pending.delete(frame.id);
    }
  } else if (frame.direction === 'out' && frame.type === 'ping') {
    tracked.pingAt = frame.time;
  } else if (frame.direction === 'in' && frame.type === 'pong' && tracked.pingAt !== undefined) {
    tracked.record.rttMs = frame.time - tracked.pingAt;
    tracked.pingAt = undefined;
  }
}
