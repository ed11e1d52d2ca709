import { get, type IncomingMessage } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, ErrorCode } from '../../src/protocol/index.js';
import type { Tap } from '../../src/server/index.js';
import { httpBalancer } from '../cluster.js';
import { freePort } from '../faults.js';
import { client, connected, onCleanup, sleep, startServer, token, waitFor } from '../helpers.js';

const sse = { transports: ['sse' as const] };
const history = { size: 100, ttlMs: 60_000 };

/** The HTTP side of a ws:// endpoint URL. */
const httpOf = (url: string) => url.replace(/^ws/, 'http');

/** A hand-driven SSE session: the stream's events as they come, and POSTs of raw frames. */
async function rawSession(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  onCleanup(() => abort.abort());
  const response = await fetch(httpOf(url), { signal: abort.signal, headers });
  expect(response.status).toBe(200);
  if (headers['origin'])
    expect(response.headers.get('access-control-allow-origin')).toBe(headers['origin']);
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  const events: { event: string; data: string }[] = [];
  const comments: string[] = [];
  let ended = false;
  void (async () => {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1));
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) events.push({ event, data: data.join('\n') });
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {}
    ended = true;
  })();
  const session = (await waitFor(() => events.find((e) => e.event === 'session'))).data;
  const post = (body: string | object) =>
    fetch(`${httpOf(url)}?session=${session}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const frames = () =>
    events
      .filter((e) => e.event === 'message')
      .map((e) => JSON.parse(e.data) as Record<string, unknown>);
  return {
    session,
    events,
    comments,
    post,
    frames,
    abort: () => abort.abort(),
    get ended() {
      return ended;
    },
  };
}

describe('SSE transport: the same protocol over HTTP', () => {
  it('connects, subscribes, publishes, calls RPCs and gets direct messages over SSE', async () => {
    const { url, server } = await startServer({ channels: { 'chat:*': { history } } });
    server.rpc('add', ({ a, b }: { a: number; b: number }) => a + b);
    const alice = await connected(url, 'alice', sse);
    expect(alice.transport).toBe('sse');
    const bob = await connected(url, 'bob', sse);
    const got: unknown[] = [];
    const sub = bob.subscribe('chat:a');
    sub.on('say', (text) => got.push(text));
    await sub.ready();
    for (let i = 0; i < 20; i++) await alice.publish('chat:a', 'say', `hi ${i}`);
    await waitFor(() => got.length === 20);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `hi ${i}`));
    expect(await alice.request('add', { a: 2, b: 3 })).toBe(5);
    const direct: unknown[] = [];
    alice.on('message', (event, data) => direct.push([event, data]));
    await server.sendToUser('alice', 'note', { x: 1 });
    await waitFor(() => direct.length === 1);
    expect(direct).toEqual([['note', { x: 1 }]]);
    const [connection] = [...server.connections.values()].filter((c) => c.userId === 'alice');
    expect(connection?.request.url).toBe('/ws');
  });

  it('ends the stream with a final close event carrying the close code', async () => {
    const { url, server } = await startServer();
    const alice = await connected(url, 'alice', sse);
    const closed = new Promise((resolve) =>
      alice.on('state', (s) => s.state === 'closed' && resolve(s)),
    );
    server.disconnectUser('alice', CloseCode.DISCONNECTED_BY_SERVER, 'bye');
    expect(await closed).toMatchObject({ reason: `${CloseCode.DISCONNECTED_BY_SERVER} bye` });
  });

  it('a refused connect closes with the same error and close code as on WebSocket', async () => {
    const { url } = await startServer();
    const raw = await rawSession(url);
    expect((await raw.post({ type: 'connect', id: 1, version: 1, token: 'forged' })).status).toBe(
      204,
    );
    await waitFor(() => raw.ended);
    expect(raw.frames()).toEqual([
      expect.objectContaining({ type: 'error', id: 1, code: ErrorCode.UNAUTHORIZED }),
    ]);
    const close = JSON.parse(raw.events.at(-1)!.data);
    expect(raw.events.at(-1)!.event).toBe('close');
    expect(close.code).toBe(CloseCode.UNAUTHORIZED);
  });

  it('takes one frame or a batch per POST; the replies arrive on the stream', async () => {
    const { url } = await startServer();
    const raw = await rawSession(url);
    await raw.post({ type: 'connect', id: 1, version: 1, token: await token('raw') });
    await waitFor(() => raw.frames().some((f) => f['id'] === 1));
    const batch = [
      { type: 'ping', id: 2 },
      { type: 'subscribe', id: 3, channel: 'chat:x' },
      { type: 'publish', id: 4, channel: 'chat:x', event: 'e', data: 1, key: 'k1' },
    ];
    expect((await raw.post(batch)).status).toBe(204);
    await waitFor(() => raw.frames().filter((f) => f['type'] === 'reply').length === 4);
    await waitFor(() => raw.frames().some((f) => f['type'] === 'message'));
    expect(raw.frames().find((f) => f['type'] === 'message')).toMatchObject({
      channel: 'chat:x',
      event: 'e',
      data: 1,
      offset: 1,
    });
  });

  it('refuses bad POSTs with a typed error: no session, unknown shape, too large, empty', async () => {
    const { url } = await startServer({
      limits: { maxMessageBytes: 1024, hardMaxMessageBytes: 2048 },
    });
    const raw = await rawSession(url);
    const endpoint = httpOf(url);
    const noSession = await fetch(endpoint, { method: 'POST', body: '{}' });
    expect(noSession.status).toBe(400);
    expect(await noSession.json()).toMatchObject({ error: { code: ErrorCode.BAD_FRAME } });
    const badSession = await fetch(`${endpoint}?session=../../etc`, { method: 'POST', body: '{}' });
    expect(badSession.status).toBe(400);
    const tooLarge = await raw.post('x'.repeat(4096));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: { code: ErrorCode.TOO_LARGE } });
    expect((await raw.post('')).status).toBe(400);
    const put = await fetch(endpoint, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    // Over the soft limit, under the hard one: the connection answers TOO_LARGE by id, as on WebSocket.
    await raw.post({ type: 'connect', id: 1, version: 1, token: await token('raw') });
    await waitFor(() => raw.frames().some((f) => f['id'] === 1));
    await raw.post({ type: 'ping', id: 2, pad: 'y'.repeat(1500) });
    await waitFor(() => raw.frames().some((f) => f['id'] === 2));
    expect(raw.frames().find((f) => f['id'] === 2)).toMatchObject({
      type: 'error',
      code: ErrorCode.TOO_LARGE,
    });
  });

  it('sends heartbeat comments and protocol pings; a session that never answers is dropped', async () => {
    const { url, server } = await startServer({ heartbeat: { intervalMs: 100 } });
    const raw = await rawSession(url);
    await raw.post({ type: 'connect', id: 1, version: 1, token: await token('raw') });
    await waitFor(() => raw.frames().some((f) => f['type'] === 'ping'));
    // It never POSTs a pong: dropped within two intervals, as a silent WebSocket peer is.
    const closed = new Promise((resolve) => server.on('disconnect', (_c, code) => resolve(code)));
    expect(await closed).toBe(CloseCode.HEARTBEAT_TIMEOUT);
    await waitFor(() => raw.ended);

    // The client answers pings by POST and stays connected through many intervals.
    const alice = await connected(url, 'alice', sse);
    const states: string[] = [];
    alice.on('state', (s) => states.push(s.state));
    await sleep(600);
    expect(states).toEqual([]);
    expect(alice.state).toBe('connected');
  });

  it('keeps idle streams alive with comments', async () => {
    const { SseSessions } = await import('../../src/server/sse.js');
    const { memoryBroker } = await import('../../src/broker/index.js');
    const { resolveLimits } = await import('../../src/server/limits.js');
    const { createServer } = await import('node:http');
    const broker = memoryBroker();
    const sessions = new SseSessions(
      '/ws',
      {
        broker,
        limits: resolveLimits(),
        logger: { error() {}, warn() {}, info() {}, debug() {} },
        refuse: () => undefined,
        accept: () => {},
      },
      50,
    );
    const http = createServer((req, res) => void sessions.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    onCleanup(() => {
      sessions.close();
      http.closeAllConnections();
      return new Promise((resolve) => http.close(resolve));
    });
    const raw = await rawSession(`ws://127.0.0.1:${(http.address() as { port: number }).port}/ws`);
    await waitFor(() => raw.comments.length >= 3);
  });

  it('closes a stream that is not read as a slow consumer (4007), bounded by maxQueueBytes', async () => {
    const { url, server } = await startServer({
      limits: { maxQueueBytes: 64 * 1024, closeTimeoutMs: 200 },
    });
    const reader = await connected(url, 'reader', sse);
    const got: unknown[] = [];
    const sub = reader.subscribe('chat:big');
    sub.on('e', (data) => got.push(data));
    await sub.ready();
    // A stream read up to its session event, then never again (node:http, whose response
    // can be paused: fetch keeps reading into memory).
    const stalled = await new Promise<IncomingMessage>((resolve, reject) =>
      get(httpOf(url), resolve).on('error', reject),
    );
    onCleanup(() => stalled.destroy());
    let text = '';
    await new Promise<void>((resolve) => {
      stalled.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('\n\n')) {
          stalled.pause();
          resolve();
        }
      });
    });
    const session = /data: (.*)/.exec(text)![1]!;
    const post = (frame: object) =>
      fetch(`${httpOf(url)}?session=${session}`, { method: 'POST', body: JSON.stringify(frame) });
    await post({ type: 'connect', id: 1, version: 1, token: await token('stalled') });
    await post({ type: 'subscribe', id: 2, channel: 'chat:big' });
    const connection = await waitFor(() =>
      [...server.connections.values()].find(
        (c) => c.userId === 'stalled' && c.subscriptions.has('chat:big'),
      ),
    );
    const codes: number[] = [];
    server.on('disconnect', (_c, code) => codes.push(code));
    const big = 'z'.repeat(16 * 1024);
    let sent = 0;
    // Past what the kernel's socket buffers absorb, the session's own queue fills.
    while (connection.state === 'open' && sent < 5_000) {
      await server.publish('chat:big', 'e', big);
      if (++sent % 20 === 0) await sleep(1);
    }
    await waitFor(() => codes.length > 0);
    expect(codes).toEqual([CloseCode.SLOW_CONSUMER]);
    // The reader that keeps up gets everything.
    await waitFor(() => got.length === sent, 10_000);
    expect(reader.state).toBe('connected');
  });

  it('shows SSE connections to taps (open, frames, close) as WebSocket ones', async () => {
    const seen: string[] = [];
    const tap: Tap = {
      open: () => seen.push('open'),
      authenticated: () => seen.push('authenticated'),
      inbound: (_c, _d, frames) => seen.push(`in:${(frames as { type: string }[])[0]!.type}`),
      outbound: (_c, _d, frame) => seen.push(`out:${frame.type}`),
      close: (_c, code) => seen.push(`close:${code}`),
    };
    const { url, server } = await startServer({ taps: [tap] });
    const alice = await connected(url, 'alice', sse);
    await alice.ping();
    server.disconnectUser('alice');
    await waitFor(() => seen.some((s) => s.startsWith('close')));
    expect(seen).toEqual([
      'open',
      'in:connect',
      'out:reply',
      'authenticated',
      'in:ping',
      'out:reply',
      `close:${CloseCode.DISCONNECTED_BY_SERVER}`,
    ]);
  });

  it('a graceful shutdown ends every stream with 1001; the client reconnects elsewhere', async () => {
    const { url, server } = await startServer();
    const alice = await connected(url, 'alice', sse);
    const reasons: string[] = [];
    alice.on('state', (s) => reasons.push(`${s.state} ${s.reason ?? ''}`.trim()));
    await server.close();
    await waitFor(() => reasons.length > 0);
    expect(reasons[0]).toBe('reconnecting 1001 server shutting down');
  });

  it('answers browsers on allowed origins only, with CORS headers', async () => {
    const { url } = await startServer({ limits: { allowedOrigins: ['https://app.example'] } });
    const allowed = await rawSession(url, { origin: 'https://app.example' });
    expect(allowed.session).toHaveLength(24);
    const refused = await fetch(httpOf(url), { headers: { origin: 'https://evil.example' } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: ErrorCode.FORBIDDEN } });
    const post = await fetch(`${httpOf(url)}?session=${allowed.session}`, {
      method: 'POST',
      headers: { origin: 'https://app.example' },
      body: JSON.stringify({ type: 'connect', id: 1, version: 1, token: await token('o') }),
    });
    expect(post.status).toBe(204);
    expect(post.headers.get('access-control-allow-origin')).toBe('https://app.example');
    await waitFor(() => allowed.frames().some((f) => f['id'] === 1));
  });

  it('falls back to SSE when a proxy refuses the WebSocket upgrade, and remembers it', async () => {
    const { port, server } = await startServer({ channels: { 'chat:*': { history } } });
    const proxy = await httpBalancer(() => [port], { upgrades: false });
    const alice = client(proxy.url, { token: await token('alice') });
    await alice.connect();
    expect(alice.transport).toBe('sse');
    expect(proxy.refused).toBe(1);
    // A reconnect goes straight to SSE.
    for (const c of server.connections.values()) c.close(CloseCode.GOING_AWAY, 'restart');
    await waitFor(() => alice.state === 'reconnecting');
    await waitFor(() => alice.state === 'connected');
    expect(alice.transport).toBe('sse');
    expect(proxy.refused).toBe(1);
    // Where WebSockets work, they are used.
    const { url } = await startServer();
    const bob = client(url, { token: await token('bob') });
    await bob.connect();
    expect(bob.transport).toBe('websocket');
  });

  it('a server that is down makes the client try each transport, then back off and start again from WebSocket', async () => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/ws`;
    const tried: string[] = [];
    class Counted extends WebSocket {
      constructor(address: string) {
        super(address);
        tried.push('websocket');
      }
    }
    const fetched = vi.spyOn(globalThis, 'fetch');
    onCleanup(() => fetched.mockRestore());
    const carol = client(url, { token: await token('carol'), WebSocket: Counted });
    const connecting = carol.connect();
    await waitFor(() => tried.length >= 3);
    // Between two WebSocket attempts, one over SSE: each round tries both before backing off.
    const streams = fetched.mock.calls.filter(
      ([input, init]) => !init?.method && String(input).includes(`:${port}/`),
    );
    expect(streams.length).toBeGreaterThanOrEqual(2);
    expect(carol.state).toBe('reconnecting');
    await startServer({ port });
    await connecting;
    expect(carol.state).toBe('connected');
  });
});
