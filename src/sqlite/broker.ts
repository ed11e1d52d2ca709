import { closeSync, fdatasync, fsyncSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Delivery } from '../broker/delivery.js';
import { answerHistory, newEpoch } from '../broker/history.js';
import type {
  Broker,
  HistoryOptions,
  HistoryQuery,
  HistoryResult,
  PresenceMember,
  Publication,
  PublicationHandler,
  PublishInput,
  PublishOptions,
  PublishResult,
} from '../broker/types.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { type Database, Driver, type SqliteError } from './driver.js';
import { prepareSchema } from './schema.js';

export interface SqliteBrokerOptions {
  /**
   * The database file, created if missing (its directory must exist). One process, and one
   * broker in it, uses a file at a time: a second opener is refused.
   */
  file: string;
  /**
   * When a publish is acknowledged. 'full' (default): once its commit is on disk (the WAL is
   * fsynced): it survives the process being killed and the machine losing power. 'normal': once
   * committed to the WAL in the OS's cache: it survives the process being killed, not a machine
   * crash, which can lose the last publications and hand their offsets out again.
   */
  synchronous?: 'full' | 'normal';
  /** How long an idempotency key is remembered. Default 2 min. */
  idempotencyWindowMs?: number;
  /**
   * How long a channel with no publications, subscribers, presence or history left keeps its
   * offset and epoch. Default 5 min.
   */
  idleChannelTtlMs?: number;
  /**
   * How often background upkeep runs one bounded step: expired idempotency keys, history aged
   * out of idle channels, idle channels forgotten. Default 1 s.
   */
  sweepIntervalMs?: number;
  /**
   * A hard cap on the database file: past it, publishes fail with UNAVAILABLE (and `healthy()`
   * is false) until trimming frees room. Default: none (the history settings bound the file).
   */
  maxBytes?: number;
  /**
   * Runs SQLite's `quick_check` over the whole file at startup, so a damaged file fails startup
   * instead of failing publishes later. Default true; it reads the whole file once.
   */
  integrityCheck?: boolean;
  /** How long to wait for another process to let go of the file before refusing. Default 0. */
  lockTimeoutMs?: number;
  /** Told of failures in background upkeep (trimming, expiry). */
  onError?: (error: unknown) => void;
}

/** What a history row holds besides its channel, offset, epoch and time. */
type Stored = Pick<Publication, 'event' | 'data' | 'user' | 'exceptConnection' | 'stream'>;

interface ChannelRow {
  id: number;
  name: string;
  epoch: string;
  last_seq: number;
  floor: number;
  ttl_ms: number;
  last_time: number;
  active_at: number;
}

interface HistoryRow {
  seq: number;
  time: number;
  body: string;
}

interface ChannelState {
  readonly name: string;
  /** Its row; 0 until inserted. */
  id: number;
  readonly epoch: string;
  /** The last offset handed out (committed, perhaps not yet on disk). */
  offset: number;
  /** The last offset on disk: what positions and history show, so nothing unsynced is seen. */
  durable: number;
  /** History keeps offsets from here (by size)… */
  floor: number;
  /** …none older than this. */
  ttlMs: number;
  /** Publication times never go back within a channel, so the age cut is a prefix. */
  lastTime: number;
  /** Last publish, subscribe or unsubscribe here: idle channels are forgotten some time after. */
  activeAt: number;
  /** Its row is on disk: a position read now can be recovered against after a restart. */
  saved: boolean;
  /** Operations queued or waiting for their sync: the state must stay cached meanwhile. */
  pending: number;
}

interface PublishOp {
  kind: 'publish';
  state: ChannelState;
  input: PublishInput;
  /** Kept in history with these options, as this JSON; undefined: not kept. */
  history: HistoryOptions | undefined;
  body: string;
  key: string | undefined;
  ephemeral: boolean;
  resolve(result: PublishResult): void;
  reject(error: unknown): void;
  result?: PublishResult;
  /** Set when it was published (not a repeated key): fanned out once on disk. */
  publication?: Publication;
}

/** Waits for the channel's row to be on disk. */
interface CreateOp {
  kind: 'create';
  state: ChannelState;
  resolve(): void;
  reject(error: unknown): void;
}

type Op = PublishOp | CreateOp;

/** One commit's operations, in order, waiting for the fsync that makes them durable. */
interface Batch {
  ops: Op[];
  created: ChannelState[];
}

/** Operations in one transaction at most: a huge tick is committed in several, not one long pause. */
const MAX_OPS_PER_COMMIT = 5_000;
/** History rows one upkeep step deletes at most (and keys it expires). */
const TRIM_BATCH = 1_000;
/** Rows a publish or a commit deletes at most per channel beyond its own; more is upkeep's. */
const TRIM_SLACK = 64;
/** Channels one upkeep step visits. */
const CHANNELS_PER_STEP = 500;
/** WAL syncs running at once on libuv's thread pool (4 threads by default, shared with fs and dns). */
const MAX_SYNCS = 2;
/** The WAL is truncated back to this after a checkpoint if a large transaction grew it. */
const WAL_SIZE_LIMIT = 16 * 1024 * 1024;

/** Files open in this process, by device and inode: a second broker on one gets a clear refusal. */
const openFiles = new Set<string>();

function sqliteCode(error: unknown): string {
  const code = (error as Partial<SqliteError> | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why a file cannot be used, naming it, in words an operator can act on. */
function openError(file: string, error: unknown): Error {
  const message = messageOf(error);
  if (message.startsWith('sqliteBroker:')) return error as Error;
  const code = sqliteCode(error);
  let text: string;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    text = `${file} is in use by another process (${message}); one process at a time may use the file`;
  else if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT'))
    text =
      `${file} is corrupt or not an SQLite database (${message}). It was left as it is: ` +
      'restore it from a backup, or move it away to start with empty history';
  else if (code.startsWith('SQLITE_CANTOPEN'))
    text = `cannot open ${file} (${message}): does its directory exist, and may this process write there?`;
  else if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM'))
    text = `cannot write ${file} (${message}): the broker needs to write the file and its directory`;
  else text = `cannot use ${file}: ${message}`;
  return new Error(`sqliteBroker: ${text}`, { cause: error });
}

/** Opens, locks, checks and (if need be) migrates the file. */
function openDatabase(file: string, options: SqliteBrokerOptions): { db: Database; id: string } {
  let db: Database;
  try {
    db = new Driver(file, { timeout: options.lockTimeoutMs ?? 0 });
  } catch (error) {
    const code = sqliteCode(error);
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_NOTADB'))
      throw openError(file, error);
    throw new Error(`sqliteBroker: cannot open ${file} (${messageOf(error)})`, { cause: error });
  }
  try {
    const { dev, ino } = statSync(file);
    const id = `${dev}:${ino}`;
    if (openFiles.has(id))
      throw new Error(
        `sqliteBroker: ${file} is already open in this process; one broker per file (share that broker)`,
      );
    // Exclusive before WAL: the lock is taken on the first access and held until close, and the
    // WAL index lives in this process's memory, not a shared file. Nobody else reads or writes.
    db.pragma('locking_mode = EXCLUSIVE');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`sqliteBroker: ${file} could not be put in WAL mode`);
    if (options.integrityCheck !== false) {
      const problems = (db.pragma('quick_check') as { quick_check: string }[]).map(
        (row) => row.quick_check,
      );
      if (problems[0] !== 'ok')
        throw new Error(
          `sqliteBroker: ${file} is corrupt (quick_check: ${problems.slice(0, 3).join('; ')}). ` +
            'It was left as it is: restore it from a backup, or move it away to start with empty history',
        );
    }
    // Commits write the WAL without waiting for the disk; the broker fsyncs the WAL itself, off
    // the event loop, before it acknowledges them ('full'). Checkpoints still sync both files.
    db.pragma('synchronous = NORMAL');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    if (options.maxBytes !== undefined) {
      const pageSize = Number(db.pragma('page_size', { simple: true }));
      db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`);
    }
    prepareSchema(db, file, Date.now());
    return { db, id };
  } catch (error) {
    db.close();
    throw openError(file, error);
  }
}

/**
 * Durable on one machine: offsets, history and idempotency keys in an SQLite file (WAL mode),
 * so a restart — even after `kill -9` — comes back to the same epochs and offsets, and clients
 * that reconnect recover exactly what they missed. Presence stays in memory: it is ephemeral.
 *
 * Publishes are committed in groups: those of one event-loop tick go into one transaction; the
 * WAL is then fsynced on libuv's thread pool while the next ticks commit theirs, and only then
 * are the group's publishers answered and its publications fanned out, in order. Reads show only
 * what is on disk. History is trimmed as it is read (size and age) and deleted in bounded steps,
 * so no pause grows with the table and the file stays as large as the history settings make it
 * (SQLite reuses freed pages; no VACUUM). One process only: the file is locked exclusively.
 */
export function sqliteBroker(options: SqliteBrokerOptions): Broker {
  const file = options.file;
  if (typeof file !== 'string' || file === '' || file === ':memory:' || file.startsWith('file:'))
    throw new Error('sqliteBroker: `file` must be the path of a database file');
  const fsyncs = (options.synchronous ?? 'full') === 'full';
  const windowMs = options.idempotencyWindowMs ?? 120_000;
  const idleMs = options.idleChannelTtlMs ?? 5 * 60_000;
  const sweepMs = options.sweepIntervalMs ?? 1_000;
  const { db, id: fileId } = openDatabase(file, options);
  openFiles.add(fileId);
  const startedAt = Date.now();

  const sql = {
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
    keptFirst: db.prepare<HistoryRow>(
      'SELECT seq, time, body FROM publications WHERE channel = ? AND seq >= ? AND seq <= ? AND time > ? ORDER BY seq LIMIT 1',
    ),
    keptAfter: db.prepare<HistoryRow>(
      'SELECT seq, time, body FROM publications WHERE channel = ? AND seq > ? AND seq >= ? AND seq <= ? AND time > ? ORDER BY seq LIMIT ?',
    ),
    keptNewest: db.prepare<HistoryRow>(
      'SELECT seq, time, body FROM publications WHERE channel = ? AND seq >= ? AND seq <= ? AND time > ? ORDER BY seq DESC LIMIT ?',
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
  const pageSize = Number(db.pragma('page_size', { simple: true }));

  /** Channels this process has touched, by name; the file has the rest. */
  const cache = new Map<string, ChannelState>();
  /** Channels created in memory whose rows the next commit inserts. */
  const unsaved = new Set<ChannelState>();
  /** connection → member and when the entry lapses unless refreshed, per channel. */
  const presence = new Map<string, Map<string, { member: PresenceMember; expiresAt: number }>>();

  let queue: Op[] = [];
  let flushScheduled = false;
  /** Committed, no sync started since. */
  let unsynced: Batch[] = [];
  /** Committed, a sync started since: delivered in order as syncs complete. */
  const syncing: Batch[] = [];
  let syncsInFlight = 0;
  let drainWaiters: (() => void)[] = [];
  let closed = false;
  /** The last commit failed (disk full, I/O error): unhealthy until one succeeds. */
  let writeFailure: Error | undefined;
  /** An fsync failed: what is on disk is unknown, so the broker takes no more publishes. */
  let broken: Error | undefined;

  // Fan-out is in-process, in order, right after each group is on disk: the core never sees a
  // jump here, so `read` gives only the position (a catch-up that ever needed more would reset
  // the channel's subscribers, which resync through `history`: told, never silent).
  const delivery = new Delivery({
    read: async (channel) => {
      const s = await ensure(channel);
      return { position: { offset: s.durable, epoch: s.epoch }, kept: [] };
    },
  });

  function unavailable(message: string): SwitchboardError {
    return new SwitchboardError(ErrorCode.UNAVAILABLE, `Broker unavailable: ${message}`);
  }

  function assertOpen(): void {
    if (closed) throw unavailable('Broker is closed');
  }

  function assertWritable(): void {
    assertOpen();
    if (broken) throw unavailable(`SQLite file ${file} could not be synced; restart the process`);
  }

  function stateOf(channel: string): ChannelState {
    let s = cache.get(channel);
    if (s) return s;
    const row = sql.channelByName.get(channel);
    if (row) {
      s = {
        name: channel,
        id: row.id,
        epoch: row.epoch,
        offset: row.last_seq,
        durable: row.last_seq,
        floor: row.floor,
        ttlMs: row.ttl_ms,
        lastTime: row.last_time,
        activeAt: Math.max(row.active_at, startedAt),
        saved: true,
        pending: 0,
      };
    } else {
      // Kept like any other from the next commit, so whoever reads its position can recover
      // against it later, across restarts too.
      s = {
        name: channel,
        id: 0,
        epoch: newEpoch(),
        offset: 0,
        durable: 0,
        floor: 1,
        ttlMs: 0,
        lastTime: 0,
        activeAt: Date.now(),
        saved: false,
        pending: 0,
      };
      unsaved.add(s);
      schedule();
    }
    cache.set(channel, s);
    return s;
  }

  /** The channel's state once its row is on disk. */
  function ensure(channel: string): ChannelState | Promise<ChannelState> {
    const s = stateOf(channel);
    if (s.saved) return s;
    return new Promise((resolve, reject) =>
      enqueue({ kind: 'create', state: s, resolve: () => resolve(s), reject }),
    );
  }

  function enqueue(op: Op): void {
    op.state.pending++;
    queue.push(op);
    schedule();
  }

  function schedule(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flush);
  }

  /** Nothing queued, committing or syncing: an ephemeral publication can go out at once. */
  function idle(): boolean {
    return queue.length === 0 && unsynced.length === 0 && syncing.length === 0;
  }

  /** Commits what this tick queued, as one transaction. */
  function flush(): void {
    flushScheduled = false;
    if (!db.open) return;
    const ops = queue.length > MAX_OPS_PER_COMMIT ? queue.splice(0, MAX_OPS_PER_COMMIT) : queue;
    queue = queue === ops ? [] : queue;
    if (queue.length > 0) schedule();
    if (ops.length === 0 && unsaved.size === 0) return;
    if (broken) {
      fail(ops, unavailable(`SQLite file ${file} could not be synced; restart the process`));
      return;
    }
    let batch: Batch;
    try {
      batch = commit(ops);
    } catch (error) {
      writeFailure = error instanceof Error ? error : new Error(String(error));
      fail(ops, unavailable(`SQLite write to ${file} failed (${messageOf(error)})`));
      settleDrain();
      return;
    }
    writeFailure = undefined;
    unsynced.push(batch);
    if (syncsInFlight < MAX_SYNCS) sync();
  }

  function commit(ops: Op[]): Batch {
    const now = Date.now();
    const undo = new Map<
      ChannelState,
      Pick<ChannelState, 'offset' | 'floor' | 'ttlMs' | 'lastTime'>
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
          undo.set(s, { offset: s.offset, floor: s.floor, ttlMs: s.ttlMs, lastTime: s.lastTime });
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
            sql.insert.run(s.id, s.offset, time, op.body);
            s.ttlMs = history.ttlMs;
            touchedHistory.add(s);
            // What it pushes out goes now, so the table never holds more than the history plus
            // this row, however many a commit carries. A floor that jumps (history made
            // smaller) deletes a bounded slice; the backlog goes on in upkeep.
            const previous = s.floor;
            s.floor = Math.max(s.floor, s.offset - history.size + 1);
            if (s.floor > previous) {
              sql.deleteRange.run(s.id, Math.max(previous, s.floor - TRIM_SLACK), s.floor);
              if (s.floor - previous > TRIM_SLACK) backlog.add(s.name);
            }
          }
        }
        if (op.key !== undefined)
          sql.keyPut.run(s.id, op.key, publication.offset, s.epoch, now + windowMs);
        op.result = { offset: publication.offset, epoch: s.epoch, duplicate: false };
        op.publication = publication;
      }
      for (const s of touched)
        sql.channelUpdate.run(s.offset, s.floor, s.ttlMs, s.lastTime, now, s.id);
      // What aged out of these channels' history, a bounded slice each; the rest in upkeep.
      for (const s of touchedHistory)
        if (trim(s.id, s.floor, s.ttlMs, now, TRIM_SLACK) === TRIM_SLACK) backlog.add(s.name);
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
      }
      throw error;
    }
    for (const s of created) unsaved.delete(s);
    return { ops, created };
  }

  /** Settles operations that will not be published. */
  function fail(ops: Op[], error: unknown): void {
    for (const op of ops) {
      op.state.pending--;
      op.reject(error);
    }
  }

  /**
   * Makes committed groups durable. Each group's sync starts as soon as it is committed (up to
   * MAX_SYNCS at once on the thread pool), so none waits for a sync that began before its commit
   * to end and then for its own. A sync that completes makes durable every group committed
   * before it started, so those are delivered, in order, whichever sync finishes first.
   */
  function sync(): void {
    if (unsynced.length === 0) return;
    const covered = unsynced;
    unsynced = [];
    if (!fsyncs) {
      deliver(covered);
      settleDrain();
      return;
    }
    const last = covered[covered.length - 1]!;
    syncing.push(...covered);
    syncsInFlight++;
    syncWal((error) => {
      syncsInFlight--;
      if (broken) return settleDrain();
      if (error) {
        broken = error;
        const uncertain = new SwitchboardError(
          ErrorCode.UNCERTAIN,
          `SQLite file ${file} could not be synced (${error.message}); the publication may or may not be kept`,
        );
        for (const batch of [...syncing.splice(0), ...unsynced.splice(0)])
          fail(batch.ops, uncertain);
        settleDrain();
        return;
      }
      const upTo = syncing.indexOf(last);
      if (upTo >= 0) deliver(syncing.splice(0, upTo + 1));
      if (syncsInFlight < MAX_SYNCS) sync();
      settleDrain();
    });
  }

  let wal: { fd: number; ino: number } | undefined;
  let directorySynced = false;

  /**
   * fdatasync of the WAL on the thread pool (as SQLite syncs it: data and size, not times); the
   * first one also syncs the directory entry. The WAL keeps its inode while the broker has the
   * file open; it is checked anyway, and reopened if SQLite ever made a new one.
   */
  function syncWal(done: (error: Error | null) => void): void {
    try {
      const walFile = `${file}-wal`;
      const { ino } = statSync(walFile);
      if (wal?.ino !== ino) {
        if (wal) closeSync(wal.fd);
        wal = { fd: openSync(walFile, 'r+'), ino };
        if (!directorySynced) {
          const dir = openSync(dirname(walFile), 'r');
          try {
            fsyncDirectory(dir);
          } finally {
            closeSync(dir);
          }
          directorySynced = true;
        }
      }
      fdatasync(wal.fd, done);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
    }
  }

  function deliver(batches: Batch[]): void {
    for (const batch of batches) {
      for (const s of batch.created) s.saved = true;
      for (const op of batch.ops) {
        op.state.pending--;
        if (op.kind === 'create') {
          op.resolve();
          continue;
        }
        const publication = op.publication;
        if (publication) {
          if (!publication.ephemeral) op.state.durable = publication.offset;
          delivery.receive(publication);
        }
        op.resolve(op.result!);
      }
    }
  }

  function settleDrain(): void {
    if (!idle() || syncsInFlight > 0 || drainWaiters.length === 0) return;
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once everything queued is committed and on disk (or failed), no sync running. */
  function drained(): Promise<void> {
    if (idle() && syncsInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => drainWaiters.push(resolve));
  }

  /**
   * Deletes at most `budget` of a channel's oldest rows that history no longer keeps (below
   * `floor`, or older than `ttlMs`); returns how many it deleted. Always a prefix: history never
   * gets a hole.
   */
  function trim(channel: number, floor: number, ttlMs: number, now: number, budget: number) {
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

  /** Channels whose last trim ran out of budget: upkeep goes on with them first. */
  const backlog = new Set<string>();
  /** Where the upkeep's walk over the channels table stands. */
  let cursor = 0;

  /**
   * One bounded step of upkeep, in one transaction: expired idempotency keys, backlogged trims,
   * then the next channels of the walk (history aged out while nobody published, idle channels
   * forgotten, their cache entries dropped). Returns whether work is left for right away.
   */
  function upkeep(now: number): boolean {
    if (cursor === 0) {
      for (const [channel, members] of presence) {
        for (const [connection, entry] of members)
          if (entry.expiresAt <= now) members.delete(connection);
        if (members.size === 0) presence.delete(channel);
      }
    }
    let budget = TRIM_BATCH;
    sql.begin.run();
    try {
      const expired = sql.keysExpire.run(now, budget).changes;
      const more = expired === budget;
      for (const name of backlog) {
        if (budget <= 0) break;
        const s = cache.get(name);
        const deleted = s && s.id > 0 ? trim(s.id, s.floor, s.ttlMs, now, budget) : 0;
        budget -= deleted;
        if (deleted === 0) backlog.delete(name);
      }
      if (budget > 0) {
        const rows = sql.channelsAfter.all(cursor, CHANNELS_PER_STEP);
        for (const row of rows) {
          if (budget <= 0) break;
          const s = cache.get(row.name);
          budget -= trim(row.id, s?.floor ?? row.floor, s?.ttlMs ?? row.ttl_ms, now, budget);
          if (budget <= 0) break; // not done with this one: the next step starts with it
          cursor = row.id;
          if (forgettable(row, s, now) && !sql.any.get(row.id)) {
            sql.channelDelete.run(row.id);
            cache.delete(row.name);
            backlog.delete(row.name);
          } else if (s && evictable(s, now)) {
            cache.delete(row.name);
          }
        }
        if (budget > 0 && rows.length < CHANNELS_PER_STEP) cursor = 0;
      }
      sql.commit.run();
      return more || budget <= 0 || backlog.size > 0;
    } catch (error) {
      if (db.inTransaction) sql.rollback.run();
      throw error;
    }
  }

  /**
   * Nothing would be lost by forgetting the channel: idle for the window, nobody subscribed or
   * present here, nothing in flight, no history left (checked by the caller). It starts a new
   * epoch next time, which is honest: a returning subscriber is told `recovered: false`.
   */
  function forgettable(row: ChannelRow, s: ChannelState | undefined, now: number): boolean {
    const activeAt = Math.max(row.active_at, s?.activeAt ?? 0, startedAt);
    if (now - activeAt < idleMs) return false;
    if (s && (s.pending > 0 || !s.saved)) return false;
    return !delivery.has(row.name) && !presence.has(row.name);
  }

  /** The cached state can go (the file has it): idle, nothing in flight, nobody here using it. */
  function evictable(s: ChannelState, now: number): boolean {
    return (
      s.saved &&
      s.pending === 0 &&
      now - s.activeAt >= idleMs &&
      !delivery.has(s.name) &&
      !presence.has(s.name)
    );
  }

  let sweepTimer: NodeJS.Timeout | undefined;
  const sweep = () => {
    sweepTimer = undefined;
    if (closed || !db.open) return;
    let more = false;
    try {
      more = upkeep(Date.now());
    } catch (error) {
      options.onError?.(error);
    }
    // Unhealthy after a failed commit, a node gets no traffic (/readyz 503), so no commit would
    // ever say the file takes writes again: a write of a page's size does.
    if (writeFailure && !closed) {
      try {
        sql.probe.run(pageSize);
        writeFailure = undefined;
      } catch {
        // Still failing: stays unhealthy, tried again next time.
      }
    }
    sweepTimer = setTimeout(sweep, more ? 0 : sweepMs);
    sweepTimer.unref?.();
  };
  sweepTimer = setTimeout(sweep, sweepMs);
  sweepTimer.unref?.();

  function decode(channel: string, epoch: string, row: HistoryRow): Publication {
    const stored = JSON.parse(row.body) as Stored;
    return { ...stored, channel, offset: row.seq, epoch, time: row.time };
  }

  return {
    async publish(
      channel: string,
      input: PublishInput,
      opts: PublishOptions = {},
    ): Promise<PublishResult> {
      assertWritable();
      const s = stateOf(channel);
      s.activeAt = Date.now();
      const ephemeral = opts.ephemeral === true;
      const key = opts.idempotencyKey;
      if (ephemeral && key === undefined && idle()) {
        // Nothing ahead of it to keep order with, nothing to write: out at once.
        const publication: Publication = {
          channel,
          event: input.event,
          data: input.data,
          offset: s.offset,
          epoch: s.epoch,
          time: Math.max(Date.now(), s.lastTime),
          ephemeral: true,
        };
        if (input.user !== undefined) publication.user = input.user;
        if (input.exceptConnection !== undefined)
          publication.exceptConnection = input.exceptConnection;
        if (input.stream !== undefined) publication.stream = input.stream;
        delivery.receive(publication);
        return { offset: s.offset, epoch: s.epoch, duplicate: false };
      }
      const history =
        !ephemeral && opts.history && opts.history.size > 0 && opts.history.ttlMs > 0
          ? opts.history
          : undefined;
      let body = '';
      if (history) {
        const stored: Stored = { event: input.event, data: input.data };
        if (input.user !== undefined) stored.user = input.user;
        if (input.exceptConnection !== undefined) stored.exceptConnection = input.exceptConnection;
        if (input.stream !== undefined) stored.stream = input.stream;
        body = JSON.stringify(stored);
      }
      return new Promise<PublishResult>((resolve, reject) =>
        enqueue({
          kind: 'publish',
          state: s,
          input,
          history,
          body,
          key,
          ephemeral,
          resolve,
          reject,
        }),
      );
    },

    async subscribe(
      channel: string,
      handler: PublicationHandler,
      onReset?: () => void,
    ): Promise<void> {
      assertOpen();
      stateOf(channel).activeAt = Date.now();
      await delivery.subscribe(channel, handler, onReset);
    },

    async unsubscribe(channel: string, handler: PublicationHandler): Promise<void> {
      const s = cache.get(channel);
      if (s) s.activeAt = Date.now();
      await delivery.unsubscribe(channel, handler);
    },

    async history(channel: string, query: HistoryQuery = {}): Promise<HistoryResult> {
      assertOpen();
      const s = await ensure(channel);
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
      const first = sql.keptFirst.get(s.id, s.floor, s.durable, cutoff);
      if (!first || first.seq > since.offset + 1)
        return answerHistory(position, first ? [toPublication(first)] : [], query);
      const after = sql.keptAfter
        .all(s.id, since.offset, s.floor, s.durable, cutoff, limit)
        .map(toPublication);
      const kept = first.seq <= since.offset ? [toPublication(first), ...after] : after;
      return answerHistory(position, kept, query);
    },

    async presenceAdd(channel: string, member: PresenceMember, ttlMs: number): Promise<void> {
      assertOpen();
      let members = presence.get(channel);
      if (!members) presence.set(channel, (members = new Map()));
      members.set(member.connection, { member, expiresAt: Date.now() + ttlMs });
    },

    async presenceRemove(channel: string, connection: string): Promise<void> {
      const members = presence.get(channel);
      if (!members) return;
      members.delete(connection);
      if (members.size === 0) presence.delete(channel);
    },

    async presence(channel: string): Promise<PresenceMember[]> {
      assertOpen();
      const members = presence.get(channel);
      if (!members) return [];
      const now = Date.now();
      const list: PresenceMember[] = [];
      for (const entry of members.values()) if (entry.expiresAt > now) list.push(entry.member);
      return list;
    },

    healthy(): boolean {
      return !closed && broken === undefined && writeFailure === undefined;
    },

    unhealthyReason(): string | undefined {
      if (closed) return 'Broker is closed';
      if (broken) return `SQLite file ${file} could not be synced (${broken.message}); restart`;
      if (writeFailure) return `SQLite write to ${file} failed: ${writeFailure.message}`;
      return undefined;
    },

    /** Commits and syncs what was published before it, then lets go of the file. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(sweepTimer);
      while (queue.length > 0 || unsaved.size > 0) {
        const before = queue.length + unsaved.size;
        flush();
        if (queue.length + unsaved.size >= before) break; // a failed commit: settled, not retried
      }
      await drained();
      delivery.clear();
      if (wal) closeSync(wal.fd);
      wal = undefined;
      db.close();
      openFiles.delete(fileId);
      cache.clear();
      presence.clear();
    },
  };
}

/** fsync of a directory, so a file created in it survives a crash. Not possible everywhere (Windows). */
function fsyncDirectory(fd: number): void {
  try {
    fsyncSync(fd);
  } catch {
    // Best effort: some platforms and file systems refuse to sync a directory.
  }
}
