import { DEFAULTS } from '../server/defaults.js';
import { channel } from './schema-channel.js';
import { serviceSections } from './schema-services.js';
import { MAX_PORT, type ObjectSpec, url } from './spec.js';

/**
 * The standalone server's configuration, declared once. The same declaration validates config
 * files and environment variables, prints `--help`, and generates the reference in
 * docs/operations.md, so none of them can drift from the others. Where an option is one of the
 * library's, its default is the library's (src/server/defaults.ts), never a copy; the few
 * defaults written here are the standalone server's own choices.
 *
 * This file holds the top level and the core sections; channel settings are in
 * schema-channel.ts, the API/proxy/inspector/metrics/health/log/shutdown sections in
 * schema-services.ts, the spec types in spec.ts.
 */

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
    ...serviceSections,
  },
};
