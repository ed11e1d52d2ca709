/** The database file's layout: creating it, recognising it, and migrating older layouts. */

import type { Database } from './driver.js';

/**
 * The file's layout. `PRAGMA application_id` says the file is Switchboard's; `PRAGMA user_version`
 * says which layout it has. A file of an older layout is migrated when opened (one transaction);
 * a file of a newer one is refused, never read with assumptions it breaks.
 */

/** The layout this version writes and reads. */
export const SCHEMA_VERSION = 2;
/** 'SWBD': marks a file as Switchboard's, so another application's database is never taken over. */
export const APPLICATION_ID = 0x53574244;

/**
 * v2 adds to v1:
 *
 * latest: each channel's latest publication per event name (channels with `latest`), keyed by
 *   the channel's name, apart from its row: a snapshot outlives the channel's history and epoch.
 *   `rank` grows with each update (the lowest is evicted first when a channel keeps too many
 *   names); `expires_at` is the same for all of a channel's values (renewed by each one kept).
 *   `publication` is its JSON without the channel.
 */
const V2 = `
CREATE TABLE latest (
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  rank INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  publication TEXT NOT NULL,
  PRIMARY KEY (channel, event)
);
CREATE INDEX latest_rank ON latest (channel, rank);
CREATE INDEX latest_expiry ON latest (expires_at);
`;

/**
 * v1.
 *
 * channels: one row per channel the broker knows. `last_seq` is the last offset handed out in
 *   `epoch`; history keeps offsets from `floor` (by size) and none older than `ttl_ms`.
 *   `last_time` keeps publication times from going back within a channel (the age cut is then a
 *   prefix); `active_at` is the last publication, for forgetting idle channels. AUTOINCREMENT:
 *   a forgotten channel's id is never reused, so nothing left of it can be mistaken for a newer
 *   channel's.
 * publications: the history, one row per kept publication; `body` is its JSON without the
 *   channel, offset, epoch and time. Only rows history no longer keeps are deleted (below the
 *   channel's floor, or aged out, which is a prefix as times never go back): what it keeps has
 *   no holes. Reads apply the floor and the age themselves, so rows awaiting deletion are never
 *   served.
 * idempotency: a publish's key and the position it got, until `expires_at`.
 */
const V1 = `
CREATE TABLE channels (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  epoch TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  floor INTEGER NOT NULL,
  ttl_ms INTEGER NOT NULL,
  last_time INTEGER NOT NULL,
  active_at INTEGER NOT NULL
);
CREATE TABLE publications (
  id INTEGER PRIMARY KEY,
  channel INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  time INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE UNIQUE INDEX publications_position ON publications (channel, seq);
CREATE TABLE idempotency (
  channel INTEGER NOT NULL,
  key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  epoch TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (channel, key)
);
CREATE INDEX idempotency_expiry ON idempotency (expires_at);
`;

/**
 * v0, the first layout (user_version 0 with Switchboard's application_id): channels keyed by
 * name with their history options, history rows keyed by channel name holding the whole
 * publication (time included) as JSON, and no idempotency table (keys were kept in memory).
 * Kept here so a v0 file can be made, and migrated, in tests.
 */
export const V0 = `
CREATE TABLE channels (
  name TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  history_size INTEGER NOT NULL,
  history_ttl_ms INTEGER NOT NULL
);
CREATE TABLE history (
  channel TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  publication TEXT NOT NULL,
  PRIMARY KEY (channel, "offset")
);
`;

/** Rows copied per statement while migrating, so no statement holds a whole table in memory. */
const MIGRATION_PAGE = 1_000;

/** migrations[v] turns layout v into v + 1, inside the opening transaction. */
const migrations: ((db: Database, now: number) => void)[] = [
  function v0ToV1(db, now) {
    db.exec(
      'ALTER TABLE channels RENAME TO channels_v0; ALTER TABLE history RENAME TO history_v0;',
    );
    db.exec(V1);
    db.prepare(
      `INSERT INTO channels (name, epoch, last_seq, floor, ttl_ms, last_time, active_at)
       SELECT c.name, c.epoch, c."offset",
              coalesce((SELECT min(h."offset") FROM history_v0 h WHERE h.channel = c.name), c."offset" + 1),
              c.history_ttl_ms, 0, ?
       FROM channels_v0 c ORDER BY c.rowid`,
    ).run(now);
    const page = db.prepare<{ rowid: number; id: number; seq: number; publication: string }>(
      `SELECT h.rowid AS rowid, c.id AS id, h."offset" AS seq, h.publication AS publication
       FROM history_v0 h JOIN channels c ON c.name = h.channel
       WHERE h.rowid > ? ORDER BY h.rowid LIMIT ?`,
    );
    const insert = db.prepare(
      'INSERT INTO publications (channel, seq, time, body) VALUES (?, ?, ?, ?)',
    );
    const lastTime = db.prepare('UPDATE channels SET last_time = max(last_time, ?) WHERE id = ?');
    for (let after = 0; ; ) {
      const rows = page.all(after, MIGRATION_PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        const { time, ...body } = JSON.parse(row.publication) as { time: number };
        insert.run(row.id, row.seq, time, JSON.stringify(body));
        lastTime.run(time, row.id);
      }
      after = rows[rows.length - 1]!.rowid;
    }
    db.exec('DROP TABLE history_v0; DROP TABLE channels_v0;');
  },
  function v1ToV2(db) {
    db.exec(V2);
  },
];

/**
 * Checks the file is Switchboard's and of a layout this version reads, creates the layout in an
 * empty file, migrates an older one. One transaction: a failed migration leaves the file as it
 * was. Throws, naming the file, for anything it will not use.
 */
export function prepareSchema(db: Database, file: string, now: number): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const applicationId = Number(db.pragma('application_id', { simple: true }));
    let version = Number(db.pragma('user_version', { simple: true }));
    const tables = db
      .prepare<{ name: string }>(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
      )
      .all();
    if (applicationId === 0 && version === 0 && tables.length === 0) {
      db.exec(V1);
      db.exec(V2);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } else if (applicationId !== APPLICATION_ID) {
      throw new Error(
        `sqliteBroker: ${file} is an SQLite database of another application ` +
          `(application_id ${applicationId}, tables: ${tables.map((t) => t.name).join(', ') || 'none'}); ` +
          'refusing to use it. Give the broker a file of its own.',
      );
    } else if (version > SCHEMA_VERSION) {
      throw new Error(
        `sqliteBroker: ${file} was written by a newer version of Switchboard (schema v${version}; ` +
          `this version reads up to v${SCHEMA_VERSION}). Upgrade Switchboard; the file was not changed.`,
      );
    } else {
      for (; version < SCHEMA_VERSION; version++) {
        migrations[version]!(db, now);
        db.pragma(`user_version = ${version + 1}`);
      }
    }
    db.exec('COMMIT');
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
