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
        ttlSeconds: {
          type: 'integer',
          doc: 'Publications older than this are dropped.',
          // The standalone server's own: the library has no default (history is off until given).
          default: 300,
          min: 1,
        },
      },
    },
    presence: {
      type: 'boolean',
      doc: 'Track who is subscribed (`$join`/`$leave` events, presence requests).',
      default: false,
    },
    streams: {
      type: 'boolean',
      doc: 'Allow streams (ordered chunks with an end marker; late joiners catch up).',
      default: false,
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
      doc: 'TCP port for WebSocket, HTTP API, metrics and health; 0 picks a free one.',
      // The standalone server's own: a service listens on a fixed port (the library picks a free one).
      default: 8000,
      min: 0,
      max: MAX_PORT,
      env: ['PORT'],
    },
    // The standalone server's own: a service (in a container) is reached from outside; the
    // library listens on DEFAULTS.server.host.
    host: { type: 'string', doc: 'Address to listen on.', default: '0.0.0.0', env: ['HOST'] },
    path: {
      type: 'string',
      doc: 'URL path of the WebSocket endpoint.',
      default: DEFAULTS.server.path,
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
        maxSubscriptions: {
          type: 'integer',
          doc: 'Channels per connection.',
          default: DEFAULTS.limits.maxSubscriptions,
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
      doc: 'Scale out: nodes sharing one Redis (or Valkey, DragonflyDB) share channels, history and presence. In-memory without a URL.',
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
