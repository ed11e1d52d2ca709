import { CloseCode, shouldReconnect } from '../protocol/close-codes.js';
import { type Codec, jsonCodec } from '../protocol/codec.js';
import { ErrorCode, isErrorCode, SwitchboardError } from '../protocol/errors.js';
import {
  type ClientRequestFrame,
  type ConnectReply,
  type ErrorFrame,
  PROTOCOL_VERSION,
  type PublishReply,
  type ServerFrame,
  type SubscribeReply,
} from '../protocol/frames.js';
import { parseServerFrame } from '../protocol/server-frame.js';
import { Emitter } from '../shared/emitter.js';
import { backoffDelay, type ReconnectOptions } from './backoff.js';
import { Pacer } from './outbox.js';
import { type PublishCallOptions, Subscription, type SubscriptionHost } from './subscription.js';

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface StateChange {
  state: ClientState;
  previous: ClientState;
  /** Why: a close code and reason, 'backoff', 'closed by app'… */
  reason?: string;
}

/** The part of the WebSocket API the client uses: browsers' and `ws`'s both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  url: string;
  /** A token, or a function called before every connection attempt for a fresh one. */
  token?: string | (() => string | Promise<string>);
  /** Default: the global WebSocket (browsers, Node 22+); pass `ws`'s in older Node. */
  WebSocket?: WebSocketConstructor;
  codec?: Codec;
  reconnect?: ReconnectOptions | false;
  /** Silence for `timeoutMs` means a dead link. Default: 1.5× the server's heartbeat interval. */
  heartbeat?: { timeoutMs?: number } | false;
  /** Default timeout of `request()`. Default 10 s. */
  requestTimeoutMs?: number;
  /** Bounds of the queue of requests waiting for a connection, and publishes' time to live. */
  outbox?: { maxEntries?: number; maxBytes?: number; ttlMs?: number };
  /** App data sent with `connect` (e.g. client name and build). */
  data?: unknown;
  /** Log every frame with its id and timestamp; or pass your own logging function. */
  debug?: boolean | ((...args: unknown[]) => void);
}

export interface ClientMetrics {
  state: ClientState;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Last measured request round trip, ms (undefined before the first reply). */
  rttMs: number | undefined;
  reconnects: number;
  /** Requests waiting to be sent plus those awaiting a reply. */
  queueDepth: number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

export type ClientEvents = {
  state: (change: StateChange) => void;
  /** Errors that answer no request: protocol errors from the server, refresh failures. */
  error: (error: SwitchboardError) => void;
  /** Events sent to this user or connection rather than to a channel. */
  // biome-ignore lint/suspicious/noExplicitAny: app-defined payload
  message: (event: string, data: any) => void;
};

type Frame = ClientRequestFrame;
interface Pending {
  frame: Frame;
  resolve: (data: never) => void;
  reject: (error: SwitchboardError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  sentAt: number;
  /** Encoded size, measured for entries that wait while offline (they count against maxBytes). */
  bytes: number;
  /** A publish answered UNCERTAIN: the last such answer, given to the app if its TTL runs out. */
  uncertain?: SwitchboardError;
  /** Retries after UNCERTAIN so far, minus one: the next retry's backoff attempt. */
  retries?: number;
}

const OPEN = 1;
/** Until the server says otherwise in its connect reply (servers before it accepted 64 KiB). */
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
const utf8Encoder = new TextEncoder();

/** Whether encoded data fits in `limit` bytes; a string's UTF-8 size is counted only when its length cannot tell. */
function fits(data: string | Uint8Array, limit: number): boolean {
  if (typeof data !== 'string') return data.byteLength <= limit;
  if (data.length * 3 <= limit) return true;
  return data.length <= limit && utf8Encoder.encode(data).byteLength <= limit;
}

const MAX_BATCH = 50;
/**
 * A connection that lasted this long counts as a success: the next drop retries from the first
 * delay. Likewise a subscription that stayed in sync this long after a resubscribe.
 */
const STABLE_MS = 5_000;

/**
 * A Switchboard connection that survives network loss. Its requests wait in a bounded outbox
 * while disconnected; publishes carry an idempotency key and are resent after a reconnect until
 * acked, so each is published once; subscriptions are restored from where they left off.
 */
export class Client extends Emitter<ClientEvents> implements SubscriptionHost {
  state: ClientState = 'idle';
  #o: ClientOptions;
  #codec: Codec;
  #WS: WebSocketConstructor;
  #ws: WebSocketLike | undefined;
  #nextId = 1;
  /** Sent, awaiting a reply. */
  #inflight = new Map<number, Pending>();
  /** Waiting for a connection (or for the current microtask's batch). */
  #queue: Pending[] = [];
  #flushScheduled = false;
  #subs = new Map<string, Subscription>();
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #liveTimer: ReturnType<typeof setInterval> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #lastSeen = 0;
  /** Subscribes waiting to be asked again after UNAVAILABLE; cleared with the connection. */
  #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  #everConnected = false;
  /** When the current connection was established; 0 while not connected. */
  #connectedAt = 0;
  #closeError: SwitchboardError | undefined;
  #heartbeatMs = 0;
  #maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  /** The current connection's pacing (the limits its connect reply announced). */
  #pacer = new Pacer(undefined, MAX_BATCH);
  /** Waiting for a token: the outbox sends again when it fires. */
  #paceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The outbox could not send everything at its last flush: what is queued now will wait. */
  #blocked = false;
  /**
   * Ids of requests given up on (timed out) while sent on this connection: the server still
   * counts them in flight until it answers, so the client does too.
   */
  #abandoned = new Set<number>();
  /** Publishes answered UNCERTAIN, waiting for their retry. */
  #delayed = new Map<Pending, ReturnType<typeof setTimeout>>();
  /** The error the server answered the current connection's `connect` with. */
  #refusal: SwitchboardError | undefined;
  #session = randomId();
  #publishCount = 0;
  #m = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    rttMs: undefined as number | undefined,
    reconnects: 0,
  };
  /** The connection's id on the server, once connected. */
  connectionId: string | undefined;
  userId: string | undefined;

  constructor(options: ClientOptions) {
    super();
    this.#o = options;
    this.#codec = options.codec ?? jsonCodec;
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TypeError('No WebSocket available: pass one as the WebSocket option');
    this.#WS = WS;
  }

  // ── connection ───────────────────────────────────────────────────────────────────────────

  /** Resolves once connected; keeps retrying through transient failures; rejects if the client closes. */
  connect(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'idle' || this.state === 'closed') {
      this.#attempt = 0;
      this.#setState('connecting');
      this.#addWake();
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

  async #open(): Promise<void> {
    const { token } = this.#o;
    let value: string | undefined;
    try {
      value = typeof token === 'function' ? await token() : token;
    } catch {
      return this.#retry('token provider failed');
    }
    if (this.state !== 'connecting' && this.state !== 'reconnecting') return;
    let ws: WebSocketLike;
    try {
      ws = new this.#WS(this.#o.url);
    } catch {
      return this.#retry('invalid url');
    }
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => this.#receive(e.data as string | ArrayBuffer);
    ws.onclose = (e) => this.#disconnected(e.code, e.reason);
    ws.onerror = () => {}; // a close event always follows with the code
    ws.onopen = () => {
      this.#lastSeen = Date.now();
      const frame: Frame = { type: 'connect', id: this.#id(), version: PROTOCOL_VERSION };
      if (value !== undefined) frame.token = value;
      if (this.#o.data !== undefined) frame.data = this.#o.data;
      // The connect request goes ahead of the outbox, which waits for its reply.
      this.#request<ConnectReply>(frame, this.#o.requestTimeoutMs ?? 10_000, true).then(
        (reply) => {
          if (isConnectReply(reply)) return this.#connected(reply);
          // A broken or hostile server: say so, and try again later (with a growing delay, as
          // the attempt counter is not reset) rather than run on numbers that are not numbers.
          if (this.#ws !== ws) return;
          this.emit(
            'error',
            new SwitchboardError(ErrorCode.BAD_FRAME, 'Malformed connect reply from the server'),
          );
          ws.onclose = ws.onmessage = null;
          ws.close(CloseCode.BAD_PROTOCOL);
          this.#disconnected(1002, 'malformed connect reply');
        },
        (error: SwitchboardError) => {
          if (this.#ws !== ws) return;
          // A silent server gives no close code, and a slow one is worth another attempt.
          if (error.code === ErrorCode.TIMEOUT) {
            ws.onclose = ws.onmessage = null;
            ws.close();
            this.#disconnected(CloseCode.AUTH_TIMEOUT, 'connect timed out');
            return;
          }
          // An error reply comes with the server's own close code, which says whether to retry;
          // if it says not to, connect() rejects with this error.
          // A server that refuses and then keeps the socket open would hang the client forever:
          // past the request timeout, it is treated as a broken server and tried again later.
          this.#refusal = error;
          const timer = setTimeout(() => {
            this.#retryTimers.delete(timer);
            if (this.#ws !== ws) return;
            ws.onclose = ws.onmessage = null;
            ws.close(CloseCode.BAD_PROTOCOL);
            this.#disconnected(1002, `connect refused (${error.code}) without a close`);
          }, this.#o.requestTimeoutMs ?? 10_000);
          this.#retryTimers.add(timer);
        },
      );
    };
  }

  #connected(reply: ConnectReply): void {
    if (this.#everConnected) this.#m.reconnects++;
    this.#everConnected = true;
    // The backoff is reset once this connection has proved stable (see #disconnected).
    this.#connectedAt = Date.now();
    this.connectionId = reply.connection;
    this.userId = reply.user;
    this.#heartbeatMs = reply.heartbeatMs;
    this.#maxMessageBytes = reply.maxMessageBytes || DEFAULT_MAX_MESSAGE_BYTES;
    this.#pacer = new Pacer(reply.limits, MAX_BATCH);
    this.#startLiveness();
    this.#scheduleRefresh(reply.expiresAt);
    // Subscriptions first, so publishes queued meanwhile land after the client is listening.
    const resubscribes: Pending[] = [];
    for (const sub of this.#subs.values()) resubscribes.push(this.#subscribeRequest(sub));
    this.#queue.unshift(...resubscribes);
    this.#setState('connected');
    this.#flush();
  }

  #disconnected(code: number, reason: string): void {
    // A server that accepts and drops at once (crash loop, a proxy in trouble) must see its
    // clients' delays grow, not a reconnect every few hundred milliseconds from each of them.
    if (this.#connectedAt > 0 && Date.now() - this.#connectedAt >= STABLE_MS) this.#attempt = 0;
    this.#connectedAt = 0;
    this.#ws = undefined;
    this.connectionId = undefined;
    const refusal = this.#refusal;
    this.#refusal = undefined;
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    clearInterval(this.#liveTimer);
    clearTimeout(this.#refreshTimer);
    this.#stopPacing();
    const resend: Pending[] = [];
    for (const pending of this.#inflight.values()) {
      const { frame } = pending;
      // Publishes carry idempotency keys and subscribes are rebuilt on reconnect; anything else
      // (an RPC) may have run, so its caller decides whether to retry.
      if (frame.type === 'publish') {
        pending.bytes = this.#size(frame);
        resend.push(pending);
      } else if (frame.type !== 'subscribe') {
        clearTimeout(pending.timer);
        pending.reject(new SwitchboardError(ErrorCode.DISCONNECTED, `Connection lost (${code})`));
      }
    }
    this.#inflight.clear();
    // Sent before anything still waiting, so a publisher's order survives the reconnect;
    // resubscribes are re-created from the subscriptions themselves on the next connect.
    this.#queue = resend.concat(
      this.#queue.filter((p) => p.frame.type !== 'subscribe' && p.frame.type !== 'unsubscribe'),
    );
    for (const sub of this.#subs.values()) {
      sub.state = 'subscribing';
      sub.resyncing = false;
    }
    if (this.state === 'closed') return;
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

  #retry(reason: string): void {
    const options = this.#o.reconnect;
    if (options === false || this.#attempt >= (options?.maxAttempts ?? Number.POSITIVE_INFINITY)) {
      return this.#shutdown(reason, ErrorCode.CLOSED);
    }
    this.#setState('reconnecting', reason);
    const delay = backoffDelay(this.#attempt++, options ?? {});
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#open(), delay);
  }

  #shutdown(reason: string, cause: ErrorCode | SwitchboardError): void {
    if (this.state === 'closed') return;
    const error = cause instanceof SwitchboardError ? cause : new SwitchboardError(cause, reason);
    this.#closeError = error;
    this.#refusal = undefined;
    this.#stopPacing();
    this.#setState('closed', reason);
    clearTimeout(this.#retryTimer);
    clearInterval(this.#liveTimer);
    clearTimeout(this.#refreshTimer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    this.#removeWake?.();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close(1000);
    }
    for (const timer of this.#delayed.values()) clearTimeout(timer);
    for (const pending of [...this.#inflight.values(), ...this.#queue, ...this.#delayed.keys()]) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#inflight.clear();
    this.#delayed.clear();
    this.#queue = [];
    for (const sub of this.#subs.values()) {
      sub.state = 'subscribing';
      sub.resyncing = false;
    }
  }

  #setState(state: ClientState, reason?: string): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.#log('state', previous, '→', state, reason ?? '');
    this.emit('state', reason === undefined ? { state, previous } : { state, previous, reason });
  }

  // ── liveness ─────────────────────────────────────────────────────────────────────────────

  /**
   * Judged by the wall clock, not by counting timer ticks: a throttled background tab fires the
   * check late, but the check still sees how long the line has really been silent. Waking up
   * (visibility, network back) checks at once instead of waiting for the next tick.
   */
  #startLiveness(): void {
    const { heartbeat } = this.#o;
    if (heartbeat === false || this.#heartbeatMs <= 0) return;
    const timeout = heartbeat?.timeoutMs ?? this.#heartbeatMs * 1.5;
    // Capped: past 2^31 ms Node fires intervals every millisecond, and a server may announce any
    // interval; the check reads the wall clock, so ticking more often than needed costs nothing.
    const every = Math.min(Math.max(50, timeout / 4), 30_000);
    this.#liveTimer = setInterval(() => this.#checkAlive(timeout), every);
  }

  #checkAlive(
    timeout = (this.#o.heartbeat || undefined)?.timeoutMs ?? this.#heartbeatMs * 1.5,
  ): void {
    if (
      this.state === 'connected' &&
      this.#heartbeatMs > 0 &&
      Date.now() - this.#lastSeen > timeout
    ) {
      this.#log('heartbeat timeout');
      const ws = this.#ws;
      if (ws) {
        ws.onclose = ws.onmessage = null;
        ws.close(4006);
      }
      this.#disconnected(4006, 'heartbeat timeout');
    }
  }

  #removeWake: (() => void) | undefined;
  #addWake(): void {
    if (this.#removeWake) return;
    const g = globalThis as unknown as {
      addEventListener?: (type: string, fn: () => void) => void;
      removeEventListener?: (type: string, fn: () => void) => void;
    };
    const wake = () => this.#checkAlive();
    g.addEventListener?.('online', wake);
    g.addEventListener?.('focus', wake);
    this.#removeWake = () => {
      g.removeEventListener?.('online', wake);
      g.removeEventListener?.('focus', wake);
      this.#removeWake = undefined;
    };
  }

  #scheduleRefresh(expiresAt: number | undefined): void {
    clearTimeout(this.#refreshTimer);
    const { token } = this.#o;
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || typeof token !== 'function')
      return;
    // Well before expiry, whatever the token's lifetime; capped to what setTimeout can count.
    const delay = Math.min(Math.max(0, (expiresAt - Date.now()) * 0.8), 2 ** 31 - 1);
    this.#refreshTimer = setTimeout(async () => {
      try {
        const frame: Frame = { type: 'refresh', id: this.#id(), token: await token() };
        const reply = await this.#request<{ expiresAt?: number }>(
          frame,
          this.#o.requestTimeoutMs ?? 10_000,
        );
        this.#scheduleRefresh(reply.expiresAt);
      } catch (error) {
        // The server closes at expiry (4002) and the reconnect fetches a fresh token.
        this.emit(
          'error',
          error instanceof SwitchboardError
            ? error
            : new SwitchboardError(ErrorCode.UNAUTHORIZED, 'Token refresh failed'),
        );
      }
    }, delay);
  }

  // ── requests ─────────────────────────────────────────────────────────────────────────────

  #id(): number {
    return this.#nextId++;
  }

  /** Every request settles exactly once: reply, error reply, timeout, disconnect or close. */
  #request<T>(frame: Frame, timeoutMs: number, immediate = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Before connect() requests wait in the outbox like offline ones: a component may publish
      // before its provider connects. Only a closed client refuses.
      if (this.state === 'closed')
        return reject(new SwitchboardError(ErrorCode.CLOSED, 'Client is closed'));
      // The connect request never waits, and a full outbox must not keep it from reconnecting.
      if (!immediate && this.#queue.length >= (this.#o.outbox?.maxEntries ?? 1000))
        return reject(new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Outbox is full'));
      // Only what waits (for a connection, or for the server's limits) can pile up.
      const bytes =
        !immediate && (this.state !== 'connected' || this.#blocked) ? this.#size(frame) : 0;
      if (bytes > 0 && this.#waitingBytes() + bytes > (this.#o.outbox?.maxBytes ?? 1024 * 1024))
        return reject(new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Outbox is full (bytes)'));
      const pending: Pending = {
        frame,
        resolve: resolve as (data: never) => void,
        reject,
        timer: undefined,
        sentAt: 0,
        bytes,
      };
      pending.timer = setTimeout(() => this.#expire(pending, timeoutMs), timeoutMs);
      if (immediate) this.#send([pending]);
      else {
        this.#queue.push(pending);
        this.#flush();
      }
    });
  }

  /** Expired: never sent afterwards, whether it was waiting, in flight or about to be retried. */
  #expire(pending: Pending, timeoutMs: number): void {
    const { frame } = pending;
    if (this.#inflight.get(frame.id) === pending) {
      this.#inflight.delete(frame.id);
      // The server answers it some day and counts it until then.
      this.#abandoned.add(frame.id);
    }
    const index = this.#queue.indexOf(pending);
    if (index >= 0) this.#queue.splice(index, 1);
    clearTimeout(this.#delayed.get(pending));
    this.#delayed.delete(pending);
    pending.reject(
      pending.uncertain ??
        new SwitchboardError(
          ErrorCode.TIMEOUT,
          `No reply to "${frame.type}" within ${timeoutMs} ms`,
        ),
    );
  }

  #size(frame: Frame): number {
    const data = this.#codec.encode(frame);
    return typeof data === 'string' ? data.length : data.byteLength;
  }

  #waitingBytes(): number {
    let total = 0;
    for (const pending of this.#queue) total += pending.bytes;
    return total;
  }

  /** Sends what waits, batched per microtask, once connected. */
  #flush(): void {
    if (this.#flushScheduled || this.state !== 'connected') return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#drain();
    });
  }

  /**
   * Sends as much of the queue as the server's limits allow: no more requests awaiting replies
   * than `maxInFlight`, no more frames than its token bucket holds, batches of at most
   * `maxBatch`. The rest waits, in order, for replies (each one flushes again) or for the next
   * token (a timer); nothing is dropped and nothing is sent to be refused.
   */
  #drain(): void {
    clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    const pacer = this.#pacer;
    while (this.state === 'connected' && this.#queue.length > 0) {
      const room = pacer.inFlight - this.#inflight.size - this.#abandoned.size;
      const count = Math.min(this.#queue.length, pacer.batch, room, pacer.tokens());
      if (count <= 0) {
        this.#blocked = true;
        if (room > 0) this.#paceTimer = setTimeout(() => this.#drain(), pacer.wait());
        return;
      }
      if (!this.#send(this.#queue.splice(0, count))) break;
      pacer.spend(count);
    }
    this.#blocked = false;
  }

  #stopPacing(): void {
    this.#pacer = new Pacer(undefined, MAX_BATCH);
    clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    this.#blocked = false;
    this.#abandoned.clear();
  }

  #send(batch: Pending[]): boolean {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) {
      // Closing: the close event requeues what is in flight; this waits with the rest.
      this.#queue.unshift(...batch);
      return false;
    }
    const now = Date.now();
    const frames = batch.map((p) => {
      p.sentAt = now;
      this.#inflight.set(p.frame.id, p);
      return p.frame;
    });
    this.#writeBatch(frames);
    return true;
  }

  /**
   * One message per batch, split in halves while it is larger than the server accepts: eight
   * 16 KiB publishes in one tick must not all fail TOO_LARGE together. A single frame too large
   * goes as is and gets its own TOO_LARGE.
   */
  #writeBatch(frames: Frame[]): void {
    if (frames.length === 1) return this.#write(frames[0]!);
    const data = this.#codec.encode(frames);
    if (!fits(data, this.#maxMessageBytes)) {
      const half = frames.length >> 1;
      this.#writeBatch(frames.slice(0, half));
      this.#writeBatch(frames.slice(half));
      return;
    }
    this.#writeEncoded(frames, data);
  }

  #write(frames: Frame | Frame[] | { type: 'pong' }): void {
    this.#writeEncoded(frames, this.#codec.encode(frames));
  }

  #writeEncoded(frames: Frame | Frame[] | { type: 'pong' }, data: string | Uint8Array): void {
    this.#m.messagesOut++;
    this.#m.bytesOut += typeof data === 'string' ? data.length : data.byteLength;
    this.#log('→', frames);
    this.#ws?.send(data);
  }

  #receive(data: string | ArrayBuffer): void {
    this.#lastSeen = Date.now();
    this.#m.messagesIn++;
    this.#m.bytesIn += typeof data === 'string' ? data.length : data.byteLength;
    let decoded: unknown;
    try {
      decoded = this.#codec.decode(typeof data === 'string' ? data : new Uint8Array(data));
    } catch {
      return this.#log('undecodable message dropped');
    }
    for (const value of Array.isArray(decoded) ? decoded : [decoded]) {
      const frame = parseServerFrame(value);
      this.#log('←', value);
      if (frame) this.#handle(frame);
    }
  }

  #handle(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ping':
        return this.#write({ type: 'pong' });
      case 'message': {
        if (frame.channel === undefined) {
          if (frame.own !== true) this.emit('message', frame.event, frame.data);
          return;
        }
        const sub = this.#subs.get(frame.channel);
        if (sub && !sub.deliver(frame)) this.#resync(sub);
        return;
      }
      case 'reply':
      case 'error': {
        const pending = frame.id === undefined ? undefined : this.#inflight.get(frame.id);
        // Each answer frees a request slot: what waits for one goes now.
        if (this.#queue.length > 0) this.#flush();
        if (!pending) {
          // A late answer to a request given up on is no news to anyone.
          if (frame.id !== undefined && this.#abandoned.delete(frame.id)) return;
          if (frame.type === 'error') this.emit('error', toError(frame));
          return;
        }
        this.#inflight.delete(frame.id!);
        this.#m.rttMs = Date.now() - pending.sentAt;
        if (frame.type === 'reply') {
          clearTimeout(pending.timer);
          pending.resolve(frame.data as never);
          return;
        }
        const error = toError(frame);
        // Once an attempt's outcome was unknown, a later refusal of a retry says nothing of it:
        // the publish stays uncertain and keeps being asked until its time to live runs out.
        const unknown =
          error.code === ErrorCode.UNCERTAIN ||
          (pending.uncertain !== undefined && error.code === ErrorCode.UNAVAILABLE);
        if (!unknown || pending.frame.type !== 'publish') {
          clearTimeout(pending.timer);
          return pending.reject(error);
        }
        // The server could not tell whether it published: asked again with the same idempotency
        // key (applied at most once), after a growing delay, until its time to live runs out.
        if (error.code === ErrorCode.UNCERTAIN) pending.uncertain = error;
        const timer = setTimeout(
          () => {
            this.#delayed.delete(pending);
            this.#queue.unshift(pending);
            this.#flush();
          },
          backoffDelay((pending.retries = (pending.retries ?? -1) + 1), this.#o.reconnect || {}),
        );
        this.#delayed.set(pending, timer);
      }
    }
  }

  /**
   * A subscription saw a publication out of order (an offset past the next one, or another
   * epoch): something in between was lost on the way. It resubscribes from its position, and
   * the server replays what was missed or says it cannot (a gap). Consecutive resubscribes of
   * one subscription wait longer and longer, so a broken server cannot make it spin.
   */
  #resync(sub: Subscription): void {
    if (sub.resyncing) return;
    sub.resyncing = true;
    if (Date.now() - (sub.resyncedAt ?? 0) >= STABLE_MS) sub.resyncs = 0;
    const attempt = sub.resyncs ?? 0;
    sub.resyncs = attempt + 1;
    // Cleared with the connection: the reconnect resubscribes from the position anyway.
    const timer = setTimeout(
      () => {
        this.#retryTimers.delete(timer);
        if (this.#subs.get(sub.channel) !== sub) return;
        const done = () => {
          sub.resyncing = false;
        };
        const unsubscribe: Frame = { type: 'unsubscribe', id: this.#id(), channel: sub.channel };
        this.#queue.unshift(
          {
            frame: unsubscribe,
            resolve: done,
            reject: done,
            timer: undefined,
            sentAt: 0,
            bytes: 0,
          },
          this.#subscribeRequest(sub),
        );
        this.#flush();
      },
      attempt && backoffDelay(attempt - 1, this.#o.reconnect || {}),
    );
    this.#retryTimers.add(timer);
  }

  // ── public API ───────────────────────────────────────────────────────────────────────────

  /** Calls a server RPC; resolves to the handler's return value. Not retried after a disconnect. */
  request<T = unknown>(method: string, data?: unknown, options: RequestOptions = {}): Promise<T> {
    const frame: Frame = { type: 'rpc', id: this.#id(), method };
    if (data !== undefined) frame.data = data;
    return this.#request<T>(frame, options.timeoutMs ?? this.#o.requestTimeoutMs ?? 10_000);
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
      id: this.#id(),
      channel,
      event,
      key: `${this.#session}.${++this.#publishCount}`,
    };
    if (data !== undefined) frame.data = data;
    if (options.exceptSelf) frame.exceptSelf = true;
    if (options.ephemeral) frame.ephemeral = true;
    if (options.stream) frame.stream = options.stream;
    return this.#request<PublishReply>(frame, options.timeoutMs ?? this.#o.outbox?.ttlMs ?? 30_000);
  }

  /** Subscribes (once per channel; a second call returns the same subscription). */
  subscribe(channel: string): Subscription {
    let sub = this.#subs.get(channel);
    if (sub) return sub;
    sub = new Subscription(channel, this);
    this.#subs.set(channel, sub);
    if (this.state === 'connected') {
      this.#queue.push(this.#subscribeRequest(sub));
      this.#flush();
    }
    return sub;
  }

  #subscribeRequest(sub: Subscription): Pending {
    const frame: Frame = { type: 'subscribe', id: this.#id(), channel: sub.channel };
    if (sub.position) frame.since = sub.position;
    sub.state = 'subscribing';
    const pending: Pending = {
      frame,
      resolve: ((reply: SubscribeReply) => {
        if (this.#subs.get(sub.channel) !== sub) return;
        if (!isSubscribeReply(reply)) {
          this.#subs.delete(sub.channel);
          sub.failed(new SwitchboardError(ErrorCode.BAD_FRAME, 'Malformed subscribe reply'));
          return;
        }
        sub.retries = 0;
        if (sub.resyncs) sub.resyncedAt = Date.now();
        sub.subscribed(reply);
      }) as (data: never) => void,
      reject: (error) => {
        if (this.#subs.get(sub.channel) !== sub) return;
        // The server's broker is down for a moment: keep the subscription and ask again.
        if (error.code === ErrorCode.UNAVAILABLE && this.state === 'connected') {
          sub.retries = (sub.retries ?? 0) + 1;
          const timer = setTimeout(
            () => {
              this.#retryTimers.delete(timer);
              if (this.#subs.get(sub.channel) !== sub || this.state !== 'connected') return;
              this.#queue.push(this.#subscribeRequest(sub));
              this.#flush();
            },
            backoffDelay(sub.retries, this.#o.reconnect || {}),
          );
          this.#retryTimers.add(timer);
          return;
        }
        this.#subs.delete(sub.channel);
        sub.failed(error);
      },
      timer: undefined,
      sentAt: 0,
      bytes: 0,
    };
    return pending;
  }

  unsubscribe(sub: Subscription): void {
    if (this.#subs.get(sub.channel) !== sub) return;
    this.#subs.delete(sub.channel);
    sub.ended();
    if (this.state === 'connected') {
      this.#request(
        { type: 'unsubscribe', id: this.#id(), channel: sub.channel },
        this.#o.requestTimeoutMs ?? 10_000,
      ).catch(() => {});
    }
  }

  /** @internal Requests a subscription makes on its own behalf. */
  call<T>(type: 'presence' | 'history', channel: string, fields: object = {}): Promise<T> {
    return this.#request<T>(
      { ...fields, type, id: this.#id(), channel } as Frame,
      this.#o.requestTimeoutMs ?? 10_000,
    );
  }

  /** Round trip to the server and back, in ms. */
  async ping(): Promise<number> {
    const start = Date.now();
    await this.#request({ type: 'ping', id: this.#id() }, this.#o.requestTimeoutMs ?? 10_000);
    return Date.now() - start;
  }

  metrics(): ClientMetrics {
    return {
      state: this.state,
      ...this.#m,
      queueDepth: this.#queue.length + this.#inflight.size + this.#delayed.size,
    };
  }

  #log(...args: unknown[]): void {
    const { debug } = this.#o;
    if (!debug) return;
    (debug === true ? console.debug : debug)('[switchboard]', new Date().toISOString(), ...args);
  }
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The fields the client computes with; extra fields are a newer server's business. */
function isConnectReply(value: unknown): value is ConnectReply {
  const r = value as Partial<ConnectReply> | null | undefined;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.connection === 'string' &&
    typeof r.user === 'string' &&
    isCount(r.heartbeatMs) &&
    (r.expiresAt === undefined || Number.isFinite(r.expiresAt)) &&
    (r.maxMessageBytes === undefined || isCount(r.maxMessageBytes))
  );
}

function isSubscribeReply(value: unknown): value is SubscribeReply {
  const r = value as Partial<SubscribeReply> | null | undefined;
  return (
    typeof r === 'object' &&
    r !== null &&
    isCount(r.offset) &&
    typeof r.epoch === 'string' &&
    (r.recovered === undefined || typeof r.recovered === 'boolean')
  );
}

function toError(frame: ErrorFrame): SwitchboardError {
  return new SwitchboardError(
    isErrorCode(frame.code) ? frame.code : ErrorCode.INTERNAL,
    frame.message,
    frame.details,
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
