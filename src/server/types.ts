import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type {
  Broker,
  HistoryQuery,
  HistoryResult,
  Publication,
  PublishResult,
} from '../broker/types.js';
import type { Codec } from '../protocol/codec.js';
import type { PresenceMember, ServerFrame } from '../protocol/frames.js';
import type { StandardSchemaV1 } from '../shared/standard-schema.js';

import type {
  ApiOptions,
  AuthOptions,
  HealthOptions,
  LimitOptions,
  MetricsOptions,
} from './options.js';

export type {
  ApiOptions,
  AuthenticateResult,
  AuthOptions,
  HealthOptions,
  JwksOptions,
  JwtOptions,
  LimitOptions,
  MetricsOptions,
} from './options.js';

/**
 * Every public type of the gateway, and nothing else: what apps and plug-ins program against.
 * It imports no implementation, so any file may depend on it without pulling the server in.
 */

// ── the server ──────────────────────────────────────────────────────────────────────────────

export interface HeartbeatOptions {
  /** The server pings every interval; a connection silent for two intervals is dropped. Default 25 s. */
  intervalMs?: number;
}

export interface ServerOptions {
  /** Port to listen on when the gateway owns its HTTP server; 0 picks a free one. Default 0. */
  port?: number;
  /** Default 127.0.0.1; set '0.0.0.0' or '::' to accept outside connections. */
  host?: string;
  /** Attach to your own HTTP server (Express, Fastify's `server`, plain node:http). */
  server?: HttpServer;
  /** URL path of the WebSocket endpoint. Default '/ws'. */
  path?: string;
  auth?: AuthOptions;
  /** Channel patterns (`*` matches anything); a channel that matches none is refused. */
  channels?: Record<string, ChannelOptions>;
  /** Default: an in-memory broker owned (and closed) by this server. */
  broker?: Broker;
  codec?: Codec;
  limits?: LimitOptions;
  heartbeat?: HeartbeatOptions | false;
  taps?: Tap[];
  logger?: Logger;
  /** Serve /healthz and /readyz (readiness proves delivery through the broker). Off unless set. */
  health?: HealthOptions | boolean;
  /** Serve Prometheus metrics (prom-client) at /metrics. Off unless set. */
  metrics?: MetricsOptions | boolean;
  /** Serve the HTTP server API (publish, history, presence…) under /api, behind an API key. */
  api?: ApiOptions;
  /**
   * How often this node reports its channel counts to the others (for `clusterChannels()` and
   * the API's channel list). Default 10 s when the API is on; 0 (never) otherwise.
   */
  nodeReportMs?: number;
}

export interface ChannelCount {
  channel: string;
  subscribers: number;
}

export interface ClusterChannels {
  nodes: number;
  connections: number;
  channels: ChannelCount[];
}

export interface ListenAddress {
  host: string;
  port: number;
  /** The WebSocket URL clients connect to. */
  url: string;
  /** Where metrics are served when `metrics.port` gives them a port of their own. */
  metrics?: SideAddress;
  /** Where health endpoints are served when `health.port` gives them a port of their own. */
  health?: SideAddress;
}

/** The address of a plug-in's own HTTP server (metrics, health). */
export interface SideAddress {
  host: string;
  port: number;
  /** Its base URL, e.g. http://127.0.0.1:9464 (append the path). */
  url: string;
}

export interface RpcContext {
  connection: ServerConnection;
  identity: Identity;
  /** The method called: lets one `'*'` handler serve many (e.g. a proxy to a backend). */
  method: string;
}

export interface RpcOptions<S extends StandardSchemaV1 = StandardSchemaV1> {
  /** Validates (and may transform) the request's data; failures reply VALIDATION_FAILED. */
  schema?: S;
}

export type RpcHandler<T = unknown> = (data: T, context: RpcContext) => unknown;

export interface PublishOptions {
  /** Do not deliver to this connection (e.g. the one whose request caused the publish). */
  exceptConnection?: string;
  /** Deliver to current subscribers only: no offset, no history, no replay. */
  ephemeral?: boolean;
  /** A repeat of this key inside the broker's window returns the first result, unpublished. */
  idempotencyKey?: string;
}

export interface StreamOptions {
  /** The event name the stream's chunks carry. Default 'stream'. */
  event?: string;
  /** Payload of the opening marker (e.g. who is answering). */
  data?: unknown;
  /**
   * The stream's id (1 to 128 characters), for a writer that must refer to the stream before
   * it ends (an agent's status updates name the reply they belong to); default a random one.
   * An id in progress on the channel on this node is refused (FORBIDDEN); pick ids unique across
   * nodes (a random part), as the default is.
   */
  id?: string;
}

export type ServerEvents = {
  /** A connection authenticated. */
  connection: (connection: ServerConnection) => void;
  disconnect: (connection: ServerConnection, code: number, reason: string) => void;
};

/** Upgrade handlers added by plug-ins; return true when the socket is theirs. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

/** HTTP handlers added by plug-ins (inspector, metrics, health); return true when handled. */
export type HttpHandler = (
  request: IncomingMessage,
  response: ServerResponse,
) => boolean | Promise<boolean>;

export interface Server {
  listen(): Promise<ListenAddress>;
  /** Drains: every client gets 1001, then sockets, timers and (an owned) broker are released. */
  close(): Promise<void>;
  /** Publish to a channel through the broker: every subscriber on every node receives it. */
  publish(
    channel: string,
    event: string,
    data?: unknown,
    options?: PublishOptions,
  ): Promise<PublishResult>;
  /** Send to every connection of a user, on every node. */
  sendToUser(userId: string, event: string, data?: unknown): Promise<void>;
  /** Send to one connection of this node; false when it is not here or not open. */
  sendToConnection(connectionId: string, event: string, data?: unknown): boolean;
  /** Close every connection of a user on this node. */
  disconnectUser(userId: string, code?: number, reason?: string): number;
  /**
   * Check every subscription of a user's connections again, on every node (e.g. after a role
   * change in your database): those the channel's `authorize` now refuses end with an
   * `unsubscribed` frame (the client's `sub.on('unsubscribed', { code })`); connections stay.
   */
  reauthorize(userId: string): Promise<void>;
  /**
   * Fetches the JWKS endpoint's key set again now (`auth.jwt.jwksUrl`): after a key leak, the
   * removed key stops working at once instead of at the cache's next refresh. A no-op otherwise.
   */
  refreshKeys(): Promise<void>;
  /** Close every connection of a user on every node (through the broker). */
  disconnectUserEverywhere(userId: string, code?: number, reason?: string): Promise<void>;
  /** Channels with subscribers on this node, and how many. */
  localChannels(): ChannelCount[];
  /**
   * Channels with subscribers on every node, summed. Other nodes' counts are as of their last
   * report (every `nodeReportMs`); this node's are live.
   */
  clusterChannels(): Promise<ClusterChannels>;
  /** The configured pattern a channel falls under; undefined when clients cannot use it. */
  channelPattern(channel: string): string | undefined;
  /**
   * Opens a stream on a channel whose pattern enables `streams`: ordered chunks with an end
   * marker, joined midway by late subscribers, ended with an error if it goes quiet too long.
   */
  stream(channel: string, options?: StreamOptions): Promise<ServerStream>;
  /**
   * Checks a channel's rules for an identity as a client's request is checked (e.g. in an RPC
   * that acts on a channel for its caller): resolves when allowed, throws `NOT_FOUND` (no
   * pattern matches, or a `$` name) or `FORBIDDEN` (the pattern's `authorize` refused).
   */
  authorize(identity: Identity, channel: string, action: ChannelAction): Promise<void>;
  /** Who is on a presence-enabled channel, across all nodes. */
  presence(channel: string): Promise<PresenceMember[]>;
  history(channel: string, query?: HistoryQuery): Promise<HistoryResult>;
  /**
   * A `latest` channel's most recent publication of each event name, least recently updated
   * first (each with the offset and epoch it was published with), across all nodes.
   */
  latest(channel: string): Promise<Publication[]>;
  /** `name` '*' registers the handler for every method without its own. */
  rpc<S extends StandardSchemaV1>(
    name: string,
    handler: RpcHandler<StandardSchemaV1.InferOutput<S>>,
    options: RpcOptions<S> & { schema: S },
  ): void;
  /** Without a schema the handler gets the data unchecked: type it as you trust it. */
  // biome-ignore lint/suspicious/noExplicitAny: the caller declares the unvalidated payload's type
  rpc<T = any>(name: string, handler: RpcHandler<T>): void;
  /** Add an observer of connections and frames; returns its remover. */
  tap(tap: Tap): () => void;
  /** Serve extra HTTP routes on the gateway's port (first handler returning true wins). */
  route(handler: HttpHandler): () => void;
  /** Take WebSocket upgrades on other paths of the gateway's port (e.g. the inspector's). */
  routeUpgrade(handler: UpgradeHandler): () => void;
  on<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): () => void;
  readonly connections: ReadonlyMap<string, ServerConnection>;
  readonly broker: Broker;
  readonly http: HttpServer;
  readonly logger: Logger;
}

// ── connections ─────────────────────────────────────────────────────────────────────────────

export type ConnectionState = 'connecting' | 'open' | 'closing' | 'closed';

export interface ConnectionStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

/** What the app sees of a connection: in hooks, RPC handlers and server events. */
export interface ServerConnection {
  readonly id: string;
  readonly state: ConnectionState;
  /** Set once `connect` succeeded. */
  readonly identity: Identity | undefined;
  readonly userId: string | undefined;
  readonly subscriptions: ReadonlySet<string>;
  readonly remoteAddress: string | undefined;
  /** The HTTP upgrade request: URL, headers (for cookies, tenant headers…). */
  readonly request: IncomingMessage;
  readonly connectedAt: number;
  readonly stats: Readonly<ConnectionStats>;
  /** App data the client sent with `connect`. */
  readonly clientData: unknown;
  /** Bytes written to the socket but not yet sent: the connection's send queue. */
  readonly bufferedAmount: number;
  /** Send an event to this connection alone (a `message` frame without a channel). */
  send(event: string, data?: unknown): boolean;
  /** Send any server frame as is (the inspector's "send to client"). */
  sendFrame(frame: ServerFrame): boolean;
  /** Process a message as if the client had sent it (the inspector's replay). */
  inject(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

// ── identity ────────────────────────────────────────────────────────────────────────────────

/** Who is on the other end of a connection, as the app's authorize hooks and handlers see it. */
export interface Identity {
  /** The JWT's `sub`, or what `authenticate` returned; '' for anonymous connections. */
  userId: string;
  claims: Readonly<Record<string, unknown>>;
  /** When the credential stops being valid, ms since the Unix epoch. */
  expiresAt?: number;
  anonymous?: boolean;
}

// ── channels ────────────────────────────────────────────────────────────────────────────────

export type ChannelAction = 'subscribe' | 'publish' | 'presence' | 'history';

export interface ChannelOptions {
  /** Return false to refuse with FORBIDDEN. Without it, every authenticated identity may act. */
  authorize?: (
    identity: Identity,
    channel: string,
    action: ChannelAction,
  ) => boolean | Promise<boolean>;
  /**
   * The events clients may publish here, each with an optional Standard Schema (zod, valibot,
   * arktype…). Without this map any event is accepted; with it, others get UNKNOWN_EVENT.
   */
  events?: Record<string, StandardSchemaV1 | null>;
  /** Whether clients may publish at all (the server always may). Default true. */
  clientPublish?: boolean;
  /** Keep recent publications for recovery after reconnects. Default: none kept. */
  history?: ChannelHistoryOptions;
  /**
   * Track who is subscribed: `$join`/`$leave` events and `sub.presence()`. `info` adds app data
   * to each member (a display name, an avatar) — taken from the server side, never the client.
   */
  presence?: boolean | { info?: (identity: Identity, connection: ServerConnection) => unknown };
  /** Events delivered to current subscribers only, never kept or replayed (e.g. `['typing']`). */
  ephemeral?: string[];
  /**
   * Allow streams (ordered chunks with an end marker). A late subscriber first receives what
   * streams in progress have produced. Without `history`, stream chunks are kept by `history`
   * below so late subscribers and reconnects can catch up. `compact` (default true): when a
   * stream written by the server (`server.stream()`, the HTTP API, `serveChat`) ends, its end
   * marker carries every chunk (`stream.rollup`) and replaces them in history, so history counts
   * streams, not chunks. Client-written streams keep their chunks.
   */
  streams?: boolean | { timeoutMs?: number; history?: ChannelHistoryOptions; compact?: boolean };
  /**
   * Keep the latest publication of each event name (an agent's status, a progress bar): a
   * subscribe first delivers them, marked `latest`, then live ones; `sub.latest(event)` on the
   * client, `GET /api/latest` over HTTP. Ephemeral publications count; stream chunks and the
   * server's `$` events do not.
   */
  latest?: boolean | ChannelLatestOptions;
}

/** How many latest values a channel keeps, and for how long. */
export interface ChannelLatestOptions {
  /**
   * Distinct event names kept; a new name when full evicts the least recently updated one.
   * Default 64.
   */
  maxEvents?: number;
  /** The channel's latest values are forgotten this long after the last one. Default 24 hours. */
  ttlMs?: number;
}

/** What a channel keeps for recovery and `history` requests: `{ size: 100 }` is enough. */
export interface ChannelHistoryOptions {
  /** Publications kept per channel; 0 keeps none (offsets are still assigned). */
  size: number;
  /** Publications older than this are dropped from history. Default 5 minutes (300_000). */
  ttlMs?: number;
}

/** The app's handle on a stream it opened with `server.stream()`. */
export interface ServerStream {
  readonly id: string;
  readonly channel: string;
  /** Publishes the next chunk; chunks reach subscribers in the order written. */
  write(chunk: unknown): Promise<PublishResult>;
  /** The end marker, optionally with a final payload. */
  end(data?: unknown): Promise<PublishResult>;
  /** Ends the stream as failed; subscribers see status 'error' with the message. */
  fail(message: string): Promise<PublishResult>;
}

// ── observers and logs ──────────────────────────────────────────────────────────────────────

/**
 * An observer of the gateway's traffic: the inspector, metrics and tracing all plug in here.
 * Each connection keeps the list of taps that watch its frames (undefined when none does), so a
 * connection no tap watches pays one field read per frame.
 */
export interface Tap {
  /**
   * Whether `inbound` and `outbound` should see this connection's frames; asked once, after
   * `open` (or when the tap is added). Default: every connection. The inspector watches only the
   * connections it tracks, so the thousands it does not cost nothing.
   */
  watches?(connection: ServerConnection): boolean;
  /** The socket was accepted; the connection has not authenticated yet. */
  open?(connection: ServerConnection, request: IncomingMessage): void;
  /** `connect` succeeded: `connection.identity` is set. */
  authenticated?(connection: ServerConnection): void;
  close?(connection: ServerConnection, code: number, reason: string): void;
  /** One WebSocket message in; `frames` is undefined when it could not be decoded. */
  inbound?(
    connection: ServerConnection,
    raw: Uint8Array,
    frames: readonly unknown[] | undefined,
  ): void;
  /** One frame out, as encoded (a broadcast shares `raw` between recipients). */
  outbound?(connection: ServerConnection, raw: Uint8Array, frame: ServerFrame): void;
  /**
   * A WebSocket control frame: the peer's pings and pongs (`in`), and each side's close (`out`
   * when the server closes, `in` when the peer did first). Only taps that watch the connection.
   */
  control?(
    connection: ServerConnection,
    direction: 'in' | 'out',
    kind: 'ping' | 'pong' | 'close',
    payload?: Uint8Array,
    code?: number,
    reason?: string,
  ): void;
  /** A publication reached this node and was handed to `recipients` local subscribers. */
  publication?(publication: Publication, recipients: number): void;
  /** One broker publish finished (or failed) after `seconds`. */
  brokerPublish?(channel: string, seconds: number, ok: boolean): void;
}

/** The subset of pino's interface the gateway logs through; pass a pino logger as is. */
export interface Logger {
  error(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  info(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}
