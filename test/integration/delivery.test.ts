import { describe, expect, it } from 'vitest';
import type { MessageMeta, SubscribedEvent } from '../../src/client/index.js';
import { ErrorCode, type PresenceMember, SwitchboardError } from '../../src/protocol/index.js';
import { memoryBroker } from '../../src/server/index.js';
import {
  connected,
  dropConnection,
  gatedClient,
  RawSocket,
  sleep,
  startServer,
  waitFor,
} from '../helpers.js';

const history = { size: 100, ttlMs: 60_000 };

describe('recovery', () => {
  it('replays exactly the missed publications, in order, after an abrupt disconnect', async () => {
    const { url, server } = await startServer({ channels: { 'chat:*': { history } } });
    const away = await gatedClient(url, 'bob');
    const bob = away.client;
    const sub = bob.subscribe('chat:a');
    const got: number[] = [];
    const recovered: SubscribedEvent[] = [];
    sub.on('n', (n: number) => got.push(n));
    sub.on('recovered', (event) => recovered.push(event));
    await sub.ready();
    await server.publish('chat:a', 'n', 1);
    await waitFor(() => got.length === 1);

    away.hold();
    dropConnection(server, bob.connectionId);
    await waitFor(() => bob.state === 'reconnecting');
    for (let n = 2; n <= 6; n++) await server.publish('chat:a', 'n', n);
    away.release();
    await waitFor(() => recovered.length === 1, 5_000, 'recovery');
    await server.publish('chat:a', 'n', 7);
    await waitFor(() => got.length === 7);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(recovered[0]).toMatchObject({ recovered: true, offset: 6 });
  });

  it('says so when the missed publications are out of the window, and carries on live', async () => {
    const { url, server } = await startServer({
      channels: { 'chat:*': { history: { size: 2, ttlMs: 60_000 } } },
    });
    const away = await gatedClient(url, 'bob');
    const bob = away.client;
    const sub = bob.subscribe('chat:a');
    const got: number[] = [];
    const gaps: SubscribedEvent[] = [];
    sub.on('n', (n: number) => got.push(n));
    sub.on('gap', (event) => gaps.push(event));
    await sub.ready();
    await server.publish('chat:a', 'n', 1);
    await waitFor(() => got.length === 1);
    away.hold();
    dropConnection(server, bob.connectionId);
    await waitFor(() => bob.state === 'reconnecting');
    for (let n = 2; n <= 6; n++) await server.publish('chat:a', 'n', n);
    away.release();
    await waitFor(() => gaps.length === 1, 5_000, 'gap');
    expect(gaps[0]).toMatchObject({ recovered: false, offset: 6 });
    await server.publish('chat:a', 'n', 7);
    await waitFor(() => got.length === 2);
    expect(got).toEqual([1, 7]); // never a silent hole: the app was told, and nothing was doubled
  });

  it('the app can fetch kept history to fill a gap', async () => {
    const { url, server } = await startServer({ channels: { 'chat:*': { history } } });
    for (let n = 1; n <= 5; n++) await server.publish('chat:a', 'n', n);
    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('chat:a');
    await sub.ready();
    const latest = await sub.history({ limit: 3 });
    expect(latest.publications.map((p) => p.data)).toEqual([3, 4, 5]);
    expect(latest).toMatchObject({ offset: 5, recovered: true });
    const since = await sub.history({ since: { offset: 3, epoch: latest.epoch } });
    expect(since.publications.map((p) => p.offset)).toEqual([4, 5]);
  });
});

describe('exactly once at the edges', () => {
  it('a publish accepted just before the connection died is resent and published once', async () => {
    const inner = memoryBroker();
    let dropAfterFirst: (() => void) | undefined;
    const broker = {
      ...inner,
      publish: async (...args: Parameters<typeof inner.publish>) => {
        const result = await inner.publish(...args);
        // The broker took it; the ack will not make it back.
        if (args[0] === 'chat:a' && dropAfterFirst) {
          const drop = dropAfterFirst;
          dropAfterFirst = undefined;
          drop();
        }
        return result;
      },
    };
    const { url, server } = await startServer({ broker, channels: { 'chat:*': { history } } });
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    const sub = bob.subscribe('chat:a');
    const got: MessageMeta[] = [];
    sub.on('m', (_d, meta) => got.push(meta));
    await sub.ready();
    dropAfterFirst = () => dropConnection(server, alice.connectionId);
    const ack = await alice.publish('chat:a', 'm', 'once');
    expect(alice.metrics().reconnects).toBe(1);
    await sleep(50);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ offset: ack.offset });
    await inner.close();
  });

  it('drops publications the client has already delivered', async () => {
    const { url, server } = await startServer({ channels: { 'chat:*': { history } } });
    const raw = await RawSocket.connect(url, 'server-side');
    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('chat:a');
    const got: number[] = [];
    sub.on('n', (n: number) => got.push(n));
    await sub.ready();
    await server.publish('chat:a', 'n', 1);
    await server.publish('chat:a', 'n', 2);
    await waitFor(() => got.length === 2);
    // A replay overlapping what was seen (e.g. two recoveries racing) is filtered by offset.
    const { epoch } = await server.publish('chat:a', 'n', 3);
    await waitFor(() => got.length === 3);
    server.sendToConnection(bob.connectionId!, 'noop');
    sub.deliver({ type: 'message', channel: 'chat:a', event: 'n', data: 2, offset: 2, epoch });
    expect(got).toEqual([1, 2, 3]);
    raw.ws.close();
  });
});

describe('presence', () => {
  it('lists members with server-side info, and announces joins and leaves', async () => {
    const { url } = await startServer({
      channels: {
        'room:*': { presence: { info: (identity) => ({ name: identity.userId.toUpperCase() }) } },
      },
    });
    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('room:a');
    const joins: PresenceMember[] = [];
    const leaves: PresenceMember[] = [];
    sub.on('$join', (m: PresenceMember) => joins.push(m));
    sub.on('$leave', (m: PresenceMember) => leaves.push(m));
    await sub.ready();
    const alice = await connected(url, 'alice');
    const aliceSub = alice.subscribe('room:a');
    await aliceSub.ready();
    await waitFor(() => joins.some((m) => m.user === 'alice'));
    expect(joins.find((m) => m.user === 'alice')).toEqual({
      user: 'alice',
      connection: alice.connectionId,
      info: { name: 'ALICE' },
    });
    const members = await sub.presence();
    expect(members.map((m) => m.user).sort()).toEqual(['alice', 'bob']);
    aliceSub.unsubscribe();
    await waitFor(() => leaves.length === 1);
    expect(leaves[0]).toMatchObject({ user: 'alice' });
    expect((await sub.presence()).map((m) => m.user)).toEqual(['bob']);
  });

  it('an abrupt disconnect leaves at once; a silent one within the heartbeat window', async () => {
    const { url, server } = await startServer({
      heartbeat: { intervalMs: 250 },
      channels: { 'room:*': { presence: true } },
    });
    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('room:a');
    const leaves: string[] = [];
    sub.on('$leave', (m: PresenceMember) => leaves.push(m.user));
    await sub.ready();

    const alice = await connected(url, 'alice', { reconnect: false });
    await alice.subscribe('room:a').ready();
    dropConnection(server, alice.connectionId);
    await waitFor(() => leaves.includes('alice'), 1_000, 'leave after socket loss');

    // A peer that stays connected but says nothing: only the heartbeat notices.
    const silent = await RawSocket.connect(url, 'carol');
    silent.send({ type: 'subscribe', id: 1, channel: 'room:a' });
    await silent.reply(1);
    const start = Date.now();
    await waitFor(() => leaves.includes('carol'), 2_000, 'leave after heartbeat timeout');
    expect(Date.now() - start).toBeLessThanOrEqual(2 * 250 + 250);
  });

  it('presence of a channel without presence is NOT_FOUND', async () => {
    const { url } = await startServer();
    const c = await connected(url);
    await expect(c.subscribe('chat:a').presence()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('ephemeral events', () => {
  it('reach current subscribers but are never kept or replayed', async () => {
    const { url, server } = await startServer({
      channels: { 'chat:*': { history, ephemeral: ['typing'] } },
    });
    const alice = await connected(url, 'alice');
    const away = await gatedClient(url, 'bob');
    const bob = away.client;
    const sub = bob.subscribe('chat:a');
    const got: string[] = [];
    sub.on('*', (_d, meta) => got.push(`${meta.event}${meta.ephemeral ? '~' : `@${meta.offset}`}`));
    await sub.ready();
    await alice.publish('chat:a', 'typing', {});
    await alice.publish('chat:a', 'message', 'hi');
    await alice.publish('chat:a', 'cursor', { x: 1 }, { ephemeral: true });
    await waitFor(() => got.length === 3);
    expect(got).toEqual(['typing~', 'message@1', 'cursor~']);

    away.hold();
    dropConnection(server, bob.connectionId);
    await waitFor(() => bob.state === 'reconnecting');
    await alice.publish('chat:a', 'typing', {});
    await alice.publish('chat:a', 'message', 'while away');
    away.release();
    await waitFor(() => got.length === 4, 5_000, 'recovered message');
    await sleep(50);
    expect(got).toEqual(['typing~', 'message@1', 'cursor~', 'message@2']);
    expect((await sub.history()).publications.map((p) => p.event)).toEqual(['message', 'message']);
  });
});

describe('streams', () => {
  type Chunk = { data: unknown; seq: number; status: string | undefined };

  function collect(
    sub: ReturnType<Awaited<ReturnType<typeof connected>>['subscribe']>,
    event = 'reply',
  ) {
    const chunks: Chunk[] = [];
    sub.on(event, (data, meta) => {
      // A rolled-up end (a recovery after the stream ended) holds the pieces not had yet.
      const rollup = meta.stream!.rollup ?? [];
      for (let seq = (chunks.at(-1)?.seq ?? -1) + 1; seq < rollup.length; seq++)
        chunks.push({ data: rollup[seq], seq, status: seq === 0 ? 'open' : undefined });
      chunks.push({ data, seq: meta.stream!.seq, status: meta.stream!.status });
    });
    return chunks;
  }

  it('a late subscriber gets the stream so far, then the rest; a reconnect mid-stream loses and doubles nothing', async () => {
    const { url, server } = await startServer({ channels: { 'agent:*': { streams: true } } });
    const stream = await server.stream('agent:1', { event: 'reply', data: { by: 'agent' } });
    for (let i = 0; i < 5; i++) await stream.write(`t${i} `);

    const away = await gatedClient(url, 'late');
    const late = away.client;
    const sub = late.subscribe('agent:1');
    const chunks = collect(sub);
    await sub.ready();
    await waitFor(() => chunks.length === 6, 3_000, 'catch-up');
    expect(chunks[0]).toEqual({ data: { by: 'agent' }, seq: 0, status: 'open' });

    await stream.write('t5 ');
    await waitFor(() => chunks.length === 7);
    away.hold();
    dropConnection(server, late.connectionId);
    await waitFor(() => late.state === 'reconnecting');
    await stream.write('t6 ');
    await stream.write('t7 ');
    away.release();
    await stream.end({ tokens: 8 });
    await waitFor(() => chunks.at(-1)?.status === 'end', 5_000, 'end marker');
    expect(chunks.map((c) => c.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(
      chunks
        .slice(1, -1)
        .map((c) => c.data)
        .join(''),
    ).toBe('t0 t1 t2 t3 t4 t5 t6 t7 ');

    // Once it has ended, a newcomer does not get it replayed as if in progress.
    const after = await connected(url, 'after');
    const afterSub = after.subscribe('agent:1');
    const none = collect(afterSub);
    await afterSub.ready();
    await sleep(50);
    expect(none).toEqual([]);
  });

  it('a finished stream is one publication in history; a reader cut off inside it recovers the roll-up, no gap, nothing doubled', async () => {
    const { url, server } = await startServer({ channels: { 'agent:*': { streams: true } } });
    await server.publish('agent:2', 'note', 'before');
    const away = await gatedClient(url, 'reader');
    const reader = away.client;
    const sub = reader.subscribe('agent:2');
    const chunks = collect(sub);
    const events: string[] = [];
    for (const name of ['recovered', 'gap'] as const) sub.on(name, () => events.push(name));
    await sub.ready();
    const stream = await server.stream('agent:2', { event: 'reply', data: { by: 'agent' } });
    await stream.write('a ');
    await stream.write('b ');
    await waitFor(() => chunks.length === 3);

    away.hold();
    dropConnection(server, reader.connectionId);
    await waitFor(() => reader.state === 'reconnecting');
    await stream.write('c ');
    await stream.write('d ');
    await stream.end({ tokens: 4 });
    away.release();
    await waitFor(() => chunks.at(-1)?.status === 'end', 5_000, 'end marker');
    expect(events).toEqual(['recovered']);
    expect(chunks.map((c) => c.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(
      chunks
        .slice(1, -1)
        .map((c) => c.data)
        .join(''),
    ).toBe('a b c d ');

    // History (the channel keeps streams only) holds the reply rolled up: its end covers the
    // stream's offsets, 2 to 6.
    const { publications } = await sub.history();
    expect(publications.map((p) => [p.event, p.offset, p.covers])).toEqual([['reply', 7, 2]]);
    expect(publications[0]!.stream!.rollup).toEqual([{ by: 'agent' }, 'a ', 'b ', 'c ', 'd ']);
    // Live publications go on from the end's offset, no resync.
    await server.publish('agent:2', 'note', 'after');
    await waitFor(() => sub.position?.offset === 8);
    expect(events).toEqual(['recovered']);
  });

  it('a stream too big to roll up into one frame keeps its chunks', async () => {
    const { url, server } = await startServer({ channels: { 'agent:*': { streams: true } } });
    const c = await connected(url);
    const stream = await server.stream('agent:big', { event: 'reply' });
    // Five 60 kB chunks: past the roll-up's 256 KiB, under the 1 MiB send queue either way.
    for (let i = 0; i < 5; i++) await stream.write('x'.repeat(60_000));
    await stream.end();
    const { publications } = await c.subscribe('agent:big').history();
    expect(publications).toHaveLength(7);
    expect(publications.some((p) => p.covers !== undefined || p.stream?.rollup)).toBe(false);
  });

  it('a stream that goes quiet is ended with an error by the timeout', async () => {
    const { url, server } = await startServer({
      channels: { 'agent:*': { streams: { timeoutMs: 100 } } },
    });
    const c = await connected(url);
    const sub = c.subscribe('agent:1');
    const chunks = collect(sub, 'stream');
    await sub.ready();
    const stream = await server.stream('agent:1');
    await stream.write('a');
    await waitFor(() => chunks.at(-1)?.status === 'error', 2_000, 'timeout marker');
    expect(chunks.at(-1)).toEqual({ data: { error: 'stream timed out' }, seq: 2, status: 'error' });
  });

  it('a permitted client streams; another user cannot write into its stream', async () => {
    const { url } = await startServer({ channels: { 'agent:*': { streams: true } } });
    const [writer, reader, intruder] = await Promise.all([
      connected(url, 'writer'),
      connected(url, 'reader'),
      connected(url, 'intruder'),
    ]);
    const sub = reader.subscribe('agent:x');
    const chunks = collect(sub, 'answer');
    await sub.ready();
    const stream = writer.subscribe('agent:x').stream('answer', { model: 'test' });
    await stream.write('hello ');
    await stream.write('world');
    await stream.end();
    await waitFor(() => chunks.length === 4);
    expect(chunks.map((c) => c.status ?? c.data)).toEqual(['open', 'hello ', 'world', 'end']);

    const other = writer.subscribe('agent:x').stream('answer');
    await other.write('mine');
    await expect(
      intruder.publish('agent:x', 'answer', 'injected', { stream: { id: other.id, seq: 5 } }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('streams are refused where the channel does not enable them', async () => {
    const { url, server } = await startServer();
    await expect(server.stream('chat:a')).rejects.toThrow(/streams enabled/);
    const c = await connected(url);
    await expect(
      c.publish('chat:a', 'x', 1, { stream: { id: 's', seq: 0, status: 'open' } }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('a broker that is briefly unavailable', () => {
  it('a subscribe answered UNAVAILABLE is retried by the client, not dropped', async () => {
    const inner = memoryBroker();
    let failures = 2;
    const broker = {
      ...inner,
      history: async (...args: Parameters<typeof inner.history>) => {
        if (failures-- > 0) throw new SwitchboardError(ErrorCode.UNAVAILABLE, 'Broker unavailable');
        return inner.history(...args);
      },
    };
    const { url } = await startServer({ broker });
    const c = await connected(url, 'bob');
    const sub = c.subscribe('chat:a');
    const errors: unknown[] = [];
    sub.on('error', (e) => errors.push(e));
    await sub.ready();
    expect(sub.state).toBe('subscribed');
    expect(errors).toEqual([]);
    expect(failures).toBeLessThan(0);
    await inner.close();
  });
});
