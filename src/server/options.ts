import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Registry as MetricsRegistry } from 'prom-client';

/**
 * The option types of the gateway's parts: limits, the HTTP plug-ins (health, metrics, API) and
 * authentication. A leaf like types.ts, which re-exports them: no implementation imported.
 */

// ── limits and plug-ins ─────────────────────────────────────────────────────────────────────

export interface LimitOptions {
  /** Larger messages get TOO_LARGE and the connection stays. Default 64 KiB. */
  maxMessageBytes?: number;
  /** Larger than this and ws closes the socket (1009) without reading it. Default 4× maxMessageBytes. */
  hardMaxMessageBytes?: number;
  /** Token bucket refill rate per connection, frames per second. Default 100. */
  messagesPerSecond?: number;
  /** Token bucket size: the burst allowed above the rate. Default 2× messagesPerSecond. */
  burst?: number;
  /** Frames refused for rate in a row before the connection is closed (4008). Default 100. */
  maxRateLimited?: number;
  /** Frames in one batched message. Default 100. */
  maxBatch?: number;
  /** Requests of one connection being processed at once (RPCs, publishes awaiting the broker). Default 64. */
  maxInFlight?: number;
  /** Channels one connection may be subscribed to. Default 128. */
  maxSubscriptions?: number;
  /** Streams one user may have open at once on this node. Default 16. */
  maxStreams?: number;
  /** Concurrent connections per user id (anonymous connections are not counted). Default 100. */
  maxConnectionsPerUser?: number;
  /** Connections on this server; further upgrades get HTTP 503. Default unlimited. */
  maxConnections?: number;
  /** Bytes waiting to be written to one socket before it counts as a slow consumer (4007). Default 1 MiB. */
  maxQueueBytes?: number;
  /** Time to send `connect` after the socket opens (4005). Default 10 s. */
  authTimeoutMs?: number;
  /** Origin header values allowed to upgrade; others get HTTP 403. Default: any. */
  allowedOrigins?: string[];
  /**
   * How long `close()` waits for clients to finish the closing handshake; then they are cut off.
   * Default 5 s. The standalone server's `limits.closeTimeoutMs` (old name `shutdown.timeoutMs`).
   */
  closeTimeoutMs?: number;
}

export interface HealthOptions {
  /** Liveness: the process answers. Default '/healthz'. */
  path?: string;
  /** Readiness: a publication makes it through the broker and back. Default '/readyz'. */
  readyPath?: string;
  /** How long the round trip may take before the node counts as not ready. Default 2 s. */
  timeoutMs?: number;
  /**
   * Serve the health endpoints on an HTTP server of their own, on this port (0 picks a free one;
   * `listen()` reports it), instead of the gateway's port. Default: the gateway's port.
   */
  port?: number;
  /** Address of that server. Default 127.0.0.1; a Kubernetes probe needs '0.0.0.0'. */
  host?: string;
}

export interface MetricsOptions {
  /** Default '/metrics'. */
  path?: string;
  /** Register into your own prom-client registry (e.g. alongside the app's metrics). */
  registry?: MetricsRegistry;
  /** Prefix of every metric name. Default 'switchboard_'. */
  prefix?: string;
  /**
   * Also export prom-client's process metrics (CPU, memory, event-loop lag, handles). Off by
   * default because an app usually registers them once itself; the standalone server turns it on.
   */
  processMetrics?: boolean;
  /**
   * Serve metrics on an HTTP server of their own, on this port (0 picks a free one; `listen()`
   * reports it), instead of the gateway's port. Default: the gateway's port. The same port as
   * `health.port` (and the same host) shares one server.
   */
  port?: number;
  /** Address of that server. Default 127.0.0.1. */
  host?: string;
}

export interface ApiOptions {
  /**
   * Requests carry one of these as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Several
   * keys let you rotate one without downtime.
   */
  key: string | string[];
  /** URL prefix of the API. Default '/api'. */
  path?: string;
  /** Largest request body accepted (413 beyond). Default 1 MiB. */
  maxBodyBytes?: number;
  /** Publications in one batch request. Default 1000. */
  maxBatch?: number;
}

// ── authentication ──────────────────────────────────────────────────────────────────────────

/** How a JWKS endpoint's key set is kept. */
export interface JwksOptions {
  /**
   * A token whose `kid` is not in the cached set makes the set be fetched again at once, at most
   * once per this interval (so a flood of unknown kids cannot hammer the provider). Default 1 s.
   */
  cooldownMs?: number;
  /** The cached set is fetched again when older than this (a key removed stops working then). Default 10 min. */
  cacheMaxAgeMs?: number;
  /** A fetch not answered within this fails; the last good set stays in use. Default 5 s. */
  timeoutMs?: number;
}

export interface JwtOptions {
  /** Shared secret for HS256/384/512. */
  secret?: string | Uint8Array;
  /** PEM (SPKI) public key or a KeyObject, for RS*, PS*, ES* and EdDSA tokens. */
  publicKey?: string | KeyObject;
  /** A JWKS endpoint; keys are fetched and cached by `jose`. */
  jwksUrl?: string;
  audience?: string | string[];
  issuer?: string | string[];
  /** Accepted algorithms; defaults follow the key type, so an HS token never passes an RS key. */
  algorithms?: string[];
  /** Leeway for `exp` and `nbf`, in seconds. */
  clockToleranceSec?: number;
  /**
   * Refuse tokens without `exp` (default true). `false` accepts them, and such a connection
   * never expires: a leaked token then works until its key is rotated out.
   */
  requireExp?: boolean;
  /** Refuse tokens issued (`iat`) longer ago than this, whatever their `exp`. */
  maxTokenAgeMs?: number;
  /** How the `jwksUrl` key set is cached and fetched again. */
  jwks?: JwksOptions;
}

export type AuthenticateResult = {
  userId: string;
  claims?: Record<string, unknown>;
  expiresAt?: number;
};

export interface AuthOptions {
  jwt?: JwtOptions;
  /** Your own check: return the identity or throw (a SwitchboardError keeps its code). */
  authenticate?: (
    token: string,
    request: IncomingMessage,
  ) => AuthenticateResult | Promise<AuthenticateResult>;
  /** Connections without a token are admitted as anonymous (userId ''). Off unless set. */
  anonymous?: boolean;
}
