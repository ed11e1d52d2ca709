import { DEFAULTS } from '../server/defaults.js';
import { MAX_PORT, permission, type Spec, url } from './spec.js';

/**
 * The schema's sections for what the server offers besides channels, in `--help` order: the
 * HTTP API, the backend proxy, the inspector, metrics, health, logs and shutdown.
 */

export const serviceSections: Record<string, Spec> = {
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
        doc: 'A record repeated within this window, even with others between, is published once, then summarised with a count (0: off).',
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
};
