import type { StreamPosition } from '../protocol/frames.js';
import type { HistoryQuery, HistoryResult, Publication } from './types.js';

/**
 * Answers a history query from what a channel keeps — the recovery rule every broker shares.
 * `kept` is oldest first, already stripped of publications past their age.
 *
 * Recoverable means: same epoch, and the first missed publication is still kept (or nothing
 * was missed). Anything else is `recovered: false`, never a partial replay passed off as whole.
 */
export function answerHistory(
  position: StreamPosition,
  kept: readonly Publication[],
  query: HistoryQuery = {},
): HistoryResult {
  const { offset, epoch } = position;
  const limit = query.limit ?? Number.POSITIVE_INFINITY;
  const since = query.since;
  if (!since) {
    const publications = limit >= kept.length ? kept.slice() : kept.slice(-limit);
    return { offset, epoch, publications, recovered: true };
  }
  // A position from another epoch, or ahead of the channel (the store rolled back, or the
  // position is made up), cannot be recovered against: keeping it would drop what comes next.
  if (since.epoch !== epoch || since.offset > offset)
    return { offset, epoch, publications: [], recovered: false };
  const missed = offset - since.offset;
  const oldestKept = kept[0]?.offset ?? offset + 1;
  const complete = missed === 0 || oldestKept <= since.offset + 1;
  if (!complete) return { offset, epoch, publications: [], recovered: false };
  const after = kept.filter((p) => p.offset > since.offset);
  const publications = after.length > limit ? after.slice(0, limit) : after;
  // Nothing is lost, but `limit` cut the page: the caller pages on from the last one.
  if (publications.length < missed)
    return { offset, epoch, publications, recovered: true, more: true };
  return { offset, epoch, publications, recovered: true };
}

export function newEpoch(): string {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A latest value as `latest()` hands it out: for every subscriber, so without the connection
 * its publisher left out (`exceptConnection`), and without the store's internal id.
 */
export function latestCopy(publication: Publication): Publication {
  const copy = { ...publication };
  delete copy.exceptConnection;
  delete copy.id;
  return copy;
}
