import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { memoryBroker } from '../broker/memory.js';
import { DEFAULTS } from '../server/defaults.js';
import { healthHandler } from '../server/health.js';
import { resolveLimits } from '../server/limits.js';
import { logStream } from '../server/log-stream.js';
import { metricsPlugin } from '../server/metrics.js';
import { openApiDocument } from '../server/openapi.js';
import { type Config, loadConfig } from './config.js';

/**
 * The standalone server's defaults are the library's: an option left unset in the CLI
 * configuration means what it means when left unset in `createServer`. Where the library's own
 * behaviour can be read without a server, it is read; otherwise its DEFAULTS entry is.
 */

const config: Config = loadConfig({ env: { SWITCHBOARD_AUTH_ANONYMOUS: 'true' } });

/** Which of these GET paths a handler answers. */
async function answered(
  handler: (request: IncomingMessage, response: ServerResponse) => Promise<boolean>,
  paths: string[],
): Promise<string[]> {
  const out: string[] = [];
  for (const url of paths) {
    const response = {
      headersSent: false,
      writeHead: () => response,
      end: () => response,
    } as unknown as ServerResponse;
    if (await handler({ method: 'GET', url } as IncomingMessage, response)) out.push(url);
  }
  return out;
}

describe("the CLI's defaults are the library's", () => {
  it('limits, including the close timeout under both its CLI names', () => {
    const library = resolveLimits();
    expect(config.limits).toEqual({
      maxMessageBytes: library.maxMessageBytes,
      messagesPerSecond: library.messagesPerSecond,
      maxSubscriptions: library.maxSubscriptions,
      maxConnectionsPerUser: library.maxConnectionsPerUser,
      maxQueueBytes: library.maxQueueBytes,
      maxInFlight: library.maxInFlight,
      authTimeoutMs: library.authTimeoutMs,
      closeTimeoutMs: library.closeTimeoutMs,
      // Unset in the CLI, so the library's own rules apply (burst 2x the rate, any origin).
      allowedOrigins: [],
    });
    expect(config.limits.burst).toBeUndefined();
    expect(config.limits.maxConnections).toBeUndefined();
    expect(library.allowedOrigins).toBeUndefined();
    expect(config.shutdown.timeoutMs).toBe(library.closeTimeoutMs);
  });

  it('health and metrics paths, and the probe deadline', async () => {
    const broker = memoryBroker();
    try {
      const health = healthHandler(broker, {}, () => true);
      expect(await answered(health, ['/healthz', '/readyz', '/nope'])).toEqual([
        config.health.path,
        config.health.readyPath,
      ]);
      expect(config.health.timeoutMs).toBe(DEFAULTS.health.timeoutMs);
    } finally {
      await broker.close();
    }
    const metrics = metricsPlugin(
      {},
      () => [],
      () => 'none',
    );
    expect(await answered(metrics.handler, ['/metrics', '/nope'])).toEqual([config.metrics.path]);
  });

  it('the HTTP API prefix and body limit', () => {
    const paths = Object.keys(openApiDocument().paths as object);
    expect(paths.every((path) => path.startsWith(`${config.api.path}/`))).toBe(true);
    expect(config.api.maxBodyBytes).toBe(DEFAULTS.api.maxBodyBytes);
  });

  it('the log channel: records kept and the collapse window', async () => {
    const broker = memoryBroker();
    const stream = logStream(broker, { channel: 'admin:logs' });
    stream.close();
    await broker.close();
    expect(stream.history.size).toBe(config.log.keep);
    expect(config.log.collapseMs).toBe(DEFAULTS.logStream.collapseMs);
  });

  it('heartbeat, WebSocket path, JWT leeway, proxy deadline and inspector path', () => {
    expect(config.heartbeat.intervalMs).toBe(DEFAULTS.heartbeat.intervalMs);
    expect(config.path).toBe(DEFAULTS.server.path);
    expect(config.auth.jwt.clockToleranceSec).toBe(DEFAULTS.auth.clockToleranceSec);
    expect(config.proxy.timeoutMs).toBe(DEFAULTS.proxy.timeoutMs);
    expect(config.inspector.path).toBe(DEFAULTS.inspector.path);
  });
});
