import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { StateChange, SubscribedEvent } from '../../src/client/index.js';
import { CloseCode, ErrorCode } from '../../src/protocol/index.js';
import { createServer, memoryBroker } from '../../src/server/index.js';
import {
  client,
  connected,
  fakeServer,
  onCleanup,
  RawSocket,
  SECRET,
  sleep,
  startServer,
  token,
  waitFor,
} from '../helpers.js';

describe('heartbeat', () => {
  it('the server drops a peer that stops answering within two intervals', async () => {
    // Intervals wide enough that a loaded CI machine's timer slop cannot fail a working heartbeat.
    const { url, server } = await startServer({ heartbeat: { intervalMs: 250 } });
    const socket = await RawSocket.connect(url);
    // RawSocket never answers pings: it is a silent peer once authenticated.
    const closed = new Promise<{ code: number; at: number }>((resolve) =>
      server.on('disconnect', (_c, code) => resolve({ code, at: Date.now() })),
    );
    const start = Date.now();
    const { code, at } = await closed;
    expect(code).toBe(CloseCode.HEARTBEAT_TIMEOUT);
    expect(at - start).toBeLessThanOrEqual(2 * 250 + 250);
    expect(socket.received.some((f) => (f as { type: string }).type === 'ping')).toBe(true);
  });

  it('a client that answers pings stays connected', async () => {
    // Over four intervals, each wide enough that a busy test process still answers in time.
    const { url, server } = await startServer({ heartbeat: { intervalMs: 200 } });
    const c = await connected(url);
    await sleep(900);
    expect(c.state).toBe('connected');
    expect(server.connections.size).toBe(1);
  });

  it('the client detects a server that went silent and reconnects', async () => {
    // A server that completes the handshake, promises pings every 100 ms, then says nothing.
    let connections = 0;
    const url = await fakeServer(
      { version: 1, connection: 'x', user: 'u', heartbeatMs: 100 },
      () => {
        connections++;
      },
    );
    const c = client(url, { token: 't' });
    const changes: StateChange[] = [];
    c.on('state', (change) => changes.push(change));
    await c.connect();
    await waitFor(
      () => changes.some((s) => s.state === 'reconnecting'),
      2_000,
      'dead server detection',
    );
    expect(changes.find((s) => s.state === 'reconnecting')?.reason).toMatch(/4006/);
    await waitFor(() => connections >= 2, 2_000, 'reconnect');
  });
});

describe('reconnect', () => {
  it('retries a failed first connect with backoff, then connects', async () => {
    const probe = createHttpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    let attempts = 0;
    class CountingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        attempts++;
      }
    }
    const c = client(`ws://127.0.0.1:${port}/ws`, {
      token: () => token('alice'),
      WebSocket: CountingWebSocket,
    });
    const changes: StateChange[] = [];
    c.on('state', (change) => changes.push(change));
    const connecting = c.connect();
    await waitFor(() => attempts >= 3, 3_000, 'retries');
    expect(changes.map((s) => s.state)).toEqual(['connecting', 'reconnecting']);
    const server = createServer({ port, auth: { jwt: { secret: SECRET } } });
    onCleanup(() => server.close());
    await server.listen();
    await connecting;
    expect(c.state).toBe('connected');
    expect(changes[0]).toEqual({ state: 'connecting', previous: 'idle' });
    expect(c.metrics().reconnects).toBe(0);
  });

  it('after a server restart, subscriptions are restored and queued publishes go out once', async () => {
    // The broker outlives the gateway process, as Redis would: history and epochs survive.
    const broker = memoryBroker();
    onCleanup(() => broker.close());
    const options = {
      auth: { jwt: { secret: SECRET } },
      channels: { 'chat:*': { history: { size: 100, ttlMs: 60_000 } } },
      broker,
    };
    const first = await startServer(options);
    let tokens = 0;
    const alice = client(first.url, {
      token: () => {
        tokens++;
        return token('alice');
      },
    });
    await alice.connect();
    const bob = await connected(first.url, 'bob');
    const sub = bob.subscribe('chat:a');
    const got: number[] = [];
    sub.on('n', (n: number) => got.push(n));
    const resubscribed: SubscribedEvent[] = [];
    sub.on('subscribed', (event) => resubscribed.push(event));
    await sub.ready();
    await alice.publish('chat:a', 'n', 1);
    await waitFor(() => got.length === 1);

    await first.server.close();
    await waitFor(() => alice.state === 'reconnecting' && bob.state === 'reconnecting');
    // Accepted into the outbox while the server is down, sent once it is back.
    const queued = alice.publish('chat:a', 'n', 2);
    expect(alice.metrics().queueDepth).toBe(1);

    const second = createServer({ ...options, port: first.port });
    onCleanup(() => second.close());
    await second.listen();
    await waitFor(
      () => alice.state === 'connected' && bob.state === 'connected',
      5_000,
      'both reconnected',
    );
    await queued;
    await alice.publish('chat:a', 'n', 3);
    await waitFor(() => got.length === 3, 3_000, 'messages after restart');
    expect(got).toEqual([1, 2, 3]);
    expect(resubscribed.at(-1)?.recovered).toBe(true);
    expect(sub.state).toBe('subscribed');
    expect(tokens).toBeGreaterThanOrEqual(2); // a fresh token for each attempt
    expect(alice.metrics().reconnects).toBe(1);
  });

  it('when the restarted server lost its state, the subscription reports the gap', async () => {
    const first = await startServer({
      channels: { 'chat:*': { history: { size: 100, ttlMs: 60_000 } } },
    });
    const bob = await connected(first.url, 'bob');
    const sub = bob.subscribe('chat:a');
    const gaps: SubscribedEvent[] = [];
    sub.on('gap', (event) => gaps.push(event));
    await sub.ready();
    await first.server.publish('chat:a', 'n', 1);
    await first.server.close();
    const second = createServer({
      port: first.port,
      auth: { jwt: { secret: SECRET } },
      channels: { 'chat:*': { history: { size: 100, ttlMs: 60_000 } } },
    });
    onCleanup(() => second.close());
    await second.listen();
    await waitFor(() => gaps.length === 1, 5_000, 'gap event');
    expect(gaps[0]).toMatchObject({ recovered: false, offset: 0 });
  });

  it('an RPC in flight when the connection drops rejects with DISCONNECTED', async () => {
    const { url, server } = await startServer();
    server.rpc('hang', () => new Promise(() => {}));
    const c = await connected(url);
    const pending = c.request('hang');
    await sleep(20);
    server.disconnectUser('alice', CloseCode.GOING_AWAY, 'bye');
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.DISCONNECTED });
  });

  it('close() rejects everything pending and stops for good', async () => {
    const { url } = await startServer();
    const c = await connected(url);
    await c.subscribe('chat:a').ready();
    const publishes = [c.publish('chat:a', 'm', 1), c.request('nothing')];
    c.close();
    for (const p of publishes) await expect(p).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(c.state).toBe('closed');
    await expect(c.publish('chat:a', 'm', 2)).rejects.toMatchObject({ code: ErrorCode.CLOSED });
  });

  it('the outbox is bounded and expired entries are never sent', async () => {
    const { url, port, server } = await startServer();
    const c = await connected(url, 'alice', { outbox: { maxEntries: 3 } });
    await server.close();
    await waitFor(() => c.state === 'reconnecting');
    const expiring = c.publish('chat:a', 'm', 'stale', { timeoutMs: 50 });
    const kept = [c.publish('chat:a', 'm', 'a'), c.publish('chat:a', 'm', 'b')];
    await expect(c.publish('chat:a', 'm', 'c')).rejects.toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
    });
    await expect(expiring).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });

    const received: unknown[] = [];
    const second = createServer({
      port,
      auth: { jwt: { secret: SECRET } },
      channels: { 'chat:*': {} },
    });
    onCleanup(() => second.close());
    second.tap({ inbound: (_c, _raw, frames) => received.push(...(frames ?? [])) });
    await second.listen();
    await Promise.all(kept);
    const published = received
      .filter((f) => (f as { type: string }).type === 'publish')
      .map((f) => (f as { data: unknown }).data);
    expect(published).toEqual(['a', 'b']);
  });
});

describe('graceful close', () => {
  it('every client gets 1001, and nothing is left running', async () => {
    const before = new Set(process.getActiveResourcesInfo());
    const server = createServer({
      auth: { jwt: { secret: SECRET } },
      heartbeat: { intervalMs: 1000 },
    });
    const { url } = await server.listen();
    const sockets = await Promise.all([
      RawSocket.connect(url, 'a'),
      RawSocket.connect(url, 'b'),
      RawSocket.open(url),
    ]);
    await server.close();
    for (const socket of sockets)
      expect((await socket.closedWith()).code).toBe(CloseCode.GOING_AWAY);
    await sleep(20);
    const after = process.getActiveResourcesInfo().filter((r) => !before.has(r));
    expect(after.filter((r) => r === 'Timeout' || r === 'TCPServerWrap')).toEqual([]);
  });

  it('a client reconnects after 1001 (server going away is not fatal)', async () => {
    const first = await startServer();
    const c = await connected(first.url);
    const changes: StateChange[] = [];
    c.on('state', (change) => changes.push(change));
    await first.server.close();
    await waitFor(() => changes.length > 0);
    expect(changes[0]).toMatchObject({
      state: 'reconnecting',
      reason: expect.stringMatching(/^1001/),
    });
  });

  it('refuses new upgrades while draining', async () => {
    const { url, server } = await startServer({ limits: { closeTimeoutMs: 500 } });
    const stubborn = await RawSocket.connect(url);
    stubborn.ws.pause(); // never completes the closing handshake
    const closing = server.close();
    await expect(RawSocket.open(url)).rejects.toThrow(/503/);
    await closing;
  });
});

describe('wire details', () => {
  it('publishes issued in the same tick travel as one batched message', async () => {
    const { url, server } = await startServer();
    const messages: number[] = [];
    server.tap({ inbound: (_c, _raw, frames) => messages.push(frames?.length ?? 0) });
    const c = await connected(url);
    await c.subscribe('chat:a').ready();
    messages.length = 0;
    await Promise.all([
      c.publish('chat:a', 'm', 1),
      c.publish('chat:a', 'm', 2),
      c.publish('chat:a', 'm', 3),
    ]);
    expect(messages).toEqual([3]);
  });

  it("keeps each batch under the server's message limit, so large publishes in one tick all pass", async () => {
    const { url, server } = await startServer({ limits: { maxMessageBytes: 40_000 } });
    const sizes: number[] = [];
    server.tap({ inbound: (_c, raw) => sizes.push(raw.length) });
    const c = await connected(url);
    const payload = 'é'.repeat(8_000); // 16 KB of UTF-8 in 8,000 characters
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => c.publish('chat:a', 'big', { i, payload })),
    );
    expect(results.map((r) => r.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(sizes.every((size) => size <= 40_000)).toBe(true);
    expect(sizes.length).toBeGreaterThan(2);
  });

  it('a tap sees the frames of the connections it watches, including ones opened before it', async () => {
    const { url, server } = await startServer();
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    const seen: string[] = [];
    const remove = server.tap({
      // Asked once per connection (at open, or now for those already open).
      watches: (connection) => connection.id === alice.connectionId,
      outbound: (connection) => seen.push(connection.id),
    });
    await alice.ping();
    await bob.ping();
    expect(seen).toEqual([alice.connectionId]);
    remove();
    await alice.ping();
    expect(seen).toHaveLength(1);
  });

  it('metrics count traffic and debug logs frames with timestamps', async () => {
    const { url } = await startServer();
    const lines: unknown[][] = [];
    const c = await connected(url, 'alice', { debug: (...args) => lines.push(args) });
    await c.ping();
    const m = c.metrics();
    expect(m.messagesOut).toBeGreaterThanOrEqual(2);
    expect(m.messagesIn).toBeGreaterThanOrEqual(2);
    expect(m.bytesIn).toBeGreaterThan(0);
    expect(m.rttMs).toBeGreaterThanOrEqual(0);
    expect(m.state).toBe('connected');
    const outgoing = lines.find((l) => l[2] === '→' && (l[3] as { type: string }).type === 'ping');
    expect(outgoing?.[1]).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((outgoing![3] as { id: number }).id).toBeGreaterThan(0);
  });

  it('the client shrugs off frames a broken server sends', async () => {
    const junk = [
      'not json',
      '42',
      '{"type":"reply"}',
      '{"type":"message"}',
      '[null,{"type":"error"}]',
      '{"type":"reply","id":999}',
    ];
    const url = await fakeServer(
      { version: 1, connection: 'x', user: 'u', heartbeatMs: 0 },
      (ws) => {
        for (const message of junk) ws.send(message);
      },
    );
    const c = client(url, { token: 't' });
    await c.connect();
    expect(c.state).toBe('connected');
  });
});

describe('outbox bounds', () => {
  it('refuses publishes past the byte bound while offline, and sends the rest once back', async () => {
    const { url, port, server } = await startServer();
    const c = await connected(url, 'alice', { outbox: { maxBytes: 2_000 } });
    await server.close();
    await waitFor(() => c.state === 'reconnecting');
    const kept = [
      c.publish('chat:a', 'm', 'x'.repeat(800)),
      c.publish('chat:a', 'm', 'y'.repeat(800)),
    ];
    await expect(c.publish('chat:a', 'm', 'z'.repeat(800))).rejects.toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
    });
    // Small ones still fit.
    kept.push(c.publish('chat:a', 'm', 'ok'));
    const second = createServer({
      port,
      auth: { jwt: { secret: SECRET } },
      channels: { 'chat:*': {} },
    });
    onCleanup(() => second.close());
    await second.listen();
    const acks = await Promise.all(kept);
    expect(acks.map((a) => a.offset)).toEqual([1, 2, 3]);
  });
});
