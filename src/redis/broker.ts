import { type Cluster, Redis } from 'ioredis';
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
import { PRESENCE_ADD, PRESENCE_LIST, PUBLISH, READ, TOUCH } from './scripts.js';

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
}

interface Scripts {
  sbPublish(...args: (string | number)[]): Promise<[number, string]>;
  sbRead(...args: (string | number)[]): Promise<string[]>;
  sbTouch(...args: (string | number)[]): Promise<number>;
  sbPresenceAdd(...args: (string | number)[]): Promise<number>;
  sbPresenceList(...args: (string | number)[]): Promise<string[]>;
}
type Client = (Redis | Cluster) & Scripts;

interface NodeChannel {
  channel: string;
  handlers: Set<PublicationHandler>;
  resets: Set<() => void>;
  /** The last publication this node delivered, to drop repeats and detect losses. */
  last: StreamPosition | undefined;
  /** Live publications held while the node catches up (first subscribe, or after a reconnect). */
  held: Publication[] | undefined;
}

/** Fields stored with each publication besides its offset and epoch. */
type Stored = Omit<Publication, 'channel' | 'offset' | 'epoch'>;

function unavailable(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new SwitchboardError(ErrorCode.UNAVAILABLE, `Broker unavailable: ${reason}`);
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

/**
 * The scale-out broker: offsets, history, idempotency and presence live in Redis (or Valkey,
 * DragonflyDB), written atomically by Lua scripts; publications fan out through pub/sub to the
 * nodes that have subscribers for the channel.
 *
 * Failure stance: with Redis unreachable, commands fail at once with UNAVAILABLE rather than
 * queueing (a queued publish could land after its sender was told it failed). When the pub/sub
 * link comes back, each channel catches up from history; if Redis lost that history, the
 * channel's subscribers are reset so they learn of the gap.
 */
export function redisBroker(options: RedisBrokerOptions = {}): Broker {
  const prefix = options.prefix ?? 'switchboard:';
  const sharded = options.sharded === true;
  const idempotencyMs = options.idempotencyWindowMs ?? 120_000;
  const idleMs = options.idleChannelTtlMs ?? 5 * 60_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
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
  // A connection in subscriber mode can run nothing else: fan-out gets its own.
  const subscriber = (
    ownsClient
      ? new Redis(options.url ?? 'redis://127.0.0.1:6379', clientOptions)
      : (client as Redis).duplicate()
  ) as Redis;
  for (const [name, numberOfKeys, lua] of [
    ['sbPublish', 3, PUBLISH],
    ['sbRead', 2, READ],
    ['sbTouch', 1, TOUCH],
    ['sbPresenceAdd', 2, PRESENCE_ADD],
    ['sbPresenceList', 2, PRESENCE_LIST],
  ] as const) {
    client.defineCommand(name, { numberOfKeys, lua });
  }
  // Errors are reported through command failures and `healthy()`; unhandled 'error' events
  // would only crash the process.
  client.on('error', () => {});
  subscriber.on('error', () => {});

  const tag = (channel: string) => `${prefix}{${channel}}`;
  const pubsubName = (channel: string) => `${tag(channel)}:pub`;
  const channels = new Map<string, NodeChannel>();
  const byPubsubName = new Map<string, NodeChannel>();
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
        `Broker unavailable: Redis is ${connection.status}`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.off('ready', onReady);
        reject(
          new SwitchboardError(
            ErrorCode.UNAVAILABLE,
            'Broker unavailable: Redis did not answer in time',
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

  // ── node-level fan-out ─────────────────────────────────────────────────────────────────

  function deliver(entry: NodeChannel, publication: Publication): void {
    if (entry.held) {
      entry.held.push(publication);
      return;
    }
    if (!publication.ephemeral) {
      const last = entry.last;
      if (last && last.epoch === publication.epoch && publication.offset <= last.offset) return;
      entry.last = { offset: publication.offset, epoch: publication.epoch };
      // A new epoch mid-subscription means Redis lost the channel: what came before is gone.
      if (last && last.epoch !== publication.epoch) reset(entry);
    }
    for (const handler of entry.handlers) {
      try {
        handler(publication);
      } catch {
        // One subscriber's failure is its own.
      }
    }
  }

  function reset(entry: NodeChannel): void {
    for (const onReset of entry.resets) {
      try {
        onReset();
      } catch {
        // ignore: the gateway logs its own failures
      }
    }
  }

  /** Brings a channel up to date from history, holding live publications meanwhile. */
  async function catchUp(entry: NodeChannel): Promise<void> {
    entry.held ??= [];
    try {
      // Both links reconnect on their own schedules: give the command link time to follow.
      const { position, kept } = await read(entry.channel, true);
      const since = entry.last;
      const result = since ? answerHistory(position, kept, { since }) : undefined;
      const held = entry.held;
      entry.held = undefined;
      if (result && !result.recovered) {
        entry.last = position;
        reset(entry);
      } else if (result) {
        for (const publication of result.publications) deliver(entry, publication);
      } else {
        entry.last = position;
      }
      for (const publication of held) deliver(entry, publication);
    } catch (error) {
      entry.held = undefined;
      throw error;
    }
  }

  const onMessage = (name: string, message: string) => {
    const entry = byPubsubName.get(name);
    if (!entry) return;
    let publication: Publication;
    try {
      publication = decode(entry.channel, message);
    } catch {
      return; // not ours
    }
    deliver(entry, publication);
  };
  subscriber.on(sharded ? 'smessage' : 'message', onMessage);

  const subscribeNames = (names: string[]) =>
    sharded ? subscriber.ssubscribe(...names) : subscriber.subscribe(...names);

  // After an outage the subscriber reconnects on its own (ioredis backoff); then this node
  // resubscribes and every channel catches up, or resets its subscribers if it cannot.
  let wasReady = false;
  subscriber.on('ready', () => {
    if (!wasReady) {
      wasReady = true;
      return;
    }
    const entries = [...channels.values()];
    if (entries.length === 0) return;
    for (const entry of entries) entry.held ??= [];
    subscribeNames(entries.map((e) => pubsubName(e.channel)))
      .then(() => Promise.all(entries.map((entry) => catchUp(entry).catch(() => reset(entry)))))
      .catch(() => {
        for (const entry of entries) {
          entry.held = undefined;
          reset(entry);
        }
      });
  });

  // Live channels must not lapse into a new epoch just because nobody published for a while.
  const touchTimer = setInterval(
    () => {
      if (client.status !== 'ready') return;
      for (const entry of channels.values())
        client.sbTouch(`${tag(entry.channel)}:meta`, idleMs).catch(() => {});
    },
    Math.max(1_000, idleMs / 3),
  );
  touchTimer.unref?.();

  return {
    async publish(
      channel: string,
      input: PublishInput,
      opts: PublishOptions = {},
    ): Promise<PublishResult> {
      await ready(client);
      const stored: Stored = { event: input.event, data: input.data, time: Date.now() };
      if (opts.ephemeral) stored.ephemeral = true;
      if (input.user !== undefined) stored.user = input.user;
      if (input.exceptConnection !== undefined) stored.exceptConnection = input.exceptConnection;
      if (input.stream !== undefined) stored.stream = input.stream;
      const key = opts.idempotencyKey;
      const t = tag(channel);
      let reply: [number, string];
      try {
        reply = await client.sbPublish(
          `${t}:meta`,
          `${t}:hist`,
          key === undefined ? `${t}:meta` : `${t}:idem:${key}`,
          newEpoch(),
          JSON.stringify(stored),
          opts.history?.size ?? 0,
          opts.history?.ttlMs ?? 0,
          idempotencyMs,
          opts.ephemeral ? 1 : 0,
          idleMs,
          pubsubName(channel),
          sharded ? 1 : 0,
          key === undefined ? 0 : 1,
        );
      } catch (error) {
        throw unavailable(error);
      }
      const [published, position] = reply;
      const bar = position.indexOf('|');
      return {
        offset: Number(position.slice(0, bar)),
        epoch: position.slice(bar + 1),
        duplicate: published === 0,
      };
    },

    async subscribe(
      channel: string,
      handler: PublicationHandler,
      onReset?: () => void,
    ): Promise<void> {
      let entry = channels.get(channel);
      if (entry) {
        entry.handlers.add(handler);
        if (onReset) entry.resets.add(onReset);
        // A second handler joins an entry that may still be catching up: wait until it is live.
        while (entry.held && channels.get(channel) === entry)
          await new Promise((r) => setTimeout(r, 5));
        return;
      }
      entry = {
        channel,
        handlers: new Set([handler]),
        resets: new Set(),
        last: undefined,
        held: [],
      };
      if (onReset) entry.resets.add(onReset);
      channels.set(channel, entry);
      byPubsubName.set(pubsubName(channel), entry);
      try {
        await ready(subscriber);
        await subscribeNames([pubsubName(channel)]);
        await catchUp(entry);
      } catch (error) {
        channels.delete(channel);
        byPubsubName.delete(pubsubName(channel));
        throw unavailable(error);
      }
    },

    async unsubscribe(channel: string, handler: PublicationHandler): Promise<void> {
      const entry = channels.get(channel);
      if (!entry) return;
      entry.handlers.delete(handler);
      if (entry.handlers.size > 0) return;
      channels.delete(channel);
      byPubsubName.delete(pubsubName(channel));
      if (subscriber.status !== 'ready') return; // not subscribed on the server side anyway
      try {
        await (sharded
          ? subscriber.sunsubscribe(pubsubName(channel))
          : subscriber.unsubscribe(pubsubName(channel)));
      } catch {
        // The link dropped: nothing to undo on a connection that no longer exists.
      }
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

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(touchTimer);
      channels.clear();
      byPubsubName.clear();
      subscriber.disconnect();
      if (ownsClient) client.disconnect();
    },
  };
}
