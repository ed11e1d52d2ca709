import { Delivery } from './delivery.js';
import { answerHistory, compactKept, latestCopy, newEpoch } from './history.js';
import type {
  Broker,
  HistoryQuery,
  HistoryResult,
  PresenceMember,
  Publication,
  PublishInput,
  PublishOptions,
  PublishResult,
} from './types.js';

export interface MemoryBrokerOptions {
  /** How long an idempotency key is remembered. */
  idempotencyWindowMs?: number;
  /** At most this many keys are remembered; the oldest are forgotten first. */
  maxIdempotencyKeys?: number;
  /** How often expired history, presence and keys are swept away. */
  sweepIntervalMs?: number;
  /**
   * How long a channel with no subscribers, history or presence keeps its offset and epoch.
   * Within it, a subscriber that briefly dropped comes back to the same epoch and is told
   * `recovered: true` when nothing was missed; after it, a new epoch honestly says "unknown".
   */
  idleChannelTtlMs?: number;
}

interface ChannelState {
  epoch: string;
  offset: number;
  /** Oldest first; bounded by the publishing options' size and age. */
  history: Publication[];
  /** Last publish, subscribe or unsubscribe: idle channels are forgotten some time after it. */
  lastActive: number;
  /**
   * connection → member and when the entry lapses unless refreshed. Created on first use, like
   * `latest`: every user's own channel has a state here, and most never see either.
   */
  presence: Map<string, { member: PresenceMember; expiresAt: number }> | undefined;
  /** event → its latest publication; Map order is update order, least recent first. */
  latest: Map<string, Publication> | undefined;
  /** When the latest values lapse: their ttl after the last one kept. */
  latestUntil: number;
}

interface RememberedKey {
  result: PublishResult;
  expiresAt: number;
}

function trim(state: ChannelState, now: number, ttlMs: number, size: number): void {
  const history = state.history;
  let drop = Math.max(0, history.length - size);
  while (drop < history.length && history[drop]!.time + ttlMs <= now) drop++;
  if (drop > 0) history.splice(0, drop);
}

/**
 * The embedded default: one process, no dependencies. Publication is synchronous fan-out to the
 * subscribed handlers, so a publish resolves after every local subscriber has it.
 */
export function memoryBroker(options: MemoryBrokerOptions = {}): Broker {
  const windowMs = options.idempotencyWindowMs ?? 120_000;
  const maxKeys = options.maxIdempotencyKeys ?? 100_000;
  const channels = new Map<string, ChannelState>();
  const keys = new Map<string, RememberedKey>();
  const ttlByChannel = new Map<string, number>();
  const idleTtlMs = options.idleChannelTtlMs ?? 5 * 60_000;
  let closed = false;
  // Publication is synchronous and nothing sits between the store and its subscribers, so the
  // core's checks never fire here; it is the same core as every other broker's all the same.
  const delivery = new Delivery({
    read: async (channel) => {
      const s = state(channel);
      return { position: { offset: s.offset, epoch: s.epoch }, kept: s.history };
    },
  });

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [name, state] of channels) {
      trim(state, now, ttlByChannel.get(name) ?? 0, state.history.length);
      const presence = state.presence;
      if (presence)
        for (const [connection, entry] of presence) {
          if (entry.expiresAt <= now) presence.delete(connection);
        }
      if (state.latestUntil <= now) state.latest = undefined;
      forgetIfIdle(name, state, now);
    }
    for (const [key, remembered] of keys) {
      if (remembered.expiresAt > now) break; // insertion order is expiry order
      keys.delete(key);
    }
  }, options.sweepIntervalMs ?? 30_000);
  sweep.unref?.();

  function transientState(): ChannelState {
    return {
      epoch: newEpoch(),
      offset: 0,
      history: [],
      presence: undefined,
      lastActive: Date.now(),
      latest: undefined,
      latestUntil: 0,
    };
  }

  function state(channel: string): ChannelState {
    let s = channels.get(channel);
    if (!s) {
      s = transientState();
      channels.set(channel, s);
    }
    return s;
  }

  // Forgetting a channel starts a new epoch next time, which is honest: nothing is kept to
  // recover from, so a returning subscriber is told `recovered: false`.
  function forgetIfIdle(channel: string, s: ChannelState, now: number): void {
    if (delivery.has(channel) || s.history.length > 0 || (s.presence?.size ?? 0) > 0) return;
    if ((s.latest?.size ?? 0) > 0 && s.latestUntil > now) return;
    if (now - s.lastActive < idleTtlMs) return;
    channels.delete(channel);
    ttlByChannel.delete(channel);
  }

  function assertOpen(): void {
    if (closed) throw new Error('broker is closed');
  }

  return {
    async publish(
      channel: string,
      input: PublishInput,
      opts: PublishOptions = {},
    ): Promise<PublishResult> {
      assertOpen();
      const now = Date.now();
      const key = opts.idempotencyKey;
      if (key !== undefined) {
        const seen = keys.get(key);
        if (seen && seen.expiresAt > now) return { ...seen.result, duplicate: true };
      }
      const ephemeral = opts.ephemeral === true;
      // An ephemeral publish to a channel nobody here listens to or keeps anything of (e.g. a
      // POST for an unknown HTTP-transport session) leaves no state behind to be swept later.
      const s =
        ephemeral && !opts.latest && !channels.has(channel) && !delivery.has(channel)
          ? transientState()
          : state(channel);
      const publication: Publication = {
        channel,
        event: input.event,
        data: input.data,
        offset: ephemeral ? s.offset : ++s.offset,
        epoch: s.epoch,
        time: now,
      };
      if (ephemeral) publication.ephemeral = true;
      if (input.user !== undefined) publication.user = input.user;
      if (input.exceptConnection !== undefined)
        publication.exceptConnection = input.exceptConnection;
      if (input.stream !== undefined) publication.stream = input.stream;

      const history = opts.history;
      if (!ephemeral && history && history.size > 0 && history.ttlMs > 0) {
        compactKept(s.history, publication, opts.compact);
        s.history.push(publication);
        ttlByChannel.set(channel, history.ttlMs);
        trim(s, now, history.ttlMs, history.size);
      }
      const latest = opts.latest;
      if (latest && latest.maxEvents > 0 && latest.ttlMs > 0) {
        if (s.latestUntil <= now) s.latest = undefined;
        const kept = (s.latest ??= new Map());
        kept.delete(input.event);
        kept.set(input.event, publication);
        while (kept.size > latest.maxEvents) kept.delete(kept.keys().next().value!);
        s.latestUntil = now + latest.ttlMs;
      }
      const result: PublishResult = {
        offset: publication.offset,
        epoch: s.epoch,
        duplicate: false,
      };
      if (key !== undefined) {
        keys.delete(key);
        keys.set(key, { result, expiresAt: now + windowMs });
        if (keys.size > maxKeys) keys.delete(keys.keys().next().value!);
      }
      delivery.receive(publication);
      s.lastActive = now;
      return result;
    },

    async subscribe(channel, handler, onReset) {
      assertOpen();
      state(channel).lastActive = Date.now();
      await delivery.subscribe(channel, handler, onReset);
    },

    async unsubscribe(channel, handler) {
      const s = channels.get(channel);
      if (s) s.lastActive = Date.now();
      await delivery.unsubscribe(channel, handler);
    },

    async history(channel: string, query: HistoryQuery = {}): Promise<HistoryResult> {
      assertOpen();
      // A channel never seen (or forgotten) starts a fresh epoch here, kept like any other, so
      // whoever reads its position now can recover against it later.
      const s = state(channel);
      const now = Date.now();
      trim(s, now, ttlByChannel.get(channel) ?? 0, s.history.length);
      return answerHistory(s, s.history, query);
    },

    async latest(channel: string): Promise<Publication[]> {
      assertOpen();
      const s = channels.get(channel);
      if (!s?.latest || s.latestUntil <= Date.now()) return [];
      return [...s.latest.values()].map(latestCopy);
    },

    async presenceAdd(channel, member, ttlMs) {
      assertOpen();
      (state(channel).presence ??= new Map()).set(member.connection, {
        member,
        expiresAt: Date.now() + ttlMs,
      });
    },

    async presenceRemove(channel, connection) {
      const s = channels.get(channel);
      s?.presence?.delete(connection);
    },

    async presence(channel) {
      assertOpen();
      const s = channels.get(channel);
      if (!s?.presence) return [];
      const now = Date.now();
      const members: PresenceMember[] = [];
      for (const entry of s.presence.values())
        if (entry.expiresAt > now) members.push(entry.member);
      return members;
    },

    async close() {
      closed = true;
      clearInterval(sweep);
      channels.clear();
      keys.clear();
      delivery.clear();
    },
  };
}
