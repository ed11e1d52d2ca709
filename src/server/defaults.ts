import { CloseCode } from '../protocol/close-codes.js';

/**
 * Every default the gateway's options fall back to, in one place: the library resolves its
 * options from here and the standalone server's schema (src/cli/schema.ts) takes its defaults
 * from here, so the two cannot disagree. Shaped like `ServerOptions`; each value is what the
 * option's doc comment promises.
 */
export const DEFAULTS = {
  server: {
    /** `port`: 0 picks a free one. */
    port: 0,
    host: '127.0.0.1',
    /** URL path of the WebSocket endpoint. */
    path: '/ws',
    /** `nodeReportMs` when the HTTP API is on (it lists channels across nodes); 0 otherwise. */
    nodeReportMs: 10_000,
    /** A node's report lapses after this many report intervals without a new one. */
    nodeReportTtlReports: 3,
  },
  limits: {
    maxMessageBytes: 64 * 1024,
    /** `hardMaxMessageBytes` is this many times `maxMessageBytes`. */
    hardMaxMessageFactor: 4,
    messagesPerSecond: 100,
    /** `burst` is this many times `messagesPerSecond`. */
    burstFactor: 2,
    maxRateLimited: 100,
    maxBatch: 100,
    maxInFlight: 64,
    maxSubscriptions: 128,
    maxStreams: 16,
    maxConnectionsPerUser: 100,
    maxConnections: Number.POSITIVE_INFINITY,
    maxQueueBytes: 1024 * 1024,
    authTimeoutMs: 10_000,
    /**
     * How long `close()` waits for clients to finish the closing handshake before cutting them
     * off. The one default of this deadline: the standalone server's `limits.closeTimeoutMs`
     * (old name `shutdown.timeoutMs`) is the same option.
     */
    closeTimeoutMs: 5_000,
  },
  heartbeat: {
    /** A connection silent for two intervals is dropped. */
    intervalMs: 25_000,
  },
  presence: {
    /** A member's entry lives this many heartbeat intervals unless refreshed… */
    ttlHeartbeats: 3,
    /** …and never less than this. */
    minTtlMs: 1_000,
    /** Entry lifetime when heartbeats are off (nothing refreshes them). */
    ttlWithoutHeartbeatMs: 5 * 60_000,
  },
  history: {
    /**
     * A channel's `history.ttlMs` when it gives only `size` (and its streams' `history.ttlMs`):
     * publications older than this are dropped. The standalone server's `history.ttlMs` (old
     * name `ttlSeconds`) is this one.
     */
    ttlMs: 5 * 60_000,
  },
  latest: {
    /** A `latest` channel keeps this many event names' latest values… */
    maxEvents: 64,
    /** …until this long after the last one was published. */
    ttlMs: 24 * 60 * 60_000,
  },
  streams: {
    /** A stream that writes nothing for this long is ended with an error. */
    timeoutMs: 60_000,
    /** Where stream chunks are kept when the channel keeps no history of its own. */
    history: { size: 1_000, ttlMs: 10 * 60_000 },
  },
  auth: {
    /** Leeway for `exp` and `nbf`, in seconds. */
    clockToleranceSec: 0,
    /** Tokens without `exp` are refused. */
    requireExp: true,
    jwks: {
      /** An unknown `kid` fetches the key set again at once, at most this often. */
      cooldownMs: 1_000,
      /** The key set is fetched again when older than this. */
      cacheMaxAgeMs: 10 * 60_000,
      timeoutMs: 5_000,
    },
  },
  api: {
    path: '/api',
    maxBodyBytes: 1024 * 1024,
    /** Publications in one batch request. */
    maxBatch: 1_000,
    /** Close code of `POST /user/disconnect`: tells clients not to reconnect. */
    disconnectCode: CloseCode.DISCONNECTED_BY_SERVER,
  },
  health: {
    path: '/healthz',
    readyPath: '/readyz',
    /** Probe round trip through the broker. */
    timeoutMs: 2_000,
    /** Address of health's own HTTP server, when `health.port` gives it one. */
    host: '127.0.0.1',
  },
  metrics: {
    path: '/metrics',
    prefix: 'switchboard_',
    /** Address of metrics' own HTTP server, when `metrics.port` gives it one. */
    host: '127.0.0.1',
  },
  broker: {
    /** How long a publication's idempotency key is remembered (memory and Redis brokers). */
    idempotencyWindowMs: 120_000,
  },
  proxy: {
    /** A backend's answer deadline; then the client gets UNAVAILABLE. */
    timeoutMs: 5_000,
    maxResponseBytes: 1024 * 1024,
  },
  logStream: {
    /** Records kept in the log channel's history for late joiners. */
    keep: 100,
    collapseMs: 5_000,
    maxPerSecond: 50,
    /** How long the log channel's history keeps a record. */
    historyTtlMs: 24 * 60 * 60_000,
  },
  inspector: {
    path: '/inspector',
  },
  sse: {
    /**
     * A comment on every open stream this often, under the idle cuts of common proxies (60 s):
     * protocol pings may be minutes apart, or off.
     */
    keepAliveMs: 15_000,
    /** A POST's body must arrive within this long (a trickling one holds a socket). */
    postTimeoutMs: 10_000,
  },
} as const;

/**
 * The server's own channels. They start with `$`, which no channel pattern matches, so clients
 * can never subscribe or publish to them.
 */
export const INTERNAL_CHANNELS = {
  /** Per-user delivery: `$user:<id>`, subscribed by each node holding a connection of the user. */
  userPrefix: '$user:',
  /** Presence channel where nodes report their counts (`clusterChannels()`). */
  nodes: '$nodes',
  /** Readiness probes (`/readyz`). */
  health: '$health',
  /** Per SSE session: `$sse:<session>` carries the frames POSTed to any node to the stream's node. */
  ssePrefix: '$sse:',
} as const;
