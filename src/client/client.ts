/**
 * The client's state machine — idle, connecting, connected, reconnecting, closed, changed only
 * by setState, which emits `{ state, previous, reason }` — and the wiring of its parts: a
 * Transport per connection attempt, the Outbox, Liveness, and the Subscriptions by channel.
 */
import { CloseCode, shouldReconnect } from '../protocol/close-codes.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isId as isCount, isObject } from '../protocol/fields.js';
import {
  type ClientRequestFrame,
  type ConnectReply,
  PROTOCOL_VERSION,
  type PublishReply,
} from '../protocol/frames.js';
import { Emitter } from '../shared/emitter.js';
import { backoffDelay } from './backoff.js';
import { Liveness } from './liveness.js';
import { type ResolvedOptions, resolveOptions, STABLE_MS } from './options.js';
import { Outbox } from './outbox.js';
import { type PublishCallOptions, Subscription, type SubscriptionHost } from './subscription.js';
import { Transport, type TransportEvents } from './transport.js';
import type {
  ClientEvents,
  ClientMetrics,
  ClientOptions,
  ClientState,
  ClientTransport,
  Counters,
  RequestOptions,
  WebSocketConstructor,
} from './types.js';

/** Built with `id: 0`: the outbox numbers each request as it takes it. */
type Frame = ClientRequestFrame;

/**
 * A Switchboard connection that survives network loss. Its requests wait in a bounded outbox
 * while disconnected; publishes carry an idempotency key and are resent after a reconnect until
 * acked, so each is published once; subscriptions are restored from where they left off.
 */
export class Client extends Emitter<ClientEvents> {
  state: ClientState = 'idle';
  /** The connection's id on the server, once connected. */
  connectionId: string | undefined;
  userId: string | undefined;
  /** The transport of the current connection (or attempt): see `transports` in ClientOptions. */
  transport: ClientTransport;
  #o: ResolvedOptions;
  #m: Counters = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    rttMs: undefined,
    reconnects: 0,
  };
  #outbox: Outbox;
  #liveness: Liveness;
  /** The current connection attempt's socket, or the connection's. */
  #socket: Transport | undefined;
  #subs = new Map<string, Subscription>();
  /** Failed connection attempts in a row: the next reconnect's backoff. */
  #attempt = 0;
  /** The next connection attempt (state 'reconnecting'). */
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** A server that refused `connect` gets this long to close the socket before it is dropped. */
  #refusalTimer: ReturnType<typeof setTimeout> | undefined;
  /** The error the server answered the current connection's `connect` with. */
  #refusal: SwitchboardError | undefined;
  /** Why the client closed: what connect() rejects with. */
  #closeError: SwitchboardError | undefined;
  #everConnected = false;
  /** When the current connection was established; 0 while not connected. */
  #connectedAt = 0;
  #session = randomId();
  /** Index in `transports` of the one to use: the next after one cut before it connected. */
  #kind = 0;
  /** Transports cut before connecting, in a row, in this attempt. */
  #tried = 0;
  #publishCount = 0;
  /** What subscriptions use of the client; the outbox and backoff are not public API. */
  #host: SubscriptionHost;

  constructor(options: ClientOptions) {
    super();
    const o = (this.#o = resolveOptions(options));
    this.transport = o.transports[0]!;
    this.#outbox = new Outbox(o, this.#m);
    this.#liveness = new Liveness(
      o,
      () => {
        this.#socket?.close(CloseCode.HEARTBEAT_TIMEOUT);
        this.#disconnected(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      },
      () => void this.#refresh(),
    );
    this.#host = { client: this, outbox: this.#outbox, backoff: o.backoff };
  }

  // ── the state machine ────────────────────────────────────────────────────────────────────

  /** Resolves once connected; keeps retrying through transient failures; rejects if the client closes. */
  connect(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'idle' || this.state === 'closed') {
      this.#attempt = 0;
      this.#setState('connecting');
      void this.#open();
    }
    return new Promise((resolve, reject) => {
      const off = this.on('state', ({ state, reason }) => {
        if (state === 'connected') resolve();
        else if (state === 'closed')
          reject(this.#closeError ?? new SwitchboardError(ErrorCode.CLOSED, reason ?? 'closed'));
        else return;
        off();
      });
    });
  }

  close(): void {
    this.#shutdown('closed by app', ErrorCode.CLOSED);
  }

  #setState(state: ClientState, reason?: string): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.#o.log?.('state', previous, '→', state, reason ?? '');
    this.emit('state', reason === undefined ? { state, previous } : { state, previous, reason });
  }

  /** connecting | reconnecting: a fresh token, a socket, and the connect handshake on it. */
  async #open(): Promise<void> {
    const { token } = this.#o;
    const kind = this.#o.transports[this.#kind]!;
    let value: string | undefined;
    try {
      value = typeof token === 'function' ? await token() : token;
    } catch {
      return this.#retry('token provider failed');
    }
    let Socket: WebSocketConstructor | undefined;
    if (kind === 'sse') {
      // Loaded when first needed (a chunk of its own in an app's bundle): most clients never
      // fall back, and their download carries none of it.
      try {
        Socket = (await import('./transport-sse.js')).SseSocket;
      } catch {
        return this.#retry('sse transport failed to load');
      }
    }
    if (this.state !== 'connecting' && this.state !== 'reconnecting') return;
    let socket: Transport;
    this.transport = kind;
    try {
      socket = new Transport(
        this.#o,
        this.#m,
        {
          open: () => this.#handshake(socket, value),
          frame: this.#handle,
          close: (code, reason) => this.#disconnected(code, reason),
        },
        Socket,
      );
    } catch {
      return this.#retry('invalid url');
    }
    this.#socket = socket;
  }

  /** The connect request goes ahead of the outbox, which waits for its reply. */
  #handshake(socket: Transport, token: string | undefined): void {
    const frame: Frame = { type: 'connect', id: 0, version: PROTOCOL_VERSION };
    if (token !== undefined) frame.token = token;
    if (this.#o.data !== undefined) frame.data = this.#o.data;
    this.#outbox.request<ConnectReply>(frame, undefined, socket).then(
      (reply) => {
        if (isConnectReply(reply)) return this.#connected(socket, reply);
        // A broken or hostile server: say so, and try again later (with a growing delay, as
        // the attempt counter is not reset) rather than run on numbers that are not numbers.
        if (this.#socket !== socket) return;
        this.emit('error', new SwitchboardError(ErrorCode.BAD_FRAME, 'Malformed connect reply'));
        socket.close(CloseCode.BAD_PROTOCOL);
        this.#disconnected(1002, 'malformed connect reply');
      },
      (error: SwitchboardError) => {
        if (this.#socket !== socket) return;
        // A silent server gives no close code, and a slow one is worth another attempt.
        if (error.code === ErrorCode.TIMEOUT) {
          socket.close();
          this.#disconnected(CloseCode.AUTH_TIMEOUT, 'connect timed out');
          return;
        }
        // An error reply comes with the server's own close code, which says whether to retry;
        // if it says not to, connect() rejects with this error.
        // A server that refuses and then keeps the socket open would hang the client forever:
        // past the request timeout, it is treated as a broken server and tried again later.
        this.#refusal = error;
        this.#refusalTimer = setTimeout(() => {
          if (this.#socket !== socket) return;
          socket.close(CloseCode.BAD_PROTOCOL);
          this.#disconnected(1002, `connect refused (${error.code}) without a close`);
        }, this.#o.requestTimeoutMs);
      },
    );
  }

  /** → connected: liveness starts, subscriptions are asked for again, then the outbox goes. */
  #connected(socket: Transport, reply: ConnectReply): void {
    if (this.#everConnected) this.#m.reconnects++;
    this.#everConnected = true;
    // The backoff is reset once this connection has proved stable (see #disconnected).
    this.#connectedAt = Date.now();
    this.connectionId = reply.connection;
    this.userId = reply.user;
    if (reply.maxMessageBytes) socket.maxMessageBytes = reply.maxMessageBytes;
    this.#liveness.start(socket, reply.heartbeatMs);
    this.#liveness.refreshAt(reply.expiresAt);
    // Subscriptions first, so publishes queued meanwhile land after the client is listening.
    const resubscribes = [];
    for (const sub of this.#subs.values()) resubscribes.push(sub.request());
    this.#outbox.resume(socket, reply.limits, resubscribes);
    this.#setState('connected');
  }

  /** The socket is gone (closed by either side, or given up on): → reconnecting or closed. */
  #disconnected(code: number, reason: string): void {
    // A server that accepts and drops at once (crash loop, a proxy in trouble) must see its
    // clients' delays grow, not a reconnect every few hundred milliseconds from each of them.
    const connectedAt = this.#connectedAt;
    if (connectedAt > 0 && Date.now() - connectedAt >= STABLE_MS) this.#attempt = 0;
    this.#connectedAt = 0;
    this.#socket = undefined;
    this.connectionId = undefined;
    const refusal = this.#refusal;
    this.#refusal = undefined;
    clearTimeout(this.#refusalTimer);
    this.#liveness.stop();
    this.#outbox.suspend(code);
    for (const sub of this.#subs.values()) sub.reset();
    if (this.state === 'closed') return;
    // Cut (1006) before it connected: maybe blocked here (a proxy refusing the upgrade; a
    // server that answered would have closed with its own code). The next transport is tried
    // at once, and kept from then on (a network that blocks WebSockets will block them next
    // time too); after a round of them, the usual backoff.
    const { length } = this.#o.transports;
    if (!connectedAt && code === 1006) {
      this.#kind = (this.#kind + 1) % length;
      if (++this.#tried < length) return void this.#open();
    }
    this.#tried = 0;
    const why = `${code}${reason ? ` ${reason}` : ''}`;
    // A fixed token that expired stays expired: retrying cannot help.
    const expired = code === CloseCode.TOKEN_EXPIRED && typeof this.#o.token !== 'function';
    if (expired || !shouldReconnect(code) || this.#o.reconnect === false) {
      // A refused connect says why; otherwise the close code does.
      this.#shutdown(
        why,
        refusal ??
          (expired
            ? ErrorCode.TOKEN_EXPIRED
            : code === CloseCode.UNAUTHORIZED
              ? ErrorCode.UNAUTHORIZED
              : ErrorCode.CLOSED),
      );
    } else {
      this.#retry(why);
    }
  }

  /** → reconnecting, with the next attempt after a backoff; → closed past maxAttempts. */
  #retry(reason: string): void {
    if (this.#attempt >= this.#o.maxAttempts) return this.#shutdown(reason, ErrorCode.CLOSED);
    this.#setState('reconnecting', reason);
    const delay = backoffDelay(this.#attempt++, this.#o.backoff);
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => void this.#open(), delay);
  }

  /** → closed: every timer stops, the socket closes, everything pending rejects with `cause`. */
  #shutdown(reason: string, cause: ErrorCode | SwitchboardError): void {
    if (this.state === 'closed') return;
    const error = cause instanceof SwitchboardError ? cause : new SwitchboardError(cause, reason);
    this.#closeError = error;
    this.#refusal = undefined;
    this.#setState('closed', reason);
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#refusalTimer);
    this.#liveness.stop();
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(1000);
    this.#outbox.fail(error);
    for (const sub of this.#subs.values()) sub.reset();
  }

  /** Frames from the current socket (a field, not a method: each transport holds it). */
  #handle: TransportEvents['frame'] = (frame) => {
    if (frame.type === 'unsubscribed') {
      // The server ended it (rights lost): it leaves without asking the server again.
      const sub = this.#subs.get(frame.channel);
      this.#subs.delete(frame.channel);
      sub?.ended(frame);
    } else if (frame.type !== 'message') {
      const stray = this.#outbox.answer(frame);
      if (stray) this.emit('error', stray);
    } else if (frame.channel === undefined) {
      if (frame.own !== true) this.emit('message', frame.event, frame.data);
    } else this.#subs.get(frame.channel)?.deliver(frame);
  };

  async #refresh(): Promise<void> {
    try {
      const token = this.#o.token as () => string | Promise<string>;
      const frame: Frame = { type: 'refresh', id: 0, token: await token() };
      const reply = await this.#request<{ expiresAt?: number }>(frame);
      this.#liveness.refreshAt(reply.expiresAt);
    } catch (error) {
      // The server closes at expiry (4002) and the reconnect fetches a fresh token.
      this.emit(
        'error',
        error instanceof SwitchboardError
          ? error
          : new SwitchboardError(ErrorCode.UNAUTHORIZED, 'Token refresh failed'),
      );
    }
  }

  // ── public API ───────────────────────────────────────────────────────────────────────────

  /**
   * Before connect() requests wait in the outbox like offline ones: a component may publish
   * before its provider connects. Only a closed client refuses.
   */
  #request<T>(frame: Frame, timeoutMs?: number): Promise<T> {
    if (this.state === 'closed')
      return Promise.reject(new SwitchboardError(ErrorCode.CLOSED, 'Client is closed'));
    return this.#outbox.request<T>(frame, timeoutMs);
  }

  /** Calls a server RPC; resolves to the handler's return value. Not retried after a disconnect. */
  request<T = unknown>(method: string, data?: unknown, options: RequestOptions = {}): Promise<T> {
    const frame: Frame = { type: 'rpc', id: 0, method };
    if (data !== undefined) frame.data = data;
    return this.#request<T>(frame, options.timeoutMs);
  }

  /** Publishes through the outbox: resolves when the server accepted it, exactly once. */
  publish(
    channel: string,
    event: string,
    data?: unknown,
    options: PublishCallOptions = {},
  ): Promise<PublishReply> {
    const frame: Frame = {
      type: 'publish',
      id: 0,
      channel,
      event,
      key: `${this.#session}.${++this.#publishCount}`,
    };
    if (data !== undefined) frame.data = data;
    if (options.exceptSelf) frame.exceptSelf = true;
    if (options.ephemeral) frame.ephemeral = true;
    if (options.stream) frame.stream = options.stream;
    return this.#request<PublishReply>(frame, options.timeoutMs ?? this.#o.outbox.ttlMs);
  }

  /** Subscribes (once per channel; a second call returns the same subscription). */
  subscribe(channel: string): Subscription {
    let sub = this.#subs.get(channel);
    if (sub) return sub;
    sub = new Subscription(channel, this.#host);
    this.#subs.set(channel, sub);
    this.#outbox.queue([sub.request()], false);
    return sub;
  }

  /** Forgets the subscription; tells the server unless the server refused it (then it holds none). */
  unsubscribe(sub: Subscription): void {
    if (this.#subs.get(sub.channel) !== sub) return;
    this.#subs.delete(sub.channel);
    if (sub.state === 'unsubscribed') return;
    sub.ended();
    if (this.state === 'connected') {
      const frame: Frame = { type: 'unsubscribe', id: 0, channel: sub.channel };
      this.#request(frame).catch(() => {});
    }
  }

  /** @internal Requests a subscription makes on its own behalf. */
  call<T>(type: 'presence' | 'history', channel: string, fields: object = {}): Promise<T> {
    const frame = { ...fields, type, id: 0, channel } as Frame;
    return this.#request<T>(frame);
  }

  /** Round trip to the server and back, in ms. */
  async ping(): Promise<number> {
    const start = Date.now();
    await this.#request({ type: 'ping', id: 0 });
    return Date.now() - start;
  }

  metrics(): ClientMetrics {
    return { state: this.state, ...this.#m, queueDepth: this.#outbox.depth };
  }
}

/** The fields the client computes with; extra fields are a newer server's business. */
function isConnectReply(value: unknown): value is ConnectReply {
  const r = value as Partial<ConnectReply>;
  return (
    isObject(r) &&
    typeof r.connection === 'string' &&
    typeof r.user === 'string' &&
    isCount(r.heartbeatMs) &&
    (r.expiresAt === undefined || Number.isFinite(r.expiresAt)) &&
    (r.maxMessageBytes === undefined || isCount(r.maxMessageBytes))
  );
}

function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(36)).join('');
}

export function createClient(options: ClientOptions): Client {
  return new Client(options);
}
