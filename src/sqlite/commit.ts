/**
 * One group's transaction: inserts the new channels' rows, then the group's publications, their
 * idempotency keys and the trimming they push out; on failure, puts the cached state back.
 */

import { latestCopy } from '../broker/history.js';
import type { Publication } from '../broker/types.js';
import type { Database } from './driver.js';
import type { Batch, ChannelState, Op, PublishOp } from './state.js';
import type { Statements } from './statements.js';
import { TRIM_SLACK, trim } from './trim.js';

export interface CommitContext {
  db: Database;
  sql: Statements;
  /** Channels created in memory whose rows this commit inserts (removed once it succeeds). */
  unsaved: Set<ChannelState>;
  /** Channels whose trim ran out of budget: upkeep goes on with them. */
  backlog: Set<string>;
  /** How long an idempotency key is remembered. */
  windowMs: number;
}

/** Commits the operations as one transaction; throws (all undone) if it cannot. */
export function commit(ctx: CommitContext, ops: Op[]): Batch {
  const { db, sql, unsaved, backlog, windowMs } = ctx;
  const now = Date.now();
  const undo = new Map<
    ChannelState,
    Pick<ChannelState, 'offset' | 'floor' | 'ttlMs' | 'lastTime' | 'holes' | 'holed'>
  >();
  const created: ChannelState[] = [];
  const touched = new Set<ChannelState>();
  const touchedHistory = new Set<ChannelState>();
  sql.begin.run();
  try {
    for (const s of unsaved) {
      const { lastInsertRowid } = sql.channelInsert.run(
        s.name,
        s.epoch,
        s.offset,
        s.floor,
        s.ttlMs,
        s.lastTime,
        now,
      );
      s.id = Number(lastInsertRowid);
      created.push(s);
    }
    for (const op of ops) {
      if (op.kind === 'create') continue;
      const s = op.state;
      if (op.key !== undefined) {
        const seen = sql.keyGet.get(s.id, op.key, now);
        if (seen) {
          op.result = { offset: seen.seq, epoch: seen.epoch, duplicate: true };
          continue;
        }
      }
      if (!undo.has(s))
        undo.set(s, {
          offset: s.offset,
          floor: s.floor,
          ttlMs: s.ttlMs,
          lastTime: s.lastTime,
          holes: s.holes.slice(),
          holed: s.holed,
        });
      const time = Math.max(now, s.lastTime);
      const publication: Publication = {
        channel: s.name,
        event: op.input.event,
        data: op.input.data,
        offset: op.ephemeral ? s.offset : s.offset + 1,
        epoch: s.epoch,
        time,
      };
      if (op.ephemeral) publication.ephemeral = true;
      if (op.input.user !== undefined) publication.user = op.input.user;
      if (op.input.exceptConnection !== undefined)
        publication.exceptConnection = op.input.exceptConnection;
      if (op.input.stream !== undefined) publication.stream = op.input.stream;
      if (!op.ephemeral) {
        s.offset = publication.offset;
        s.lastTime = time;
        touched.add(s);
        const history = op.history;
        if (history) {
          const compacted = op.compact && compacts(sql, s, op.compact);
          if (compacted) {
            op.compacted = op.compact!.run;
            publication.covers = op.compact!.run.from;
          }
          sql.insert.run(s.id, s.offset, time, compacted ? op.compact!.body : op.body);
          s.ttlMs = history.ttlMs;
          touchedHistory.add(s);
          // What it pushes out goes now, so the table never holds more than the history plus
          // this row, however many a commit carries. A floor that jumps (history made
          // smaller) deletes a bounded slice; the backlog goes on in upkeep.
          const previous = s.floor;
          s.floor = floorFor(s, history.size);
          if (s.floor > previous) {
            sql.deleteRange.run(s.id, Math.max(previous, s.floor - TRIM_SLACK), s.floor);
            if (s.floor - previous > TRIM_SLACK) backlog.add(s.name);
          }
        }
      }
      if (op.latest) keepLatest(sql, publication, op.latest.maxEvents, now + op.latest.ttlMs);
      if (op.key !== undefined)
        sql.keyPut.run(s.id, op.key, publication.offset, s.epoch, now + windowMs);
      op.result = { offset: publication.offset, epoch: s.epoch, duplicate: false };
      op.publication = publication;
    }
    for (const s of touched)
      sql.channelUpdate.run(s.offset, s.floor, s.ttlMs, s.lastTime, now, s.id);
    // What aged out of these channels' history, a bounded slice each; the rest in upkeep.
    for (const s of touchedHistory)
      if (trim(sql, s.id, s.floor, s.ttlMs, now, TRIM_SLACK) === TRIM_SLACK) backlog.add(s.name);
    sql.commit.run();
  } catch (error) {
    if (db.inTransaction) {
      try {
        sql.rollback.run();
      } catch {
        // SQLite rolled back already.
      }
    }
    for (const [s, before] of undo) Object.assign(s, before);
    for (const s of created) s.id = 0;
    for (const op of ops) {
      if (op.kind !== 'publish') continue;
      delete op.result;
      delete op.publication;
      delete op.compacted;
    }
    throw error;
  }
  for (const s of created) unsaved.delete(s);
  return { ops, created };
}

/**
 * Whether a stream's end replaces its run: it takes the run's last offset plus one in the run's
 * epoch, and every row of the run still kept is the stream's own. The run is then a hole history
 * does not count; its rows are deleted once the end is on disk (until then a history read shows
 * the chunks beside the end, which covers them: harmless, never a gap).
 */
function compacts(
  sql: Statements,
  s: ChannelState,
  compact: NonNullable<PublishOp['compact']>,
): boolean {
  const { run, own } = compact;
  if (run.epoch !== s.epoch || s.offset !== run.to + 1 || run.from > run.to) return false;
  if (sql.foreign.get(s.id, run.from, run.to, own)!.n > 0) return false;
  const from = Math.max(run.from, s.floor);
  if (from <= run.to) {
    s.holes.push({ from, to: run.to });
    s.holed += run.to - from + 1;
  }
  return true;
}

/**
 * The lowest offset history keeps, counting rows (publications kept), not offsets: the newest
 * `size` rows, the holes rolled-up streams left among them not counted.
 */
function floorFor(s: ChannelState, size: number): number {
  let floor = s.floor;
  let excess = s.offset - floor + 1 - s.holed - size;
  while (excess > 0) {
    const hole = s.holes[0];
    if (!hole || hole.from - floor >= excess) return floor + excess;
    excess -= hole.from - floor;
    floor = hole.to + 1;
    s.holed -= hole.to - hole.from + 1;
    s.holes.shift();
  }
  return floor;
}

/** Keeps the publication as its event's latest value; the channel's oldest names go past `max`. */
function keepLatest(sql: Statements, publication: Publication, max: number, expiresAt: number) {
  const { channel, ...kept } = latestCopy(publication);
  sql.latestRenew.run(expiresAt, channel);
  sql.latestPut.run({
    channel,
    event: publication.event,
    expiresAt,
    publication: JSON.stringify(kept),
  });
  sql.latestEvict.run({ channel, keep: max });
}
