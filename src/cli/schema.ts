import { DEFAULTS } from '../server/defaults.js';

/**
 * The standalone server's configuration, declared once. The same declaration validates config
 * files and environment variables, prints `--help`, and generates the reference in
 * docs/operations.md, so none of them can drift from the others. Where an option is one of the
 * library's, its default is the library's (src/server/defaults.ts), never a copy; the few
 * defaults written here are the standalone server's own choices.
 */

interface Common {
  doc: string;
  /** Extra environment variables read for this option, before the derived SWITCHBOARD_… one. */
  env?: readonly string[];
  /** Never echoed back in errors. */
  secret?: boolean;
  /**
   * An old name of another option (its dotted key): read from files, the environment and --set
   * as that option, and reported back with the same value.
   */
  aliasOf?: string;
  /**
   * An old name of a sibling option in another unit (`ttlSeconds` for `ttlMs`, factor 1000): read
   * as that option, its value times `factor`; not reported back (the current name is).
   */
  oldNameOf?: { key: string; factor: number };
}

export interface StringSpec extends Common {
  type: 'string';
  default?: string;
  enum?: readonly string[];
  /** Must parse as a URL with one of these protocols. */
  url?: readonly string[];
}
export interface IntegerSpec extends Common {
  type: 'integer';
  default?: number;
  min?: number;
  max?: number;
}
export interface BooleanSpec extends Common {
  type: 'boolean';
  default?: boolean;
}
export interface ListSpec extends Common {
  type: 'list';
  default?: readonly string[];
}
export interface PermissionSpec extends Common {
  type: 'permission';
  default: Permission;
}
export interface ObjectSpec extends Common {
  type: 'object';
  fields: Record<string, Spec>;
  /**
   * The section also takes true or false, as the library's `boolean | { … }` options do: false
   * (the default) leaves it off, true turns it on with the fields' defaults, a map turns it on
   * with those settings. The resolved value is false or the section.
   */
  toggle?: boolean;
}
/** Keys chosen by the user (channel patterns, header names); not settable from the environment. */
export interface MapSpec extends Common {
  type: 'map';
  key: string;
  value: Spec;
}
export type Spec =
  | StringSpec
  | IntegerSpec
  | BooleanSpec
  | ListSpec
  | PermissionSpec
  | ObjectSpec
  | MapSpec;

/**
 * Who may do something on a channel: everyone authenticated, no client (only the server and
 * its HTTP API), the user the channel is named after (`notes:alice` for alice), users whose
 * token lists one of these roles, or whatever the backend's authorize endpoint answers.
 */
export type Permission = 'all' | 'none' | 'owner' | 'proxy' | { roles: string[] };

export const PERMISSION_DOC =
  "`all`, `none`, `owner` (the channel's last `:` segment is the user id), `proxy` (ask the backend) or `{ roles: [...] }`";

const MAX_PORT = 65_535;
const url = ['http:', 'https:'] as const;
const permission = (doc: string, fallback: Permission): PermissionSpec => ({
  type: 'permission',
  doc,
  default: fallback,
});

const channel: ObjectSpec = {
  type: 'object',
  doc: 'Settings of the channels matching one pattern.',
  fields: {
    history: {
      type: 'object',
      doc: 'Publications kept for recovery after a reconnect and for `history` requests.',
      fields: {
        size: { type: 'integer', doc: 'Publications kept; 0 keeps none.', default: 0, min: 0 },
        ttlMs: {
          type: 'integer',
          doc: 'Publications older than this (milliseconds) are dropped.',
          default: DEFAULTS.history.ttlMs,
          min: 1,
        },
        ttlSeconds: {
          type: 'integer',
          doc: 'The old name of `ttlMs`, in seconds; still read (`ttlSeconds: 60` is `ttlMs: 60000`).',
          min: 1,
          oldNameOf: { key: 'ttlMs', factor: 1000 },
        },
      },
    },
    presence: {
      type: 'boolean',
      doc: 'Track who is subscribed (`$join`/`$leave` events, presence requests).',
      default: false,
    },
    streams: {
      type: 'object',
      toggle: true,
      doc: 'Allow streams (ordered chunks with an end marker; late joiners catch up): `true`, or a section with the settings below.',
      fields: {
        timeoutMs: {
          type: 'integer',
          doc: 'A stream that writes nothing for this long is ended with an error.',
          default: DEFAULTS.streams.timeoutMs,
          min: 100,
        },
        history: {
          type: 'object',
          doc: "Where stream chunks are kept when the channel's own `history` keeps none.",
          fields: {
            size: {
              type: 'integer',
              doc: "Chunks kept (when the channel's `history.size` is 0).",
              default: DEFAULTS.streams.history.size,
              min: 1,
            },
            ttlMs: {
              type: 'integer',
              doc: 'Chunks older than this (milliseconds) are dropped.',
              default: DEFAULTS.streams.history.ttlMs,
              min: 1,
            },
          },
        },
      },
    },
    ephemeral: {
      type: 'list',
      doc: 'Events delivered to current subscribers only, never kept (e.g. `typing`).',
      default: [],
    },
    events: {
      type: 'list',
      doc: 'Events clients may publish; empty allows any.',
      default: [],
    },
    subscribe: permission('Who may subscribe.', 'all'),
    publish: permission('Who may publish from a client.', 'none'),
    presenceRead: permission('Who may ask who is here.', 'all'),
    historyRead: permission('Who may read history.', 'all'),
    proxy: {
      type: 'string',
      doc: 'Authorize endpoint for `proxy` permissions of this pattern; default `proxy.authorize`.',
      url,
    },
  },
};

export const configSpec: ObjectSpec = {
  type: 'object',
  doc: 'Switchboard server configuration.',
  fields: {
    port: {
      type: 'integer',
      doc: 'TCP port for WebSocket, HTTP API, inspector, and metrics and health unless they have ports of their own; 0 picks a free one.',
      // The standalone server's own: a service listens on a fixed port (the library picks a free one).
      default: 8000,
      min: 0,
      max: MAX_PORT,
      env: ['PORT'],
    },
    // The library's: nothing is reachable from other hosts until asked for. In a container,
    // HOST=0.0.0.0 (docs/deployment.md).
    host: {
      type: 'string',
      doc: 'Address to listen on; `0.0.0.0` (or `::`) accepts outside connections, as a container needs.',
      default: DEFAULTS.server.host,
      env: ['HOST'],
    },
    path: {
      type: 'string',
      doc: 'URL path of the WebSocket endpoint.',
      default: DEFAULTS.server.path,
    },
    nodeReportMs: {
      type: 'integer',
      doc: `How often this node reports its channel counts to the others (for \`GET /api/channels\`); default ${DEFAULTS.server.nodeReportMs} with the API on, 0 (never) without.`,
      min: 0,
    },
    auth: {
      type: 'object',
      doc: 'How connections prove who they are.',
      fields: {
        jwt: {
          type: 'object',
          doc: 'JWT verification (one of secret, publicKey, publicKeyFile or jwksUrl).',
          fields: {
            secret: { type: 'string', doc: 'Shared secret for HS256/384/512.', secret: true },
            publicKey: { type: 'string', doc: 'PEM public key for RS/PS/ES/EdDSA tokens.' },
            publicKeyFile: { type: 'string', doc: 'File holding the PEM public key.' },
            jwksUrl: { type: 'string', doc: 'JWKS endpoint (keys cached).', url },
            audience: { type: 'string', doc: 'Required `aud` claim.' },
            issuer: { type: 'string', doc: 'Required `iss` claim.' },
            algorithms: {
              type: 'list',
              doc: 'Accepted algorithms; default follows the key type.',
            },
            clockToleranceSec: {
              type: 'integer',
              doc: 'Leeway for `exp` and `nbf`.',
              default: DEFAULTS.auth.clockToleranceSec,
              min: 0,
            },
            requireExp: {
              type: 'boolean',
              doc: 'Refuse tokens without `exp`. `false` accepts them: such a connection never expires.',
              default: DEFAULTS.auth.requireExp,
            },
            maxTokenAgeMs: {
              type: 'integer',
              doc: 'Refuse tokens issued (`iat`) longer ago than this, whatever their `exp`.',
              min: 1,
            },
            jwks: {
              type: 'object',
              doc: 'How the `jwksUrl` key set is cached and fetched again.',
              fields: {
                cooldownMs: {
                  type: 'integer',
                  doc: 'An unknown `kid` fetches the key set again at once, at most this often.',
                  default: DEFAULTS.auth.jwks.cooldownMs,
                  min: 0,
                },
                cacheMaxAgeMs: {
                  type: 'integer',
                  doc: 'The key set is fetched again when older than this (a removed key stops working then).',
                  default: DEFAULTS.auth.jwks.cacheMaxAgeMs,
                  min: 1,
                },
                timeoutMs: {
                  type: 'integer',
                  doc: 'A key set fetch not answered in time fails; the last good set stays in use.',
                  default: DEFAULTS.auth.jwks.timeoutMs,
                  min: 1,
                },
              },
            },
          },
        },
        anonymous: {
          type: 'boolean',
          doc: 'Admit connections without a token (user id "").',
          default: false,
        },
        rolesClaim: {
          type: 'string',
          doc: 'Token claim listing the roles `{ roles: [...] }` permissions check.',
          default: 'roles',
        },
      },
    },
    channels: {
      type: 'map',
      key: 'pattern',
      doc: 'Channel patterns (`*` matches anything; the first match wins). A channel matching none is refused.',
      value: channel,
    },
    limits: {
      type: 'object',
      doc: 'Per-connection and per-server limits.',
      fields: {
        maxMessageBytes: {
          type: 'integer',
          doc: 'Larger messages get TOO_LARGE.',
          default: DEFAULTS.limits.maxMessageBytes,
          min: 64,
        },
        hardMaxMessageBytes: {
          type: 'integer',
          doc: `Larger messages close the socket (1009) unread; default ${DEFAULTS.limits.hardMaxMessageFactor}x maxMessageBytes (never below it).`,
          min: 64,
        },
        messagesPerSecond: {
          type: 'integer',
          doc: 'Rate limit per connection.',
          default: DEFAULTS.limits.messagesPerSecond,
          min: 1,
        },
        burst: {
          type: 'integer',
          doc: `Burst above the rate; default ${DEFAULTS.limits.burstFactor}x the rate.`,
          min: 1,
        },
        maxRateLimited: {
          type: 'integer',
          doc: 'Frames refused for rate in a row before the connection is closed (4008).',
          default: DEFAULTS.limits.maxRateLimited,
          min: 1,
        },
        maxBatch: {
          type: 'integer',
          doc: 'Frames in one batched message (BAD_FRAME beyond).',
          default: DEFAULTS.limits.maxBatch,
          min: 1,
        },
        maxSubscriptions: {
          type: 'integer',
          doc: 'Channels per connection.',
          default: DEFAULTS.limits.maxSubscriptions,
          min: 1,
        },
        maxStreams: {
          type: 'integer',
          doc: 'Streams one user may have open at once on this node.',
          default: DEFAULTS.limits.maxStreams,
          min: 1,
        },
        maxConnectionsPerUser: {
          type: 'integer',
          doc: 'Connections per user id (close 4009 beyond).',
          default: DEFAULTS.limits.maxConnectionsPerUser,
          min: 1,
        },
        maxConnections: {
          type: 'integer',
          doc: 'Connections on this node (HTTP 503 beyond); unlimited when unset.',
          min: 1,
        },
        maxQueueBytes: {
          type: 'integer',
          doc: 'Send queue of one connection before it is closed as a slow consumer (4007).',
          default: DEFAULTS.limits.maxQueueBytes,
          min: 1024,
        },
        maxInFlight: {
          type: 'integer',
          doc: 'Requests of one connection processed at once.',
          default: DEFAULTS.limits.maxInFlight,
          min: 1,
        },
        authTimeoutMs: {
          type: 'integer',
          doc: 'Time to authenticate after the socket opens (4005).',
          default: DEFAULTS.limits.authTimeoutMs,
          min: 100,
        },
        allowedOrigins: {
          type: 'list',
          doc: 'Origin header values allowed to connect; any when empty.',
          default: [],
        },
        closeTimeoutMs: {
          type: 'integer',
          doc: 'Time clients get to finish closing on shutdown, then cut off (old name `shutdown.timeoutMs`).',
          default: DEFAULTS.limits.closeTimeoutMs,
          min: 0,
        },
      },
    },
    heartbeat: {
      type: 'object',
      doc: 'Server pings; a connection silent for two intervals is dropped.',
      fields: {
        intervalMs: {
          type: 'integer',
          doc: 'Ping interval; 0 disables.',
          default: DEFAULTS.heartbeat.intervalMs,
          min: 0,
        },
      },
    },
    redis: {
      type: 'object',
      doc: 'Scale out: nodes sharing one Redis (or Valkey, DragonflyDB) share channels, history and presence. Off without a URL; excludes `broker.sqlite.file`.',
      fields: {
        url: {
          type: 'string',
          doc: 'Redis URL, e.g. redis://127.0.0.1:6379.',
          env: ['REDIS_URL'],
          url: ['redis:', 'rediss:'],
        },
        prefix: {
          type: 'string',
          doc: 'Key prefix, to share one Redis between deployments.',
          // The standalone server's own, kept as it was so deployments keep their keys: the
          // library's redisBroker defaults to 'switchboard:'.
          default: 'switchboard',
        },
        sharded: {
          type: 'boolean',
          doc: 'Use sharded pub/sub (Redis 7+ cluster).',
          default: false,
        },
        // The Redis broker's own deadlines: unset here means its defaults (src/redis/broker.ts).
        commandTimeoutMs: {
          type: 'integer',
          doc: 'A command not answered within this fails with UNAVAILABLE; default 2000.',
          min: 1,
        },
        connectTimeoutMs: {
          type: 'integer',
          doc: 'How long commands wait for the first connection before failing; default 5000.',
          min: 1,
        },
        positionCheckMs: {
          type: 'integer',
          doc: "How often quiet channels are checked against Redis's stored position, to find lost publications; default 5000, 0 turns it off.",
          min: 0,
        },
      },
    },
    broker: {
      type: 'object',
      doc: 'The broker: in-memory unless `broker.sqlite.file` (or `--data-dir`) or `redis.url` is set.',
      fields: {
        idempotencyWindowMs: {
          type: 'integer',
          doc: 'How long an idempotency key is remembered: a publish repeating one inside it is published once.',
          default: DEFAULTS.broker.idempotencyWindowMs,
          min: 1000,
        },
        idleChannelTtlMs: {
          type: 'integer',
          doc: 'How long a channel nobody publishes to keeps its offset and epoch; default 300000.',
          min: 1000,
        },
        // The SQLite broker's options (src/sqlite/broker.ts): unset here means its defaults.
        sqlite: {
          type: 'object',
          doc: "`sqliteBroker({ … })`'s options: durable on one machine.",
          fields: {
            file: {
              type: 'string',
              doc: 'SQLite database file: setting it makes the broker durable on one machine (offsets, history and idempotency keys survive restarts and `kill -9`); needs the better-sqlite3 package. Relative to the working directory; created if missing, in a directory that must exist. `--data-dir DIR` sets `DIR/switchboard.db` (and creates DIR). One process per file; excludes `redis.url`.',
            },
            synchronous: {
              type: 'string',
              doc: 'When a publish is acknowledged; default `full`: once fsynced, so it survives a power loss. `normal`: once written to the OS, about 1.3x the publish rate; it survives the process being killed, but a power loss or OS crash can lose the last publications (and hand their offsets out again).',
              enum: ['full', 'normal'],
            },
            maxBytes: {
              type: 'integer',
              doc: "Cap on the database file: past it publishes fail with UNAVAILABLE and `/readyz` answers 503 until history ages out. Unset: no cap (the channels' history settings bound the file).",
              min: 1024 * 1024,
            },
            integrityCheck: {
              type: 'boolean',
              doc: 'Check the whole file at startup (SQLite `quick_check`), so a damaged file fails startup instead of publishes later; it reads the file once. Default true.',
            },
            lockTimeoutMs: {
              type: 'integer',
              doc: 'How long to wait at startup for another process to let go of the file (a previous instance still stopping) before refusing; default 0.',
              min: 0,
            },
          },
        },
      },
    },
    api: {
      type: 'object',
      doc: 'HTTP server API (OpenAPI at `<path>/openapi.json`). On when a key is set.',
      fields: {
        key: {
          type: 'string',
          doc: 'API key, sent as `Authorization: Bearer <key>` or `X-API-Key`.',
          secret: true,
        },
        path: { type: 'string', doc: 'URL prefix.', default: DEFAULTS.api.path },
        maxBodyBytes: {
          type: 'integer',
          doc: 'Largest request body.',
          default: DEFAULTS.api.maxBodyBytes,
          min: 1024,
        },
        maxBatch: {
          type: 'integer',
          doc: 'Publications in one `POST /batch` request.',
          default: DEFAULTS.api.maxBatch,
          min: 1,
        },
      },
    },
    proxy: {
      type: 'object',
      doc: 'Let a backend in any language decide: HTTP endpoints the server POSTs JSON to.',
      fields: {
        connect: {
          type: 'string',
          doc: 'Authenticates every connection (instead of JWT).',
          url,
        },
        authorize: {
          type: 'string',
          doc: 'Decides `proxy` permissions of channels.',
          url,
        },
        rpc: { type: 'string', doc: 'Handles every RPC method.', url },
        timeoutMs: {
          type: 'integer',
          doc: 'Backend answer deadline; clients then get UNAVAILABLE.',
          default: DEFAULTS.proxy.timeoutMs,
          min: 10,
        },
        maxResponseBytes: {
          type: 'integer',
          doc: "Largest backend answer; larger ones are refused like a backend's failure.",
          default: DEFAULTS.proxy.maxResponseBytes,
          min: 1024,
        },
        headers: {
          type: 'map',
          key: 'header',
          doc: 'Headers sent with every call (e.g. a shared secret).',
          value: { type: 'string', doc: 'Header value.', secret: true },
        },
      },
    },
    inspector: {
      type: 'object',
      doc: 'The live inspector panel.',
      fields: {
        enabled: { type: 'boolean', doc: 'Serve the panel.', default: false },
        path: { type: 'string', doc: 'URL path of the panel.', default: DEFAULTS.inspector.path },
        credential: {
          type: 'string',
          doc: 'Required to open the panel (and to enable it when NODE_ENV=production).',
          secret: true,
        },
        actions: {
          type: 'boolean',
          doc: 'Allow replay, send, publish and close from the panel.',
          default: false,
        },
      },
    },
    metrics: {
      type: 'object',
      doc: 'Prometheus metrics.',
      fields: {
        enabled: { type: 'boolean', doc: 'Serve metrics.', default: true },
        path: { type: 'string', doc: 'URL path.', default: DEFAULTS.metrics.path },
        prefix: {
          type: 'string',
          doc: 'Prefix of every Switchboard metric name.',
          default: DEFAULTS.metrics.prefix,
        },
        processMetrics: {
          type: 'boolean',
          doc: "Also export prom-client's process metrics (CPU, memory, event-loop lag).",
          // The standalone server's own: it is the process, so it reports it (the library: off).
          default: true,
        },
        port: {
          type: 'integer',
          doc: "Serve metrics on this port, an HTTP server of their own, not the gateway's; 0 picks a free one. Unset: the gateway's port.",
          min: 0,
          max: MAX_PORT,
        },
        host: {
          type: 'string',
          doc: 'Address of the metrics port (with `metrics.port`).',
          default: DEFAULTS.metrics.host,
        },
      },
    },
    health: {
      type: 'object',
      doc: 'Liveness and readiness (readiness proves delivery through the broker).',
      fields: {
        enabled: { type: 'boolean', doc: 'Serve health endpoints.', default: true },
        path: { type: 'string', doc: 'Liveness path.', default: DEFAULTS.health.path },
        readyPath: { type: 'string', doc: 'Readiness path.', default: DEFAULTS.health.readyPath },
        timeoutMs: {
          type: 'integer',
          doc: 'Probe round-trip deadline.',
          default: DEFAULTS.health.timeoutMs,
          min: 10,
        },
        port: {
          type: 'integer',
          doc: "Serve health endpoints on this port, an HTTP server of their own, not the gateway's (the same as `metrics.port` shares it); 0 picks a free one. Unset: the gateway's port.",
          min: 0,
          max: MAX_PORT,
        },
        host: {
          type: 'string',
          doc: 'Address of the health port (with `health.port`); Kubernetes probes need `0.0.0.0`.',
          default: DEFAULTS.health.host,
        },
      },
    },
    log: {
      type: 'object',
      doc: 'Structured logs (pino, JSON lines on stdout).',
      fields: {
        level: {
          type: 'string',
          doc: 'Lowest level written.',
          default: 'info',
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          env: ['LOG_LEVEL'],
        },
        channel: {
          type: 'string',
          doc: 'Also publish log records to this channel (e.g. `admin:logs`); off when unset.',
        },
        channelLevel: {
          type: 'string',
          doc: 'Lowest level published to the channel.',
          default: 'info',
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
        },
        keep: {
          type: 'integer',
          doc: 'Records kept in the channel history for late joiners.',
          default: DEFAULTS.logStream.keep,
          min: 1,
        },
        collapseMs: {
          type: 'integer',
          doc: 'Identical records within this window become one record with a count.',
          default: DEFAULTS.logStream.collapseMs,
          min: 0,
        },
        maxPerSecond: {
          type: 'integer',
          doc: 'Records published to the channel per second at most; the excess is counted and reported.',
          default: DEFAULTS.logStream.maxPerSecond,
          min: 1,
        },
        subscribe: permission('Who may watch the log channel.', { roles: ['admin'] }),
      },
    },
    shutdown: {
      type: 'object',
      doc: 'On SIGTERM or SIGINT: stop accepting, close clients with 1001, drain, exit 0.',
      fields: {
        timeoutMs: {
          type: 'integer',
          doc: 'The old name of `limits.closeTimeoutMs`, still read; always the same value.',
          min: 0,
          aliasOf: 'limits.closeTimeoutMs',
        },
      },
    },
  },
};
