/**
 * The Redis broker's connections: the clients and their options, the Lua scripts defined on the
 * command link, waiting for readiness, and outage reporting (logs once per outage, health checks).
 */
import { type Cluster, Redis } from 'ioredis';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { RedisBrokerOptions } from './options.js';
import {
  FENCE,
  LATEST,
  POSITION,
  PRESENCE_ADD,
  PRESENCE_LIST,
  PUBLISH,
  READ,
  TOUCH,
} from './scripts.js';

interface Scripts {
  sbPublish(...args: (string | number)[]): Promise<[number, string]>;
  sbRead(...args: (string | number)[]): Promise<string[]>;
  sbLatest(...args: (string | number)[]): Promise<string[]>;
  sbTouch(...args: (string | number)[]): Promise<number>;
  sbPosition(...args: (string | number)[]): Promise<[string | null, string | null]>;
  sbFence(...args: (string | number)[]): Promise<string>;
  sbPresenceAdd(...args: (string | number)[]): Promise<number>;
  sbPresenceList(...args: (string | number)[]): Promise<string[]>;
}
/** The command link, with the broker's scripts defined on it. */
export type Client = (Redis | Cluster) & Scripts;

export function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** The broker's two links to Redis, and what it asks of them. */
export interface Connections {
  /** Runs commands and scripts. */
  readonly client: Client;
  /** In subscriber mode: fan-out only. */
  readonly subscriber: Redis | Cluster;
  /** Set by `close()`: commands fail and outages are no longer logged. */
  readonly closed: boolean;
  /**
   * The first connection may still be on its way; later outages fail fast, except where the
   * caller knows the link is coming back (`patient`: catching up after a reconnect).
   */
  ready(connection: Redis | Cluster, patient?: boolean): Promise<void>;
  /** Why the links are not ready, for errors and readiness: the last connection error. */
  downReason(connection?: Redis | Cluster): string;
  healthy(): boolean;
  unhealthyReason(): string | undefined;
  /** Marks the broker closed; `disconnect()` then drops the links (the caller's own client stays). */
  close(): void;
  disconnect(): void;
}

export function openConnections(options: RedisBrokerOptions): Connections {
  const sharded = options.sharded === true;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const clientOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    autoResubscribe: false,
    // Exponential backoff with jitter, capped, so a fleet of nodes does not stampede a restarting Redis.
    retryStrategy: (times: number) =>
      Math.round(Math.min(2_000, 50 * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2)),
  };
  const waits = new Map<Redis | Cluster, Promise<void>>();
  const ownsClient = options.redis === undefined;
  const client = (options.redis ??
    new Redis(options.url ?? 'redis://127.0.0.1:6379', clientOptions)) as Client;
  // A connection in subscriber mode can run nothing else: fan-out gets its own. On a Cluster,
  // sharded pub/sub needs one subscriber connection per shard, which ioredis keeps when asked.
  const subscriber: Redis | Cluster = ownsClient
    ? new Redis(options.url ?? 'redis://127.0.0.1:6379', clientOptions)
    : isCluster(client)
      ? client.duplicate([], sharded ? { shardedSubscribers: true } : {})
      : client.duplicate();
  for (const [name, numberOfKeys, lua] of [
    ['sbPublish', 5, PUBLISH],
    ['sbRead', 2, READ],
    ['sbLatest', 2, LATEST],
    ['sbPosition', 1, POSITION],
    ['sbFence', 2, FENCE],
    ['sbTouch', 1, TOUCH],
    ['sbPresenceAdd', 2, PRESENCE_ADD],
    ['sbPresenceList', 2, PRESENCE_LIST],
  ] as const) {
    client.defineCommand(name, { numberOfKeys, lua });
  }
  let closed = false;
  // Connection errors: ioredis emits one on every failed retry. The cause is kept for
  // `unhealthyReason()` (and /readyz) and logged once per outage; an unhandled 'error' event
  // would only crash the process.
  let lastError: Error | undefined;
  let outage = false;
  const where = (() => {
    try {
      return new URL(options.url ?? 'redis://127.0.0.1:6379').host; // never the password
    } catch {
      return undefined;
    }
  })();
  const onConnectionError = (error: Error) => {
    lastError = error;
    if (outage || closed) return;
    outage = true;
    options.logger?.error(
      { err: error, ...(ownsClient && where !== undefined && { redis: where }) },
      `Redis unreachable: ${error.message}`,
    );
  };
  const onReady = () => {
    if (client.status !== 'ready' || subscriber.status !== 'ready') return;
    lastError = undefined;
    if (!outage) return;
    outage = false;
    options.logger?.info?.({}, 'Redis connection restored');
  };
  client.on('error', onConnectionError);
  subscriber.on('error', onConnectionError);
  client.on('ready', onReady);
  subscriber.on('ready', onReady);
  const downReason = (connection: Redis | Cluster = client): string => {
    const status = `Redis is ${connection.status}`;
    return lastError ? `${status} (${lastError.message})` : status;
  };

  return {
    client,
    subscriber,
    get closed() {
      return closed;
    },
    downReason,

    async ready(connection: Redis | Cluster, patient = false): Promise<void> {
      if (closed) throw new SwitchboardError(ErrorCode.UNAVAILABLE, 'Broker is closed');
      if (connection.status === 'ready') return;
      const starting = ['connecting', 'wait', 'connect'].includes(connection.status);
      if (!starting && !(patient && connection.status === 'reconnecting')) {
        throw new SwitchboardError(
          ErrorCode.UNAVAILABLE,
          `Broker unavailable: ${downReason(connection)}`,
        );
      }
      // Every command waiting on one connection shares one wait (and one listener).
      let waiting = waits.get(connection);
      if (!waiting) {
        waiting = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            connection.off('ready', onReady);
            reject(
              new SwitchboardError(
                ErrorCode.UNAVAILABLE,
                `Broker unavailable: Redis did not answer in time${lastError ? ` (${lastError.message})` : ''}`,
              ),
            );
          }, connectTimeoutMs);
          const onReady = () => {
            clearTimeout(timer);
            resolve();
          };
          connection.once('ready', onReady);
        }).finally(() => waits.delete(connection!));
        waits.set(connection, waiting);
      }
      await waiting;
    },

    healthy(): boolean {
      return !closed && client.status === 'ready' && subscriber.status === 'ready';
    },

    unhealthyReason(): string | undefined {
      if (closed) return 'Broker is closed';
      const down = client.status !== 'ready' ? client : subscriber;
      if (down.status === 'ready') return undefined;
      return lastError ? `Redis unreachable: ${lastError.message}` : `Redis is ${down.status}`;
    },

    close(): void {
      closed = true;
    },

    disconnect(): void {
      subscriber.disconnect();
      if (ownsClient) client.disconnect();
    },
  };
}
