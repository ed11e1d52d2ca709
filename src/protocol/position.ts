import type { StreamPosition } from './frames.js';

/**
 * The position rule, the one place that says where a publication stands relative to what a
 * receiver has seen. Within an epoch a channel's offsets are 1, 2, 3, …, so every hop can tell:
 *
 * - `next`: offset is exactly one past the last seen, same epoch — deliver it.
 * - `seen`: offset at or below the last seen, same epoch — a repeat, or (if it is not the same
 *   publication) a source that rolled back; the hop decides which by what it knows.
 * - `jump`: offset further ahead, same epoch — something in between was missed.
 * - `epoch`: another epoch — the source lost the channel's history; nothing before carries over.
 *
 * With no position yet, anything is `next`: the first publication a receiver sees sets it.
 *
 * A publication that `covers` offsets (a finished stream's roll-up, standing in history for its
 * chunks `covers`…`offset - 1`) is `next` for a receiver whose next offset falls anywhere in
 * `covers`…`offset`: it holds everything from there on, so one that had part of the stream
 * takes the rest from it, without a gap or a repeat.
 */
export type Step = 'next' | 'seen' | 'jump' | 'epoch';

export function step(
  last: StreamPosition | undefined,
  offset: number,
  epoch: string,
  covers = offset,
): Step {
  if (last === undefined) return 'next';
  if (epoch !== last.epoch) return 'epoch';
  if (offset <= last.offset) return 'seen';
  return covers <= last.offset + 1 ? 'next' : 'jump';
}
