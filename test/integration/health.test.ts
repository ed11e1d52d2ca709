import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { memoryBroker } from '../../src/broker/index.js';
import type { Broker } from '../../src/broker/types.js';
import { redisBroker } from '../../src/redis/index.js';
import { privateRedis } from '../cluster.js';
import { onCleanup, redisAvailable, startServer, uniquePrefix, waitFor } from '../helpers.js';

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
