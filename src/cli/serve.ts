import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { Broker } from '../broker/types.js';
import { attachInspector } from '../inspector/index.js';
import { DEFAULTS } from '../server/defaults.js';
import { logStream } from '../server/log-stream.js';
import { type ProxyEndpoint, proxyAuthorize, proxyConnect, proxyRpc } from '../server/proxy.js';
import { createServer } from '../server/server.js';
import type {
  ChannelAction,
  ChannelOptions,
  Identity,
  Server,
  ServerOptions,
} from '../server/types.js';
import type { ChannelConfig, Config } from './config.js';
import type { Permission } from './schema.js';

/**
 * Runs the standalone server: turns a validated configuration into `createServer` options
 * (permissions, webhooks, log channel, inspector) and a graceful stop. No mechanism of its own.
 */

type Check = (
  identity: Identity,
  channel: string,
  action: ChannelAction,
) => boolean | Promise<boolean>;

function permissionCheck(
  permission: Permission,
  rolesClaim: string,
  proxy: Check | undefined,
): Check {
  if (permission === 'all') return () => true;
  if (permission === 'none') return () => false;
  if (permission === 'owner')
    return (identity, channel) =>
      !identity.anonymous && channel.slice(channel.lastIndexOf(':') + 1) === identity.userId;
  if (permission === 'proxy') return proxy!;
  const wanted = new Set(permission.roles);
  return (identity) => {
    const held = identity.claims[rolesClaim];
    const roles = Array.isArray(held) ? held : typeof held === 'string' ? held.split(' ') : [];
    return roles.some((role) => wanted.has(role));
  };
}

function channelOptions(
  channel: ChannelConfig,
  config: Config,
  endpoint: (url: string) => ProxyEndpoint,
): ChannelOptions {
  const authorizeUrl = channel.proxy ?? config.proxy.authorize;
  const proxy = authorizeUrl ? proxyAuthorize(endpoint(authorizeUrl)) : undefined;
  const claim = config.auth.rolesClaim;
  const checks: Record<ChannelAction, Check> = {
    subscribe: permissionCheck(channel.subscribe, claim, proxy),
    publish: permissionCheck(channel.publish, claim, proxy),
    presence: permissionCheck(channel.presenceRead, claim, proxy),
    history: permissionCheck(channel.historyRead, claim, proxy),
  };
  return {
    authorize: (identity, name, action) => checks[action](identity, name, action),
    clientPublish: channel.publish !== 'none',
    ...(channel.history.size > 0 && {
      history: { size: channel.history.size, ttlMs: channel.history.ttlSeconds * 1000 },
    }),
    ...(channel.presence && { presence: true }),
    ...(channel.streams && { streams: true }),
    ...(channel.ephemeral.length > 0 && { ephemeral: channel.ephemeral }),
    ...(channel.events.length > 0 && {
      events: Object.fromEntries(channel.events.map((event) => [event, null])),
    }),
  };
}

async function createBroker(config: Config): Promise<Broker | undefined> {
  if (!config.redis.url) return undefined;
  let module: typeof import('../redis/index.js');
  try {
    module = await import('../redis/index.js');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND')
      throw new Error('redis.url needs the ioredis package: npm install ioredis');
    throw error;
  }
  return module.redisBroker({
    url: config.redis.url,
    prefix: config.redis.prefix,
    sharded: config.redis.sharded,
  });
}

export interface Running {
  server: Server;
  url: string;
  /** Graceful stop: 1001 to every client, drain up to limits.closeTimeoutMs, release everything. */
  stop(): Promise<void>;
}

/** Starts the standalone server from a validated configuration. */
export async function serve(config: Config): Promise<Running> {
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  const stdoutLevel = config.log.level;
  const channelLevel = config.log.channel ? config.log.channelLevel : 'silent';
  const lowest = levels[Math.min(levels.indexOf(stdoutLevel), levels.indexOf(channelLevel))]!;
  // The log channel needs the server, the server needs the logger: records go through this
  // forwarder, which starts publishing once the channel exists.
  let toChannel: ((line: string) => void) | undefined;
  const streams: pino.StreamEntry[] = [];
  if (stdoutLevel !== 'silent')
    // Synchronous so the last records before exit are not lost.
    streams.push({
      level: stdoutLevel as pino.Level,
      stream: pino.destination({ dest: 1, sync: true }),
    });
  if (channelLevel !== 'silent')
    streams.push({
      level: channelLevel as pino.Level,
      stream: { write: (line: string) => toChannel?.(line) },
    });
  const logger = pino({ level: lowest, base: { pid: process.pid } }, pino.multistream(streams));

  const endpoint = (url: string): ProxyEndpoint => ({
    url,
    timeoutMs: config.proxy.timeoutMs,
    headers: config.proxy.headers,
    logger,
  });
  const channels: Record<string, ChannelOptions> = {};
  if (config.log.channel) {
    const watch = permissionCheck(
      config.log.subscribe,
      config.auth.rolesClaim,
      config.proxy.authorize ? proxyAuthorize(endpoint(config.proxy.authorize)) : undefined,
    );
    channels[config.log.channel] = {
      authorize: (identity, name, action) =>
        action === 'publish' ? false : watch(identity, name, action),
      clientPublish: false,
      history: { size: config.log.keep, ttlMs: DEFAULTS.logStream.historyTtlMs },
    };
  }
  for (const [pattern, channel] of Object.entries(config.channels))
    channels[pattern] = channelOptions(channel, config, endpoint);

  const jwt = config.auth.jwt;
  const hasJwt = jwt.secret ?? jwt.publicKey ?? jwt.publicKeyFile ?? jwt.jwksUrl;
  const broker = await createBroker(config);
  const options: ServerOptions = {
    port: config.port,
    host: config.host,
    path: config.path,
    auth: {
      anonymous: config.auth.anonymous,
      ...(hasJwt && {
        jwt: {
          ...(jwt.secret !== undefined && { secret: jwt.secret }),
          ...(jwt.publicKey !== undefined && { publicKey: jwt.publicKey }),
          ...(jwt.publicKeyFile !== undefined && {
            publicKey: readFileSync(jwt.publicKeyFile, 'utf8'),
          }),
          ...(jwt.jwksUrl !== undefined && { jwksUrl: jwt.jwksUrl }),
          ...(jwt.audience !== undefined && { audience: jwt.audience }),
          ...(jwt.issuer !== undefined && { issuer: jwt.issuer }),
          ...(jwt.algorithms !== undefined && { algorithms: jwt.algorithms }),
          clockToleranceSec: jwt.clockToleranceSec,
        },
      }),
      ...(config.proxy.connect && { authenticate: proxyConnect(endpoint(config.proxy.connect)) }),
    },
    channels,
    ...(broker && { broker }),
    limits: {
      maxMessageBytes: config.limits.maxMessageBytes,
      messagesPerSecond: config.limits.messagesPerSecond,
      ...(config.limits.burst !== undefined && { burst: config.limits.burst }),
      maxSubscriptions: config.limits.maxSubscriptions,
      maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
      ...(config.limits.maxConnections !== undefined && {
        maxConnections: config.limits.maxConnections,
      }),
      maxQueueBytes: config.limits.maxQueueBytes,
      maxInFlight: config.limits.maxInFlight,
      authTimeoutMs: config.limits.authTimeoutMs,
      ...(config.limits.allowedOrigins.length > 0 && {
        allowedOrigins: config.limits.allowedOrigins,
      }),
      closeTimeoutMs: config.limits.closeTimeoutMs,
    },
    heartbeat:
      config.heartbeat.intervalMs > 0 ? { intervalMs: config.heartbeat.intervalMs } : false,
    logger,
    ...(config.health.enabled && {
      health: {
        path: config.health.path,
        readyPath: config.health.readyPath,
        timeoutMs: config.health.timeoutMs,
      },
    }),
    ...(config.metrics.enabled && {
      metrics: { path: config.metrics.path, processMetrics: true },
    }),
    ...(config.api.key && {
      api: { key: config.api.key, path: config.api.path, maxBodyBytes: config.api.maxBodyBytes },
    }),
  };
  const server = createServer(options);
  if (config.proxy.rpc) server.rpc('*', proxyRpc(endpoint(config.proxy.rpc)));

  const stream = config.log.channel
    ? logStream(server.broker, {
        channel: config.log.channel,
        keep: config.log.keep,
        collapseMs: config.log.collapseMs,
      })
    : undefined;
  if (stream) toChannel = (line) => stream.write(line);

  // Who came and went, for operators: refused connections at info (they point at a client or
  // an attack), ordinary ones at debug.
  server.tap({
    close(connection, code, reason) {
      if (connection.identity === undefined)
        logger.info(
          { code, reason, remoteAddress: connection.remoteAddress },
          'connection refused',
        );
      else
        logger.debug(
          { connection: connection.id, user: connection.userId, code, reason },
          'disconnected',
        );
    },
    authenticated(connection) {
      logger.debug({ connection: connection.id, user: connection.userId }, 'connected');
    },
  });

  const inspector = config.inspector.enabled
    ? attachInspector(server, {
        enabled: true,
        path: config.inspector.path,
        actions: config.inspector.actions,
        ...(config.inspector.credential !== undefined && {
          credential: config.inspector.credential,
        }),
      })
    : undefined;
  if (config.inspector.enabled && !inspector?.enabled)
    logger.warn('inspector not started: NODE_ENV=production needs inspector.credential');

  const address = await server.listen();
  logger.info(
    {
      url: address.url,
      port: address.port,
      host: address.host,
      broker: broker ? 'redis' : 'memory',
      api: config.api.key ? config.api.path : false,
      inspector: inspector?.enabled ? config.inspector.path : false,
    },
    'listening',
  );

  let stopping: Promise<void> | undefined;
  const running: Running = {
    server,
    url: address.url,
    stop() {
      stopping ??= (async () => {
        logger.info({ connections: server.connections.size }, 'shutting down');
        inspector?.close();
        await server.close();
        stream?.close();
        if (broker) await broker.close();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
  return running;
}
