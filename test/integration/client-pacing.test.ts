import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import type { SubscribedEvent } from '../../src/client/index.js';
import { CloseCode, ErrorCode, SwitchboardError } from '../../src/protocol/index.js';
import { memoryBroker } from '../../src/server/index.js';
import {
  client,
  connected,
  dropConnection,
  gatedClient,
  onCleanup,
  sleep,
  startServer,
  token,
  waitFor,
} from '../helpers.js';

describe('the client paces itself within the limits the server announces', () => {
  it('1,000 publishes queued while disconnected are all accepted, once each, under the default limits', async () => {
    const { url, server } = await startServer();
    const refusals: string[] = [];
    const closes: number[] = [];
    let largestBatch = 0;
    server.tap({
      outbound: (_c, _raw, frame) => {
        if (frame.type === 'error') refusals.push(frame.code);
      },
      inbound: (_c, _raw, frames) => {
        largestBatch = Math.max(largestBatch, frames?.length ?? 0);
      },
    });
    server.on('disconnect', (_c, code) => closes.push(code));

    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('chat:a');
    const got: number[] = [];
    sub.on('n', (n: number) => got.push(n));
    await sub.ready();

    const alice = await gatedClient(url, 'alice');
    alice.hold();
    dropConnection(server, alice.client.connectionId);
    await waitFor(() => alice.client.state === 'reconnecting', 5_000, 'alice to notice the drop');
    const acks = Array.from({ length: 1000 }, (_, i) => alice.client.publish('chat:a', 'n', i + 1));
    expect(alice.client.metrics().queueDepth).toBe(1000);
    const start = Date.now();
    alice.release();

    const replies = await Promise.all(acks);
    // 1,000 frames at 100 per second with a burst of 200: several seconds, and no refusal.
    expect(Date.now() - start).toBeGreaterThan(4_000);
    expect(replies.map((r) => r.offset)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    await waitFor(() => got.length >= 1000, 5_000, 'bob to receive all 1,000');
    await sleep(50);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(refusals).toEqual([]);
    expect(closes).not.toContain(CloseCode.RATE_LIMITED);
    expect(alice.client.state).toBe('connected');
    expect(alice.client.metrics().reconnects).toBe(1);
    expect(largestBatch).toBeLessThanOrEqual(50);
  }, 30_000);

  it('keeps to tighter announced limits: requests in flight, frames per second, frames per batch', async () => {
    const inner = memoryBroker();
    onCleanup(() => inner.close());
    // A slow broker keeps publishes in flight, so the in-flight bound is what holds them back.
    const broker = {
      ...inner,
      publish: async (...args: Parameters<typeof inner.publish>) => {
        await sleep(15);
        return inner.publish(...args);
      },
    };
    const { url, server } = await startServer({
      broker,
      // One RATE_LIMITED would close the connection at once.
      limits: { maxInFlight: 4, messagesPerSecond: 40, burst: 10, maxBatch: 3, maxRateLimited: 1 },
    });
    const refusals: string[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    let largestBatch = 0;
    server.tap({
      inbound: (_c, _raw, frames) => {
        largestBatch = Math.max(largestBatch, frames?.length ?? 0);
        inFlight += frames?.length ?? 0;
        mostInFlight = Math.max(mostInFlight, inFlight);
      },
      outbound: (_c, _raw, frame) => {
        if (frame.type === 'reply' || frame.type === 'error') inFlight--;
        if (frame.type === 'error') refusals.push(frame.code);
      },
    });
    const c = await connected(url, 'alice');
    const start = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) => c.publish('chat:a', 'n', i)),
    );
    expect(replies.map((r) => r.offset)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(refusals).toEqual([]);
    expect(largestBatch).toBeLessThanOrEqual(3);
    expect(mostInFlight).toBeLessThanOrEqual(4);
    // 60 frames at 40 per second, most of them past the burst: over a second.
    expect(Date.now() - start).toBeGreaterThan(1_000);
    expect(c.state).toBe('connected');
  });

  it('a server that announces no limits gets everything at once, as before', async () => {
    const received: number[] = [];
    const url = await protocolServer((frame, reply) => {
      if (frame['type'] === 'publish') reply(frame, { offset: 1, epoch: 'e' });
    }, received);
    const c = client(url, { token: 't' });
    await c.connect();
    await Promise.all(Array.from({ length: 120 }, (_, i) => c.publish('chat:a', 'n', i)));
    // One tick's publishes in batches of 50.
    expect(received.slice(1)).toEqual([50, 50, 20]);
  });
});

describe('requests made before connect()', () => {
  it('wait in the outbox and are delivered once connected', async () => {
    const { url, server } = await startServer();
    server.rpc('echo', (data) => data);
    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('chat:a');
    const got: string[] = [];
    sub.on('m', (text: string) => got.push(text));
    await sub.ready();

    const alice = client(url, { token: await token('alice') });
    expect(alice.state).toBe('idle');
    // A child component's mount effect, before its provider connects.
    const published = alice.publish('chat:a', 'm', 'early');
    const echoed = alice.request('echo', 'hi');
    await sleep(50);
    expect(alice.state).toBe('idle');
    expect(got).toEqual([]);
    await alice.connect();
    expect(await published).toMatchObject({ offset: 1 });
    expect(await echoed).toBe('hi');
    await waitFor(() => got.length === 1, 3_000, 'the early publish');
    expect(got).toEqual(['early']);
  });

  it('still expire on their time to live, and a closed client still refuses', async () => {
    const { url } = await startServer();
    const c = client(url, { token: await token('alice') });
    await expect(c.publish('chat:a', 'm', 1, { timeoutMs: 50 })).rejects.toMatchObject({
      code: ErrorCode.TIMEOUT,
    });
    await c.connect();
    c.close();
    await expect(c.publish('chat:a', 'm', 2)).rejects.toMatchObject({ code: ErrorCode.CLOSED });
  });
});

describe('refusals', () => {
  it('an auth backend that is down (1013) is retried with backoff until it answers', async () => {
    let failures = 3;
    const { url, server } = await startServer({
      auth: {
        authenticate: (t) => {
          if (failures-- > 0)
            throw new SwitchboardError(ErrorCode.UNAVAILABLE, 'Auth backend unavailable');
          return { userId: t };
        },
      },
    });
    const closes: number[] = [];
    server.tap({ close: (_c, code) => closes.push(code) });
    const c = client(url, { token: 'alice' });
    const reasons: string[] = [];
    c.on('state', ({ state, reason }) => {
      if (state === 'reconnecting') reasons.push(reason ?? '');
    });
    await c.connect();
    expect(c.state).toBe('connected');
    expect(closes).toEqual([
      CloseCode.TRY_AGAIN_LATER,
      CloseCode.TRY_AGAIN_LATER,
      CloseCode.TRY_AGAIN_LATER,
    ]);
    expect(reasons[0]).toMatch(/^1013\b/);
  });

  it('an UNAUTHORIZED refusal makes connect() reject with UNAUTHORIZED, after one attempt', async () => {
    const { url, server } = await startServer();
    let upgrades = 0;
    server.tap({ open: () => upgrades++ });
    const c = client(url, { token: 'not-a-jwt' });
    const queued = c.publish('chat:a', 'm', 1);
    await expect(c.connect()).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    await expect(queued).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(c.state).toBe('closed');
    await sleep(100);
    expect(upgrades).toBe(1);
  });

  it('a fixed token that has expired makes connect() reject with TOKEN_EXPIRED instead of retrying forever', async () => {
    const { url, server } = await startServer();
    let upgrades = 0;
    server.tap({ open: () => upgrades++ });
    const expired = await token('alice', {}, Math.floor(Date.now() / 1000) - 60);
    const c = client(url, { token: expired });
    await expect(c.connect()).rejects.toMatchObject({ code: ErrorCode.TOKEN_EXPIRED });
    expect(c.state).toBe('closed');
    await sleep(100);
    expect(upgrades).toBe(1);
  });

  it('a fixed token that expires on a live connection stops the client with TOKEN_EXPIRED', async () => {
    const { url, server } = await startServer();
    let upgrades = 0;
    server.tap({ open: () => upgrades++ });
    const soon = await token('alice', {}, Math.floor(Date.now() / 1000) + 2);
    const c = client(url, { token: soon });
    await c.connect();
    const closed = new Promise<string | undefined>((resolve) =>
      c.on('state', ({ state, reason }) => state === 'closed' && resolve(reason)),
    );
    expect(await closed).toMatch(/^4002\b/);
    await expect(c.publish('chat:a', 'm', 1)).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(c.connect()).rejects.toMatchObject({ code: ErrorCode.TOKEN_EXPIRED });
    expect(upgrades).toBe(2);
  });
});

describe('publishes answered UNCERTAIN', () => {
  it('are retried with the same key until they are answered, and published once', async () => {
    const inner = memoryBroker();
    onCleanup(() => inner.close());
    const keys: (string | undefined)[] = [];
    let stalls = 2;
    const broker = {
      ...inner,
      publish: async (...args: Parameters<typeof inner.publish>) => {
        keys.push(args[2]?.idempotencyKey);
        const result = await inner.publish(...args);
        // The broker took it, but the answer was lost on the way back.
        if (stalls-- > 0) throw new SwitchboardError(ErrorCode.UNCERTAIN, 'Broker stalled');
        return result;
      },
    };
    const { url } = await startServer({ broker });
    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('chat:a');
    const got: string[] = [];
    sub.on('m', (text: string) => got.push(text));
    await sub.ready();
    const alice = await connected(url, 'alice');
    const ack = await alice.publish('chat:a', 'm', 'once');
    expect(ack.offset).toBe(1);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    await sleep(50);
    expect(got).toEqual(['once']);
  });

  it('reject with UNCERTAIN when the time to live runs out first', async () => {
    const inner = memoryBroker();
    onCleanup(() => inner.close());
    let attempts = 0;
    const broker = {
      ...inner,
      publish: async () => {
        attempts++;
        throw new SwitchboardError(ErrorCode.UNCERTAIN, 'Broker stalled');
      },
    };
    const { url } = await startServer({ broker });
    const c = await connected(url, 'alice');
    await expect(c.publish('chat:a', 'm', 1, { timeoutMs: 400 })).rejects.toMatchObject({
      code: ErrorCode.UNCERTAIN,
    });
    expect(attempts).toBeGreaterThanOrEqual(2);
    // Never asked again once given up on (a retry already on the wire may still land).
    const settled = attempts;
    await sleep(300);
    expect(attempts).toBeLessThanOrEqual(settled + 1);
  });
});

describe('contiguity at the client subscription', () => {
  it("exceptSelf publications move the publisher's position: no gap, no resubscribe", async () => {
    const { url, server } = await startServer();
    const alice = await connected(url, 'alice');
    const bob = await connected(url, 'bob');
    const requests: string[] = [];
    server.tap({
      inbound: (connection, _raw, frames) => {
        if (connection.id !== alice.connectionId) return;
        for (const f of frames ?? []) requests.push((f as { type: string }).type);
      },
    });
    const sub = alice.subscribe('chat:a');
    const got: number[] = [];
    const lifecycle: string[] = [];
    sub.on('n', (n: number) => got.push(n));
    sub.on('gap', () => lifecycle.push('gap'));
    sub.on('recovered', () => lifecycle.push('recovered'));
    await sub.ready();
    for (let n = 1; n <= 20; n++) {
      if (n % 2 === 1) await alice.publish('chat:a', 'n', n, { exceptSelf: true });
      else await bob.publish('chat:a', 'n', n);
    }
    await waitFor(() => sub.position?.offset === 20, 3_000, "alice's position to reach 20");
    await sleep(50);
    expect(got).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    expect(lifecycle).toEqual([]);
    expect(requests.filter((t) => t === 'subscribe')).toHaveLength(1);
    expect(requests).not.toContain('unsubscribe');
  });

  it('a jump makes the subscription resubscribe from its position and deliver the missed ones in order, once', async () => {
    const messages: Record<string, unknown>[][] = [];
    const msg = (offset: number) => ({
      type: 'message',
      channel: 'chat:a',
      event: 'n',
      data: offset,
      offset,
      epoch: 'e',
    });
    const url = await protocolServer(
      (frame, reply, send) => {
        if (frame['type'] === 'subscribe' && !frame['since']) {
          reply(frame, { offset: 0, epoch: 'e' });
          // 3 and 4 are lost on the way.
          send(msg(1), msg(2), msg(5));
        }
        if (frame['type'] === 'unsubscribe') {
          // Already on the wire when the unsubscribe arrived: dropped, the replay has it.
          send(msg(6));
          reply(frame, {});
        }
        if (frame['type'] === 'subscribe' && frame['since']) {
          reply(frame, { offset: 6, epoch: 'e', recovered: true });
          send(msg(3), msg(4), msg(5), msg(6), msg(7));
        }
      },
      undefined,
      messages,
    );
    const c = client(url, { token: 't' });
    await c.connect();
    const sub = c.subscribe('chat:a');
    const got: number[] = [];
    const lifecycle: string[] = [];
    sub.on('n', (n: number) => got.push(n));
    sub.on('recovered', () => lifecycle.push('recovered'));
    sub.on('gap', () => lifecycle.push('gap'));
    await waitFor(() => got.length >= 7, 3_000, 'all seven');
    await sleep(50);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(lifecycle).toEqual(['recovered']);
    // The unsubscribe and the subscribe from the last delivered position, in one message.
    const resync = messages.find((m) => m.some((f) => f['type'] === 'unsubscribe'));
    expect(resync).toMatchObject([
      { type: 'unsubscribe', channel: 'chat:a' },
      { type: 'subscribe', channel: 'chat:a', since: { offset: 2, epoch: 'e' } },
    ]);
    expect(sub.position).toEqual({ offset: 7, epoch: 'e' });
  });

  it('another epoch on a live frame resubscribes; an unrecoverable one is reported as a gap', async () => {
    const url = await protocolServer((frame, reply, send) => {
      const message = (offset: number, epoch: string) => ({
        type: 'message',
        channel: 'chat:a',
        event: 'n',
        data: `${epoch}${offset}`,
        offset,
        epoch,
      });
      if (frame['type'] === 'subscribe' && !frame['since']) {
        reply(frame, { offset: 0, epoch: 'e' });
        send(message(1, 'e'), message(3, 'f'));
      }
      if (frame['type'] === 'unsubscribe') reply(frame, {});
      if (frame['type'] === 'subscribe' && frame['since']) {
        reply(frame, { offset: 3, epoch: 'f', recovered: false });
        send(message(4, 'f'));
      }
    });
    const c = client(url, { token: 't' });
    await c.connect();
    const sub = c.subscribe('chat:a');
    const got: string[] = [];
    const gaps: SubscribedEvent[] = [];
    sub.on('n', (n: string) => got.push(n));
    sub.on('gap', (event) => gaps.push(event));
    await waitFor(() => got.length >= 2, 3_000, 'the live frame after the gap');
    expect(got).toEqual(['e1', 'f4']);
    expect(gaps).toMatchObject([{ offset: 3, epoch: 'f', recovered: false }]);
  });

  it('a server that jumps after every resubscribe is asked again with a growing delay, not in a loop', async () => {
    let subscribes = 0;
    const url = await protocolServer((frame, reply, send) => {
      if (frame['type'] === 'unsubscribe') reply(frame, {});
      if (frame['type'] !== 'subscribe') return;
      subscribes++;
      reply(frame, { offset: 0, epoch: 'e', ...(frame['since'] ? { recovered: true } : {}) });
      send({ type: 'message', channel: 'chat:a', event: 'n', offset: 2, epoch: 'e' });
    });
    const c = client(url, { token: 't', reconnect: { minDelayMs: 50, maxDelayMs: 400 } });
    await c.connect();
    const sub = c.subscribe('chat:a');
    const got: unknown[] = [];
    sub.on('n', (n: unknown) => got.push(n));
    await sleep(1_500);
    c.close();
    expect(got).toEqual([]);
    expect(subscribes).toBeGreaterThanOrEqual(3);
    // Without a backoff this would be thousands.
    expect(subscribes).toBeLessThan(30);
  });
});

type Frame = Record<string, unknown>;

/**
 * A bare `ws` server speaking the protocol by hand: it answers `connect` (announcing no limits)
 * and hands every other frame to `onFrame`. `batches` gets the number of frames in each message
 * received, `messages` the messages themselves.
 */
async function protocolServer(
  onFrame: (
    frame: Frame,
    reply: (frame: Frame, data: unknown) => void,
    send: (...frames: Frame[]) => void,
  ) => void,
  batches: number[] = [],
  messages: Frame[][] = [],
): Promise<string> {
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', () => {});
    const send = (...frames: Frame[]) => {
      for (const f of frames) ws.send(JSON.stringify(f));
    };
    const reply = (frame: Frame, data: unknown) => send({ type: 'reply', id: frame['id'], data });
    ws.on('message', (raw) => {
      const value = JSON.parse(raw.toString());
      const frames: Frame[] = Array.isArray(value) ? value : [value];
      batches.push(frames.length);
      messages.push(frames);
      for (const frame of frames) {
        if (frame['type'] === 'connect')
          reply(frame, { version: 1, connection: 'c1', user: 'u', heartbeatMs: 0 });
        else if (frame['type'] !== 'pong') onFrame(frame, reply, send);
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  onCleanup(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    return new Promise((resolve) => http.close(resolve));
  });
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
}
