/**
 * Reading the kept frames back: the panel's filter (applied on the server, before anything is
 * sent), the newest matching frames in capture order, and one frame by its sequence number.
 */
import type { Tracked } from './connections.js';
import type { KeptFrame } from './kept-frame.js';
import type { ConnectionRecord, Filter, FrameRecord } from './types.js';
import { frameView } from './view.js';

export function matches(
  filter: Filter,
  frame: FrameRecord,
  connection: ConnectionRecord | undefined,
): boolean {
  if (frame.control && !filter.control) return false;
  if (filter.connection && frame.connection !== filter.connection) return false;
  if (filter.direction && frame.direction !== filter.direction) return false;
  if (filter.channel && frame.channel !== filter.channel) return false;
  if (filter.event && frame.event !== filter.event) return false;
  if (filter.user && connection?.user !== filter.user) return false;
  if (filter.text && !frame.text?.toLowerCase().includes(filter.text.toLowerCase())) return false;
  return true;
}

/** The newest `limit` frames that match, oldest first. */
export function findFrames(
  connections: Iterable<Tracked>,
  filter: Filter,
  limit: number,
  hexPreviewBytes: number,
): FrameRecord[] {
  const out: FrameRecord[] = [];
  for (const tracked of connections) {
    for (const kept of tracked.frames) {
      const frame = frameView(kept, tracked.record.id, hexPreviewBytes);
      if (matches(filter, frame, tracked.record)) out.push(frame);
    }
  }
  out.sort((a, b) => a.seq - b.seq);
  return out.slice(-limit);
}

export function findFrame(
  connections: Iterable<Tracked>,
  seq: number,
  hexPreviewBytes: number,
): FrameRecord | undefined {
  const found = findKept(connections, seq);
  return found && frameView(found.kept, found.tracked.record.id, hexPreviewBytes);
}

/** The kept frame with sequence number `seq`, and its connection. */
export function findKept(
  connections: Iterable<Tracked>,
  seq: number,
): { tracked: Tracked; kept: KeptFrame } | undefined {
  for (const tracked of connections) {
    for (const kept of tracked.frames) if (kept.seq === seq) return { tracked, kept };
  }
  return undefined;
}
