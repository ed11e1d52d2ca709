import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterEach, expect } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type Client, type ClientOptions, createClient } from '../src/client/index.js';
import { createServer, type Server, type ServerOptions } from '../src/server/index.js';

export const SECRET = 'test-secret-that-is-long-enough-for-hs256';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs after the current test, in reverse order of registration. */
export function onCleanup(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}

export async function startServer(
  options: ServerOptions = {},
): Promise<{ server: Server; url: string; port: number }> {
  const server = createServer({
    auth: { jwt: { secret: SECRET } },
    channels: { 'chat:*': {} },
    ...options,
  });
  const { url, port } = await server.listen();
  onCleanup(() => server.close());
  return { server, url, port };
}

export function token(
  sub: string,
  claims: Record<string, unknown> = {},
  expiresIn: string | number = '1h',
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(SECRET));
}

/** The transports every test client uses unless a test says otherwise (see forceTransport). */
let defaultTransports: ClientOptions['transports'];

/**
 * Runs this file's clients over one transport only: how the delivery suite runs again over SSE
 * (e.g. delivery-sse.test.ts sets 'sse', then imports delivery.test.ts).
 */
export function forceTransport(transport: 'websocket' | 'sse'): void {
  defaultTransports = [transport];
}

export function client(url: string, options: Partial<ClientOptions> = {}): Client {
  const c = createClient({
    url,
    WebSocket,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    ...(defaultTransports && { transports: defaultTransports }),
    ...options,
  });
  onCleanup(() => c.close());
  return c;
}

export async function connected(
  url: string,
  user = 'alice',
  options: Partial<ClientOptions> = {},
): Promise<Client> {
  const c = client(url, { token: await token(user), ...options });
  await c.connect();
  return c;
}

/** Polls until `check` returns truthy; bounded so a broken feature fails instead of hanging. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A bare socket speaking the protocol by hand, for what a well-behaved client would never send. */
export class RawSocket {
  readonly ws: WebSocket;
  readonly received: unknown[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString());
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) this.received.push(frame);
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    this.ws.on('error', () => {});
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
    const socket = new RawSocket(url, headers);
    onCleanup(() => socket.ws.terminate());
    await new Promise<void>((resolve, reject) => {
      socket.ws.once('open', () => resolve());
      socket.ws.once('error', reject);
      socket.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    return socket;
  }

  /** Opens and authenticates as `user`. */
  static async connect(url: string, user = 'raw'): Promise<RawSocket> {
    const socket = await RawSocket.open(url);
    socket.send({ type: 'connect', id: 0, version: 1, token: await token(user) });
    await socket.reply(0);
    return socket;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** The next received frame matching `match` (frames already received count). */
  async next<T = Record<string, unknown>>(
    match: (frame: Record<string, unknown>) => boolean,
    timeoutMs = 3_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((f) => match(f as Record<string, unknown>));
      if (index >= 0) return this.received.splice(index, 1)[0] as T;
      if (this.closed)
        throw new Error(
          `Socket closed (${this.closed.code} ${this.closed.reason}) before a matching frame`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`No matching frame; received: ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The reply or error answering request `id`. */
  reply(id: number): Promise<Record<string, unknown>> {
    return this.next((f) => f['id'] === id && (f['type'] === 'reply' || f['type'] === 'error'));
  }

  async closedWith(timeoutMs = 3_000): Promise<{ code: number; reason: string }> {
    await waitFor(() => this.closed, timeoutMs, 'socket close');
    return this.closed!;
  }
}

/**
 * Cuts a connection the rude way: the TCP socket is destroyed, no closing handshake, as when a
 * phone loses its network. The client sees 1006 and must recover on its own.
 */
export function dropConnection(server: Server, connectionId: string | undefined): boolean {
  const connection = connectionId === undefined ? undefined : server.connections.get(connectionId);
  if (!connection) return false;
  connection.request.socket.destroy();
  return true;
}

/** A small seeded PRNG (mulberry32), so a failing random run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A client whose reconnects can be held back: its token provider waits while the gate is held.
 * Lets a test publish "while the client is away" without racing a sub-millisecond reconnect.
 */
export async function gatedClient(url: string, user: string, options: Partial<ClientOptions> = {}) {
  let gate: Promise<void> | undefined;
  let open = () => {};
  const c = client(url, {
    token: async () => {
      await gate;
      return token(user);
    },
    ...options,
  });
  await c.connect();
  return {
    client: c,
    /** Further connection attempts wait until `release()`. */
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open();
    },
  };
}

/**
 * A bare `ws` server that answers `connect` with `connectReply` and lets the test script the
 * rest: for what a real gateway will not do on demand (go silent, send garbage).
 */
export async function fakeServer(
  connectReply: Record<string, unknown>,
  onConnected: (ws: WebSocket) => void = () => {},
): Promise<string> {
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type !== 'connect') return;
      onConnected(ws);
      ws.send(JSON.stringify({ type: 'reply', id: frame.id, data: connectReply }));
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

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Whether a Redis answers at REDIS_URL. In CI it must: a missing Redis there fails the run
 * instead of silently skipping the tests that need it.
 */
export async function redisAvailable(): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch (error) {
    if (process.env.CI) throw new Error(`CI needs Redis at ${REDIS_URL}: ${String(error)}`);
    console.log(
      `Skipping Redis tests: no Redis answers at ${REDIS_URL} (set REDIS_URL or start redis-server)`,
    );
    return false;
  } finally {
    probe.disconnect();
  }
}

/** A key prefix of its own per test, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(): string {
  return `sbtest:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:`;
}

/** Scrapes a Prometheus endpoint and parses the text format into `name{labels}` → value. */
export async function scrapeMetrics(port: number, path = '/metrics'): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  const series = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}
