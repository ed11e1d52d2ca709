/** The Redis broker: its commands (publish, history, presence) over the shared delivery core. */
import { Delivery } from '../broker/delivery.js';
import { answerHistory, latestCopy, newEpoch, streamStart } from '../broker/history.js';
import type {
  Broker,
  CompactRun,
  HistoryQuery,
  HistoryResult,
  PresenceMember,
  Publication,
  PublicationHandler,
  PublishInput,
  PublishOptions,
  PublishResult,
} from '../broker/types.js';
import type { StreamPosition } from '../protocol/frames.js';
import { isCluster, openConnections } from './connections.js';
import { publishFailure, unavailable } from './errors.js';
import type { RedisBrokerOptions } from './options.js';

export type { RedisBrokerLogger, RedisBrokerOptions } from './options.js';

/** Fields stored with each publication besides its offset and epoch. */
type Stored = Omit<Publication, 'channel' | 'offset' | 'epoch'>;

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
 * The publish script's compaction arguments: none, or the run, the start every entry of the
 * stream holds (its marker as JSON.stringify writes it) and the payload stamped with `covers`.
 */
function compaction(stored: Stored, run: CompactRun | undefined): (string | number)[] {
  const stream = stored.stream;
  if (!run || !stream) return [0, 0, '', '', ''];
  const own = streamStart(stream.id);
  return [run.from, run.to, run.epoch, own, JSON.stringify({ ...stored, covers: run.from })];
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
  const checkMs = options.positionCheckMs ?? 5_000;
  const connections = openConnections(options);
  const { client, subscriber, ready, downReason } = connections;

  const tag = (channel: string) => `${prefix}{${channel}}`;
  const pubsubName = (channel: string) => `${tag(channel)}:pub`;
  const channelOf = new Map<string, string>();
  /** Unique ids for this node's publications: how a node tells a repeat from a rolled-back offset. */
  const idPrefix = newEpoch();
  let published = 0;

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
    if (connections.closed || channelOf.size === 0) return;
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
          `${t}:last`,
          `${t}:lastord`,
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
          opts.latest && opts.latest.ttlMs > 0 ? opts.latest.maxEvents : 0,
          opts.latest?.ttlMs ?? 0,
          input.event,
          ...compaction(stored, opts.compact),
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

    async latest(channel: string): Promise<Publication[]> {
      await ready(client);
      let entries: string[];
      try {
        entries = await client.sbLatest(`${tag(channel)}:last`, `${tag(channel)}:lastord`);
      } catch (error) {
        throw unavailable(error);
      }
      return entries.map((e) => latestCopy(decode(channel, e)));
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
      return connections.healthy();
    },

    unhealthyReason(): string | undefined {
      return connections.unhealthyReason();
    },

    async close(): Promise<void> {
      if (connections.closed) return;
      connections.close();
      clearInterval(touchTimer);
      clearInterval(checkTimer);
      delivery.clear();
      channelOf.clear();
      connections.disconnect();
    },
  };
}
