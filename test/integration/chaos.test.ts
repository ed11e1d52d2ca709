import { describe, expect, it } from 'vitest';
import type { Client, MessageMeta, PublishReply } from '../../src/client/index.js';
import {
  connected,
  dropConnection,
  seededRandom,
  sleep,
  startServer,
  waitFor,
} from '../helpers.js';

/**
 * Fixed seeds keep `npm test` deterministic in what it tries; CHAOS_SEED replays one run and
 * CHAOS_MESSAGES makes a longer one.
 */
const seeds = process.env.CHAOS_SEED ? [Number(process.env.CHAOS_SEED)] : [20261121, 7];
const perPublisher = Number(process.env.CHAOS_MESSAGES ?? 1000);
const PUBLISHERS = 3;
const SUBSCRIBERS = 4;
const WINDOW = 16;
const MAX_KILLS = 80;

interface Received {
  meta: MessageMeta;
  data: { p: number; n: number };
}

describe('chaos: connections destroyed at random moments', () => {
  it.each(seeds)(
    'seed %i: every subscriber gets every publication exactly once, in order',
    async (seed) => {
      const random = seededRandom(seed);
      const { url, server } = await startServer({
        channels: { 'chaos:*': { history: { size: 100_000, ttlMs: 600_000 } } },
        limits: { messagesPerSecond: 100_000 },
        heartbeat: { intervalMs: 1_000 },
      });
      const options = {
        reconnect: { minDelayMs: 5, maxDelayMs: 100 },
        outbox: { ttlMs: 60_000, maxEntries: 10_000 },
      };

      const subscribers: { client: Client; got: Received[] }[] = [];
      for (let i = 0; i < SUBSCRIBERS; i++) {
        const client = await connected(url, `sub-${i}`, options);
        const sub = client.subscribe('chaos:room');
        const got: Received[] = [];
        sub.on('m', (data, meta) => got.push({ data, meta }));
        await sub.ready();
        subscribers.push({ client, got });
      }
      const publishers: Client[] = [];
      for (let p = 0; p < PUBLISHERS; p++)
        publishers.push(await connected(url, `pub-${p}`, options));
      const everyone = [...publishers, ...subscribers.map((s) => s.client)];

      // The killer: destroys a random connection's TCP socket every few milliseconds.
      let publishing = true;
      let kills = 0;
      const killer = (async () => {
        while (publishing && kills < MAX_KILLS) {
          await sleep(1 + Math.floor(random() * 8));
          const victim = everyone[Math.floor(random() * everyone.length)]!;
          if (victim.state === 'connected' && dropConnection(server, victim.connectionId)) kills++;
        }
      })();

      // Each publisher keeps a window of publishes in flight; every one must be accepted.
      const acks: PublishReply[][] = publishers.map(() => []);
      await Promise.all(
        publishers.map(async (client, p) => {
          const inFlight = new Set<Promise<void>>();
          for (let n = 0; n < perPublisher; n++) {
            const sent: Promise<void> = client.publish('chaos:room', 'm', { p, n }).then((ack) => {
              acks[p]!.push(ack);
              inFlight.delete(sent);
            });
            inFlight.add(sent);
            if (inFlight.size >= WINDOW) await Promise.race(inFlight);
          }
          await Promise.all(inFlight);
        }),
      );
      publishing = false;
      await killer;

      const total = PUBLISHERS * perPublisher;
      const reconnects = everyone.reduce((sum, c) => sum + c.metrics().reconnects, 0);
      console.log(`chaos seed=${seed} messages=${total} kills=${kills} reconnects=${reconnects}`);
      await waitFor(
        () => subscribers.every((s) => s.got.length >= total),
        30_000,
        `every subscriber to receive ${total} (have ${subscribers.map((s) => s.got.length).join(', ')}; seed ${seed})`,
      );
      await sleep(100); // anything extra (a duplicate) would arrive now

      // Every accepted publish appears once in the channel, at the offset its ack named.
      const history = await server.history('chaos:room');
      expect(history.publications).toHaveLength(total);
      const offsets = acks
        .flat()
        .map((a) => a.offset)
        .sort((a, b) => a - b);
      expect(offsets).toEqual(Array.from({ length: total }, (_, i) => i + 1));

      for (const { got } of subscribers) {
        expect(got).toHaveLength(total);
        // Exactly once, in publication order: offsets 1..total with no gap and no repeat.
        expect(got.map((r) => r.meta.offset)).toEqual(
          Array.from({ length: total }, (_, i) => i + 1),
        );
        // And each publisher's messages in the order it published them.
        for (let p = 0; p < PUBLISHERS; p++) {
          const ns = got.filter((r) => r.data.p === p).map((r) => r.data.n);
          expect(ns).toEqual(Array.from({ length: perPublisher }, (_, n) => n));
        }
      }
    },
    120_000,
  );
});
