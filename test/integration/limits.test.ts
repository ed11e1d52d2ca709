import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, ErrorCode } from '../../src/protocol/index.js';
import { connected, RawSocket, startServer, token, waitFor } from '../helpers.js';

describe('limits', () => {
  it('rate limit: RATE_LIMITED replies, then close 4008 for a client that keeps going', async () => {
    const { url } = await startServer({
      limits: { messagesPerSecond: 10, burst: 5, maxRateLimited: 20 },
    });
    const socket = await RawSocket.connect(url);
    for (let i = 1; i <= 40; i++) socket.send({ type: 'ping', id: i });
    const limited = await socket.next((f) => f['code'] === ErrorCode.RATE_LIMITED);
    expect(limited['id']).toBeGreaterThan(4);
    expect((await socket.closedWith()).code).toBe(CloseCode.RATE_LIMITED);
  });

  it('rate limit: a client that backs off is served again', async () => {
    const { url } = await startServer({
      limits: { messagesPerSecond: 50, burst: 3, maxRateLimited: 100 },
    });
    const socket = await RawSocket.connect(url);
    for (let i = 1; i <= 6; i++) socket.send({ type: 'ping', id: i });
    await socket.next((f) => f['code'] === ErrorCode.RATE_LIMITED);
    await new Promise((r) => setTimeout(r, 200));
    socket.send({ type: 'ping', id: 50 });
    expect(await socket.reply(50)).toMatchObject({ type: 'reply' });
  });

  it('max subscriptions per connection', async () => {
    const { url } = await startServer({ limits: { maxSubscriptions: 2 } });
    const c = await connected(url);
    await c.subscribe('chat:1').ready();
    await c.subscribe('chat:2').ready();
    await expect(c.subscribe('chat:3').ready()).rejects.toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
    });
    c.subscribe('chat:1').unsubscribe();
    await expect(c.subscribe('chat:4').ready()).resolves.toBeUndefined();
  });

  it('max connections per user closes the extra one with 4009', async () => {
    const { url } = await startServer({ limits: { maxConnectionsPerUser: 2 } });
    await connected(url, 'alice');
    await connected(url, 'alice');
    const third = await RawSocket.open(url);
    third.send({ type: 'connect', id: 1, version: 1, token: await token('alice') });
    expect(await third.reply(1)).toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED });
    expect((await third.closedWith()).code).toBe(CloseCode.TOO_MANY_CONNECTIONS);
    await connected(url, 'bob');
  });

  it('allowed origins: a foreign Origin gets HTTP 403 before any WebSocket exists', async () => {
    const { url } = await startServer({ limits: { allowedOrigins: ['https://app.example'] } });
    await expect(RawSocket.open(url, { Origin: 'https://evil.example' })).rejects.toThrow(/403/);
    await expect(RawSocket.open(url)).rejects.toThrow(/403/);
    await RawSocket.open(url, { Origin: 'https://app.example' });
  });

  it('max connections on the server answers 503', async () => {
    const { url } = await startServer({ limits: { maxConnections: 1 } });
    await RawSocket.open(url);
    await expect(RawSocket.open(url)).rejects.toThrow(/503/);
  });

  it('a slow consumer is disconnected with 4007; the others keep receiving everything', async () => {
    const { url, server } = await startServer({
      limits: { maxQueueBytes: 64 * 1024, closeTimeoutMs: 300 },
    });
    const fast = await connected(url, 'fast');
    const sub = fast.subscribe('chat:busy');
    let fastGot = 0;
    sub.on('m', () => fastGot++);
    await sub.ready();

    // A reader that stops reading: pausing the TCP socket lets the server's buffer fill up.
    const slow = new WebSocket(url);
    await new Promise((resolve) => slow.once('open', resolve));
    slow.send(JSON.stringify({ type: 'connect', id: 1, version: 1, token: await token('slow') }));
    slow.send(JSON.stringify({ type: 'subscribe', id: 2, channel: 'chat:busy' }));
    await new Promise((resolve) => slow.once('message', resolve));
    await waitFor(() =>
      [...server.connections.values()].some(
        (c) => c.userId === 'slow' && c.subscriptions.size === 1,
      ),
    );
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    let slowClosedWith: number | undefined;
    server.on('disconnect', (c, code) => {
      if (c.userId === 'slow') slowClosedWith = code;
    });

    // Loopback kernel buffers absorb megabytes before the server's queue grows: publish until
    // the slow reader is cut off, bounded so a broken limit fails instead of looping forever.
    const payload = 'x'.repeat(4096);
    let total = 0;
    while (slowClosedWith === undefined && total < 5_000) {
      await server.publish('chat:busy', 'm', payload);
      total++;
      if (total % 100 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => slowClosedWith !== undefined, 2_000, 'slow consumer to be closed');
    expect(slowClosedWith).toBe(CloseCode.SLOW_CONSUMER);
    await waitFor(() => fastGot === total, 10_000, 'fast subscriber to get everything');
    slow.terminate();
  });

  it('too many requests in flight get LIMIT_EXCEEDED', async () => {
    const { url, server } = await startServer({ limits: { maxInFlight: 2 } });
    server.rpc('hang', () => new Promise(() => {}));
    const socket = await RawSocket.connect(url);
    for (let i = 1; i <= 3; i++) socket.send({ type: 'rpc', id: i, method: 'hang' });
    expect(await socket.reply(3)).toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED });
  });
});
