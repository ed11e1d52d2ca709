import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Broker, memoryBroker } from '../../src/broker/index.js';
import {
  ErrorCode,
  MAX_DATA_DEPTH,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
  SwitchboardError,
} from '../../src/protocol/index.js';
import { HTTP_STATUS } from '../../src/server/api.js';
import type { ServerOptions } from '../../src/server/index.js';
import { onCleanup, RawSocket, startServer } from '../helpers.js';

/**
 * One validation path: a publication gets the same verdict whether a client publishes it over
 * the WebSocket or a backend POSTs it to the HTTP API, and the HTTP status follows the code.
 */

const KEY = 'test-api-key';
const MAX_MESSAGE_BYTES = 2048;

async function api(port: number, path: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/api${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

type Result = { offset?: number; error?: { code: string } };
/** Each batch result's offset, or its error code. */
const outcomes = (results: Result[]) => results.map((r) => r.offset ?? r.error?.code);
const datas = (publications: { data: unknown }[]) => publications.map((p) => p.data);

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 ? { v: value } : [value];
  return value;
}

function start(options: ServerOptions = {}) {
  return startServer({
    api: { key: KEY },
    limits: { maxMessageBytes: MAX_MESSAGE_BYTES },
    channels: {
      'chat:*': { history: { size: 100, ttlMs: 60_000 } },
      'typed:*': {
        events: { message: z.object({ text: z.string().min(1) }), note: null },
      },
    },
    ...options,
  });
}

interface Publication {
  channel?: unknown;
  event?: unknown;
  data?: unknown;
  key?: unknown;
}

/** Publishes the same thing both ways; answers each path's error code, or 'ok'. */
async function both(socket: RawSocket, port: number, publication: Publication, id: number) {
  socket.send({ type: 'publish', id, ...publication });
  const reply = await socket.reply(id);
  const { key, ...rest } = publication;
  const http = await api(port, '/publish', {
    ...rest,
    ...(key !== undefined && { idempotencyKey: key }),
  });
  return {
    ws: reply['type'] === 'error' ? reply['code'] : 'ok',
    http: http.status === 200 ? 'ok' : http.body.error.code,
    status: http.status,
  };
}

const long = (n: number) => 'x'.repeat(n);

/** Bad input, with the code both paths must give; 'ok' where both must accept it. */
const cases: [string, Publication, string][] = [
  ['empty channel', { channel: '', event: 'm' }, ErrorCode.BAD_FRAME],
  [
    'channel over MAX_NAME_LENGTH',
    { channel: `chat:${long(MAX_NAME_LENGTH)}`, event: 'm' },
    ErrorCode.BAD_FRAME,
  ],
  ['channel not a string', { channel: 5, event: 'm' }, ErrorCode.BAD_FRAME],
  ['no channel', { event: 'm' }, ErrorCode.BAD_FRAME],
  ['no event', { channel: 'chat:a' }, ErrorCode.BAD_FRAME],
  ['empty event', { channel: 'chat:a', event: '' }, ErrorCode.BAD_FRAME],
  ['event over MAX_NAME_LENGTH', { channel: 'chat:a', event: long(257) }, ErrorCode.BAD_FRAME],
  ['event not a string', { channel: 'chat:a', event: ['m'] }, ErrorCode.BAD_FRAME],
  ['reserved event', { channel: 'chat:a', event: '$join' }, ErrorCode.BAD_FRAME],
  ['reserved event (no $)', { channel: 'chat:a', event: 'subscribed' }, ErrorCode.BAD_FRAME],
  [
    `data nested ${MAX_DATA_DEPTH + 1} deep`,
    { channel: 'chat:a', event: 'm', data: nested(MAX_DATA_DEPTH + 1) },
    ErrorCode.BAD_FRAME,
  ],
  [
    `data nested ${MAX_DATA_DEPTH} deep`,
    { channel: 'chat:a', event: 'm', data: nested(MAX_DATA_DEPTH) },
    'ok',
  ],
  ['empty key', { channel: 'chat:a', event: 'm', key: '' }, ErrorCode.BAD_FRAME],
  [
    'key over MAX_KEY_LENGTH',
    { channel: 'chat:a', event: 'm', key: long(MAX_KEY_LENGTH + 1) },
    ErrorCode.BAD_FRAME,
  ],
  ['key not a string', { channel: 'chat:a', event: 'm', key: 7 }, ErrorCode.BAD_FRAME],
  ['key of MAX_KEY_LENGTH', { channel: 'chat:a', event: 'm', key: long(MAX_KEY_LENGTH) }, 'ok'],
  ['unknown channel', { channel: 'nowhere', event: 'm' }, ErrorCode.NOT_FOUND],
  ['server-only channel', { channel: '$user:bob', event: 'm' }, ErrorCode.NOT_FOUND],
  [
    'data over maxMessageBytes',
    { channel: 'chat:a', event: 'm', data: long(MAX_MESSAGE_BYTES + 100) },
    ErrorCode.TOO_LARGE,
  ],
  [
    'data well under maxMessageBytes',
    { channel: 'chat:a', event: 'm', data: long(MAX_MESSAGE_BYTES - 200) },
    'ok',
  ],
];

describe('HTTP API and WebSocket validate publications alike', () => {
  it.each(cases)('%s: both paths answer %s', async (_name, publication, code) => {
    const { url, port } = await start();
    const socket = await RawSocket.connect(url);
    const result = await both(socket, port, publication, 1);
    expect(result).toEqual({
      ws: code,
      http: code,
      status: code === 'ok' ? 200 : HTTP_STATUS[code as ErrorCode],
    });
    // Neither path is hurt by the refusal.
    expect(await both(socket, port, { channel: 'chat:a', event: 'm', data: 1 }, 2)).toEqual({
      ws: 'ok',
      http: 'ok',
      status: 200,
    });
  });

  it('maps codes to statuses: 400 bad input, 413 too large, 404 unknown channel', () => {
    expect(HTTP_STATUS.BAD_FRAME).toBe(400);
    expect(HTTP_STATUS.UNKNOWN_EVENT).toBe(400);
    expect(HTTP_STATUS.VALIDATION_FAILED).toBe(400);
    expect(HTTP_STATUS.TOO_LARGE).toBe(413);
    expect(HTTP_STATUS.NOT_FOUND).toBe(404);
    expect(HTTP_STATUS.UNAVAILABLE).toBe(503);
    expect(HTTP_STATUS.UNCERTAIN).toBe(504);
  });

  it("checks the channel's event list and schema on both paths", async () => {
    const { url, port } = await start();
    const socket = await RawSocket.connect(url);
    const typed: [Publication, string][] = [
      [{ channel: 'typed:a', event: 'shout', data: {} }, ErrorCode.UNKNOWN_EVENT],
      [{ channel: 'typed:a', event: 'message', data: { text: 42 } }, ErrorCode.VALIDATION_FAILED],
      [{ channel: 'typed:a', event: 'message', data: { text: 'hi' } }, 'ok'],
      [{ channel: 'typed:a', event: 'note', data: [1] }, 'ok'],
    ];
    let id = 1;
    for (const [publication, code] of typed) {
      const result = await both(socket, port, publication, id++);
      expect([publication, result]).toEqual([
        publication,
        { ws: code, http: code, status: code === 'ok' ? 200 : 400 },
      ]);
    }
  });

  it('after refusing deep data, a live subscriber gets the next publication at the next offset', async () => {
    const { url, port } = await start();
    const subscriber = await RawSocket.connect(url, 'bob');
    subscriber.send({ type: 'subscribe', id: 1, channel: 'chat:deep' });
    const subscribed = await subscriber.reply(1);
    const base = (subscribed['data'] as { offset: number; epoch: string }).offset;
    const publisher = await RawSocket.connect(url, 'alice');

    const deep = { channel: 'chat:deep', event: 'm', data: nested(MAX_DATA_DEPTH + 1) };
    expect((await api(port, '/publish', deep)).status).toBe(400);
    publisher.send({ type: 'publish', id: 1, ...deep });
    expect(await publisher.reply(1)).toMatchObject({ code: ErrorCode.BAD_FRAME });
    const batch = await api(port, '/batch', { publications: [deep, { ...deep, data: 'after' }] });
    expect(batch.body.results[0].error.code).toBe(ErrorCode.BAD_FRAME);
    expect(batch.body.results[1].offset).toBe(base + 1);

    const next = await api(port, '/publish', { channel: 'chat:deep', event: 'm', data: 'next' });
    expect(next.body.offset).toBe(base + 2);
    publisher.send({ type: 'publish', id: 2, channel: 'chat:deep', event: 'm', data: 'ws' });
    expect(await publisher.reply(2)).toMatchObject({ data: { offset: base + 3 } });

    const offsets: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const message = await subscriber.next((f) => f['type'] === 'message');
      offsets.push([message['offset'], message['data']]);
    }
    expect(offsets).toEqual([
      [base + 1, 'after'],
      [base + 2, 'next'],
      [base + 3, 'ws'],
    ]);

    const history = await api(port, '/history', { channel: 'chat:deep' });
    expect(history.status).toBe(200);
    expect(datas(history.body.publications)).toEqual(['after', 'next', 'ws']);
    subscriber.send({ type: 'history', id: 2, channel: 'chat:deep' });
    expect(await subscriber.reply(2)).toMatchObject({
      type: 'reply',
      data: { offset: base + 3 },
    });
  });
});

describe('HTTP API bodies', () => {
  it('refuses unknown fields in every body, naming the field', async () => {
    const { port } = await start();
    const bodies: [string, Record<string, unknown>][] = [
      ['/publish', { channel: 'chat:a', event: 'm', extra: 1 }],
      ['/batch', { publications: [], extra: 1 }],
      ['/user/send', { user: 'bob', event: 'm', extra: 1 }],
      ['/user/disconnect', { user: 'bob', extra: 1 }],
      ['/history', { channel: 'chat:a', extra: 1 }],
      ['/presence', { channel: 'chat:a', extra: 1 }],
      // The WebSocket frame's name for it is not the API's.
      ['/publish', { channel: 'chat:a', event: 'm', key: 'k' }],
    ];
    for (const [path, body] of bodies) {
      const { status, body: answer } = await api(port, path, body);
      const field = Object.keys(body).at(-1);
      expect([path, status, answer.error.code]).toEqual([path, 400, ErrorCode.BAD_FRAME]);
      expect(answer.error.message).toContain(`"${field}"`);
    }
    // Nothing was published by the refused requests.
    expect((await api(port, '/history', { channel: 'chat:a' })).body.offset).toBe(0);
  });

  it('checks each batch item on its own, keeping the order', async () => {
    const { port } = await start();
    const ok = (data: unknown) => ({ channel: 'chat:a', event: 'm', data });
    const { status, body } = await api(port, '/batch', {
      publications: [
        ok(1),
        { ...ok(2), extra: true },
        ok(long(MAX_MESSAGE_BYTES + 1)),
        ok(3),
        { ...ok(4), idempotencyKey: long(MAX_KEY_LENGTH + 1) },
        'not an object',
        { ...ok(5), event: 'subscribed' },
        ok(nested(MAX_DATA_DEPTH + 1)),
        { ...ok(6), channel: 'nowhere' },
        ok(7),
      ],
    });
    expect(status).toBe(200);
    expect(outcomes(body.results)).toEqual([
      1,
      ErrorCode.BAD_FRAME,
      ErrorCode.TOO_LARGE,
      2,
      ErrorCode.BAD_FRAME,
      ErrorCode.BAD_FRAME,
      ErrorCode.BAD_FRAME,
      ErrorCode.BAD_FRAME,
      ErrorCode.NOT_FOUND,
      3,
    ]);
    const history = await api(port, '/history', { channel: 'chat:a' });
    expect(datas(history.body.publications)).toEqual([1, 3, 7]);
  });

  it('holds user sends to the same rules', async () => {
    const { port } = await start();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ user: 'bob', event: 'm', data: nested(MAX_DATA_DEPTH + 1) }, 400, ErrorCode.BAD_FRAME],
      [{ user: 'bob', event: 'm', data: long(MAX_MESSAGE_BYTES) }, 413, ErrorCode.TOO_LARGE],
      [{ user: 'bob', event: '$x' }, 400, ErrorCode.BAD_FRAME],
      [{ user: long(MAX_NAME_LENGTH + 1), event: 'm' }, 400, ErrorCode.BAD_FRAME],
      [{ user: 'bob' }, 400, ErrorCode.BAD_FRAME],
    ];
    for (const [body, status, code] of cases) {
      const answer = await api(port, '/user/send', body);
      expect([body.event, answer.status, answer.body.error?.code]).toEqual([
        body.event,
        status,
        code,
      ]);
    }
    expect((await api(port, '/user/send', { user: 'bob', event: 'm', data: 1 })).status).toBe(200);
  });
});

describe('HTTP API when the broker fails', () => {
  function failingBroker() {
    const inner = memoryBroker();
    onCleanup(() => inner.close());
    const control: { failure: Error | undefined } = { failure: undefined };
    const broker: Broker = {
      ...inner,
      publish: (channel, input, options) =>
        control.failure ? Promise.reject(control.failure) : inner.publish(channel, input, options),
    };
    return { broker, control };
  }

  it('answers UNAVAILABLE 503 (nothing done) and UNCERTAIN 504 (may have happened)', async () => {
    const { broker, control } = failingBroker();
    const { url, port } = await start({ broker });
    const socket = await RawSocket.connect(url);
    const publication = { channel: 'chat:a', event: 'm', data: 1, key: 'job-1' };

    control.failure = new Error('connection refused');
    expect(await both(socket, port, publication, 1)).toEqual({
      ws: ErrorCode.UNAVAILABLE,
      http: ErrorCode.UNAVAILABLE,
      status: 503,
    });
    control.failure = new SwitchboardError(ErrorCode.UNCERTAIN, 'broker stopped answering');
    expect(await both(socket, port, publication, 2)).toEqual({
      ws: ErrorCode.UNCERTAIN,
      http: ErrorCode.UNCERTAIN,
      status: 504,
    });
    const batch = await api(port, '/batch', {
      publications: [
        { channel: 'chat:a', event: 'm' },
        { channel: 'nowhere', event: 'm' },
      ],
    });
    expect(outcomes(batch.body.results)).toEqual([ErrorCode.UNCERTAIN, ErrorCode.NOT_FOUND]);

    // Bad input is still bad input while the broker is down: 400, not 503.
    const deep = await api(port, '/publish', {
      channel: 'chat:a',
      event: 'm',
      data: nested(MAX_DATA_DEPTH + 1),
    });
    expect([deep.status, deep.body.error.code]).toEqual([400, ErrorCode.BAD_FRAME]);

    control.failure = undefined;
    const retried = await api(port, '/publish', {
      channel: 'chat:a',
      event: 'm',
      data: 1,
      idempotencyKey: 'job-1',
    });
    expect(retried).toMatchObject({ status: 200, body: { offset: 1, duplicate: false } });
  });
});
