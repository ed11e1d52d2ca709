import type { SwitchboardError } from '../protocol/errors.js';
import type {
  MessageFrame,
  PublishReply,
  StreamPosition,
  SubscribeReply,
} from '../protocol/frames.js';
import { Emitter } from '../shared/emitter.js';

export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';

export interface MessageMeta {
  channel: string;
  event: string;
  offset: number;
  epoch: string;
  /** The publishing user, when a client published it. */
  user?: string;
}

export interface SubscribedEvent extends StreamPosition {
  /** Present after a resubscribe: true when every missed publication was replayed, false on a gap. */
  recovered?: boolean;
}

export interface PublishCallOptions {
  /** Do not deliver this publication back to this client. */
  exceptSelf?: boolean;
  /** How long it may wait in the outbox and for the server's ack. Default: the client's outbox TTL. */
  timeoutMs?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: channel events carry app-defined payloads
type Handler = (data: any, meta: MessageMeta) => void;
type SubscriptionEvents = {
  [event: string]: Handler;
};

/** What a subscription needs from its client; an interface so the two files stay independent. */
export interface SubscriptionHost {
  publish(
    channel: string,
    event: string,
    data: unknown,
    options?: PublishCallOptions,
  ): Promise<PublishReply>;
  unsubscribe(subscription: Subscription): void;
}

/**
 * `sub.on(event, (data, meta) => …)` for channel events, `'*'` for all of them; lifecycle events
 * `'subscribed'` (SubscribedEvent), `'unsubscribed'` and `'error'` (SwitchboardError).
 *
 * A channel subscription. It outlives connections: after a reconnect the client resubscribes
 * from `position`, so the server replays what was missed, and drops anything already delivered.
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  state: SubscriptionState = 'subscribing';
  /** The last publication delivered (or the position at subscribe), used to recover after reconnects. */
  position: StreamPosition | undefined;
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

  /** @internal Delivers a publication unless it was delivered before (same epoch, offset not newer). */
  deliver(frame: MessageFrame): void {
    const { offset, epoch } = frame;
    if (offset === undefined || epoch === undefined) return;
    const position = this.position;
    if (position && position.epoch === epoch && offset <= position.offset) return;
    this.position = { offset, epoch };
    const meta: MessageMeta = { channel: this.channel, event: frame.event, offset, epoch };
    if (frame.user !== undefined) meta.user = frame.user;
    this.emit(frame.event, frame.data, meta);
    this.emit('*', frame.data, meta);
  }
}
