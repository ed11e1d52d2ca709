import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryBroker } from '../broker/memory.js';
import { DEFAULTS } from '../server/defaults.js';
import { healthHandler } from '../server/health.js';
import { resolveLimits } from '../server/limits.js';
import { logStream } from '../server/log-stream.js';
import { metricsPlugin } from '../server/metrics.js';
import { openApiDocument } from '../server/openapi.js';
import { loadConfig } from './config.js';
import type { Config } from './config-types.js';

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
      maxRateLimited: library.maxRateLimited,
      maxBatch: library.maxBatch,
      maxSubscriptions: library.maxSubscriptions,
      maxStreams: library.maxStreams,
      maxConnectionsPerUser: library.maxConnectionsPerUser,
      maxQueueBytes: library.maxQueueBytes,
      maxInFlight: library.maxInFlight,
      authTimeoutMs: library.authTimeoutMs,
      closeTimeoutMs: library.closeTimeoutMs,
      // Unset in the CLI, so the library's own rules apply (burst 2x the rate, any origin).
      allowedOrigins: [],
    });
    expect(config.limits.burst).toBeUndefined();
    // Unset, so 4x maxMessageBytes as in the library.
    expect(config.limits.hardMaxMessageBytes).toBeUndefined();
    expect(library.hardMaxMessageBytes).toBe(
      library.maxMessageBytes * DEFAULTS.limits.hardMaxMessageFactor,
    );
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

  it('the listening address, side ports off, streams and the idempotency window', () => {
    // 127.0.0.1 as the library: nothing is reachable from other hosts until asked for.
    expect(config.host).toBe(DEFAULTS.server.host);
    expect(config.host).toBe('127.0.0.1');
    expect([config.metrics.port, config.health.port]).toEqual([undefined, undefined]);
    expect([config.metrics.host, config.health.host]).toEqual([
      DEFAULTS.metrics.host,
      DEFAULTS.health.host,
    ]);
    const streams = loadConfig({
      env: { SWITCHBOARD_AUTH_ANONYMOUS: 'true' },
      sets: ['channels={ "a:*": { streams: true } }'],
    }).channels['a:*']!.streams;
    expect(streams).toEqual({
      timeoutMs: DEFAULTS.streams.timeoutMs,
      compact: true,
      history: DEFAULTS.streams.history,
    });
    expect(config.broker.idempotencyWindowMs).toBe(DEFAULTS.broker.idempotencyWindowMs);
    const history = loadConfig({
      env: { SWITCHBOARD_AUTH_ANONYMOUS: 'true' },
      sets: ['channels={ "a:*": { history: { size: 5 } } }'],
    }).channels['a:*']!.history;
    expect(history).toEqual({ size: 5, ttlMs: DEFAULTS.history.ttlMs });
    // Unset: the library's rule (10 s with the API on, never without).
    expect(config.nodeReportMs).toBeUndefined();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("the idempotency window is the memory broker's own", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const broker = memoryBroker();
    try {
      const publish = () =>
        broker.publish('c', { event: 'e', data: null }, { idempotencyKey: 'k' });
      expect((await publish()).duplicate).toBe(false);
      vi.setSystemTime(Date.now() + config.broker.idempotencyWindowMs - 1);
      expect((await publish()).duplicate).toBe(true);
      vi.setSystemTime(Date.now() + 2);
      expect((await publish()).duplicate).toBe(false);
    } finally {
      await broker.close();
    }
  });

  it('API batch, proxy answer size, metric prefix and the log channel rate', () => {
    expect(config.api.maxBatch).toBe(DEFAULTS.api.maxBatch);
    expect(config.proxy.maxResponseBytes).toBe(DEFAULTS.proxy.maxResponseBytes);
    expect(config.metrics.prefix).toBe(DEFAULTS.metrics.prefix);
    expect(config.log.maxPerSecond).toBe(DEFAULTS.logStream.maxPerSecond);
  });

  it('heartbeat, WebSocket path, JWT leeway, proxy deadline and inspector path', () => {
    expect(config.heartbeat.intervalMs).toBe(DEFAULTS.heartbeat.intervalMs);
    expect(config.path).toBe(DEFAULTS.server.path);
    expect(config.auth.jwt.clockToleranceSec).toBe(DEFAULTS.auth.clockToleranceSec);
    expect(config.proxy.timeoutMs).toBe(DEFAULTS.proxy.timeoutMs);
    expect(config.inspector.path).toBe(DEFAULTS.inspector.path);
  });
});
