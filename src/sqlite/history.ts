/** History reads: what a channel keeps on disk, answered by the shared history rule. */

import { answerHistory } from '../broker/history.js';
import type { HistoryQuery, HistoryResult, Publication } from '../broker/types.js';
import type { ChannelState, HistoryRow, Stored } from './state.js';
import type { Statements } from './statements.js';

function decode(channel: string, epoch: string, row: HistoryRow): Publication {
  const stored = JSON.parse(row.body) as Stored;
  return { ...stored, channel, offset: row.seq, epoch, time: row.time };
}

/** The channel's history (its row on disk), showing only what is on disk. */
export function readHistory(
  sql: Statements,
  channel: string,
  s: ChannelState,
  query: HistoryQuery,
): HistoryResult {
  const position = { offset: s.durable, epoch: s.epoch };
  const since = query.since;
  // Another epoch, ahead of the channel, or nothing missed: the rule answers without rows.
  if (since && (since.epoch !== s.epoch || since.offset >= s.durable))
    return answerHistory(position, [], query);
  const cutoff = Date.now() - s.ttlMs;
  const limit = query.limit ?? -1;
  const toPublication = (row: HistoryRow) => decode(channel, s.epoch, row);
  if (!since) {
    const rows = limit === 0 ? [] : sql.keptNewest.all(s.id, s.floor, s.durable, cutoff, limit);
    return answerHistory(position, rows.reverse().map(toPublication), query);
  }
  // The oldest kept says whether the first missed one is still there; then only what follows.
  // (A rolled-up stream's end starts where it `covers` from.)
  const row = sql.keptFirst.get(s.id, s.floor, s.durable, cutoff);
  const first = row && toPublication(row);
  if (!first || (first.covers ?? first.offset) > since.offset + 1)
    return answerHistory(position, first ? [first] : [], query);
  const after = sql.keptAfter
    .all(s.id, since.offset, s.floor, s.durable, cutoff, limit)
    .map(toPublication);
  const kept = first.offset <= since.offset ? [first, ...after] : after;
  return answerHistory(position, kept, query);
}
