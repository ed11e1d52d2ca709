import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { memoryBroker } from '../../src/broker/index.js';
import type { Broker } from '../../src/broker/types.js';
import { redisBroker } from '../../src/redis/index.js';
import { privateRedis } from '../cluster.js';
import {
  onCleanup,
  redisAvailable,
  sleep,
  startServer,
  uniquePrefix,
  waitFor,
} from '../helpers.js';

const canRunRedis =
  (await redisAvailable()) && spawnSync('redis-server', ['--version']).status === 0;

const http = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

function wrapped(changes: Partial<Broker>): Broker {
  const inner = memoryBroker();
  onCleanup(() => inner.close());
  return { ...inner, ...changes };
}

describe('health endpoints', () => {
  it('are off unless asked for', async () => {
    const { port } = await startServer();
    expect((await http(port, '/healthz')).status).toBe(404);
  });

  it('/healthz answers; /readyz proves a publication makes it through the broker', async () => {
    const { port } = await startServer({ health: true });
    expect(await (await http(port, '/healthz')).json()).toEqual({ ok: true });
    const ready = await http(port, '/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, latencyMs: expect.any(Number) });
  });

  it('/readyz fails when the broker refuses publications', async () => {
    const broker = wrapped({
      publish: async () => {
        throw new Error('broker down');
      },
    });
    const { port } = await startServer({ health: true, broker });
    const ready = await http(port, '/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, reason: 'broker down' });
  });

  it('/readyz fails when publications are accepted but never delivered', async () => {
    const broker = wrapped({ subscribe: async () => {} });
    const { port } = await startServer({ health: { timeoutMs: 200 }, broker });
    const ready = await http(port, '/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, reason: 'probe not delivered in time' });
  });

  it.skipIf(!canRunRedis)(
    'with Redis: not ready while Redis is down, ready again when it returns',
    async () => {
      const redis = await privateRedis(17379 + Math.floor(Math.random() * 1000));
      const broker = redisBroker({ url: redis.url, prefix: uniquePrefix() });
      onCleanup(() => broker.close());
      const { port } = await startServer({ health: true, broker });
      await waitFor(async () => (await http(port, '/readyz')).status === 200, 5_000, 'ready');
      await redis.stop();
      await waitFor(async () => (await http(port, '/readyz')).status === 503, 5_000, 'not ready');
      expect((await http(port, '/healthz')).status).toBe(200);
      await redis.start();
      await waitFor(
        async () => (await http(port, '/readyz')).status === 200,
        10_000,
        'ready again',
      );
    },
  );
});

/** A port on 127.0.0.1 nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A logger that keeps what the broker tells it. */
function recorder() {
  const records: { level: 'error' | 'info'; message: string | undefined; object: object }[] = [];
  return {
    records,
    errors: () => records.filter((r) => r.level === 'error'),
    logger: {
      error: (object: object, message?: string) =>
        records.push({ level: 'error', object, message }),
      info: (object: object, message?: string) => records.push({ level: 'info', object, message }),
    },
  };
}

describe('health on a port of its own', () => {
  it('serves /healthz and /readyz on health.port, not on the gateway port', async () => {
    const { server, port } = await startServer({ health: { port: 0 } });
    const address = await server.listen();
    expect(address.health).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    expect(address.health!.port).not.toBe(port);
    expect(address.health!.url).toBe(`http://127.0.0.1:${address.health!.port}`);
    expect((await http(port, '/healthz')).status).toBe(404);
    expect((await http(port, '/readyz')).status).toBe(404);
    expect((await http(address.health!.port, '/healthz')).status).toBe(200);
    expect((await http(address.health!.port, '/readyz')).status).toBe(200);
    expect((await http(address.health!.port, '/metrics')).status).toBe(404);
  });

  it('shares one server with metrics given the same port; both close with the gateway', async () => {
    const shared = await closedPort();
    const { server, port } = await startServer({
      health: { port: shared },
      metrics: { port: shared },
    });
    const address = await server.listen();
    expect([address.health?.port, address.metrics?.port]).toEqual([shared, shared]);
    expect((await http(shared, '/healthz')).status).toBe(200);
    expect((await http(shared, '/metrics')).status).toBe(200);
    expect((await http(port, '/metrics')).status).toBe(404);
    await server.close();
    await expect(http(shared, '/healthz')).rejects.toThrow();
  });

  it('answers 503 "shutting down" on its own port while the gateway drains', async () => {
    const { server } = await startServer({
      health: { port: 0 },
      limits: { closeTimeoutMs: 1_000 },
    });
    const { health, url } = await server.listen();
    // A client that never answers the close keeps the drain going.
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(url);
    await once(ws, 'open');
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const closing = server.close();
    const ready = await fetch(`${health!.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, reason: 'shutting down' });
    await closing;
    ws.terminate();
  });
});

describe('readiness names why Redis is unreachable', () => {
  it('an unresolvable host: 503 naming ENOTFOUND, logged once at error level, not per retry', async () => {
    const log = recorder();
    const broker = redisBroker({
      url: 'redis://nonexistent.invalid:6379',
      prefix: uniquePrefix(),
      logger: log.logger,
    });
    onCleanup(() => broker.close());
    const { port } = await startServer({ health: true, broker });
    const body = await waitFor(
      async () => {
        const answer = await http(port, '/readyz');
        const json = (await answer.json()) as { reason?: string };
        return answer.status === 503 && json.reason?.includes('ENOTFOUND') ? json : undefined;
      },
      5_000,
      'a 503 naming the cause',
    );
    expect(body).toEqual({
      ok: false,
      reason: 'Redis unreachable: getaddrinfo ENOTFOUND nonexistent.invalid',
    });
    expect(broker.unhealthyReason?.()).toBe(body.reason);
    // Several retries go by (50 ms, 100 ms, 200 ms… with jitter): still one record.
    await sleep(1_500);
    expect(log.errors()).toHaveLength(1);
    expect(log.errors()[0]!.message).toBe(
      'Redis unreachable: getaddrinfo ENOTFOUND nonexistent.invalid',
    );
    expect(log.errors()[0]!.object).toMatchObject({ redis: 'nonexistent.invalid:6379' });
    // Publishing fails fast with the cause in the message.
    await expect(broker.publish('c', { event: 'e', data: null })).rejects.toThrow(
      /ENOTFOUND nonexistent/,
    );
  });

  it('a closed port on 127.0.0.1: 503 naming ECONNREFUSED', async () => {
    const port = await closedPort();
    const log = recorder();
    const broker = redisBroker({
      url: `redis://127.0.0.1:${port}`,
      prefix: uniquePrefix(),
      logger: log.logger,
    });
    onCleanup(() => broker.close());
    const { port: gateway } = await startServer({ health: true, broker });
    const reason = await waitFor(
      async () => {
        const json = (await (await http(gateway, '/readyz')).json()) as { reason?: string };
        return json.reason?.includes('ECONNREFUSED') ? json.reason : undefined;
      },
      5_000,
      'a 503 naming the cause',
    );
    expect(reason).toBe(`Redis unreachable: connect ECONNREFUSED 127.0.0.1:${port}`);
    await sleep(1_000);
    expect(log.errors()).toHaveLength(1);
  });

  it.skipIf(!canRunRedis)(
    'with Redis: one record per outage, one when it is back, one for the next outage',
    async () => {
      const redis = await privateRedis(16379 + Math.floor(Math.random() * 1000));
      const log = recorder();
      const broker = redisBroker({ url: redis.url, prefix: uniquePrefix(), logger: log.logger });
      onCleanup(() => broker.close());
      const { port } = await startServer({ health: true, broker });
      await waitFor(async () => (await http(port, '/readyz')).status === 200, 5_000, 'ready');
      expect(log.records).toEqual([]);

      await redis.stop();
      await waitFor(() => log.errors().length === 1, 5_000, 'the outage reported');
      expect(log.errors()[0]!.message).toMatch(/^Redis unreachable: .*ECONNREFUSED/);
      const ready = await http(port, '/readyz');
      expect([ready.status, ((await ready.json()) as { reason: string }).reason]).toEqual([
        503,
        expect.stringContaining('ECONNREFUSED'),
      ]);
      await sleep(1_500);
      expect(log.errors()).toHaveLength(1);

      await redis.start();
      await waitFor(async () => (await http(port, '/readyz')).status === 200, 10_000, 'back');
      await waitFor(() => log.records.some((r) => r.level === 'info'), 5_000, 'recovery');
      expect(log.records.filter((r) => r.level === 'info').map((r) => r.message)).toEqual([
        'Redis connection restored',
      ]);
      expect(broker.unhealthyReason?.()).toBeUndefined();

      await redis.stop();
      await waitFor(() => log.errors().length === 2, 5_000, 'the second outage reported');
      await sleep(1_000);
      expect(log.errors()).toHaveLength(2);
    },
  );
});
