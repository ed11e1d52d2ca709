import { request as httpRequest } from 'node:http';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { memoryBroker } from '../../src/broker/index.js';
import { CloseCode, ErrorCode } from '../../src/protocol/index.js';
import type { openApiDocument } from '../../src/server/index.js';
import { connected, onCleanup, startServer, waitFor } from '../helpers.js';

const KEY = 'test-api-key';

async function api(port: number, path: string, body?: unknown, key: string | null = KEY) {
  const response = await fetch(`http://127.0.0.1:${port}/api${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key !== null && { authorization: `Bearer ${key}` }),
    },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function apiServer() {
  return startServer({
    api: { key: KEY, maxBodyBytes: 4096 },
    channels: { 'chat:*': { history: { size: 10, ttlMs: 60_000 }, presence: true } },
  });
}

describe('HTTP server API', () => {
  it('refuses requests without the key, or with a wrong one', async () => {
    const { port } = await apiServer();
    const publish = { channel: 'chat:a', event: 'm', data: 1 };
    for (const key of [null, 'wrong', `${KEY}x`]) {
      const { status, body } = await api(port, '/publish', publish, key);
      expect(status).toBe(401);
      expect(body.error.code).toBe(ErrorCode.UNAUTHORIZED);
    }
    const viaHeader = await fetch(`http://127.0.0.1:${port}/api/channels`, {
      headers: { 'x-api-key': KEY },
    });
    expect(viaHeader.status).toBe(200);
  });

  it('takes the Bearer scheme in any case, and any of several keys', async () => {
    const { port } = await startServer({ api: { key: ['old-key', 'new-key'] } });
    const channels = (authorization: string) =>
      fetch(`http://127.0.0.1:${port}/api/channels`, { headers: { authorization } });
    for (const header of ['Bearer old-key', 'bearer new-key', 'BEARER old-key'])
      expect([header, (await channels(header)).status]).toEqual([header, 200]);
    for (const header of ['Basic new-key', 'Bearer', 'Bearer other-key', 'new-key'])
      expect([header, (await channels(header)).status]).toEqual([header, 401]);
  });

  it('publishes one and many; subscribers receive them in order, with history', async () => {
    const { url, port } = await apiServer();
    const bob = await connected(url, 'bob');
    const received: unknown[] = [];
    const sub = bob.subscribe('chat:a');
    sub.on('m', (data) => received.push(data));
    await sub.ready();

    const one = await api(port, '/publish', { channel: 'chat:a', event: 'm', data: { n: 1 } });
    expect(one).toEqual({
      status: 200,
      body: { offset: 1, epoch: expect.any(String), duplicate: false },
    });
    const retry = await api(port, '/publish', {
      channel: 'chat:a',
      event: 'm',
      data: { n: 2 },
      idempotencyKey: 'k2',
    });
    const again = await api(port, '/publish', {
      channel: 'chat:a',
      event: 'm',
      data: { n: 2 },
      idempotencyKey: 'k2',
    });
    expect(again.body).toEqual({ ...retry.body, duplicate: true });

    const many = await api(port, '/batch', {
      publications: [
        { channel: 'chat:a', event: 'm', data: { n: 3 } },
        { channel: 'nowhere', event: 'm' },
        { channel: 'chat:a', event: '$join' },
        { channel: 'chat:a', event: 'm', data: { n: 4 } },
      ],
    });
    expect(many.status).toBe(200);
    expect(many.body.results.map((r: any) => r.offset ?? r.error.code)).toEqual([
      3,
      ErrorCode.NOT_FOUND,
      ErrorCode.BAD_FRAME,
      4,
    ]);
    await waitFor(() => received.length === 4, 5_000, 'four messages');
    expect(received).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);

    const history = await api(port, '/history', { channel: 'chat:a', limit: 2 });
    expect(history.body.publications.map((p: any) => p.data)).toEqual([{ n: 3 }, { n: 4 }]);
    const since = await api(port, '/history', {
      channel: 'chat:a',
      since: { offset: 2, epoch: one.body.epoch },
    });
    expect(since.body).toMatchObject({ recovered: true, offset: 4 });
    expect(since.body.publications).toHaveLength(2);
  });

  it('sends to a user, lists channels and presence, and disconnects a user', async () => {
    const { url, port } = await apiServer();
    const alice = await connected(url, 'alice');
    const direct: unknown[] = [];
    alice.on('message', (event, data) => direct.push([event, data]));
    await alice.subscribe('chat:room').ready();
    await (await connected(url, 'bob')).subscribe('chat:room').ready();

    expect(
      (await api(port, '/user/send', { user: 'alice', event: 'note', data: 'hi' })).body,
    ).toEqual({
      ok: true,
    });
    await waitFor(() => direct.length === 1, 5_000, 'direct message');
    expect(direct).toEqual([['note', 'hi']]);

    const channels = await api(port, '/channels');
    expect(channels.body).toEqual({
      nodes: 1,
      connections: 2,
      channels: [{ channel: 'chat:room', subscribers: 2 }],
    });
    const presence = await api(port, '/presence', { channel: 'chat:room' });
    expect(presence.body.members.map((m: any) => m.user).sort()).toEqual(['alice', 'bob']);

    const closed = new Promise<string>((resolve) =>
      alice.on('state', (change) => change.state === 'closed' && resolve(change.reason ?? '')),
    );
    await api(port, '/user/disconnect', { user: 'alice', reason: 'banned' });
    expect(await closed).toBe(`${CloseCode.DISCONNECTED_BY_SERVER} banned`);
  });

  it('lists channels across every node sharing the broker', async () => {
    const broker = memoryBroker();
    onCleanup(() => broker.close());
    const options = { broker, nodeReportMs: 50, channels: { 'chat:*': {} } };
    const a = await startServer({ ...options, api: { key: KEY } });
    const b = await startServer(options);
    await (await connected(a.url, 'alice')).subscribe('chat:x').ready();
    await (await connected(b.url, 'bob')).subscribe('chat:x').ready();
    await (await connected(b.url, 'carol')).subscribe('chat:y').ready();
    const listed = await waitFor(
      async () => {
        const { body } = await api(a.port, '/channels');
        return body.nodes === 2 && body.connections === 3 ? body : undefined;
      },
      5_000,
      'both nodes reported',
    );
    expect(listed.channels).toEqual([
      { channel: 'chat:x', subscribers: 2 },
      { channel: 'chat:y', subscribers: 1 },
    ]);
    // A node that leaves stops counting.
    await b.server.close();
    await waitFor(async () => (await api(a.port, '/channels')).body.nodes === 1, 5_000, 'b gone');
  });

  it('answers bad requests with a typed error and keeps serving', async () => {
    const { port } = await apiServer();
    const cases: [string, unknown, number, string][] = [
      ['/publish', '{not json', 400, ErrorCode.BAD_FRAME],
      ['/publish', '[1,2]', 400, ErrorCode.BAD_FRAME],
      ['/publish', { channel: 'chat:a' }, 400, ErrorCode.BAD_FRAME],
      ['/publish', { channel: 5, event: 'm' }, 400, ErrorCode.BAD_FRAME],
      ['/publish', { channel: '$health', event: 'm' }, 404, ErrorCode.NOT_FOUND],
      [
        '/publish',
        { channel: 'chat:a', event: 'm', data: 'x'.repeat(5000) },
        413,
        ErrorCode.TOO_LARGE,
      ],
      ['/history', { channel: 'chat:a', limit: -1 }, 400, ErrorCode.BAD_FRAME],
      ['/user/disconnect', { user: 'a', code: 1000 }, 400, ErrorCode.BAD_FRAME],
      ['/nope', {}, 404, ErrorCode.NOT_FOUND],
    ];
    for (const [path, body, status, code] of cases) {
      const result = await api(port, path, body);
      expect([path, result.status, result.body.error?.code]).toEqual([path, status, code]);
    }
    expect((await api(port, '/publish')).status).toBe(405);
    expect((await api(port, '/publish', { channel: 'chat:a', event: 'm' })).status).toBe(200);
  });

  it('answers 413 to a streamed body over the limit without reading the rest', async () => {
    const { port } = await apiServer();
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/api/publish',
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'transfer-encoding': 'chunked' },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      // Chunks without a content-length: the limit is found while reading.
      request.write(`{"channel":"chat:a","event":"m","data":"${'x'.repeat(3000)}`);
      request.write(`${'x'.repeat(3000)}"}`);
    });
    expect(status).toBe(413);
    expect((await api(port, '/publish', { channel: 'chat:a', event: 'm' })).status).toBe(200);
  });

  it('serves a valid OpenAPI document describing every route it answers', async () => {
    const { port } = await apiServer();
    const response = await fetch(`http://127.0.0.1:${port}/api/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as ReturnType<typeof openApiDocument> & {
      paths: Record<string, Record<string, { requestBody?: unknown; responses: any }>>;
    };
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(Object.keys(document.paths).length).toBeGreaterThanOrEqual(7);

    // Every documented operation is served (a wrong body gets 400, never 404 or 405) and
    // answers with the documented shape where a minimal valid request exists.
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const r = await fetch(`http://127.0.0.1:${port}${path}`, {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${KEY}` },
          ...(operation.requestBody !== undefined && { body: '{}' }),
        });
        expect([path, r.status === 404 || r.status === 405]).toEqual([path, false]);
        const schema = operation.responses[String(r.status)];
        expect([path, schema !== undefined]).toEqual([path, true]);
      }
    }
  });
});
