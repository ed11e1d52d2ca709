import type { Permission } from './spec.js';

/** The shape of a loaded configuration: what loadConfig returns, every default filled in. */

export interface ChannelConfig {
  /** `ttlSeconds`, the old name of `ttlMs`, is read into `ttlMs`. */
  history: { size: number; ttlMs: number };
  presence: boolean;
  /** Off, or on with these settings (the library's `streams: boolean | { … }`). */
  streams:
    | false
    | { timeoutMs: number; compact: boolean; history: { size: number; ttlMs: number } };
  /** Off, or on with these settings (the library's `latest: boolean | { … }`). */
  latest: false | { maxEvents: number; ttlMs: number };
  ephemeral: string[];
  events: string[];
  subscribe: Permission;
  publish: Permission;
  presenceRead: Permission;
  historyRead: Permission;
  proxy?: string;
}

/** The validated configuration, every default filled in (mirrors configSpec). */
export interface Config {
  port: number;
  host: string;
  path: string;
  nodeReportMs?: number;
  auth: {
    jwt: {
      secret?: string;
      publicKey?: string;
      publicKeyFile?: string;
      jwksUrl?: string;
      audience?: string;
      issuer?: string;
      algorithms?: string[];
      clockToleranceSec: number;
      requireExp: boolean;
      maxTokenAgeMs?: number;
      jwks: { cooldownMs: number; cacheMaxAgeMs: number; timeoutMs: number };
    };
    anonymous: boolean;
    rolesClaim: string;
  };
  channels: Record<string, ChannelConfig>;
  limits: {
    maxMessageBytes: number;
    hardMaxMessageBytes?: number;
    messagesPerSecond: number;
    burst?: number;
    maxRateLimited: number;
    maxBatch: number;
    maxSubscriptions: number;
    maxStreams: number;
    maxConnectionsPerUser: number;
    maxConnections?: number;
    maxQueueBytes: number;
    maxInFlight: number;
    authTimeoutMs: number;
    allowedOrigins: string[];
    closeTimeoutMs: number;
  };
  heartbeat: { intervalMs: number };
  redis: {
    url?: string;
    prefix: string;
    sharded: boolean;
    commandTimeoutMs?: number;
    connectTimeoutMs?: number;
    positionCheckMs?: number;
  };
  broker: {
    idempotencyWindowMs: number;
    idleChannelTtlMs?: number;
    /** The SQLite broker when `file` is set; unset options are sqliteBroker's defaults. */
    sqlite: {
      file?: string;
      synchronous?: 'full' | 'normal';
      maxBytes?: number;
      integrityCheck?: boolean;
      lockTimeoutMs?: number;
    };
  };
  api: { key?: string; path: string; maxBodyBytes: number; maxBatch: number };
  proxy: {
    connect?: string;
    authorize?: string;
    rpc?: string;
    timeoutMs: number;
    maxResponseBytes: number;
    headers: Record<string, string>;
  };
  inspector: { enabled: boolean; path: string; credential?: string; actions: boolean };
  metrics: {
    enabled: boolean;
    path: string;
    prefix: string;
    processMetrics: boolean;
    port?: number;
    host: string;
  };
  health: {
    enabled: boolean;
    path: string;
    readyPath: string;
    timeoutMs: number;
    port?: number;
    host: string;
  };
  log: {
    level: string;
    channel?: string;
    channelLevel: string;
    keep: number;
    collapseMs: number;
    maxPerSecond: number;
    subscribe: Permission;
  };
  /** The old name of `limits.closeTimeoutMs`: always the same value. */
  shutdown: { timeoutMs: number };
}
