/** The broker's prepared SQL statements, prepared once per open file. */

import type { Database } from './driver.js';
import type { ChannelRow, HistoryRow } from './state.js';

export type Statements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database) {
  return {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    channelByName: db.prepare<ChannelRow>('SELECT * FROM channels WHERE name = ?'),
    channelInsert: db.prepare(
      'INSERT INTO channels (name, epoch, last_seq, floor, ttl_ms, last_time, active_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    channelUpdate: db.prepare(
      'UPDATE channels SET last_seq = ?, floor = ?, ttl_ms = ?, last_time = ?, active_at = ? WHERE id = ?',
    ),
    channelDelete: db.prepare('DELETE FROM channels WHERE id = ?'),
    channelsAfter: db.prepare<ChannelRow>(
      'SELECT * FROM channels WHERE id > ? ORDER BY id LIMIT ?',
    ),
    insert: db.prepare('INSERT INTO publications (channel, seq, time, body) VALUES (?, ?, ?, ?)'),
    oldest: db.prepare<{ seq: number; time: number }>(
      'SELECT seq, time FROM publications WHERE channel = ? ORDER BY seq LIMIT 1',
    ),
    firstFresh: db.prepare<{ seq: number }>(
      'SELECT seq FROM publications WHERE channel = ? AND seq >= ? AND seq < ? AND time > ? ORDER BY seq LIMIT 1',
    ),
    deleteBelow: db.prepare('DELETE FROM publications WHERE channel = ? AND seq < ?'),
    deleteRange: db.prepare('DELETE FROM publications WHERE channel = ? AND seq >= ? AND seq < ?'),
    any: db.prepare('SELECT 1 FROM publications WHERE channel = ? LIMIT 1'),
    // Rows of a run that are not the stream's own (their body lacks its marker's start).
    foreign: db.prepare<{ n: number }>(
      'SELECT count(*) AS n FROM publications WHERE channel = ? AND seq >= ? AND seq <= ? AND instr(body, ?) = 0',
    ),
    keptFirst: db.prepare<HistoryRow>(
      'SELECT seq, time, body FROM publications WHERE channel = ? AND seq >= ? AND seq <= ? AND time > ? ORDER BY seq LIMIT 1',
    ),
    keptAfter: db.prepare<HistoryRow>(
      'SELECT seq, time, body FROM publications WHERE channel = ? AND seq > ? AND seq >= ? AND seq <= ? AND time > ? ORDER BY seq LIMIT ?',
    ),
    keptNewest: db.prepare<HistoryRow>(
      'SELECT seq, time, body FROM publications WHERE channel = ? AND seq >= ? AND seq <= ? AND time > ? ORDER BY seq DESC LIMIT ?',
    ),
    // A channel's values lapse together: each one kept renews them all (a handful of rows).
    latestPut: db.prepare(
      `INSERT INTO latest (channel, event, rank, expires_at, publication)
       VALUES (@channel, @event, coalesce((SELECT max(rank) FROM latest WHERE channel = @channel), 0) + 1, @expiresAt, @publication)
       ON CONFLICT (channel, event) DO UPDATE SET rank = excluded.rank, expires_at = excluded.expires_at, publication = excluded.publication`,
    ),
    latestRenew: db.prepare('UPDATE latest SET expires_at = ? WHERE channel = ?'),
    // Everything from the (max + 1)-th newest down: the least recently updated names.
    latestEvict: db.prepare(
      `DELETE FROM latest WHERE channel = @channel AND rank <= (
         SELECT rank FROM latest WHERE channel = @channel ORDER BY rank DESC LIMIT 1 OFFSET @keep)`,
    ),
    latestOf: db.prepare<{ publication: string }>(
      'SELECT publication FROM latest WHERE channel = ? AND expires_at > ? ORDER BY rank',
    ),
    latestExpire: db.prepare(
      'DELETE FROM latest WHERE rowid IN (SELECT rowid FROM latest WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)',
    ),
    keyGet: db.prepare<{ seq: number; epoch: string }>(
      'SELECT seq, epoch FROM idempotency WHERE channel = ? AND key = ? AND expires_at > ?',
    ),
    keyPut: db.prepare(
      `INSERT INTO idempotency (channel, key, seq, epoch, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (channel, key) DO UPDATE SET seq = excluded.seq, epoch = excluded.epoch, expires_at = excluded.expires_at`,
    ),
    keysExpire: db.prepare(
      'DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)',
    ),
    // A page's worth, under a channel id that never exists, expired at once: upkeep deletes it.
    probe: db.prepare(
      "INSERT OR REPLACE INTO idempotency (channel, key, seq, epoch, expires_at) VALUES (0, 'probe', 0, zeroblob(?), 0)",
    ),
  };
}
