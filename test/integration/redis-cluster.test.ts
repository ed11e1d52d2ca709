import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Client, PublishReply, SubscribedEvent } from '../../src/client/index.js';
import {
  fast,
  loadBalancer,
  nodeConnections,
  nodePublish,
  privateRedis,
  recorder,
  startNode,
} from '../cluster.js';
import {
  client,
  connected,
  gatedClient,
  REDIS_URL,
  redisAvailable,
  sleep,
  token,
  uniquePrefix,
  waitFor,
} from '../helpers.js';

const hasRedis = await redisAvailable();
/** The restart test runs a Redis of its own; a Redis in a container is not enough for it. */
const canRunRedis = (() => {
  const found = spawnSync('redis-server', ['--version']).status === 0;
  if (!found && process.env.CI) throw new Error('CI needs the redis-server binary');
  if (!found && hasRedis)
    console.log('Skipping the Redis restart test: no redis-server binary on PATH');
  return found;
})();

/** Publishes `count` messages keeping a window in flight; resolves with every ack. */
async function publishMany(
  publisher: Client,
  channel: string,
  from: number,
  count: number,
  onAck?: (n: number) => void,
) {
  const acks: PublishReply[] = [];
  const inFlight = new Set<Promise<void>>();
  for (let n = from; n < from + count; n++) {
    const sent: Promise<void> = publisher.publish(channel, 'n', n).then((ack) => {
      acks.push(ack);
      inFlight.delete(sent);
      onAck?.(acks.length);
    });
    inFlight.add(sent);
    if (inFlight.size >= 16) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return acks;
}

type Recorder = ReturnType<typeof recorder>;

const nodeOf = (c: Client) => c.connectionId?.split('-')[0];

describe.skipIf(!hasRedis)('several gateway processes sharing one Redis', () => {
  it('a publish on one node reaches subscribers on the others; presence is shared', async () => {
    const prefix = uniquePrefix();
    const [one, two] = await Promise.all([
      startNode(REDIS_URL, prefix),
      startNode(REDIS_URL, prefix),
    ]);
    const alice = await connected(one.url, 'alice');
    const bob = await connected(two.url, 'bob');
    expect(nodeOf(alice)).not.toBe(nodeOf(bob));
    const { sub, got } = recorder(bob, 'chat:x');
    await sub.ready();
    await alice.subscribe('chat:x').ready();
    await alice.publish('chat:x', 'n', 1);
    await nodePublish(one, 'chat:x', 'n', 2);
    await waitFor(() => got.length === 2);
    expect(got.map((g) => g.n)).toEqual([1, 2]);
    expect((await sub.presence()).map((m) => m.user).sort()).toEqual(['alice', 'bob']);
  });

  it('a client that reconnects through the balancer to another node recovers exactly what it missed', async () => {
    const prefix = uniquePrefix();
    const nodes = await Promise.all([startNode(REDIS_URL, prefix), startNode(REDIS_URL, prefix)]);
    const balancer = await loadBalancer(() => nodes.map((n) => n.port));
    const publisher = await connected(nodes[0]!.url, 'pub');
    const away = await gatedClient(balancer.url, 'reader', fast);
    const { sub, got } = recorder(away.client, 'chat:r');
    const recovered: SubscribedEvent[] = [];
    sub.on('recovered', (e) => recovered.push(e));
    await sub.ready();
    await publisher.publish('chat:r', 'n', 1);
    await waitFor(() => got.length === 1);
    const firstNode = nodeOf(away.client);

    away.hold();
    balancer.dropAll();
    await waitFor(() => away.client.state === 'reconnecting');
    for (let n = 2; n <= 6; n++) await publisher.publish('chat:r', 'n', n);
    away.release();
    await waitFor(() => recovered.length === 1, 5_000, 'recovery on the other node');
    await publisher.publish('chat:r', 'n', 7);
    await waitFor(() => got.length === 7);
    expect(nodeOf(away.client)).not.toBe(firstNode);
    expect(got.map((g) => g.n)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(got.map((g) => g.meta.offset)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('a node killed mid-stream (SIGKILL): its clients fail over and every subscriber gets everything once, in order', async () => {
    const prefix = uniquePrefix();
    const nodes = await Promise.all([
      startNode(REDIS_URL, prefix),
      startNode(REDIS_URL, prefix),
      startNode(REDIS_URL, prefix),
    ]);
    const alive = new Set(nodes.map((n) => n.port));
    const balancer = await loadBalancer(() => [...alive]);
    const readers: Recorder[] = [];
    for (let i = 0; i < 4; i++) {
      const c = client(balancer.url, { token: await token(`reader-${i}`), ...fast });
      await c.connect();
      const r = recorder(c, 'chat:k');
      await r.sub.ready();
      readers.push(r);
    }
    const publisher = client(balancer.url, { token: await token('writer'), ...fast });
    await publisher.connect();

    const victim = nodes[0]!;
    const victimConnections = new Set(await nodeConnections(victim));
    const total = 900;
    let killed = false;
    const acks = await publishMany(publisher, 'chat:k', 0, total, (count) => {
      if (count === 300 && !killed) {
        killed = true;
        alive.delete(victim.port);
        void victim.kill('SIGKILL');
      }
    });
    expect(killed).toBe(true);
    expect(acks.map((a) => a.offset).sort((a, b) => a - b)).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
    await waitFor(
      () => readers.every((r) => r.got.length >= total),
      20_000,
      'every reader to get everything',
    );
    await sleep(200);
    for (const r of readers) {
      expect(r.got.map((g) => g.meta.offset)).toEqual(
        Array.from({ length: total }, (_, i) => i + 1),
      );
      expect(r.got.map((g) => g.n)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(r.gaps).toEqual([]);
    }
    console.log(
      `killed node ${victim.port} holding ${victimConnections.size} connection(s); ${total} messages`,
    );
    // The dead node never said goodbye: its presence entries lapse within a few heartbeats, and
    // every reader is present through its new connection.
    await waitFor(
      async () => {
        const members = new Set((await readers[1]!.sub.presence()).map((m) => m.connection));
        return (
          [...victimConnections].every((id) => !members.has(id)) &&
          readers.every((r) => members.has(r.c.connectionId!))
        );
      },
      10_000,
      "the dead node's presence to lapse",
    );
  });

  it.skipIf(!canRunRedis)(
    'Redis restarted mid-stream (data lost): publishes fail fast, subscribers are told of the gap, nothing doubles, service resumes',
    async () => {
      const redis = await privateRedis(16379 + Math.floor(Math.random() * 1000));
      const prefix = uniquePrefix();
      const nodes = await Promise.all([startNode(redis.url, prefix), startNode(redis.url, prefix)]);
      const readers: Recorder[] = [];
      for (const node of nodes) {
        const c = await connected(node.url, `reader-${node.port}`, fast);
        const r = recorder(c, 'chat:z');
        await r.sub.ready();
        readers.push(r);
      }
      const publisher = await connected(nodes[0]!.url, 'writer', fast);
      await publishMany(publisher, 'chat:z', 0, 100);
      await waitFor(() => readers.every((r) => r.got.length === 100));

      await redis.stop();
      // Once the nodes' links have seen Redis go, a publish is refused at once (UNAVAILABLE).
      // One sent in the instant before they notice has an unknown outcome (UNCERTAIN) and is
      // retried by the client until Redis is back: that case is the fault tests' business.
      // (1.5 s: on a loaded machine 0.5 s was once not enough for the nodes to notice.)
      await sleep(1_500);
      const started = Date.now();
      const failure = await publisher.publish('chat:z', 'n', -1).catch((e) => e);
      expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(3_000);

      await redis.start();
      await waitFor(
        () => readers.every((r) => r.gaps.length >= 1),
        15_000,
        'gap reported to every reader',
      );
      await waitFor(
        () => readers.every((r) => r.c.state === 'connected' && r.sub.state === 'subscribed'),
        10_000,
      );
      await waitFor(
        async () =>
          await publisher.publish('chat:z', 'n', 100).then(
            () => true,
            () => false,
          ),
        10_000,
        'publishing to work again',
      );
      await waitFor(
        () => readers.every((r) => r.got.some((g) => g.n === 100)),
        10_000,
        'delivery after restart',
      );
      for (const r of readers) {
        const seen = r.got.map((g) => `${g.meta.epoch}:${g.meta.offset}`);
        expect(new Set(seen).size).toBe(seen.length); // nothing delivered twice
        expect(r.got.slice(0, 100).map((g) => g.n)).toEqual(
          Array.from({ length: 100 }, (_, i) => i),
        );
        expect(r.got.filter((g) => g.n === 100)).toHaveLength(1);
      }
    },
  );
});
