import type { SwitchboardError } from '../protocol/errors.js';
import type {
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
  publish(
    channel: string,
    event: string,
    data: unknown,
    options?: PublishCallOptions,
  ): Promise<PublishReply>;
  unsubscribe(subscription: Subscription): void;
  call<T>(type: 'presence' | 'history', channel: string, fields?: object): Promise<T>;
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
  /** @internal Consecutive UNAVAILABLE answers to this subscription's subscribe. */
  retries: number | undefined;
  /**
   * @internal Set when a publication arrived out of order: the client resubscribes from
   * `position`, and publications arriving meanwhile are dropped (the resubscribe replays them).
   */
  resyncing = false;
  /** @internal Resubscribes in a row, for their backoff; and when the last one was answered. */
  resyncs: number | undefined;
  resyncedAt: number | undefined;
  #waiters: [() => void, (error: SwitchboardError) => void][] = [];

  constructor(
    readonly channel: string,
    private readonly host: SubscriptionHost,
  ) {
    super();
  }

  publish(event: string, data?: unknown, options?: PublishCallOptions): Promise<PublishReply> {
    return this.host.publish(this.channel, event, data, options);
  }

  unsubscribe(): void {
    this.host.unsubscribe(this);
  }

  /** Who is here now (channels with presence enabled). Live changes: `$join` and `$leave`. */
  async presence(): Promise<PresenceMember[]> {
    return (await this.host.call<{ members: PresenceMember[] }>('presence', this.channel)).members;
  }

  /** Kept publications as message frames, oldest first (the newest `limit`, or those after `since`). */
  history(options: HistoryOptions = {}): Promise<HistoryReply> {
    return this.host.call<HistoryReply>('history', this.channel, options);
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

  /** Resolves once subscribed (immediately if it already is); rejects if the server refuses. */
  ready(): Promise<void> {
    if (this.state === 'subscribed') return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push([resolve, reject]));
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

  /** @internal */
  failed(error: SwitchboardError): void {
    this.state = 'unsubscribed';
    this.emit('error', error as never, undefined as never);
    for (const [, reject] of this.#waiters.splice(0)) reject(error);
  }

  /** @internal */
  ended(): void {
    if (this.state === 'unsubscribed') return;
    this.state = 'unsubscribed';
    this.emit('unsubscribed', undefined as never, undefined as never);
  }

  /**
   * @internal Delivers publications exactly once and in order. Within an epoch offsets are
   * 1, 2, 3, …: once subscribed, the next offset is delivered, one already delivered is dropped,
   * and anything else (a jump, another epoch) means something was missed: it is not delivered
   * and this returns false, for the client to resubscribe from `position`. Before the subscribe
   * reply (stream chunks in progress come ahead of it) anything newer is taken. The sender's own
   * `exceptSelf` publications arrive without data (`own`): they move the position, nothing else.
   */
  deliver(frame: MessageFrame): boolean {
    const { offset, epoch } = frame;
    const meta: MessageMeta = { channel: this.channel, event: frame.event };
    if (offset !== undefined && epoch !== undefined) {
      const where = step(this.position, offset, epoch);
      if (this.resyncing || where === 'seen') return true;
      if (this.state === 'subscribed' && where !== 'next') return false;
      this.position = { offset, epoch };
      meta.offset = offset;
      meta.epoch = epoch;
    } else if (!frame.ephemeral) return true;
    else meta.ephemeral = true;
    if (frame.own === true) return true;
    if (frame.user !== undefined) meta.user = frame.user;
    if (frame.stream !== undefined) meta.stream = frame.stream;
    this.emit(frame.event, frame.data, meta);
    this.emit('*', frame.data, meta);
    return true;
  }
}
