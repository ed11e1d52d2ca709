import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker, Publication } from '../broker/types.js';
import { DEFAULTS, INTERNAL_CHANNELS } from './defaults.js';
import { pathOf, sendJson } from './http.js';
import type { HealthOptions } from './types.js';

export type { HealthOptions };

/**
 * Health endpoints on the gateway's port (or on one of their own, `health.port`: see
 * side-ports.ts): liveness, and readiness proven by a probe that makes the round trip through
 * the broker.
 */

/** Internal channel for readiness probes; `$` channels are never reachable by clients. */
const PROBE_CHANNEL = INTERNAL_CHANNELS.health;

/**
 * Liveness and readiness endpoints.
 *
 * /healthz says the process is up. /readyz proves delivery end to end: it publishes a probe to an
 * internal channel through the broker and waits to receive it back, so a broker that accepts
 * commands but no longer fans out (a dead pub/sub link) fails readiness too.
 */
export function healthHandler(broker: Broker, options: HealthOptions, draining: () => boolean) {
  const livePath = options.path ?? DEFAULTS.health.path;
  const readyPath = options.readyPath ?? DEFAULTS.health.readyPath;
  const timeoutMs = options.timeoutMs ?? DEFAULTS.health.timeoutMs;

  async function ready(): Promise<{ ok: boolean; reason?: string; latencyMs?: number }> {
    if (draining()) return { ok: false, reason: 'shutting down' };
    // The broker's own account of why (e.g. Redis's last connection error) names the cause.
    if (broker.healthy && !broker.healthy())
      return { ok: false, reason: broker.unhealthyReason?.() ?? 'broker unavailable' };
    const nonce = randomBytes(8).toString('hex');
    const started = performance.now();
    let handler: ((publication: Publication) => void) | undefined;
    const received = new Promise<void>((resolve) => {
      handler = (publication) => {
        if (publication.data === nonce) resolve();
      };
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      await broker.subscribe(PROBE_CHANNEL, handler!);
      await broker.publish(PROBE_CHANNEL, { event: 'probe', data: nonce }, { ephemeral: true });
      const outcome = await Promise.race([received, timeout]);
      if (outcome === 'timeout') return { ok: false, reason: 'probe not delivered in time' };
      return { ok: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
      await broker.unsubscribe(PROBE_CHANNEL, handler!).catch(() => {});
    }
  }

  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    const path = pathOf(request);
    if (path === livePath) {
      sendJson(response, 200, { ok: true });
      return true;
    }
    if (path !== readyPath) return false;
    const result = await ready();
    sendJson(response, result.ok ? 200 : 503, result);
    return true;
  };
}
