import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type Client, createClient } from './client.js';
import type { StateChange } from './types.js';

type Frame = Record<string, unknown>;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A `ws` server speaking the protocol by hand: it answers `connect`, and `onFrame` the rest. */
async function server(onFrame: (frame: Frame, send: (frame: Frame) => void) => void) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const received: Frame[] = [];
  wss.on('connection', (ws) => {
    const send = (frame: Frame) => ws.send(JSON.stringify(frame));
    ws.on('message', (raw) => {
      const value = JSON.parse(raw.toString());
      for (const frame of Array.isArray(value) ? value : [value]) {
        received.push(frame);
        if (frame.type === 'connect') {
          const data = { version: 1, connection: 'c1', user: 'u', heartbeatMs: 0 };
          send({ type: 'reply', id: frame.id, data });
        } else onFrame(frame, send);
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    return new Promise((resolve) => http.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`, received };
}

function client(url: string, requestTimeoutMs = 10_000): Client {
  const c = createClient({
    url,
    WebSocket,
    reconnect: { minDelayMs: 10, maxDelayMs: 20 },
    requestTimeoutMs,
  });
  cleanups.push(() => c.close());
  return c;
}

describe('Client', () => {
  it('one setState: every change is announced once, with the state before it and why', async () => {
    const { url } = await server(() => {});
    const c = client(url);
    const changes: StateChange[] = [];
    c.on('state', (change) => changes.push(change));
    await c.connect();
    c.close();
    expect(changes).toEqual([
      { state: 'connecting', previous: 'idle' },
      { state: 'connected', previous: 'connecting' },
      { state: 'closed', previous: 'connected', reason: 'closed by app' },
    ]);
  });

  it('a subscribe the server never answers is asked again after the request timeout, behind an unsubscribe', async () => {
    let subscribes = 0;
    const { url, received } = await server((frame, send) => {
      // The first subscribe goes unanswered; everything after it is answered.
      if (frame['type'] === 'subscribe' && ++subscribes === 1) return;
      send({ type: 'reply', id: frame['id'], data: { offset: 0, epoch: 'e' } });
    });
    const c = client(url, 100);
    await c.connect();
    const sub = c.subscribe('chat:a');
    await sub.ready();
    expect(received.map((f) => f['type'])).toEqual([
      'connect',
      'subscribe',
      'unsubscribe',
      'subscribe',
    ]);
    expect(sub.state).toBe('subscribed');
  });

  it('request ids are unique across the connect, requests and subscribes', async () => {
    const { url, received } = await server((frame, send) =>
      send({ type: 'reply', id: frame['id'], data: { offset: 0, epoch: 'e' } }),
    );
    const c = client(url);
    const ready = c.subscribe('chat:a').ready();
    await c.connect();
    await Promise.all([ready, c.ping(), c.request('x'), c.publish('chat:a', 'e', 1)]);
    const ids = received.map((f) => f['id']);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);
  });
});
