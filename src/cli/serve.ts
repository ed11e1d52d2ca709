import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { memoryBroker } from '../broker/memory.js';
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
import { configWarnings } from './config-print.js';
import type { ChannelConfig, Config } from './config-types.js';
import type { Permission } from './spec.js';

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
      history: { size: channel.history.size, ttlMs: channel.history.ttlMs },
    }),
    ...(channel.presence && { presence: true }),
    ...(channel.streams && {
      streams: {
        timeoutMs: channel.streams.timeoutMs,
        compact: channel.streams.compact,
        history: channel.streams.history,
      },
    }),
    ...(channel.latest && {
      latest: { maxEvents: channel.latest.maxEvents, ttlMs: channel.latest.ttlMs },
    }),
    ...(channel.ephemeral.length > 0 && { ephemeral: channel.ephemeral }),
    ...(channel.events.length > 0 && {
      events: Object.fromEntries(channel.events.map((event) => [event, null])),
    }),
  };
}

/**
 * A failure to start that starting again will not fix: the configuration needs an optional
 * package this installation lacks (or cannot load). The command exits 2, as for a bad
 * configuration, so supervisors that stop retrying on 2 stop here too.
 */
export class SetupError extends Error {
  override readonly name = 'SetupError';
}

/** Which broker the configuration asks for. */
export function brokerKind(config: Config): 'memory' | 'sqlite' | 'redis' {
  if (config.broker.sqlite.file !== undefined) return 'sqlite';
  return config.redis.url ? 'redis' : 'memory';
}

async function createSqliteBroker(
  config: Config,
  common: { idempotencyWindowMs: number; idleChannelTtlMs?: number },
  logger: pino.Logger,
): Promise<Broker> {
  const { file, synchronous, maxBytes, integrityCheck, lockTimeoutMs } = config.broker.sqlite;
  let module: typeof import('../sqlite/index.js');
  try {
    module = await import('../sqlite/index.js');
  } catch (error) {
    // switchboard/sqlite loads better-sqlite3 (an optional peer) when imported, and says why not.
    const { message } = error as Error;
    if (message.startsWith('switchboard/sqlite needs better-sqlite3'))
      throw new SetupError(
        'the SQLite broker (broker.sqlite.file, --data-dir) needs the better-sqlite3 package, which is not installed: npm install better-sqlite3',
        { cause: error },
      );
    if (message.startsWith('switchboard/sqlite'))
      throw new SetupError(`the SQLite broker (broker.sqlite.file, --data-dir): ${message}`, {
        cause: error,
      });
    throw error;
  }
  return module.sqliteBroker({
    file: file!,
    ...common,
    ...(synchronous !== undefined && { synchronous }),
    ...(maxBytes !== undefined && { maxBytes }),
    ...(integrityCheck !== undefined && { integrityCheck }),
    ...(lockTimeoutMs !== undefined && { lockTimeoutMs }),
    onError: (error) => logger.error({ err: error }, 'SQLite broker upkeep failed'),
  });
}

/** The broker the configuration asks for; the standalone server owns it and closes it last. */
async function createBroker(config: Config, logger: pino.Logger): Promise<Broker> {
  const { idempotencyWindowMs, idleChannelTtlMs } = config.broker;
  const common = {
    idempotencyWindowMs,
    ...(idleChannelTtlMs !== undefined && { idleChannelTtlMs }),
  };
  const kind = brokerKind(config);
  if (kind === 'memory') return memoryBroker(common);
  if (kind === 'sqlite') return createSqliteBroker(config, common, logger);
  let module: typeof import('../redis/index.js');
  try {
    module = await import('../redis/index.js');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND')
      throw new SetupError(
        'redis.url needs the ioredis package, which is not installed: npm install ioredis',
        { cause: error },
      );
    throw error;
  }
  const { commandTimeoutMs, connectTimeoutMs, positionCheckMs } = config.redis;
  return module.redisBroker({
    url: config.redis.url!,
    prefix: config.redis.prefix,
    sharded: config.redis.sharded,
    ...common,
    ...(commandTimeoutMs !== undefined && { commandTimeoutMs }),
    ...(connectTimeoutMs !== undefined && { connectTimeoutMs }),
    ...(positionCheckMs !== undefined && { positionCheckMs }),
    // The cause of a connection failure, once per outage (not once per retry).
    logger,
  });
}

/**
 * After `limits.closeTimeoutMs`, how long the drain may still take before the process exits 1
 * anyway: supervisors' stop timeouts must exceed the sum (docs/deployment.md).
 */
export const SHUTDOWN_BACKSTOP_MS = 5_000;

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
    maxResponseBytes: config.proxy.maxResponseBytes,
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
  const broker = await createBroker(config, logger);
  const options: ServerOptions = {
    port: config.port,
    host: config.host,
    path: config.path,
    ...(config.nodeReportMs !== undefined && { nodeReportMs: config.nodeReportMs }),
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
          requireExp: jwt.requireExp,
          ...(jwt.maxTokenAgeMs !== undefined && { maxTokenAgeMs: jwt.maxTokenAgeMs }),
          jwks: jwt.jwks,
        },
      }),
      ...(config.proxy.connect && { authenticate: proxyConnect(endpoint(config.proxy.connect)) }),
    },
    channels,
    broker,
    limits: {
      maxMessageBytes: config.limits.maxMessageBytes,
      ...(config.limits.hardMaxMessageBytes !== undefined && {
        hardMaxMessageBytes: config.limits.hardMaxMessageBytes,
      }),
      messagesPerSecond: config.limits.messagesPerSecond,
      ...(config.limits.burst !== undefined && { burst: config.limits.burst }),
      maxRateLimited: config.limits.maxRateLimited,
      maxBatch: config.limits.maxBatch,
      maxSubscriptions: config.limits.maxSubscriptions,
      maxStreams: config.limits.maxStreams,
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
        ...(config.health.port !== undefined && {
          port: config.health.port,
          host: config.health.host,
        }),
      },
    }),
    ...(config.metrics.enabled && {
      metrics: {
        path: config.metrics.path,
        prefix: config.metrics.prefix,
        processMetrics: config.metrics.processMetrics,
        ...(config.metrics.port !== undefined && {
          port: config.metrics.port,
          host: config.metrics.host,
        }),
      },
    }),
    ...(config.api.key && {
      api: {
        key: config.api.key,
        path: config.api.path,
        maxBodyBytes: config.api.maxBodyBytes,
        maxBatch: config.api.maxBatch,
      },
    }),
  };
  const server = createServer(options);
  if (config.proxy.rpc) server.rpc('*', proxyRpc(endpoint(config.proxy.rpc)));

  const stream = config.log.channel
    ? logStream(server.broker, {
        channel: config.log.channel,
        keep: config.log.keep,
        collapseMs: config.log.collapseMs,
        maxPerSecond: config.log.maxPerSecond,
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

  for (const warning of configWarnings(config)) logger.warn(warning);
  let address: Awaited<ReturnType<Server['listen']>>;
  try {
    address = await server.listen();
  } catch (error) {
    // Nothing may keep the process alive behind the error: a side port failed after another
    // opened, or the broker is connecting.
    await server.close().catch(() => {});
    await broker.close().catch(() => {});
    throw error;
  }
  const where = (own: { url: string } | undefined, path: string) =>
    own ? `${own.url}${path}` : path;
  logger.info(
    {
      url: address.url,
      port: address.port,
      host: address.host,
      broker: brokerKind(config),
      ...(config.broker.sqlite.file !== undefined && {
        dataFile: resolve(config.broker.sqlite.file),
      }),
      api: config.api.key ? config.api.path : false,
      inspector: inspector?.enabled ? config.inspector.path : false,
      metrics: config.metrics.enabled ? where(address.metrics, config.metrics.path) : false,
      health: config.health.enabled ? where(address.health, config.health.path) : false,
      ...(address.metrics && { metricsPort: address.metrics.port }),
      ...(address.health && { healthPort: address.health.port }),
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
        await broker.close();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
  return running;
}
