/**
 * The SQLite broker itself: opens the file and puts the write path, history reads, presence and
 * upkeep together behind the Broker interface.
 */

import { Delivery } from '../broker/delivery.js';
import { streamStart } from '../broker/history.js';
import type {
  Broker,
  HistoryQuery,
  HistoryResult,
  PresenceMember,
  Publication,
  PublicationHandler,
  PublishInput,
  PublishOptions,
  PublishResult,
} from '../broker/types.js';
import { Channels } from './channels.js';
import { unavailable } from './errors.js';
import { readHistory } from './history.js';
import { claimFile, openDatabase, releaseFile } from './open.js';
import type { SqliteBrokerOptions } from './options.js';
import { Presence } from './presence.js';
import type { Stored } from './state.js';
import { prepareStatements } from './statements.js';
import { Upkeep } from './upkeep.js';
import { WalSync } from './wal.js';
import { Writer } from './writer.js';

export type { SqliteBrokerOptions } from './options.js';

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
  claimFile(fileId);
  const startedAt = Date.now();
  const sql = prepareStatements(db);

  const channels = new Channels(sql, startedAt, () => writer.schedule());
  const presence = new Presence();
  /** Channels whose last trim ran out of budget: upkeep goes on with them first. */
  const backlog = new Set<string>();
  const wal = new WalSync(file);
  let closed = false;

  // Fan-out is in-process, in order, right after each group is on disk: the core never sees a
  // jump here, so `read` gives only the position (a catch-up that ever needed more would reset
  // the channel's subscribers, which resync through `history`: told, never silent).
  const delivery: Delivery = new Delivery({
    read: async (channel) => {
      const s = await writer.ensure(channel);
      return { position: { offset: s.durable, epoch: s.epoch }, kept: [] };
    },
  });
  const writer: Writer = new Writer({
    db,
    sql,
    file,
    fsyncs,
    windowMs,
    channels,
    backlog,
    delivery,
    wal,
  });
  const upkeep = new Upkeep({
    db,
    sql,
    channels,
    presence,
    delivery,
    writer,
    backlog,
    startedAt,
    idleMs,
    sweepMs,
    onError: options.onError,
  });

  function assertOpen(): void {
    if (closed) throw unavailable('Broker is closed');
  }

  function assertWritable(): void {
    assertOpen();
    if (writer.broken)
      throw unavailable(`SQLite file ${file} could not be synced; restart the process`);
  }

  return {
    async publish(
      channel: string,
      input: PublishInput,
      opts: PublishOptions = {},
    ): Promise<PublishResult> {
      assertWritable();
      const s = channels.stateOf(channel);
      s.activeAt = Date.now();
      const ephemeral = opts.ephemeral === true;
      const key = opts.idempotencyKey;
      const latest =
        opts.latest && opts.latest.maxEvents > 0 && opts.latest.ttlMs > 0 ? opts.latest : undefined;
      if (ephemeral && key === undefined && !latest && writer.idle()) {
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
      const stored: Stored = { event: input.event, data: input.data };
      if (history) {
        if (input.user !== undefined) stored.user = input.user;
        if (input.exceptConnection !== undefined) stored.exceptConnection = input.exceptConnection;
        if (input.stream !== undefined) stored.stream = input.stream;
        body = JSON.stringify(stored);
      }
      const run = opts.compact;
      const compact =
        history && run && input.stream
          ? {
              run,
              body: JSON.stringify({ ...stored, covers: run.from }),
              own: streamStart(input.stream.id),
            }
          : undefined;
      return new Promise<PublishResult>((resolve, reject) =>
        writer.enqueue({
          kind: 'publish',
          state: s,
          input,
          history,
          body,
          ...(compact && { compact }),
          key,
          ephemeral,
          latest,
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
      channels.stateOf(channel).activeAt = Date.now();
      await delivery.subscribe(channel, handler, onReset);
    },

    async unsubscribe(channel: string, handler: PublicationHandler): Promise<void> {
      const s = channels.get(channel);
      if (s) s.activeAt = Date.now();
      await delivery.unsubscribe(channel, handler);
    },

    async history(channel: string, query: HistoryQuery = {}): Promise<HistoryResult> {
      assertOpen();
      const s = await writer.ensure(channel);
      return readHistory(sql, channel, s, query);
    },

    async latest(channel: string): Promise<Publication[]> {
      assertOpen();
      return sql.latestOf
        .all(channel, Date.now())
        .map((row) => ({ ...(JSON.parse(row.publication) as Publication), channel }));
    },

    async presenceAdd(channel: string, member: PresenceMember, ttlMs: number): Promise<void> {
      assertOpen();
      presence.add(channel, member, ttlMs);
    },

    async presenceRemove(channel: string, connection: string): Promise<void> {
      presence.remove(channel, connection);
    },

    async presence(channel: string): Promise<PresenceMember[]> {
      assertOpen();
      return presence.list(channel);
    },

    healthy(): boolean {
      return !closed && writer.broken === undefined && writer.writeFailure === undefined;
    },

    unhealthyReason(): string | undefined {
      if (closed) return 'Broker is closed';
      if (writer.broken)
        return `SQLite file ${file} could not be synced (${writer.broken.message}); restart`;
      if (writer.writeFailure)
        return `SQLite write to ${file} failed: ${writer.writeFailure.message}`;
      return undefined;
    },

    /** Commits and syncs what was published before it, then lets go of the file. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      upkeep.stop();
      await writer.flushAll();
      delivery.clear();
      wal.close();
      db.close();
      releaseFile(fileId);
      channels.cache.clear();
      presence.clear();
    },
  };
}
