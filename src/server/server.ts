import { randomBytes } from 'node:crypto';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { memoryBroker } from '../broker/memory.js';
import type {
  Broker,
  HistoryQuery,
  HistoryResult,
  Publication,
  PublicationHandler,
  PublishResult,
} from '../broker/types.js';
import { CloseCode } from '../protocol/close-codes.js';
import { type Codec, jsonCodec } from '../protocol/codec.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import {
  type ConnectLimits,
  isReservedEvent,
  type MessageFrame,
  PRESENCE_JOIN,
  PRESENCE_LEAVE,
  type PresenceMember,
  type ServerFrame,
} from '../protocol/frames.js';
import { checkPublication } from '../protocol/validate.js';
import { Emitter } from '../shared/emitter.js';
import { type StandardSchemaV1, validate } from '../shared/standard-schema.js';
import { type ApiOptions, apiHandler } from './api.js';
import {
  type Authenticator,
  type AuthOptions,
  createAuthenticator,
  type Identity,
} from './auth.js';
import {
  type ChannelAction,
  type ChannelOptions,
  type ChannelRule,
  compileChannels,
  matchChannel,
  RESERVED_PREFIX,
} from './channels.js';
import { Connection, type ServerConnection } from './connection.js';
import type { Gateway, InternalPublishOptions } from './gateway.js';
import { type HealthOptions, healthHandler } from './health.js';
import { type LimitOptions, type Limits, resolveLimits } from './limits.js';
import { defaultLogger, type Logger } from './logger.js';
import { type MetricsOptions, metricsPlugin } from './metrics.js';
import { type ServerStream, StreamTracker, streamSettings } from './streams.js';
import type { Tap } from './tap.js';

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

/** What each node reports about itself on the internal `$nodes` presence channel. */
interface NodeReport {
  connections: number;
  channels: [string, number][];
}

/** Internal presence channel where nodes report their counts. */
const NODES_CHANNEL = '$nodes';
/** A node reports its busiest channels only, so a report stays small however many it has. */
const MAX_REPORTED_CHANNELS = 1000;

export interface ListenAddress {
  host: string;
  port: number;
  /** The WebSocket URL clients connect to. */
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
  /** Who is on a presence-enabled channel, across all nodes. */
  presence(channel: string): Promise<PresenceMember[]>;
  history(channel: string, query?: HistoryQuery): Promise<HistoryResult>;
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

const USER_CHANNEL_PREFIX = '$user:';
/** Tries of a stream chunk whose publish was UNCERTAIN (100 ms, 200 ms, … apart). */
const UNCERTAIN_RETRIES = 4;
/** Sent on a user's channel to make every node close that user's connections. */
const DISCONNECT_EVENT = '$disconnect';

interface LocalChannel {
  connections: Set<Connection>;
  handler: PublicationHandler;
  ready: Promise<void>;
}

class SwitchboardServer extends Emitter<ServerEvents> implements Server, Gateway {
  readonly codec: Codec;
  readonly limits: Limits;
  readonly announcedLimits: ConnectLimits;
  readonly taps: Tap[];
  readonly logger: Logger;
  readonly broker: Broker;
  readonly heartbeatMs: number;
  readonly http: HttpServer;
  readonly connections = new Map<string, Connection>();
  readonly streams = new StreamTracker((channel, event, data, stream) =>
    this.publishToBroker(channel, event, data, { stream }),
  );
  /** Presence entries outlive a crashed node by at most this long. */
  private readonly presenceTtlMs: number;

  private readonly ownsHttp: boolean;
  private readonly ownsBroker: boolean;
  private readonly path: string;
  private readonly rules: ChannelRule[];
  private readonly authenticator: Authenticator;
  private readonly wss: WebSocketServer;
  private readonly local = new Map<string, LocalChannel>();
  private readonly rpcs = new Map<
    string,
    { handler: RpcHandler; schema: StandardSchemaV1 | undefined }
  >();
  private readonly httpHandlers: HttpHandler[] = [];
  private readonly upgradeHandlers: UpgradeHandler[] = [];
  private readonly nodeId = randomBytes(4).toString('hex');
  private connectionCounter = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private reportTimer: ReturnType<typeof setInterval> | undefined;
  private readonly reportMs: number;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ServerOptions) {
    super();
    this.codec = options.codec ?? jsonCodec;
    this.limits = resolveLimits(options.limits);
    const { maxInFlight, messagesPerSecond, burst, maxBatch } = this.limits;
    this.announcedLimits = { maxInFlight, messagesPerSecond, burst, maxBatch };
    this.taps = [...(options.taps ?? [])];
    this.logger = options.logger ?? defaultLogger;
    this.ownsBroker = options.broker === undefined;
    this.broker = options.broker ?? memoryBroker();
    this.path = options.path ?? '/ws';
    this.rules = compileChannels(options.channels);
    this.authenticator = createAuthenticator(options.auth);
    this.heartbeatMs = options.heartbeat === false ? 0 : (options.heartbeat?.intervalMs ?? 25_000);
    this.presenceTtlMs = this.heartbeatMs > 0 ? Math.max(this.heartbeatMs * 3, 1_000) : 5 * 60_000;
    this.ownsHttp = options.server === undefined;
    this.http = options.server ?? createHttpServer();
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.hardMaxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.http.on('upgrade', this.onUpgrade);
    this.http.on('request', this.onRequest);
    if (options.metrics) {
      const metrics = metricsPlugin(
        options.metrics === true ? {} : options.metrics,
        () => this.connections.values(),
        (channel) =>
          channel === undefined ? 'none' : (matchChannel(this.rules, channel)?.pattern ?? 'none'),
      );
      this.taps.push(metrics.tap);
      this.route(metrics.handler);
    }
    if (options.health) {
      this.route(
        healthHandler(
          this.broker,
          options.health === true ? {} : options.health,
          () => this.closing !== undefined,
        ),
      );
    }
    if (options.api) this.route(apiHandler(this, options.api));
    this.reportMs = options.nodeReportMs ?? (options.api ? 10_000 : 0);
    if (this.reportMs > 0) {
      this.reportTimer = setInterval(() => this.reportNode(), this.reportMs);
      this.reportTimer.unref?.();
    }
    if (this.heartbeatMs > 0) {
      this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
      this.heartbeatTimer.unref?.();
    }
  }

  // ── HTTP and upgrade ─────────────────────────────────────────────────────────────────────

  private readonly onRequest = async (request: IncomingMessage, response: ServerResponse) => {
    try {
      for (const handler of this.httpHandlers) if (await handler(request, response)) return;
    } catch (error) {
      this.logger.error({ err: error, url: request.url }, 'http handler failed');
      if (!response.headersSent) response.writeHead(500).end();
      return;
    }
    // On a shared server, routes the app registered itself answer everything else.
    if (!this.ownsHttp || response.headersSent) return;
    const upgradePath = pathOf(request) === this.path;
    response.writeHead(upgradePath ? 426 : 404, { 'content-type': 'text/plain' });
    response.end(upgradePath ? 'WebSocket upgrade required' : 'Not found');
  };

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(request) !== this.path) {
      for (const handler of this.upgradeHandlers) if (handler(request, socket, head)) return;
      // Another upgrade listener (e.g. Vite's HMR) may own this path on a shared server.
      if (this.ownsHttp || this.http.listenerCount('upgrade') === 1)
        reject(socket, 404, 'Not Found');
      return;
    }
    if (this.closing) return reject(socket, 503, 'Service Unavailable');
    const origins = this.limits.allowedOrigins;
    if (origins && !origins.includes(request.headers.origin ?? ''))
      return reject(socket, 403, 'Forbidden');
    if (this.connections.size >= this.limits.maxConnections)
      return reject(socket, 503, 'Service Unavailable');
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = new Connection(this, ws, request);
      this.connections.set(connection.id, connection);
      for (const tap of this.taps) tap.open?.(connection, request);
      this.watch(connection);
    });
  };

  async listen(): Promise<ListenAddress> {
    if (!this.http.listening) {
      await new Promise<void>((resolve, reject) => {
        this.http.once('error', reject);
        this.http.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
          this.http.off('error', reject);
          resolve();
        });
      });
    }
    const address = this.http.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return {
      host: address.address,
      port: address.port,
      url: `ws://${host}:${address.port}${this.path}`,
    };
  }

  route(handler: HttpHandler): () => void {
    this.httpHandlers.push(handler);
    return () => {
      const index = this.httpHandlers.indexOf(handler);
      if (index >= 0) this.httpHandlers.splice(index, 1);
    };
  }

  routeUpgrade(handler: UpgradeHandler): () => void {
    this.upgradeHandlers.push(handler);
    return () => {
      const index = this.upgradeHandlers.indexOf(handler);
      if (index >= 0) this.upgradeHandlers.splice(index, 1);
    };
  }

  tap(tap: Tap): () => void {
    this.taps.push(tap);
    for (const connection of this.connections.values()) this.watch(connection);
    return () => {
      const index = this.taps.indexOf(tap);
      if (index >= 0) this.taps.splice(index, 1);
      for (const connection of this.connections.values()) this.watch(connection);
    };
  }

  // ── connections ──────────────────────────────────────────────────────────────────────────

  /** Settles which taps see this connection's frames (see Tap.watches). */
  private watch(connection: Connection): void {
    const taps = this.taps.filter(
      (tap) => (tap.inbound || tap.outbound) && (tap.watches?.(connection) ?? true),
    );
    connection.frameTaps = taps.length > 0 ? taps : undefined;
  }

  nextConnectionId(): string {
    return `${this.nodeId}-${(++this.connectionCounter).toString(36)}`;
  }

  authenticate(token: string | undefined, request: IncomingMessage): Promise<Identity> {
    return this.authenticator(token, request);
  }

  admitUser(connection: Connection, identity: Identity): boolean {
    if (identity.anonymous) return true;
    const channel = USER_CHANNEL_PREFIX + identity.userId;
    const existing = this.local.get(channel)?.connections.size ?? 0;
    if (existing >= this.limits.maxConnectionsPerUser) return false;
    this.joinChannel(connection, channel).catch((error) =>
      this.logger.error({ err: error, channel }, 'broker subscribe failed'),
    );
    return true;
  }

  connectionAuthenticated(connection: Connection): void {
    for (const tap of this.taps) tap.authenticated?.(connection);
    this.emit('connection', connection);
  }

  connectionClosed(connection: Connection, code: number, reason: string): void {
    this.connections.delete(connection.id);
    const identity = connection.identity;
    if (identity && !identity.anonymous)
      this.leaveChannel(connection, USER_CHANNEL_PREFIX + identity.userId);
    for (const tap of this.taps) tap.close?.(connection, code, reason);
    if (identity) this.emit('disconnect', connection, code, reason);
    if (this.closing && this.connections.size === 0) this.drained?.();
  }

  private drained: (() => void) | undefined;

  /**
   * One timer for all connections: each tick pings every open connection and drops those that
   * stayed silent since the previous tick's ping, so a dead peer goes within two intervals.
   */
  private heartbeat(): void {
    for (const connection of this.connections.values()) {
      if (connection.state !== 'open') continue;
      if (connection.awaitingPong) {
        // A dead peer cannot take part in a closing handshake.
        connection.terminate(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
        continue;
      }
      connection.ping();
      // Live connections renew their presence; a crashed node's entries lapse.
      if (connection.presence) {
        for (const [channel, member] of connection.presence) {
          this.broker
            .presenceAdd(channel, member, this.presenceTtlMs)
            .catch((error) => this.logger.warn({ err: error, channel }, 'presence refresh failed'));
        }
      }
    }
  }

  async presenceJoin(channel: string, member: PresenceMember): Promise<void> {
    await this.broker.presenceAdd(channel, member, this.presenceTtlMs);
    await this.publishToBroker(channel, PRESENCE_JOIN, member, { ephemeral: true });
  }

  presenceLeave(channel: string, member: PresenceMember): void {
    this.broker
      .presenceRemove(channel, member.connection)
      .then(() => this.publishToBroker(channel, PRESENCE_LEAVE, member, { ephemeral: true }))
      .catch((error) => this.logger.warn({ err: error, channel }, 'presence leave failed'));
  }

  slowConsumer(connection: Connection): void {
    this.logger.warn(
      { connection: connection.id, user: connection.userId },
      'slow consumer disconnected',
    );
  }

  // ── channels ─────────────────────────────────────────────────────────────────────────────

  async authorize(
    connection: Connection,
    channel: string,
    action: ChannelAction,
  ): Promise<ChannelRule> {
    const rule = matchChannel(this.rules, channel);
    if (!rule) throw new SwitchboardError(ErrorCode.NOT_FOUND, `Unknown channel "${channel}"`);
    const check = rule.options.authorize;
    if (check) {
      let allowed: boolean;
      try {
        allowed = await check(connection.identity!, channel, action);
      } catch (error) {
        if (error instanceof SwitchboardError) throw error;
        this.logger.error({ err: error, channel, action }, 'authorize hook threw');
        throw new SwitchboardError(ErrorCode.INTERNAL, 'Internal error');
      }
      if (!allowed)
        throw new SwitchboardError(ErrorCode.FORBIDDEN, `Not allowed to ${action} "${channel}"`);
    }
    return rule;
  }

  async validateEvent(rule: ChannelRule, event: string, data: unknown): Promise<unknown> {
    if (isReservedEvent(event))
      throw new SwitchboardError(ErrorCode.BAD_FRAME, `"${event}" is a reserved event name`);
    const events = rule.options.events;
    if (!events) return data;
    if (!Object.hasOwn(events, event))
      throw new SwitchboardError(ErrorCode.UNKNOWN_EVENT, `Unknown event "${event}"`);
    const schema = events[event];
    if (!schema) return data;
    const result = await validate(schema, data);
    if (!result.ok) {
      throw new SwitchboardError(ErrorCode.VALIDATION_FAILED, `Invalid "${event}" payload`, {
        issues: result.issues,
      });
    }
    return result.value;
  }

  joinChannel(connection: Connection, channel: string): Promise<void> {
    let entry = this.local.get(channel);
    if (!entry) {
      const connections = new Set<Connection>();
      // One handler per local channel entry, so a late unsubscribe of an old entry can never
      // remove a newer one's subscription.
      const handler: PublicationHandler = (publication) => this.fanOut(connections, publication);
      // Per-user channels carry only ephemeral direct messages: nothing there to resync.
      const onReset = channel.startsWith(USER_CHANNEL_PREFIX)
        ? undefined
        : () => this.resync(channel, connections);
      const ready = this.broker.subscribe(channel, handler, onReset);
      entry = { connections, handler, ready };
      this.local.set(channel, entry);
    }
    entry.connections.add(connection);
    return entry.ready;
  }

  leaveChannel(connection: Connection, channel: string): void {
    const entry = this.local.get(channel);
    if (!entry?.connections.delete(connection) || entry.connections.size > 0) return;
    this.local.delete(channel);
    this.broker
      .unsubscribe(channel, entry.handler)
      .catch((error) => this.logger.error({ err: error, channel }, 'broker unsubscribe failed'));
  }

  /**
   * The broker could not replay what this node missed on a channel. Each subscriber reconnects
   * and resubscribes from its own position: recovered if the history has it, told of the gap if
   * not. Coarse, but it happens only when the shared store lost data.
   */
  private resync(channel: string, connections: Set<Connection>): void {
    this.logger.warn(
      { channel, connections: connections.size },
      'channel lost by the broker; resyncing subscribers',
    );
    for (const connection of [...connections]) connection.close(CloseCode.RESYNC, 'channel resync');
  }

  /** Encode once, write to every local subscriber: the per-subscriber cost is one socket write. */
  private fanOut(connections: Set<Connection>, publication: Publication): void {
    if (connections.size === 0) return;
    if (
      publication.event === DISCONNECT_EVENT &&
      publication.channel.startsWith(USER_CHANNEL_PREFIX)
    ) {
      const { code, reason } = publication.data as { code: number; reason: string };
      for (const connection of [...connections]) connection.close(code, reason);
      return;
    }
    const frame = this.publicationFrame(publication);
    const raw = this.encode(frame);
    for (const connection of connections) connection.deliver(publication, raw, frame);
    if (this.taps.length)
      for (const tap of this.taps) tap.publication?.(publication, connections.size);
  }

  publicationFrame(publication: Publication): MessageFrame {
    if (publication.channel.startsWith(USER_CHANNEL_PREFIX)) {
      return { type: 'message', event: publication.event, data: publication.data };
    }
    const frame: MessageFrame = {
      type: 'message',
      channel: publication.channel,
      event: publication.event,
      data: publication.data,
    };
    if (publication.ephemeral) frame.ephemeral = true;
    else {
      frame.offset = publication.offset;
      frame.epoch = publication.epoch;
    }
    if (publication.user !== undefined) frame.user = publication.user;
    if (publication.stream !== undefined) frame.stream = publication.stream;
    return frame;
  }

  encodePublication(publication: Publication): Buffer {
    return this.encode(this.publicationFrame(publication));
  }

  encode(frame: ServerFrame): Buffer {
    const out = this.codec.encode(frame);
    return typeof out === 'string'
      ? Buffer.from(out)
      : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }

  async publishToBroker(
    channel: string,
    event: string,
    data: unknown,
    options: InternalPublishOptions,
  ): Promise<PublishResult> {
    const rule = matchChannel(this.rules, channel);
    const history =
      options.stream && rule ? streamSettings(rule.options)?.history : rule?.options.history;
    const input = {
      event,
      data,
      ...(options.user !== undefined && { user: options.user }),
      ...(options.exceptConnection !== undefined && { exceptConnection: options.exceptConnection }),
      ...(options.stream !== undefined && { stream: options.stream }),
    };
    const started = this.taps.length ? performance.now() : 0;
    try {
      const result = await this.broker.publish(channel, input, {
        ...(history && { history }),
        ...(options.idempotencyKey !== undefined && { idempotencyKey: options.idempotencyKey }),
        ...(options.ephemeral && { ephemeral: true }),
      });
      if (this.taps.length) this.brokerTimed(channel, started, true);
      return result;
    } catch (error) {
      if (this.taps.length) this.brokerTimed(channel, started, false);
      throw this.brokerFailure(error, channel, 'broker publish failed');
    }
  }

  /**
   * What a broker's failure becomes for the caller: its own typed error (UNAVAILABLE, a refusal;
   * UNCERTAIN, maybe published) or, for anything else, UNAVAILABLE with the cause logged here.
   */
  private brokerFailure(error: unknown, channel: string, what: string): SwitchboardError {
    if (error instanceof SwitchboardError) return error;
    this.logger.error({ err: error, channel }, what);
    return new SwitchboardError(ErrorCode.UNAVAILABLE, 'Broker unavailable; retry');
  }

  /**
   * A stream's chunks cannot be retried by the app (the next write takes the next seq), so an
   * UNCERTAIN publish is retried here with the same key, which applies it once, for a few tries.
   */
  private async publishSurely(
    channel: string,
    event: string,
    data: unknown,
    options: InternalPublishOptions,
  ): Promise<PublishResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.publishToBroker(channel, event, data, options);
      } catch (error) {
        const uncertain = error instanceof SwitchboardError && error.code === ErrorCode.UNCERTAIN;
        if (!uncertain || attempt >= UNCERTAIN_RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  private brokerTimed(channel: string, started: number, ok: boolean): void {
    const seconds = (performance.now() - started) / 1000;
    for (const tap of this.taps) tap.brokerPublish?.(channel, seconds, ok);
  }

  // ── RPC ──────────────────────────────────────────────────────────────────────────────────

  rpc(name: string, handler: RpcHandler<never>, options: RpcOptions = {}): void {
    if (this.rpcs.has(name)) throw new Error(`RPC "${name}" is already registered`);
    this.rpcs.set(name, { handler: handler as RpcHandler, schema: options.schema });
  }

  async callRpc(connection: Connection, method: string, data: unknown): Promise<unknown> {
    const entry = this.rpcs.get(method) ?? this.rpcs.get('*');
    if (!entry) throw new SwitchboardError(ErrorCode.NOT_FOUND, `Unknown method "${method}"`);
    let input = data;
    if (entry.schema) {
      const result = await validate(entry.schema, data);
      if (!result.ok) {
        throw new SwitchboardError(ErrorCode.VALIDATION_FAILED, `Invalid "${method}" request`, {
          issues: result.issues,
        });
      }
      input = result.value;
    }
    return entry.handler(input, { connection, identity: connection.identity!, method });
  }

  // ── app-facing sends ─────────────────────────────────────────────────────────────────────

  publish(
    channel: string,
    event: string,
    data?: unknown,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    if (isReservedEvent(event))
      return Promise.reject(new TypeError(`"${event}" is a reserved event name`));
    // The rules a client's publish meets (names, nesting, key length): data no client could
    // send would be data no client could read back.
    const checked = checkPublication({ channel, event, data, key: options.idempotencyKey });
    if (!checked.ok) return Promise.reject(new SwitchboardError(checked.code, checked.message));
    const ephemeral =
      options.ephemeral ?? matchChannel(this.rules, channel)?.options.ephemeral?.includes(event);
    return this.publishToBroker(channel, event, data, {
      ...options,
      ...(ephemeral && { ephemeral }),
    });
  }

  async stream(channel: string, options: StreamOptions = {}): Promise<ServerStream> {
    const rule = matchChannel(this.rules, channel);
    const settings = rule && streamSettings(rule.options);
    if (!settings)
      throw new TypeError(`Channel "${channel}" matches no pattern with streams enabled`);
    const event = options.event ?? 'stream';
    if (isReservedEvent(event)) throw new TypeError(`"${event}" is a reserved event name`);
    const id = randomBytes(8).toString('hex');
    let seq = 0;
    let ended = false;
    const send = (data: unknown, status?: 'open' | 'end' | 'error') => {
      if (ended) return Promise.reject(new Error(`Stream ${id} has ended`));
      if (status === 'end' || status === 'error') ended = true;
      const marker = status === undefined ? { id, seq } : { id, seq, status };
      seq++;
      this.streams.track(channel, event, marker, settings.timeoutMs);
      return this.publishSurely(channel, event, data, {
        stream: marker,
        idempotencyKey: `${id}:${marker.seq}`,
      });
    };
    await send(options.data, 'open');
    return {
      id,
      channel,
      write: (chunk) => send(chunk),
      end: (data) => send(data, 'end'),
      fail: (message) => send({ error: message }, 'error'),
    };
  }

  presence(channel: string): Promise<PresenceMember[]> {
    return this.broker
      .presence(channel)
      .catch((error) =>
        Promise.reject(this.brokerFailure(error, channel, 'broker presence failed')),
      );
  }

  history(channel: string, query?: HistoryQuery): Promise<HistoryResult> {
    return this.broker
      .history(channel, query)
      .catch((error) =>
        Promise.reject(this.brokerFailure(error, channel, 'broker history failed')),
      );
  }

  async sendToUser(userId: string, event: string, data?: unknown): Promise<void> {
    if (isReservedEvent(event)) throw new TypeError(`"${event}" is a reserved event name`);
    await this.publishToBroker(USER_CHANNEL_PREFIX + userId, event, data, { ephemeral: true });
  }

  sendToConnection(connectionId: string, event: string, data?: unknown): boolean {
    const connection = this.connections.get(connectionId);
    return connection?.state === 'open' ? connection.send(event, data) : false;
  }

  disconnectUser(
    userId: string,
    code: number = CloseCode.DISCONNECTED_BY_SERVER,
    reason = 'disconnected',
  ): number {
    const entry = this.local.get(USER_CHANNEL_PREFIX + userId);
    if (!entry) return 0;
    const connections = [...entry.connections];
    for (const connection of connections) connection.close(code, reason);
    return connections.length;
  }

  async disconnectUserEverywhere(
    userId: string,
    code: number = CloseCode.DISCONNECTED_BY_SERVER,
    reason = 'disconnected',
  ): Promise<void> {
    await this.broker.publish(
      USER_CHANNEL_PREFIX + userId,
      { event: DISCONNECT_EVENT, data: { code, reason } },
      { ephemeral: true },
    );
  }

  channelPattern(channel: string): string | undefined {
    return matchChannel(this.rules, channel)?.pattern;
  }

  channelRule(channel: string): ChannelRule | undefined {
    return matchChannel(this.rules, channel);
  }

  private nodeReport(): NodeReport {
    const channels = this.localChannels()
      .sort((a, b) => b.subscribers - a.subscribers)
      .slice(0, MAX_REPORTED_CHANNELS)
      .map(({ channel, subscribers }): [string, number] => [channel, subscribers]);
    return { connections: this.connections.size, channels };
  }

  private reportNode(): void {
    const member = { user: '', connection: this.nodeId, info: this.nodeReport() };
    this.broker
      .presenceAdd(NODES_CHANNEL, member, this.reportMs * 3)
      .catch((error) => this.logger.warn({ err: error }, 'node report failed'));
  }

  async clusterChannels(): Promise<ClusterChannels> {
    const reports = new Map<string, NodeReport>();
    if (this.reportMs > 0) {
      for (const member of await this.broker.presence(NODES_CHANNEL))
        reports.set(member.connection, member.info as NodeReport);
    }
    reports.set(this.nodeId, this.nodeReport());
    const totals = new Map<string, number>();
    let connections = 0;
    for (const report of reports.values()) {
      connections += report.connections;
      for (const [channel, count] of report.channels)
        totals.set(channel, (totals.get(channel) ?? 0) + count);
    }
    const channels = [...totals]
      .map(([channel, subscribers]) => ({ channel, subscribers }))
      .sort((a, b) => b.subscribers - a.subscribers);
    return { nodes: reports.size, connections, channels };
  }

  localChannels(): ChannelCount[] {
    const counts: ChannelCount[] = [];
    for (const [channel, entry] of this.local) {
      if (channel.startsWith(RESERVED_PREFIX) || entry.connections.size === 0) continue;
      counts.push({ channel, subscribers: entry.connections.size });
    }
    return counts;
  }

  // ── shutdown ─────────────────────────────────────────────────────────────────────────────

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /*
   * Graceful close, as the client sees it:
   *
   *   server                                   client
   *     | -- close frame 1001 "going away" -->  |   (client schedules a reconnect elsewhere)
   *     | <-- close frame 1001 --------------- |
   *     | TCP FIN                               |
   *
   * A client that does not answer within limits.closeTimeoutMs is cut off.
   */
  private async shutdown(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    clearInterval(this.reportTimer);
    if (this.reportMs > 0)
      await this.broker.presenceRemove(NODES_CHANNEL, this.nodeId).catch(() => {});
    this.streams.clear();
    if (this.connections.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      for (const connection of this.connections.values()) {
        if (connection.state === 'closing') continue;
        connection.close(CloseCode.GOING_AWAY, 'server shutting down');
      }
      await drained;
    }
    this.http.off('upgrade', this.onUpgrade);
    this.http.off('request', this.onRequest);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    if (this.ownsHttp && this.http.listening) {
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeAllConnections();
      await closed;
    }
    if (this.ownsBroker) await this.broker.close();
  }
}

function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function reject(socket: Duplex, status: number, message: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${message}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** The gateway: WebSocket endpoint, channels, RPC and limits on one HTTP server. */
export function createServer(options: ServerOptions = {}): Server {
  return new SwitchboardServer(options);
}
