import { randomBytes } from 'node:crypto';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { memoryBroker } from '../broker/memory.js';
import type { Broker, HistoryQuery, HistoryResult, PublishResult } from '../broker/types.js';
import { jsonCodec } from '../protocol/codec.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isReservedEvent, type PresenceMember } from '../protocol/frames.js';
import { checkPublication } from '../protocol/validate.js';
import { Emitter } from '../shared/emitter.js';
import { type ApiServer, apiHandler } from './api.js';
import { type Authenticator, createAuthenticator } from './auth.js';
import { LocalChannels } from './channels/fanout.js';
import { NodeReports } from './channels/nodes.js';
import { ChannelPolicy } from './channels/policy.js';
import { Presence } from './channels/presence.js';
import { Publisher } from './channels/publisher.js';
import { openStream, StreamTracker } from './channels/streams.js';
import { Users } from './channels/users.js';
import { Connection } from './connection/connection.js';
import type { ConnectionHost, ConnectionSocket } from './connection/host.js';
import { DEFAULTS } from './defaults.js';
import { healthHandler } from './health.js';
import { refuseUpgrade } from './http.js';
import { type Limits, resolveLimits } from './limits.js';
import { defaultLogger } from './logger.js';
import { metricsPlugin } from './metrics.js';
import { Registry } from './registry.js';
import { Routing } from './routing.js';
import { Rpcs } from './rpc.js';
import { SidePorts } from './side-ports.js';
import { SseSessions } from './sse.js';
import type {
  ChannelAction,
  ChannelCount,
  ClusterChannels,
  HttpHandler,
  Identity,
  ListenAddress,
  Logger,
  PublishOptions,
  RpcHandler,
  RpcOptions,
  Server,
  ServerConnection,
  ServerEvents,
  ServerOptions,
  ServerStream,
  StreamOptions,
  Tap,
  UpgradeHandler,
} from './types.js';
import { Wire } from './wire.js';

/**
 * The gateway, wired: `createServer` builds the parts (channel policy, publisher, local fan-out,
 * users, presence, node reports, RPCs, the connection registry, HTTP routing) and the `Server`
 * the app holds delegates to them. Nothing here runs per message.
 */
class SwitchboardServer extends Emitter<ServerEvents> implements Server {
  readonly broker: Broker;
  readonly http: HttpServer;
  readonly logger: Logger;
  readonly #options: ServerOptions;
  readonly #limits: Limits;
  readonly #taps: Tap[];
  readonly #policy: ChannelPolicy;
  readonly #publisher: Publisher;
  readonly #local: LocalChannels;
  readonly #users: Users;
  readonly #presence: Presence;
  readonly #streams: StreamTracker;
  readonly #nodes: NodeReports;
  readonly #rpcs = new Rpcs();
  readonly #authenticator: Authenticator;
  readonly #registry: Registry;
  readonly #routing: Routing;
  readonly #host: ConnectionHost;
  readonly #wss: WebSocketServer;
  readonly #ownsHttp: boolean;
  readonly #ownsBroker: boolean;
  readonly #sidePorts: SidePorts;
  readonly #sse: SseSessions;
  #closing: Promise<void> | undefined;

  constructor(options: ServerOptions) {
    super();
    this.#options = options;
    const limits = resolveLimits(options.limits);
    this.#limits = limits;
    const logger = options.logger ?? defaultLogger;
    this.logger = logger;
    const taps = [...(options.taps ?? [])];
    this.#taps = taps;
    this.#ownsBroker = options.broker === undefined;
    const broker = options.broker ?? memoryBroker();
    this.broker = broker;
    const wire = new Wire(options.codec ?? jsonCodec);
    const heartbeatMs =
      options.heartbeat === false
        ? 0
        : (options.heartbeat?.intervalMs ?? DEFAULTS.heartbeat.intervalMs);
    // Presence entries outlive a crashed node by at most this long.
    const { ttlHeartbeats, minTtlMs, ttlWithoutHeartbeatMs } = DEFAULTS.presence;
    const presenceTtlMs =
      heartbeatMs > 0 ? Math.max(heartbeatMs * ttlHeartbeats, minTtlMs) : ttlWithoutHeartbeatMs;
    const nodeId = randomBytes(4).toString('hex');

    const policy = new ChannelPolicy(options.channels, logger);
    this.#policy = policy;
    const publisher = new Publisher(broker, taps, logger, policy);
    this.#publisher = publisher;
    this.#local = new LocalChannels(broker, wire, taps, logger, (publication, connections) =>
      this.#users.control(publication, connections),
    );
    this.#users = new Users(this.#local, publisher, broker, limits, logger);
    const presence = new Presence(broker, publisher, logger, presenceTtlMs);
    this.#presence = presence;
    this.#streams = new StreamTracker((channel, event, data, stream) =>
      publisher.publish(channel, event, data, { stream }),
    );
    this.#authenticator = createAuthenticator(options.auth, logger);
    this.#registry = new Registry(
      nodeId,
      taps,
      logger,
      (event, ...args) => this.emit(event, ...args),
      this.#authenticator,
      this.#users,
      presence,
      this.#rpcs,
      heartbeatMs,
    );
    const { maxInFlight, messagesPerSecond, burst, maxBatch } = limits;
    this.#host = {
      limits,
      announcedLimits: { maxInFlight, messagesPerSecond, burst, maxBatch },
      heartbeatMs,
      logger,
      wire,
      session: this.#registry,
      channels: {
        policy,
        publisher,
        streams: this.#streams,
        join: (connection, channel) => this.#local.join(connection, channel),
        leave: (connection, channel) => this.#local.leave(connection, channel),
        history: (channel, query) => broker.history(channel, query),
        latest: (channel) => broker.latest(channel),
        members: (channel) => presence.members(channel),
        presenceJoin: (channel, member) => presence.join(channel, member),
        presenceLeave: (channel, member) => presence.leave(channel, member),
      },
    };

    this.#ownsHttp = options.server === undefined;
    // The API's streams and NDJSON ingests are long requests with idle deadlines of their own:
    // Node's 300 s cut on a whole request would end them midway.
    this.http = options.server ?? createHttpServer(options.api ? { requestTimeout: 0 } : {});
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.hardMaxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#routing = new Routing(
      this.http,
      this.#ownsHttp,
      options.path ?? DEFAULTS.server.path,
      logger,
      (request, socket, head) => {
        const refusal = this.#refusal(request);
        if (refusal)
          return refuseUpgrade(
            socket,
            refusal[0],
            refusal[0] === 403 ? 'Forbidden' : 'Service Unavailable',
          );
        this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request));
      },
    );
    // The same endpoint over HTTP (SSE + POST) for clients whose WebSockets are blocked; frames
    // reach a session through the broker, so text codecs only (the JSON default is one).
    this.#sse = new SseSessions(options.path ?? DEFAULTS.server.path, {
      broker,
      limits,
      logger,
      refuse: (request) => this.#refusal(request),
      accept: (socket, request) => this.#accept(socket, request),
    });
    if (!wire.codec.binary) this.route(this.#sse.handle);

    // Metrics and health on the gateway's port, or on ports of their own.
    this.#sidePorts = new SidePorts(logger);
    if (options.metrics) {
      const own = options.metrics === true ? {} : options.metrics;
      const metrics = metricsPlugin(
        own,
        () => this.#registry.connections.values(),
        (channel) => (channel === undefined ? 'none' : (policy.rule(channel)?.pattern ?? 'none')),
      );
      taps.push(metrics.tap);
      if (!this.#sidePorts.place('metrics', own, DEFAULTS.metrics.host, metrics.handler))
        this.route(metrics.handler);
    }
    if (options.health) {
      const health = options.health === true ? {} : options.health;
      const handler = healthHandler(broker, health, () => this.#closing !== undefined);
      if (!this.#sidePorts.place('health', health, DEFAULTS.health.host, handler))
        this.route(handler);
    }
    if (options.api) {
      const api: ApiServer = {
        // The API checks each publication as a client's publish is checked, once.
        publish: (channel, event, data, options) =>
          this.#publishChecked(channel, event, data, options),
        stream: (...args) => this.stream(...args),
        history: (...args) => this.history(...args),
        latest: (channel) => this.latest(channel),
        presence: (channel) => this.presence(channel),
        sendToUser: (...args) => this.sendToUser(...args),
        disconnectUserEverywhere: (...args) => this.disconnectUserEverywhere(...args),
        clusterChannels: () => this.clusterChannels(),
        logger,
        // A publication over HTTP meets exactly the checks a client's publish meets.
        limits,
        validateEvent: (rule, event, data) => policy.validateEvent(rule, event, data),
        channelRule: (channel) => policy.rule(channel),
      };
      this.route(apiHandler(api, options.api));
    }
    const reportMs = options.nodeReportMs ?? (options.api ? DEFAULTS.server.nodeReportMs : 0);
    this.#nodes = new NodeReports(broker, logger, nodeId, reportMs, () => ({
      connections: this.#registry.connections.size,
      channels: this.#local.counts(),
    }));
  }

  /** Why a new connection is refused now, as an HTTP status, a code and a message; or undefined. */
  #refusal(request: IncomingMessage): [number, ErrorCode, string] | undefined {
    const limits = this.#limits;
    if (this.#closing) return [503, ErrorCode.UNAVAILABLE, 'Shutting down'];
    const origins = limits.allowedOrigins;
    if (origins && !origins.includes(request.headers.origin ?? ''))
      return [403, ErrorCode.FORBIDDEN, 'Origin not allowed'];
    if (this.#registry.connections.size >= limits.maxConnections)
      return [503, ErrorCode.LIMIT_EXCEEDED, 'Too many connections'];
    return undefined;
  }

  /** A WebSocket, or an SSE session's stream, becomes a connection. */
  #accept(socket: ConnectionSocket, request: IncomingMessage): void {
    const connection = new Connection(this.#host, this.#registry.nextId(), socket, request);
    this.#registry.add(connection, request);
  }

  get connections(): ReadonlyMap<string, ServerConnection> {
    return this.#registry.connections;
  }

  async listen(): Promise<ListenAddress> {
    const sides = await this.#sidePorts.listen();
    if (!this.http.listening) {
      await new Promise<void>((resolve, reject) => {
        this.http.once('error', reject);
        const { port, host } = DEFAULTS.server;
        this.http.listen(this.#options.port ?? port, this.#options.host ?? host, () => {
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
      url: `ws://${host}:${address.port}${this.#options.path ?? DEFAULTS.server.path}`,
      ...sides,
    };
  }

  route(handler: HttpHandler): () => void {
    return this.#routing.route(handler);
  }

  routeUpgrade(handler: UpgradeHandler): () => void {
    return this.#routing.routeUpgrade(handler);
  }

  tap(tap: Tap): () => void {
    const taps = this.#taps;
    taps.push(tap);
    const registry = this.#registry;
    for (const connection of registry.connections.values()) registry.watch(connection);
    return () => {
      const index = taps.indexOf(tap);
      if (index >= 0) taps.splice(index, 1);
      for (const connection of registry.connections.values()) registry.watch(connection);
    };
  }

  // ── what the app sends and reads ────────────────────────────────────────────────────────────

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
    return this.#publishChecked(channel, event, data, options);
  }

  /** A publication whose fields were checked already (by `publish`, or by the HTTP API). */
  #publishChecked(
    channel: string,
    event: string,
    data: unknown,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    const policy = this.#policy;
    const rule = policy.rule(channel);
    const ephemeral = options.ephemeral ?? policy.ephemeral(rule, event);
    return this.#publisher.publish(channel, event, data, {
      ...options,
      history: ephemeral ? undefined : policy.history(rule, undefined),
      latest: policy.latest(rule, event, undefined),
      ...(ephemeral && { ephemeral }),
    });
  }

  stream(channel: string, options?: StreamOptions): Promise<ServerStream> {
    return openStream(this.#policy, this.#publisher, this.#streams, channel, options);
  }

  presence(channel: string): Promise<PresenceMember[]> {
    return this.#presence.members(channel);
  }

  history(channel: string, query?: HistoryQuery): Promise<HistoryResult> {
    return this.broker
      .history(channel, query)
      .catch((error) =>
        Promise.reject(this.#publisher.failure(error, channel, 'broker history failed')),
      );
  }

  latest(channel: string): ReturnType<Broker['latest']> {
    return this.broker
      .latest(channel)
      .catch((error) =>
        Promise.reject(this.#publisher.failure(error, channel, 'broker latest failed')),
      );
  }

  sendToUser(userId: string, event: string, data?: unknown): Promise<void> {
    return this.#users.send(userId, event, data);
  }

  sendToConnection(connectionId: string, event: string, data?: unknown): boolean {
    const connection = this.#registry.connections.get(connectionId);
    return connection?.state === 'open' ? connection.send(event, data) : false;
  }

  disconnectUser(userId: string, code?: number, reason?: string): number {
    return this.#users.disconnectHere(userId, code, reason);
  }

  disconnectUserEverywhere(userId: string, code?: number, reason?: string): Promise<void> {
    return this.#users.disconnectEverywhere(userId, code, reason);
  }

  refreshKeys(): Promise<void> {
    return this.#authenticator.refreshKeys();
  }

  reauthorize(userId: string): Promise<void> {
    return this.#users.reauthorizeEverywhere(userId);
  }

  rpc(name: string, handler: RpcHandler<never>, options: RpcOptions = {}): void {
    this.#rpcs.register(name, handler, options);
  }

  async authorize(identity: Identity, channel: string, action: ChannelAction): Promise<void> {
    await this.#policy.authorize(identity, channel, action);
  }

  channelPattern(channel: string): string | undefined {
    return this.#policy.rule(channel)?.pattern;
  }

  localChannels(): ChannelCount[] {
    return this.#local.counts();
  }

  clusterChannels(): Promise<ClusterChannels> {
    return this.#nodes.cluster();
  }

  // ── shutdown ─────────────────────────────────────────────────────────────────────────────

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
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
  async #shutdown(): Promise<void> {
    await this.#nodes.stop();
    this.#streams.clear();
    this.#sse.close();
    await this.#registry.drain();
    this.#routing.detach();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    if (this.#ownsHttp && this.http.listening) {
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeAllConnections();
      await closed;
    }
    await this.#sidePorts.close();
    if (this.#ownsBroker) await this.broker.close();
  }
}

/** The gateway: WebSocket endpoint, channels, RPC and limits on one HTTP server. */
export function createServer(options: ServerOptions = {}): Server {
  return new SwitchboardServer(options);
}
