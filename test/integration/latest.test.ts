import { spawnSync } from 'node:child_process';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { MessageMeta } from '../../src/client/index.js';
import { redisBroker } from '../../src/redis/index.js';
import { createServer, type ServerOptions } from '../../src/server/index.js';
import { nodePublish, startNode } from '../cluster.js';
import { redisCluster } from '../faults.js';
import {
  connected,
  dropConnection,
  gatedClient,
  onCleanup,
  RawSocket,
  REDIS_URL,
  redisAvailable,
  SECRET,
  startServer,
  uniquePrefix,
  waitFor,
} from '../helpers.js';

/**
 * Latest value on subscribe (`latest` channels): what a late joiner gets first, marked, and how
 * it stays out of the position, dedup and recovery of the channel's sequence.
 */

const channels: NonNullable<ServerOptions['channels']> = {
  'agent:*': {
    latest: { maxEvents: 3 },
    history: { size: 100 },
    ephemeral: ['progress'],
  },
  'room:*': { latest: { maxEvents: 3 }, presence: true, streams: true },
  'chat:*': { history: { size: 100 } },
};

const API_KEY = 'latest-test-key';

/** Every delivery to a subscription's handlers, in order. */
function recordAll(sub: {
  on(event: '*', handler: (data: unknown, meta: MessageMeta) => void): unknown;
}) {
  const got: { data: unknown; meta: MessageMeta }[] = [];
  sub.on('*', (data, meta) => got.push({ data, meta }));
  return got;
}

const shown = (got: { data: unknown; meta: MessageMeta }[]) =>
  got.map(
    ({ data, meta }) => `${meta.latest ? 'latest ' : ''}${meta.event}=${JSON.stringify(data)}`,
  );

describe('latest value on subscribe', () => {
  it('sends each event’s latest publication, marked, before the reply; live ones follow in order', async () => {
    const { server, url } = await startServer({ channels });
    await server.publish('agent:1', 'status', 'idle');
    await server.publish('agent:1', 'log', 'line 1');
    const thinking = await server.publish('agent:1', 'status', 'thinking');
    await server.publish('agent:1', 'progress', 80); // ephemeral: kept as latest all the same
    const socket = await RawSocket.connect(url);
    socket.send({ type: 'subscribe', id: 1, channel: 'agent:1' });
    const reply = await socket.reply(1);
    expect(reply['data']).toEqual({ offset: 3, epoch: thinking.epoch, latest: 3 });
    // Everything received so far came ahead of the reply: the latest values, least recent first.
    expect(socket.received).toEqual([
      {
        type: 'message',
        channel: 'agent:1',
        event: 'log',
        data: 'line 1',
        offset: 2,
        epoch: thinking.epoch,
        latest: true,
      },
      {
        type: 'message',
        channel: 'agent:1',
        event: 'status',
        data: 'thinking',
        offset: 3,
        epoch: thinking.epoch,
        latest: true,
      },
      {
        type: 'message',
        channel: 'agent:1',
        event: 'progress',
        data: 80,
        ephemeral: true,
        latest: true,
      },
    ]);
    socket.received.length = 0;
    await server.publish('agent:1', 'status', 'done');
    expect(await socket.next((f) => f['type'] === 'message')).toEqual({
      type: 'message',
      channel: 'agent:1',
      event: 'status',
      data: 'done',
      offset: 4,
      epoch: thinking.epoch,
    });
  });

  it('the client keeps them out of its position: no resync, sub.latest() from the snapshot then live', async () => {
    const { server, url } = await startServer({ channels });
    let subscribes = 0;
    server.tap({
      inbound: (_c, _raw, frames) => {
        for (const f of frames ?? [])
          if ((f as { type?: string }).type === 'subscribe') subscribes++;
      },
    });
    for (let n = 1; n <= 5; n++) await server.publish('agent:2', 'status', `step ${n}`);
    await server.publish('agent:2', 'task', 'write tests');
    const alice = await connected(url, 'alice');
    const sub = alice.subscribe('agent:2');
    const got = recordAll(sub);
    await sub.ready();
    expect(sub.latest('status')).toBe('step 5');
    expect(sub.latest('task')).toBe('write tests');
    expect(sub.latest('nothing')).toBeUndefined();
    expect(sub.position).toEqual({ offset: 6, epoch: expect.any(String) });
    await server.publish('agent:2', 'status', 'step 6');
    await server.publish('agent:2', 'task', 'review');
    await waitFor(() => got.length === 4);
    expect(shown(got)).toEqual([
      'latest status="step 5"',
      'latest task="write tests"',
      'status="step 6"',
      'task="review"',
    ]);
    expect(got.map((g) => g.meta.offset)).toEqual([undefined, undefined, 7, 8]);
    expect(sub.latest('status')).toBe('step 6');
    expect(sub.latest('task')).toBe('review');
    expect(subscribes).toBe(1);
  });

  it('keeps at most maxEvents names, evicting the least recently updated; no stream chunks, no $ events', async () => {
    const { server, url } = await startServer({ channels });
    const member = await connected(url, 'member');
    await member.subscribe('room:3').ready(); // its $join is not kept
    for (const event of ['a', 'b', 'c']) await server.publish('room:3', event, 1);
    await server.publish('room:3', 'a', 2);
    await server.publish('room:3', 'd', 1); // evicts b
    const stream = await server.stream('room:3', { event: 'reply' });
    await stream.write('tok');
    await stream.end();
    expect((await server.latest('room:3')).map((p) => `${p.event}${p.data}`)).toEqual([
      'c1',
      'a2',
      'd1',
    ]);
    const late = await connected(url, 'late');
    const sub = late.subscribe('room:3');
    const got = recordAll(sub);
    await sub.ready();
    expect(shown(got.filter((g) => g.meta.event[0] !== '$'))).toEqual([
      'latest c=1',
      'latest a=2',
      'latest d=1',
    ]);
  });

  it('on recovery sends again what the replay does not carry, and never a value twice', async () => {
    const { server, url } = await startServer({ channels });
    await server.publish('agent:4', 'task', 'plan');
    await server.publish('agent:4', 'status', 'idle');
    const away = await gatedClient(url, 'alice');
    const alice = away.client;
    const sub = alice.subscribe('agent:4');
    const got = recordAll(sub);
    const recovered: unknown[] = [];
    sub.on('recovered', (e) => recovered.push(e));
    await sub.ready();
    await waitFor(() => got.length === 2);
    got.length = 0;

    away.hold();
    dropConnection(server, alice.connectionId);
    await waitFor(() => alice.state === 'reconnecting');
    await server.publish('agent:4', 'status', 'thinking'); // kept: the replay carries it
    await server.publish('agent:4', 'progress', 40); // ephemeral: only the latest value tells
    away.release();
    await waitFor(() => recovered.length === 1, 5_000, 'recovery');
    await server.publish('agent:4', 'status', 'done');
    await waitFor(() => got.some((g) => g.data === 'done'));
    expect(shown(got)).toEqual([
      'latest task="plan"', // unchanged, sent again: the snapshot stays fresh
      'latest progress=40',
      'status="thinking"', // in the replay, as an ordinary message, once
      'status="done"',
    ]);
    expect(got.filter((g) => !g.meta.latest).map((g) => g.meta.offset)).toEqual([3, 4]);
    expect(sub.latest('progress')).toBe(40);
    expect(sub.latest('status')).toBe('done');
  });

  it('keeps the value an exceptSelf publisher left itself out of, for everyone who comes later', async () => {
    const { url } = await startServer({ channels });
    const agent = await connected(url, 'agent');
    await agent.subscribe('agent:5').ready();
    await agent.publish('agent:5', 'status', 'working', { exceptSelf: true });
    const viewer = await connected(url, 'viewer');
    const sub = viewer.subscribe('agent:5');
    await sub.ready();
    expect(sub.latest('status')).toBe('working');
  });

  it('a channel without `latest` sends none: sub.latest() knows only what it saw live', async () => {
    const { server, url } = await startServer({ channels });
    await server.publish('chat:1', 'm', 'before');
    const alice = await connected(url, 'alice');
    const sub = alice.subscribe('chat:1');
    const got = recordAll(sub);
    await sub.ready();
    await server.publish('chat:1', 'm', 'after');
    await waitFor(() => got.length === 1);
    expect(shown(got)).toEqual(['m="after"']);
    expect(sub.latest('m')).toBe('after');
  });
});

describe('GET /api/latest', () => {
  async function api() {
    const { server, port } = await startServer({ channels, api: { key: API_KEY } });
    const get = async (query: string, key: string | undefined = API_KEY) => {
      const response = await fetch(`http://127.0.0.1:${port}/api/latest${query}`, {
        headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    return { server, get };
  }

  it('answers the latest values, or one event’s, as publications', async () => {
    const { server, get } = await api();
    const first = await server.publish('agent:7', 'status', { text: 'thinking' });
    await server.publish('agent:7', 'progress', 80);
    const all = await get('?channel=agent:7');
    expect(all.status).toBe(200);
    expect(all.body).toEqual({
      publications: [
        {
          channel: 'agent:7',
          event: 'status',
          data: { text: 'thinking' },
          offset: 1,
          epoch: first.epoch,
          time: expect.any(Number),
        },
        {
          channel: 'agent:7',
          event: 'progress',
          data: 80,
          offset: 1,
          epoch: first.epoch,
          time: expect.any(Number),
          ephemeral: true,
        },
      ],
    });
    const one = await get('?channel=agent:7&event=progress');
    expect((one.body['publications'] as { data: unknown }[]).map((p) => p.data)).toEqual([80]);
    expect((await get('?channel=agent:nobody')).body).toEqual({ publications: [] });
  });

  it('refuses as the rest of the API does', async () => {
    const { get } = await api();
    const code = async (query: string, key?: string) => {
      const { status, body } = await get(query, key);
      return [status, (body['error'] as { code: string }).code];
    };
    expect(await code('?channel=agent:1', 'wrong')).toEqual([401, 'UNAUTHORIZED']);
    expect(await code('')).toEqual([400, 'BAD_FRAME']);
    expect(await code('?channel=agent:1&other=1')).toEqual([400, 'BAD_FRAME']);
    expect(await code('?channel=agent:1&channel=agent:2')).toEqual([400, 'BAD_FRAME']);
    expect(await code(`?channel=agent:1&event=${'x'.repeat(300)}`)).toEqual([400, 'BAD_FRAME']);
    expect(await code('?channel=nowhere:1')).toEqual([404, 'NOT_FOUND']);
    expect(await code('?channel=chat:1')).toEqual([403, 'FORBIDDEN']);
  });
});

const hasRedis = await redisAvailable();

describe.skipIf(!hasRedis)('latest values across nodes sharing one Redis', () => {
  it('two gateways in one process: a late subscriber on B gets what was published through A', async () => {
    const prefix = uniquePrefix();
    const gateway = async () => {
      const broker = redisBroker({ url: REDIS_URL, prefix });
      const server = createServer({
        auth: { jwt: { secret: SECRET } },
        channels,
        broker,
      });
      onCleanup(async () => {
        await server.close();
        await broker.close();
      });
      return { server, ...(await server.listen()) };
    };
    const a = await gateway();
    const b = await gateway();
    await a.server.publish('agent:9', 'status', 'thinking');
    await a.server.publish('agent:9', 'progress', 10);
    await a.server.publish('agent:9', 'progress', 20);
    const late = await connected(b.url, 'late');
    const sub = late.subscribe('agent:9');
    await sub.ready();
    expect([sub.latest('status'), sub.latest('progress')]).toEqual(['thinking', 20]);
    expect((await b.server.latest('agent:9')).map((p) => p.event)).toEqual(['status', 'progress']);
  });
});

describe.skipIf(!hasRedis)('latest values across gateway processes', () => {
  it('a late subscriber on node B gets the values published via node A, also after both restart', async () => {
    const prefix = uniquePrefix();
    const one = await startNode(REDIS_URL, prefix);
    let two = await startNode(REDIS_URL, prefix);
    await nodePublish(one, 'agent:x', 'status', 'thinking');
    await nodePublish(one, 'agent:x', 'task', 'summarise');
    const lateSubscriber = async (url: string) => {
      const c = await connected(url, `late-${Math.random()}`);
      const sub = c.subscribe('agent:x');
      const got = recordAll(sub);
      await sub.ready();
      return { c, sub, got };
    };
    const first = await lateSubscriber(two.url);
    expect(shown(first.got)).toEqual(['latest status="thinking"', 'latest task="summarise"']);
    first.c.close();

    await one.kill();
    await two.kill();
    const again = await startNode(REDIS_URL, prefix);
    two = await startNode(REDIS_URL, prefix);
    await nodePublish(again, 'agent:x', 'status', 'done');
    const second = await lateSubscriber(two.url);
    expect(shown(second.got)).toEqual(['latest task="summarise"', 'latest status="done"']);
    expect(second.sub.latest('status')).toBe('done');
  });
});

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

describe.skipIf(!hasRedisServer)(
  'latest values on a Redis Cluster (3 masters, real processes)',
  () => {
    it('keeps them per channel in its slot (one script, five keys of one hash tag), sharded too', async () => {
      const cluster = await redisCluster();
      const prefix = uniquePrefix();
      const broker = redisBroker({
        redis: new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } }),
        prefix,
        sharded: true,
      });
      onCleanup(() => broker.close());
      // Enough channels that their slots land on all three masters.
      const names = Array.from({ length: 24 }, (_, i) => `agent:c${i}`);
      const latest = { maxEvents: 2, ttlMs: 60_000 };
      for (const channel of names) {
        for (const event of ['status', 'task', 'status', 'progress'])
          await broker.publish(channel, { event, data: `${channel} ${event}` }, { latest });
      }
      for (const channel of names)
        expect((await broker.latest(channel)).map((p) => p.event)).toEqual(['status', 'progress']);
    }, 60_000);
  },
);
