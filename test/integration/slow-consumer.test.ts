import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode } from '../../src/protocol/index.js';
import { client, connected, sleep, startServer, token, waitFor } from '../helpers.js';

const QUEUE = 64 * 1024;
/** Cutting slow consumers off is the point here: the gateway's warning for each is expected. */
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const PAYLOAD = 'x'.repeat(2_048);

type Paused = { _socket: { pause(): void; resume(): void } };

/** A raw subscriber that stops reading its TCP socket once subscribed. */
async function stalledReader(url: string, user: string, channel: string) {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'connect', id: 1, version: 1, token: await token(user) }));
  ws.send(JSON.stringify({ type: 'subscribe', id: 2, channel }));
  await new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      if (String(data).includes('"id":2')) resolve();
    }),
  );
  (ws as unknown as Paused)._socket.pause();
  return ws;
}

describe('slow consumers', () => {
  it('stalled readers are cut off with 4007; every fast subscriber gets every offset once, in order; queues stay bounded', async () => {
    const { url, server } = await startServer({
      channels: { 'chat:*': { history: { size: 10_000, ttlMs: 60_000 } } },
      limits: { maxQueueBytes: QUEUE, closeTimeoutMs: 300, messagesPerSecond: 100_000 },
      logger: quiet,
    });
    const fast = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const c = await connected(url, `fast-${i}`);
        const offsets: number[] = [];
        const sub = c.subscribe('chat:busy');
        sub.on('m', (_data, meta) => offsets.push(meta.offset!));
        await sub.ready();
        return { c, offsets };
      }),
    );
    const stalled = await Promise.all(
      [0, 1].map((i) => stalledReader(url, `slow-${i}`, 'chat:busy')),
    );
    const closes = new Map<string, number>();
    server.on('disconnect', (c, code) => closes.set(c.userId!, code));

    // Loopback kernel buffers take megabytes before the gateway's own queue grows: publish
    // until both stalled readers are cut off, bounded so a broken limit fails, not hangs.
    let published = 0;
    let worstQueue = 0;
    while (closes.size < 2 && published < 20_000) {
      await server.publish('chat:busy', 'm', PAYLOAD);
      published++;
      for (const connection of server.connections.values())
        worstQueue = Math.max(worstQueue, connection.bufferedAmount);
      if (published % 50 === 0) await sleep(1);
    }
    await waitFor(() => closes.size === 2, 3_000, 'both stalled readers to be closed');
    expect([...closes.values()]).toEqual([CloseCode.SLOW_CONSUMER, CloseCode.SLOW_CONSUMER]);
    // Bounded: a queue never holds more than the limit plus the one frame that tipped it.
    expect(worstQueue).toBeLessThanOrEqual(QUEUE + PAYLOAD.length + 512);
    // The stalled sockets are released (close timer) even though they never read the close.
    await waitFor(() => server.connections.size === 3, 3_000, 'stalled sockets released');

    const all = Array.from({ length: published }, (_, i) => i + 1);
    for (const { offsets } of fast) {
      await waitFor(() => offsets.length >= published, 10_000, 'fast subscribers to catch up');
      expect(offsets).toEqual(all);
    }
    for (const ws of stalled) ws.terminate();
  });

  it('a reference client that stalls is cut off, then recovers every missed publication exactly once', async () => {
    const { url, server } = await startServer({
      // History larger than anything the loop below can publish: how many go out before the cut
      // depends on the kernel's socket buffers, and all of them must stay recoverable.
      channels: { 'chat:*': { history: { size: 30_000, ttlMs: 60_000 } } },
      limits: { maxQueueBytes: QUEUE, closeTimeoutMs: 300 },
      logger: quiet,
    });
    const sockets: WebSocket[] = [];
    class Recorded extends WebSocket {
      constructor(address: string) {
        super(address);
        sockets.push(this);
      }
    }
    const slow = client(url, {
      token: await token('slow'),
      WebSocket: Recorded,
    });
    await slow.connect();
    const offsets: number[] = [];
    const sub = slow.subscribe('chat:busy');
    sub.on('m', (_d, meta) => offsets.push(meta.offset!));
    await sub.ready();
    let cut: number | undefined;
    server.on('disconnect', (c, code) => {
      if (c.userId === 'slow') cut = code;
    });

    (sockets[0] as unknown as Paused)._socket.pause();
    let published = 0;
    while (cut === undefined && published < 20_000) {
      await server.publish('chat:busy', 'm', PAYLOAD);
      published++;
      if (published % 50 === 0) await sleep(1);
    }
    await waitFor(() => cut !== undefined, 3_000, 'the stalled client to be cut off');
    expect(cut).toBe(CloseCode.SLOW_CONSUMER);
    // More happens while it is away; then it reads again, sees 4007, reconnects and resumes.
    for (let i = 0; i < 100; i++) await server.publish('chat:busy', 'm', PAYLOAD);
    published += 100;
    (sockets[0] as unknown as Paused)._socket.resume();
    await waitFor(() => offsets.length >= published, 10_000, 'the client to recover');
    expect(offsets).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(slow.metrics().reconnects).toBeGreaterThanOrEqual(1);
  });
});
