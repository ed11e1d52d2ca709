import { type Cluster, Redis, ReplyError } from 'ioredis';
import { Delivery } from '../broker/delivery.js';
import { answerHistory, newEpoch } from '../broker/history.js';
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
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { StreamPosition } from '../protocol/frames.js';
import { FENCE, POSITION, PRESENCE_ADD, PRESENCE_LIST, PUBLISH, READ, TOUCH } from './scripts.js';

export interface RedisBrokerOptions {
  /** Default redis://127.0.0.1:6379. Ignored when `redis` is given. */
  url?: string;
  /** Your own ioredis client or Cluster; the broker duplicates it for subscribing and does not close it. */
  redis?: Redis | Cluster;
  /** Prefix of every key and pub/sub channel, so several apps (or tests) share one Redis. Default 'switchboard:'. */
  prefix?: string;
  /** Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7+) so fan-out scales with a Cluster's shards. */
  sharded?: boolean;
  /** How long an idempotency key is remembered. Default 2 min. */
  idempotencyWindowMs?: number;
  /** How long a channel nobody publishes to keeps its offset and epoch. Default 5 min. */
  idleChannelTtlMs?: number;
  /** A command not answered within this fails with UNAVAILABLE. Default 2 s. */
  commandTimeoutMs?: number;
  /** How long to wait for the first connection before commands fail. Default 5 s. */
  connectTimeoutMs?: number;
  /**
   * How often a channel that had no publication meanwhile is checked against the stored
   * position, to find losses no later publication would reveal. Default 5 s; 0 turns it off.
   */
  positionCheckMs?: number;
  /** Told of rollbacks found and fenced, and of catch-ups that failed. */
  onError?: (error: unknown, channel: string) => void;
  /**
   * Told of connection failures: the cause (e.g. `getaddrinfo ENOTFOUND redis`) once per outage
   * at error level, not on every retry, and `info` when the connection is back. A pino logger
   * (the server's `logger`) fits. Without it connection errors are silent, but `healthy()` and
   * `unhealthyReason()` (what /readyz answers) still report them.
   */
  logger?: RedisBrokerLogger;
}

/** The part of a logger (pino's, the gateway's) the broker reports connection trouble to. */
export interface RedisBrokerLogger {
  error(object: object, message?: string): void;
  info?(object: object, message?: string): void;
}

interface Scripts {
  sbPublish(...args: (string | number)[]): Promise<[number, string]>;
  sbRead(...args: (string | number)[]): Promise<string[]>;
  sbTouch(...args: (string | number)[]): Promise<number>;
  sbPosition(...args: (string | number)[]): Promise<[string | null, string | null]>;
  sbFence(...args: (string | number)[]): Promise<string>;
  sbPresenceAdd(...args: (string | number)[]): Promise<number>;
  sbPresenceList(...args: (string | number)[]): Promise<string[]>;
}
type Client = (Redis | Cluster) & Scripts;

/** Fields stored with each publication besides its offset and epoch. */
type Stored = Omit<Publication, 'channel' | 'offset' | 'epoch'>;

/** A command refused before it reached Redis, or one Redis answered with an error: nothing happened. */
function unavailable(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new SwitchboardError(ErrorCode.UNAVAILABLE, `Broker unavailable: ${reason}`);
}

/**
 * A publish that failed after it was handed to a ready connection may still run: it was written
 * to the socket, and ioredis may have written it again after a reconnect before giving up (its
 * "not writeable" error then says nothing of the first write). Only an error Redis itself
 * answered means it did not run.
 */
function publishFailure(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  if (error instanceof ReplyError) return unavailable(error);
  const message = error instanceof Error ? error.message : String(error);
  return new SwitchboardError(
    ErrorCode.UNCERTAIN,
    `Broker did not confirm the publication (${message}); retry with the same idempotency key`,
  );
}

function decode(channel: string, encoded: string): Publication {
  const first = encoded.indexOf('|');
  const second = encoded.indexOf('|', first + 1);
  const stored = JSON.parse(encoded.slice(second + 1)) as Stored;
  return {
    ...stored,
    channel,
    offset: Number(encoded.slice(0, first)),
    epoch: encoded.slice(first + 1, second),
  };
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/**
 * The scale-out broker: offsets, history, idempotency and presence live in Redis (or Valkey),
 * written atomically by Lua scripts; publications fan out through pub/sub to the nodes that have
 * subscribers for the channel, where the shared delivery core checks them.
 *
 * Failure stance: with Redis unreachable, commands fail at once with UNAVAILABLE rather than
 * queueing (a queued publish could land after its sender was told it failed). A publish that was
 * sent but not confirmed fails with UNCERTAIN; every publish carries an idempotency key, so the
 * command ioredis resends after a reconnect, or the caller's retry, is applied once. Losses on
 * the pub/sub link (a replaced connection, a restart, a snapshot restored) show as offsets out of
 * sequence or as a stored position this node has not reached; the core catches up from history,
 * or fences a rolled-back channel and tells its subscribers.
 */
export function redisBroker(options: RedisBrokerOptions = {}): Broker {
  const prefix = options.prefix ?? 'switchboard:';
  const sharded = options.sharded === true;
  const idempotencyMs = options.idempotencyWindowMs ?? 120_000;
  const idleMs = options.idleChannelTtlMs ?? 5 * 60_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const checkMs = options.positionCheckMs ?? 5_000;
  const clientOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    autoResubscribe: false,
    // Exponential backoff with jitter, capped, so a fleet of nodes does not stampede a restarting Redis.
    retryStrategy: (times: number) =>
      Math.round(Math.min(2_000, 50 * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2)),
  };
  const ownsClient = options.redis === undefined;
  const client = (options.redis ??
    new Redis(options.url ?? 'redis://127.0.0.1:6379', clientOptions)) as Client;
  // A connection in subscriber mode can run nothing else: fan-out gets its own. On a Cluster,
  // sharded pub/sub needs one subscriber connection per shard, which ioredis keeps when asked.
  const subscriber: Redis | Cluster = ownsClient
    ? new Redis(options.url ?? 'redis://127.0.0.1:6379', clientOptions)
    : isCluster(client)
      ? client.duplicate([], sharded ? { shardedSubscribers: true } : {})
      : client.duplicate();
  for (const [name, numberOfKeys, lua] of [
    ['sbPublish', 3, PUBLISH],
    ['sbRead', 2, READ],
    ['sbPosition', 1, POSITION],
    ['sbFence', 2, FENCE],
    ['sbTouch', 1, TOUCH],
    ['sbPresenceAdd', 2, PRESENCE_ADD],
    ['sbPresenceList', 2, PRESENCE_LIST],
  ] as const) {
    client.defineCommand(name, { numberOfKeys, lua });
  }
  // Connection errors: ioredis emits one on every failed retry. The cause is kept for
  // `unhealthyReason()` (and /readyz) and logged once per outage; an unhandled 'error' event
  // would only crash the process.
  let lastError: Error | undefined;
  let outage = false;
  const where = (() => {
    try {
      return new URL(options.url ?? 'redis://127.0.0.1:6379').host; // never the password
    } catch {
      return undefined;
    }
  })();
  const onConnectionError = (error: Error) => {
    lastError = error;
    if (outage || closed) return;
    outage = true;
    options.logger?.error(
      { err: error, ...(ownsClient && where !== undefined && { redis: where }) },
      `Redis unreachable: ${error.message}`,
    );
  };
  const onReady = () => {
    if (client.status !== 'ready' || subscriber.status !== 'ready') return;
    lastError = undefined;
    if (!outage) return;
    outage = false;
    options.logger?.info?.({}, 'Redis connection restored');
  };
  client.on('error', onConnectionError);
  subscriber.on('error', onConnectionError);
  client.on('ready', onReady);
  subscriber.on('ready', onReady);
  /** Why the links are not ready, for errors and readiness: the last connection error. */
  const downReason = (connection: Redis | Cluster = client): string => {
    const status = `Redis is ${connection.status}`;
    return lastError ? `${status} (${lastError.message})` : status;
  };

  const tag = (channel: string) => `${prefix}{${channel}}`;
  const pubsubName = (channel: string) => `${tag(channel)}:pub`;
  const channelOf = new Map<string, string>();
  /** Unique ids for this node's publications: how a node tells a repeat from a rolled-back offset. */
  const idPrefix = newEpoch();
  let published = 0;
  let closed = false;

  /**
   * The first connection may still be on its way; later outages fail fast, except where the
   * caller knows the link is coming back (`patient`: catching up after a reconnect).
   */
  async function ready(connection: Redis | Cluster, patient = false): Promise<void> {
    if (closed) throw new SwitchboardError(ErrorCode.UNAVAILABLE, 'Broker is closed');
    if (connection.status === 'ready') return;
    const starting = ['connecting', 'wait', 'connect'].includes(connection.status);
    if (!starting && !(patient && connection.status === 'reconnecting')) {
      throw new SwitchboardError(
        ErrorCode.UNAVAILABLE,
        `Broker unavailable: ${downReason(connection)}`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.off('ready', onReady);
        reject(
          new SwitchboardError(
            ErrorCode.UNAVAILABLE,
            `Broker unavailable: Redis did not answer in time${lastError ? ` (${lastError.message})` : ''}`,
          ),
        );
      }, connectTimeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      connection.once('ready', onReady);
    });
  }

  async function read(
    channel: string,
    patient = false,
  ): Promise<{ position: StreamPosition; kept: Publication[] }> {
    await ready(client, patient);
    let reply: string[];
    try {
      reply = await client.sbRead(
        `${tag(channel)}:meta`,
        `${tag(channel)}:hist`,
        newEpoch(),
        idleMs,
      );
    } catch (error) {
      throw unavailable(error);
    }
    const [offset, epoch, ttl, ...entries] = reply;
    const oldest = Date.now() - Number(ttl);
    const kept = entries.map((e) => decode(channel, e)).filter((p) => p.time > oldest);
    return { position: { offset: Number(offset), epoch: epoch! }, kept };
  }

  const subscribeNames = (names: string[]) =>
    sharded ? subscriber.ssubscribe(...names) : subscriber.subscribe(...names);

  const delivery = new Delivery(
    {
      // Both links reconnect on their own schedules: a catch-up gives the command link time.
      read: (channel) => read(channel, true),
      async fence(channel, seen) {
        await ready(client, true);
        await client.sbFence(
          `${tag(channel)}:meta`,
          `${tag(channel)}:hist`,
          seen.epoch,
          newEpoch(),
        );
      },
    },
    {
      async listen(channel) {
        channelOf.set(pubsubName(channel), channel);
        try {
          await ready(subscriber);
          await subscribeNames([pubsubName(channel)]);
        } catch (error) {
          channelOf.delete(pubsubName(channel));
          throw unavailable(error);
        }
      },
      async unlisten(channel) {
        channelOf.delete(pubsubName(channel));
        if (subscriber.status !== 'ready') return; // not subscribed on the server side anyway
        try {
          await (sharded
            ? subscriber.sunsubscribe(pubsubName(channel))
            : subscriber.unsubscribe(pubsubName(channel)));
        } catch {
          // The link dropped: nothing to undo on a connection that no longer exists.
        }
      },
    },
    (error, channel) => options.onError?.(error, channel),
  );

  const onMessage = (name: string, message: string) => {
    const channel = channelOf.get(name);
    if (channel === undefined) return;
    let publication: Publication;
    try {
      publication = decode(channel, message);
    } catch {
      return; // not ours
    }
    delivery.receive(publication);
  };
  subscriber.on(sharded ? 'smessage' : 'message', onMessage);

  /**
   * The subscriber link came back (or ioredis replaced one of a Cluster's): subscribe every
   * channel again and catch up on what went by meanwhile.
   */
  const relisten = () => {
    if (closed || channelOf.size === 0) return;
    subscribeNames([...channelOf.keys()])
      .catch(() => {})
      .finally(() => delivery.catchUp());
  };
  let wasReady = false;
  subscriber.on('ready', () => {
    if (!wasReady) {
      wasReady = true;
      return;
    }
    relisten();
  });
  // A Cluster's sharded subscribers resubscribe on their own when ioredis replaces one; catching
  // up finds what went by meanwhile.
  if (isCluster(subscriber)) subscriber.on('+subscriber', () => delivery.catchUp());

  // Live channels must not lapse into a new epoch just because nobody published for a while;
  // and a loss no later publication reveals (the link was replaced, then the channel went
  // quiet) shows as a stored position this node has not reached.
  const touchTimer = setInterval(
    () => {
      if (client.status !== 'ready') return;
      for (const channel of delivery.channels())
        client.sbTouch(`${tag(channel)}:meta`, idleMs).catch(() => {});
    },
    Math.max(1_000, idleMs / 3),
  );
  touchTimer.unref?.();
  const checkTimer =
    checkMs > 0
      ? setInterval(() => {
          if (client.status !== 'ready') return;
          for (const channel of delivery.quiet()) {
            client
              .sbPosition(`${tag(channel)}:meta`)
              .then(([offset, epoch]) =>
                delivery.check(
                  channel,
                  epoch === null ? undefined : { offset: Number(offset), epoch },
                ),
              )
              .catch(() => {});
          }
        }, checkMs)
      : undefined;
  checkTimer?.unref?.();

  return {
    async publish(
      channel: string,
      input: PublishInput,
      opts: PublishOptions = {},
    ): Promise<PublishResult> {
      await ready(client);
      const id = `${idPrefix}${(++published).toString(36)}`;
      const stored: Stored = { event: input.event, data: input.data, time: Date.now(), id };
      if (opts.ephemeral) stored.ephemeral = true;
      if (input.user !== undefined) stored.user = input.user;
      if (input.exceptConnection !== undefined) stored.exceptConnection = input.exceptConnection;
      if (input.stream !== undefined) stored.stream = input.stream;
      // Without a key of the caller's, the publication's id serves: a command ioredis resends
      // after a reconnect is still applied once.
      const key = opts.idempotencyKey ?? id;
      const t = tag(channel);
      // Refused here, it was never sent; past this line any failure leaves the outcome open.
      if (client.status !== 'ready') throw unavailable(downReason());
      let reply: [number, string];
      try {
        reply = await client.sbPublish(
          `${t}:meta`,
          `${t}:hist`,
          `${t}:idem:${key}`,
          newEpoch(),
          JSON.stringify(stored),
          opts.history?.size ?? 0,
          opts.history?.ttlMs ?? 0,
          idempotencyMs,
          opts.ephemeral ? 1 : 0,
          idleMs,
          pubsubName(channel),
          sharded ? 1 : 0,
          1,
        );
      } catch (error) {
        throw publishFailure(error);
      }
      const [fresh, position] = reply;
      const bar = position.indexOf('|');
      return {
        offset: Number(position.slice(0, bar)),
        epoch: position.slice(bar + 1),
        duplicate: fresh === 0,
      };
    },

    async subscribe(
      channel: string,
      handler: PublicationHandler,
      onReset?: () => void,
    ): Promise<void> {
      await delivery.subscribe(channel, handler, onReset);
    },

    unsubscribe(channel: string, handler: PublicationHandler): Promise<void> {
      return delivery.unsubscribe(channel, handler);
    },

    async history(channel: string, query?: HistoryQuery): Promise<HistoryResult> {
      const { position, kept } = await read(channel);
      return answerHistory(position, kept, query);
    },

    async presenceAdd(channel: string, member: PresenceMember, ttlMs: number): Promise<void> {
      await ready(client);
      const t = tag(channel);
      try {
        await client.sbPresenceAdd(
          `${t}:pres`,
          `${t}:presexp`,
          member.connection,
          JSON.stringify(member),
          Date.now() + ttlMs,
          ttlMs,
        );
      } catch (error) {
        throw unavailable(error);
      }
    },

    async presenceRemove(channel: string, connection: string): Promise<void> {
      await ready(client);
      const t = tag(channel);
      try {
        await client.multi().hdel(`${t}:pres`, connection).zrem(`${t}:presexp`, connection).exec();
      } catch (error) {
        throw unavailable(error);
      }
    },

    async presence(channel: string): Promise<PresenceMember[]> {
      await ready(client);
      const t = tag(channel);
      try {
        const members = await client.sbPresenceList(`${t}:pres`, `${t}:presexp`, Date.now());
        return members.map((m) => JSON.parse(m) as PresenceMember);
      } catch (error) {
        throw unavailable(error);
      }
    },

    healthy(): boolean {
      return !closed && client.status === 'ready' && subscriber.status === 'ready';
    },

    unhealthyReason(): string | undefined {
      if (closed) return 'Broker is closed';
      const down = client.status !== 'ready' ? client : subscriber;
      if (down.status === 'ready') return undefined;
      return lastError ? `Redis unreachable: ${lastError.message}` : `Redis is ${down.status}`;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(touchTimer);
      clearInterval(checkTimer);
      delivery.clear();
      channelOf.clear();
      subscriber.disconnect();
      if (ownsClient) client.disconnect();
    },
  };
}
