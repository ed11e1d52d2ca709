/**
 * One channel subscription: its state, its position in the channel, exactly-once in-order
 * delivery to its handlers, and its own retries — the subscribe asked again after UNAVAILABLE or
 * no answer in time, and the resubscribe after publications arrived out of order.
 */
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isId as isCount, isObject } from '../protocol/fields.js';
import type {
  ClientRequestFrame,
  HistoryReply,
  MessageFrame,
  PresenceMember,
  PublishReply,
  StreamMarker,
  StreamPosition,
  SubscribeReply,
} from '../protocol/frames.js';
import { step } from '../protocol/position.js';
import { Emitter } from '../shared/emitter.js';
import { backoffDelay } from './backoff.js';
import { STABLE_MS } from './options.js';
import type { Backoff, Entry } from './types.js';

export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';

export interface MessageMeta {
  channel: string;
  event: string;
  /** Absent on ephemeral messages, which are neither kept nor replayed. */
  offset?: number;
  epoch?: string;
  ephemeral?: true;
  /** The publishing user, when a client published it. */
  user?: string;
  /** Set on stream chunks: the stream's id, the chunk's sequence number, open/end/error. */
  stream?: StreamMarker;
  /**
   * A latest value sent on subscribe (channels with `latest`), before live ones: a snapshot that
   * may predate this subscription or repeat one seen before. It carries no offset.
   */
  latest?: true;
}

export interface SubscribedEvent extends StreamPosition {
  /** Present after a resubscribe: true when every missed publication was replayed, false on a gap. */
  recovered?: boolean;
}

export interface PublishCallOptions {
  /** Do not deliver this publication back to this client. */
  exceptSelf?: boolean;
  /** Deliver to current subscribers only: not kept, not replayed (typing indicators). */
  ephemeral?: boolean;
  /** @internal Set by `ClientStream`. */
  stream?: StreamMarker;
  /** How long it may wait in the outbox and for the server's ack. Default: the client's outbox TTL. */
  timeoutMs?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: channel events carry app-defined payloads
type Handler = (data: any, meta: MessageMeta) => void;
type SubscriptionEvents = {
  [event: string]: Handler;
};

export interface HistoryOptions {
  limit?: number;
  since?: StreamPosition;
}

/** A stream this client writes: chunks go through the outbox in order, each published once. */
export interface ClientStream {
  readonly id: string;
  write(chunk: unknown): Promise<PublishReply>;
  end(data?: unknown): Promise<PublishReply>;
  fail(message: string): Promise<PublishReply>;
}

/** What a subscription needs from its client; an interface so the two files stay independent. */
export interface SubscriptionHost {
  /** The client's methods that a subscription's own forward to, for its channel. */
  client: {
    publish(
      channel: string,
      event: string,
      data: unknown,
      options?: PublishCallOptions,
    ): Promise<PublishReply>;
    /** Forgets the subscription (it tells the server only if the subscription was not refused). */
    unsubscribe(subscription: Subscription): void;
    call<T>(type: 'presence' | 'history', channel: string, fields?: object): Promise<T>;
  };
  /** Where its own requests go: sent while connected, dropped otherwise (the next connection subscribes anyway). */
  outbox: { queue(entries: Entry[], first: boolean): void };
  /** Delays of its retries. */
  backoff: Backoff;
}

/**
 * `sub.on(event, (data, meta) => …)` for channel events, `'*'` for all of them; lifecycle events
 * `'subscribed'` (SubscribedEvent), after a resubscribe also `'recovered'` or `'gap'` (missed
 * publications could not all be replayed: refetch state), `'unsubscribed'` and `'error'`.
 * Presence: `'$join'` and `'$leave'` with the member.
 *
 * A channel subscription. It outlives connections: after a reconnect the client resubscribes
 * from `position`, so the server replays what was missed, and drops anything already delivered.
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  state: SubscriptionState = 'subscribing';
  /** The last publication delivered (or the position at subscribe), used to recover after reconnects. */
  position: StreamPosition | undefined;
  #host: SubscriptionHost;
  #waiters: [() => void, (error: SwitchboardError) => void][] = [];
  /** Subscribes in a row answered UNAVAILABLE or not answered in time: the next retry's backoff. */
  #subscribeRetries = 0;
  /**
   * Set when a publication arrived out of order (or a subscribe went unanswered): it
   * resubscribes from `position`, and publications arriving meanwhile are dropped (the
   * resubscribe replays them).
   */
  #resyncing = false;
  /** Resubscribes in a row after publications out of order, for their backoff; and when the last one was answered. */
  #resyncs = 0;
  #resyncedAt = 0;
  /** The next subscribe after a refusal, a timeout or a resync (at most one is ever pending). */
  #resubscribeTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Event → its latest data, least recently updated first: at most 256 names (above a `latest`
   * channel's default cap, 64; a bound on other channels), the least recently updated dropped.
   */
  #latest = new Map<string, unknown>();

  constructor(
    readonly channel: string,
    host: SubscriptionHost,
  ) {
    super();
    this.#host = host;
  }

  publish(event: string, data?: unknown, options?: PublishCallOptions): Promise<PublishReply> {
    return this.#host.client.publish(this.channel, event, data, options);
  }

  unsubscribe(): void {
    this.#host.client.unsubscribe(this);
  }

  /** Who is here now (channels with presence enabled). Live changes: `$join` and `$leave`. */
  async presence(): Promise<PresenceMember[]> {
    return (await this.#host.client.call<{ members: PresenceMember[] }>('presence', this.channel))
      .members;
  }

  /** Kept publications as message frames, oldest first (the newest `limit`, or those after `since`). */
  history(options: HistoryOptions = {}): Promise<HistoryReply> {
    return this.#host.client.call<HistoryReply>('history', this.channel, options);
  }

  /** Opens a stream on this channel (where the server enables streams and lets this client publish). */
  stream(event = 'stream', data?: unknown): ClientStream {
    const id = Math.random().toString(36).slice(2) + Date.now().toString(36);
    let seq = 0;
    const send = (payload: unknown, status?: StreamMarker['status']) => {
      const stream: StreamMarker = { id, seq: seq++ };
      if (status) stream.status = status;
      return this.publish(event, payload, { stream });
    };
    void send(data, 'open').catch(() => {});
    return {
      id,
      write: (chunk) => send(chunk),
      end: (final) => send(final, 'end'),
      fail: (message) => send({ error: message }, 'error'),
    };
  }

  /**
   * The latest data of `event` this subscription knows: on a `latest` channel the subscribe
   * delivers each event's value from before it, then live publications update it (on any
   * channel, the last one seen). Undefined when none is known.
   */
  latest<T = unknown>(event: string): T | undefined {
    return this.#latest.get(event) as T | undefined;
  }

  /** Resolves once subscribed (immediately if it already is); rejects if the server refuses. */
  ready(): Promise<void> {
    if (this.state === 'subscribed') return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push([resolve, reject]));
  }

  /** @internal The subscribe request, from `position`: its answer lands here. */
  request(): Entry {
    const frame: ClientRequestFrame = {
      type: 'subscribe',
      id: 0,
      channel: this.channel,
    };
    if (this.position) frame.since = this.position;
    this.state = 'subscribing';
    return entry(frame, this.#answered, this.#refused);
  }

  #answered = (reply: SubscribeReply): void => {
    if (this.state === 'unsubscribed') return;
    if (!isSubscribeReply(reply)) {
      this.failed(new SwitchboardError(ErrorCode.BAD_FRAME, 'Malformed subscribe reply'));
      return;
    }
    this.#subscribeRetries = 0;
    if (this.#resyncs) this.#resyncedAt = Date.now();
    this.subscribed(reply);
  };

  #refused = (error: SwitchboardError): void => {
    if (this.state === 'unsubscribed') return;
    // The server's broker is down for a moment, or the server did not answer in time: keep the
    // subscription and ask again, later and later.
    const timedOut = error.code === ErrorCode.TIMEOUT;
    if (timedOut || error.code === ErrorCode.UNAVAILABLE) {
      // Unanswered, it may still be subscribed on the server (a second subscribe would be
      // refused), and what that subscription delivers meanwhile cannot be checked against its
      // answer: like a resync, an unsubscribe goes first, and publications wait for the next
      // subscribe to replay them.
      this.#resyncing ||= timedOut;
      const delay = backoffDelay(++this.#subscribeRetries, this.#host.backoff);
      return this.#resubscribe(delay, timedOut, false);
    }
    this.failed(error);
  };

  /** The unsubscribe before a resubscribe is answered (or not): publications count again. */
  #unsubscribeAnswered = (): void => {
    this.#resyncing = false;
  };

  /**
   * Subscribes again after `delay`: after an unsubscribe when `again` (the server may hold the
   * old subscription), ahead of what waits when `first`. The timer is cleared with the
   * connection, as the next one subscribes from the position anyway.
   */
  #resubscribe(delay: number, again: boolean, first: boolean): void {
    clearTimeout(this.#resubscribeTimer);
    this.#resubscribeTimer = setTimeout(() => {
      this.#resubscribeTimer = undefined;
      if (this.state === 'unsubscribed') return;
      const requests: Entry[] = [];
      if (again) {
        const frame: ClientRequestFrame = {
          type: 'unsubscribe',
          id: 0,
          channel: this.channel,
        };
        requests.push(entry(frame, this.#unsubscribeAnswered, this.#unsubscribeAnswered));
      }
      requests.push(this.request());
      this.#host.outbox.queue(requests, first);
    }, delay);
  }

  /**
   * A publication arrived out of order (an offset past the next one, or another epoch):
   * something in between was lost on the way. It resubscribes from its position, and the server
   * replays what was missed or says it cannot (a gap). Consecutive resubscribes wait longer and
   * longer, so a broken server cannot make it spin.
   */
  #resync(): void {
    if (this.#resyncing) return;
    this.#resyncing = true;
    if (Date.now() - this.#resyncedAt >= STABLE_MS) this.#resyncs = 0;
    const attempt = this.#resyncs++;
    this.#resubscribe(attempt && backoffDelay(attempt - 1, this.#host.backoff), true, true);
  }

  /** @internal The connection is gone: retries stop; the next one subscribes from `position`. */
  reset(): void {
    this.state = 'subscribing';
    this.#resyncing = false;
    clearTimeout(this.#resubscribeTimer);
  }

  /** @internal */
  subscribed(reply: SubscribeReply): void {
    const recovering = reply.recovered !== undefined;
    // On a gap (or first subscribe) delivery starts from the server's current position.
    if (!recovering || !reply.recovered || !this.position)
      this.position = { offset: reply.offset, epoch: reply.epoch };
    this.state = 'subscribed';
    this.emit('subscribed', reply as never, undefined as never);
    if (recovering)
      this.emit(reply.recovered ? 'recovered' : 'gap', reply as never, undefined as never);
    for (const [resolve] of this.#waiters.splice(0)) resolve();
  }

  /** @internal Refused: it leaves its client, then tells its handlers and waiters why. */
  failed(error: SwitchboardError): void {
    this.state = 'unsubscribed';
    clearTimeout(this.#resubscribeTimer);
    this.#host.client.unsubscribe(this);
    this.emit('error', error as never, undefined as never);
    for (const [, reject] of this.#waiters.splice(0)) reject(error);
  }

  /** @internal Ended by the app, or by the server (`reason`: the refusal's code and message). */
  ended(reason?: { code: string; message: string }): void {
    if (this.state === 'unsubscribed') return;
    this.state = 'unsubscribed';
    clearTimeout(this.#resubscribeTimer);
    this.emit('unsubscribed', reason as never, undefined as never);
  }

  /**
   * @internal Delivers publications exactly once and in order. Within an epoch offsets are
   * 1, 2, 3, …: once subscribed, the next offset is delivered, one already delivered is dropped,
   * and anything else (a jump, another epoch) means something was missed: it is not delivered,
   * the subscription resubscribes from `position`, and this returns false. Before the subscribe
   * reply (stream chunks in progress come ahead of it) anything newer is taken. The sender's own
   * `exceptSelf` publications arrive without data (`own`): they move the position, nothing else.
   * Latest values (`latest`, before the reply) carry old offsets: they stay out of all that.
   */
  deliver(frame: MessageFrame): boolean {
    const { offset, epoch, event } = frame;
    const meta: MessageMeta = { channel: this.channel, event };
    if (frame.latest) meta.latest = true;
    else if (offset !== undefined && epoch !== undefined) {
      const where = step(this.position, offset, epoch, frame.covers);
      if (this.#resyncing || where === 'seen') return true;
      if (this.state === 'subscribed' && where !== 'next') {
        this.#resync();
        return false;
      }
      this.position = { offset, epoch };
      meta.offset = offset;
      meta.epoch = epoch;
    } else if (!frame.ephemeral) return true;
    else meta.ephemeral = true;
    if (frame.own === true) return true;
    if (frame.user !== undefined) meta.user = frame.user;
    if (frame.stream !== undefined) meta.stream = frame.stream;
    // As the server keeps them: no stream chunks, none of its own `$` events.
    if (!frame.stream && event[0] !== '$') {
      const latest = this.#latest;
      latest.delete(event);
      latest.set(event, frame.data);
      if (latest.size > 256) latest.delete(latest.keys().next().value!);
    }
    this.emit(event, frame.data, meta);
    this.emit('*', frame.data, meta);
    return true;
  }
}

/** An outbox entry for a request whose answer goes to `resolve` or `reject`. */
function entry(
  frame: ClientRequestFrame,
  resolve: (data: never) => void,
  reject: (error: SwitchboardError) => void,
): Entry {
  return { frame, resolve, reject, ttlTimer: undefined, sentAt: 0, bytes: 0 };
}

function isSubscribeReply(value: unknown): value is SubscribeReply {
  const r = value as Partial<SubscribeReply>;
  return (
    isObject(r) &&
    isCount(r.offset) &&
    typeof r.epoch === 'string' &&
    (r.recovered === undefined || typeof r.recovered === 'boolean')
  );
}
