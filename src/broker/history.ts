import type { StreamPosition } from '../protocol/frames.js';
import type { CompactRun, HistoryQuery, HistoryResult, Publication } from './types.js';

/**
 * Answers a history query from what a channel keeps — the recovery rule every broker shares.
 * `kept` is oldest first, already stripped of publications past their age.
 *
 * Recoverable means: same epoch, and the first missed publication is still kept (or nothing
 * was missed). Anything else is `recovered: false`, never a partial replay passed off as whole.
 * A rolled-up stream's end stands for its offsets from `covers` on, so offsets missing between
 * kept publications are no loss: each kept one starts where the one before it ended.
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
  const oldest = kept[0];
  const oldestKept = oldest ? (oldest.covers ?? oldest.offset) : offset + 1;
  const complete = missed === 0 || oldestKept <= since.offset + 1;
  if (!complete) return { offset, epoch, publications: [], recovered: false };
  const after = kept.filter((p) => p.offset > since.offset);
  const publications = after.length > limit ? after.slice(0, limit) : after;
  // Nothing is lost, but `limit` cut the page short of the position (counted in publications,
  // not offsets: a rolled-up stream is one): the caller pages on from the last one.
  if (publications.length >= limit && (publications.at(-1)?.offset ?? since.offset) < offset)
    return { offset, epoch, publications, recovered: true, more: true };
  return { offset, epoch, publications, recovered: true };
}

/**
 * Compaction where history is an array (the memory broker), run as `end` gets its offset: drops
 * the stream's run from the tail of `kept` and stamps `covers`, only if `end` came right after
 * the run in its epoch and everything of the run still kept is the stream's own.
 */
export function compactKept(
  kept: Publication[],
  end: Publication,
  run: CompactRun | undefined,
): void {
  if (!run || run.epoch !== end.epoch || end.offset !== run.to + 1 || run.from > run.to) return;
  let at = kept.length;
  while (at > 0 && kept[at - 1]!.offset >= run.from) at--;
  for (let i = at; i < kept.length; i++) if (kept[i]!.stream?.id !== end.stream?.id) return;
  kept.splice(at);
  end.covers = run.from;
}

/**
 * How every stored publication of stream `id` begins its marker, as JSON.stringify writes a
 * `{ id, seq, … }` marker: stores that keep publications as JSON text (Redis, SQLite) check a
 * run's entries with it before dropping them for a roll-up.
 */
export function streamStart(id: string): string {
  return `"stream":{"id":${JSON.stringify(id)},`;
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
