import { describe, expect, it } from 'vitest';
import type { Client, SubscribedEvent } from '../../src/client/index.js';
import { fast, httpBalancer, recorder, startNode } from '../cluster.js';
import {
  client,
  gatedClient,
  REDIS_URL,
  redisAvailable,
  token,
  uniquePrefix,
  waitFor,
} from '../helpers.js';

const hasRedis = await redisAvailable();
const sse = { ...fast, transports: ['sse' as const] };
const nodeOf = (c: Client) => c.connectionId?.split('-')[0];

describe.skipIf(!hasRedis)(
  'SSE without sticky sessions: two gateway processes on one Redis',
  () => {
    it('POSTs landing on either node reach the session in order, and everything arrives once', async () => {
      const prefix = uniquePrefix();
      const nodes = await Promise.all([startNode(REDIS_URL, prefix), startNode(REDIS_URL, prefix)]);
      const ports = nodes.map((n) => n.port);
      const balancer = await httpBalancer(() => ports, { upgrades: false });
      const reader = client(balancer.url, { token: await token('reader'), ...sse });
      await reader.connect();
      const { sub, got } = recorder(reader, 'chat:n');
      await sub.ready();
      const writer = client(balancer.url, { token: await token('writer'), ...sse });
      await writer.connect();
      expect([reader.transport, writer.transport]).toEqual(['sse', 'sse']);

      // One at a time and in bursts: each POST goes to the next process.
      const acks = [];
      for (let n = 1; n <= 20; n++) acks.push(await writer.publish('chat:n', 'n', n));
      const burst = [];
      for (let n = 21; n <= 200; n++) burst.push(writer.publish('chat:n', 'n', n));
      acks.push(...(await Promise.all(burst)));
      await waitFor(() => got.length === 200, 10_000);
      expect(got.map((g) => g.n)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(got.map((g) => g.meta.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(acks.map((a) => a.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      // Both processes took requests: no stickiness helped.
      expect(new Set(balancer.served)).toEqual(new Set(ports));
      expect(balancer.served.filter((p) => p === ports[0]).length).toBeGreaterThan(10);
      expect(balancer.served.filter((p) => p === ports[1]).length).toBeGreaterThan(10);
      expect(await reader.ping()).toBeGreaterThanOrEqual(0);
    });

    it('a dropped stream reconnects, maybe to the other process, and recovers exactly what it missed', async () => {
      const prefix = uniquePrefix();
      const nodes = await Promise.all([startNode(REDIS_URL, prefix), startNode(REDIS_URL, prefix)]);
      const balancer = await httpBalancer(() => nodes.map((n) => n.port));
      const publisher = client(nodes[0]!.url, { token: await token('pub'), ...fast });
      await publisher.connect();
      const away = await gatedClient(balancer.url, 'reader', sse);
      const { sub, got } = recorder(away.client, 'chat:r');
      const recovered: SubscribedEvent[] = [];
      sub.on('recovered', (e) => recovered.push(e));
      await sub.ready();
      await publisher.publish('chat:r', 'n', 1);
      await waitFor(() => got.length === 1);
      const nodesSeen = new Set([nodeOf(away.client)]);

      for (let round = 0; round < 3; round++) {
        away.hold();
        balancer.dropAll();
        await waitFor(() => away.client.state === 'reconnecting');
        const base = got.length + 1;
        for (let n = base; n < base + 5; n++) await publisher.publish('chat:r', 'n', n);
        // Requests between two streams' GETs may be even in number: one more request moves
        // the next GET to the other process.
        if (round === 1 && nodesSeen.size === 1)
          await fetch(`http://127.0.0.1:${balancer.port}/elsewhere`);
        away.release();
        await waitFor(() => recovered.length === round + 1, 10_000, 'recovery');
        await waitFor(() => got.length === base + 4);
        nodesSeen.add(nodeOf(away.client));
      }
      expect(away.client.transport).toBe('sse');
      expect(got.map((g) => g.n)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
      expect(got.map((g) => g.meta.offset)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
      expect(recovered.every((r) => r.recovered)).toBe(true);
      expect(nodesSeen.size).toBe(2);
    });
  },
);
