/** Trimming one channel's history: deleting, in a bounded step, the oldest rows it no longer keeps. */

import type { Statements } from './statements.js';

/** Rows a publish or a commit deletes at most per channel beyond its own; more is upkeep's. */
export const TRIM_SLACK = 64;

/**
 * Deletes at most `budget` of a channel's oldest rows that history no longer keeps (below
 * `floor`, or older than `ttlMs`); returns how many it deleted. Always a prefix: history never
 * gets a hole.
 */
export function trim(
  sql: Statements,
  channel: number,
  floor: number,
  ttlMs: number,
  now: number,
  budget: number,
): number {
  const oldest = sql.oldest.get(channel);
  if (!oldest) return 0;
  const cutoff = now - ttlMs;
  if (oldest.seq >= floor && oldest.time > cutoff) return 0;
  const limit = oldest.seq + budget;
  let cut = Math.min(floor, limit);
  if (oldest.time <= cutoff) {
    const fresh = sql.firstFresh.get(channel, oldest.seq, limit, cutoff);
    cut = Math.max(cut, fresh ? fresh.seq : limit);
  }
  return sql.deleteBelow.run(channel, cut).changes;
}
