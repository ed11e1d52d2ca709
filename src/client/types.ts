/**
 * The client's shared types, and nothing else: every client file may import this one and it
 * imports no client file, so no two client files need each other, not even for a type.
 */
import type { Codec } from '../protocol/codec.js';
import type { SwitchboardError } from '../protocol/errors.js';
import type { ClientRequestFrame } from '../protocol/frames.js';

/** How a client reaches the server: a WebSocket, or Server-Sent Events plus POST (see docs/protocol.md). */
export type ClientTransport = 'websocket' | 'sse';

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface StateChange {
  state: ClientState;
  previous: ClientState;
  /** Why: a close code and reason, 'backoff', 'closed by app'… */
  reason?: string;
}

/**
 * An event handler property of a WebSocket. Written as a method's type so that its parameter is
 * compared both ways: a socket whose handlers take a richer event (the browser's `MessageEvent`,
 * `ws`'s `WebSocket.MessageEvent`) fits, while the client reads only the fields named here.
 */
type SocketHandler<E> = { handle(event: E): void }['handle'];

/**
 * The part of the WebSocket API the client uses. The browser's (and Node 22's global)
 * `WebSocket` and `ws`'s class both fit without a cast, and so does a subclass of either.
 */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: SocketHandler<unknown> | null;
  onmessage: SocketHandler<{ data: unknown }> | null;
  onclose: SocketHandler<{ code: number; reason: string }> | null;
  onerror: SocketHandler<unknown> | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
/** `WebSocket` itself (browsers, Node 22+), `ws`'s default export, or a class like them. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** Upper bound of the first retry's delay. Default 500 ms. */
  minDelayMs?: number;
  /** Cap of the exponential growth. Default 10 s. */
  maxDelayMs?: number;
  /**
   * Give up (state 'closed') after this many failed attempts in a row. Default: never. A
   * connection dropped within 5 s of being established counts as failed: a server that accepts
   * and drops at once is retried with growing delays, like one that refuses.
   */
  maxAttempts?: number;
}

export interface ClientOptions {
  url: string;
  /** A token, or a function called before every connection attempt for a fresh one. */
  token?: string | (() => string | Promise<string>);
  /**
   * Default: the global WebSocket (browsers, Deno, Bun, Node 22+). In Node, where
   * `switchboard/client` resolves to its `node` build, `ws` (a dependency) when there is no
   * global, so Node 20 needs nothing either. Pass one to choose (`import WebSocket from 'ws'`).
   */
  WebSocket?: WebSocketConstructor;
  /**
   * The transports to try, in order: the next is tried at once when one closes before the
   * server answers (a proxy that refuses WebSocket upgrades). The one that connects is tried
   * first from then on. Default `['websocket', 'sse']`.
   */
  transports?: ClientTransport[];
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

// ── internal ─────────────────────────────────────────────────────────────────────────────────

/** The client's running counts, one object shared by the parts that count (see ClientMetrics). */
export type Counters = Omit<ClientMetrics, 'state' | 'queueDepth'>;

/** Delays of every retry: reconnects, resubscribes, uncertain publishes. */
export interface Backoff {
  minDelayMs: number;
  maxDelayMs: number;
}

/** One request in the outbox: waiting, in flight, or waiting for a retry. Settled exactly once. */
export interface Entry {
  frame: ClientRequestFrame;
  resolve: (data: never) => void;
  reject: (error: SwitchboardError) => void;
  /** Its time to live. */
  ttlTimer: ReturnType<typeof setTimeout> | undefined;
  sentAt: number;
  /** Encoded size, measured for entries that wait while offline (they count against maxBytes). */
  bytes: number;
  /** A publish answered UNCERTAIN: the last such answer, given to the app if its TTL runs out. */
  uncertain?: SwitchboardError;
  /** Retries after UNCERTAIN so far, minus one: the next retry's backoff attempt. */
  retries?: number;
}
