import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SwitchboardError } from '../../src/protocol/index.js';
import { proxyAuthorize, proxyConnect, proxyRpc } from '../../src/server/index.js';
import { client, onCleanup, startServer } from '../helpers.js';

/** The backend webhooks (src/server/proxy.ts): connect, authorize and RPC decided over HTTP. */

type Handler = (body: any, response: ServerResponse) => void;

async function backend(routes: Record<string, Handler>) {
  const calls: { path: string; body: any }[] = [];
  const server = createHttpServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    calls.push({ path: request.url!, body });
    const route = routes[request.url!];
    if (!route) return response.writeHead(404).end();
    route(body, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onCleanup(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, calls };
}

const json = (response: ServerResponse, status: number, body: unknown) =>
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

describe('proxy to a backend', () => {
  it('lets a backend authenticate connections, authorize channels and answer RPCs', async () => {
    const { base, calls } = await backend({
      '/connect': (body, r) =>
        body.token === 'good'
          ? json(r, 200, { user: 'u1', claims: { plan: 'pro' } })
          : json(r, 403, { error: { code: 'UNAUTHORIZED', message: 'who are you?' } }),
      '/authorize': (body, r) => json(r, 200, { allow: body.channel === 'orders:u1' }),
      '/rpc': (body, r) => {
        if (body.method === 'sum') return json(r, 200, { result: body.data.a + body.data.b });
        if (body.method === 'slow') return setTimeout(() => json(r, 200, { result: 1 }), 1_000);
        if (body.method === 'broken') return r.writeHead(500).end();
        json(r, 200, { error: { code: 'FORBIDDEN', message: 'not for you' } });
      },
    });
    const endpoint = (path: string) => ({ url: base + path, timeoutMs: 200 });
    const { server, url } = await startServer({
      auth: { authenticate: proxyConnect(endpoint('/connect')) },
      channels: { 'orders:*': { authorize: proxyAuthorize(endpoint('/authorize')) } },
    });
    server.rpc('*', proxyRpc(endpoint('/rpc')));
    server.rpc('local', () => 'mine');

    const bad = client(url, { token: 'bad', reconnect: false });
    await expect(bad.connect()).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });

    const c = client(url, { token: 'good' });
    await c.connect();
    expect(calls.filter((call) => call.path === '/connect').at(-1)?.body).toMatchObject({
      token: 'good',
      remoteAddress: '127.0.0.1',
    });
    await c.subscribe('orders:u1').ready();
    await expect(c.subscribe('orders:u2').ready()).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    expect(calls.find((call) => call.path === '/authorize')?.body).toMatchObject({
      action: 'subscribe',
      channel: 'orders:u1',
      user: 'u1',
      claims: { plan: 'pro' },
    });

    expect(await c.request('sum', { a: 2, b: 3 })).toBe(5);
    expect(await c.request('local')).toBe('mine');
    await expect(c.request('other')).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    await expect(c.request('broken')).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    const started = Date.now();
    await expect(c.request('slow')).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
      message: expect.stringContaining('200 ms'),
    });
    expect(Date.now() - started).toBeLessThan(900);
    expect(calls.find((call) => call.body.method === 'sum')?.body).toMatchObject({
      user: 'u1',
      data: { a: 2, b: 3 },
      connection: expect.any(String),
    });
  });

  it('reports an unreachable backend as UNAVAILABLE, not a crash', async () => {
    const check = proxyAuthorize({ url: 'http://127.0.0.1:9/authorize', timeoutMs: 500 });
    const error = await check({ userId: 'a', claims: {} }, 'c', 'subscribe').catch((e) => e);
    expect(error).toBeInstanceOf(SwitchboardError);
    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
  });
});
