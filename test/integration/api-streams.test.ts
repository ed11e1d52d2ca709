import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCode, MAX_KEY_LENGTH, MAX_NAME_LENGTH } from '../../src/protocol/index.js';
import { STREAM_PACE } from '../../src/server/api-streams.js';
import type { ServerOptions } from '../../src/server/index.js';
import { connected, onCleanup, sleep, startServer, waitFor } from '../helpers.js';
import { api, chunked } from './api-requests.js';

/**
 * Streams over HTTP: `POST /api/stream` turns a chunked request body into a stream on a channel,
 * chunk by chunk as the body arrives, and ends it with an error marker when the request is
 * dropped, goes quiet or is refused.
 */

const KEY = 'test-api-key';
const MAX_MESSAGE_BYTES = 2048;
const MAX_BODY_BYTES = 16 * 1024;

function start(options: ServerOptions = {}) {
  return startServer({
    api: { key: KEY, maxBodyBytes: MAX_BODY_BYTES },
    limits: { maxMessageBytes: MAX_MESSAGE_BYTES },
    channels: {
      'agent:*': { streams: true },
      'quick:*': { streams: { timeoutMs: 200 } },
      'typed:*': { streams: true, events: { reply: z.string().max(5), note: null } },
      'loud:*': { streams: true, ephemeral: ['typing'] },
      'chat:*': { history: { size: 100, ttlMs: 60_000 } },
    },
    ...options,
  });
}

interface Chunk {
  data: unknown;
  id: string | undefined;
  seq: number | undefined;
  status: string | undefined;
  offset: number | undefined;
}

/** What a subscriber of `channel` receives of `event`, with each chunk's marker. */
async function watch(url: string, channel: string, event = 'reply'): Promise<Chunk[]> {
  const bob = await connected(url, 'bob');
  const sub = bob.subscribe(channel);
  const chunks: Chunk[] = [];
  sub.on(event, (data, meta) =>
    chunks.push({
      data,
      id: meta.stream?.id,
      seq: meta.stream?.seq,
      status: meta.stream?.status,
      offset: meta.offset,
    }),
  );
  await sub.ready();
  return chunks;
}

/** Each chunk as [seq, status or data]. */
const shape = (chunks: Chunk[]) =>
  chunks.map((c) => [
    c.seq,
    c.status === undefined ? c.data : `${c.status} ${JSON.stringify(c.data) ?? ''}`.trim(),
  ]);

describe('POST /api/stream', () => {
  it('publishes each piece of a chunked text body as it arrives, then the end marker; answers where it went', async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'agent:1');
    const request = chunked(port, '/stream?channel=agent:1&event=reply', {
      'content-type': 'text/plain; charset=utf-8',
    });
    // The open marker goes out on arrival, each piece before the body ends.
    await waitFor(() => chunks.length === 1, 5_000, 'open marker');
    request.write('Hel');
    await waitFor(() => chunks.length === 2, 5_000, 'first piece');
    request.write('lo ');
    await waitFor(() => chunks.length === 3, 5_000, 'second piece');
    // A character split between two pieces is kept whole.
    request.write(Buffer.from([0xc3]));
    await sleep(50);
    request.write(Buffer.from([0xa9, 0x21]));
    request.end();
    const { status, body } = await request.answer;
    expect(status).toBe(200);
    await waitFor(() => chunks.length === 5, 5_000, 'end marker');
    expect(shape(chunks)).toEqual([
      [0, 'open'],
      [1, 'Hel'],
      [2, 'lo '],
      [3, 'é!'],
      [4, 'end'],
    ]);
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set([body.id]));
    expect(body).toEqual({
      id: body.id,
      first: { offset: chunks[1]!.offset, epoch: expect.any(String) },
      last: { offset: chunks[4]!.offset, epoch: body.first.epoch },
      count: 4,
      duplicate: false,
    });
  });

  it('takes an NDJSON body as one JSON value per line, lines split across pieces', async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'agent:2', 'token');
    const request = chunked(port, '/stream?channel=agent:2&event=token', {
      'content-type': 'application/x-ndjson',
    });
    request.write('{"t":"a"}\n{"t":');
    await waitFor(() => chunks.length === 2, 5_000, 'first line');
    request.write('"b"}\r\n\n   \n[1,2]');
    request.end();
    const { status, body } = await request.answer;
    expect([status, body.count]).toEqual([200, 4]);
    await waitFor(() => chunks.length === 5, 5_000, 'end marker');
    expect(shape(chunks)).toEqual([
      [0, 'open'],
      [1, { t: 'a' }],
      [2, { t: 'b' }],
      [3, [1, 2]],
      [4, 'end'],
    ]);
  });

  it('ends a stream whose request is dropped with an error marker, and keeps serving', async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'agent:3');
    const request = chunked(port, '/stream?channel=agent:3&event=reply', {
      'idempotency-key': 'r1',
    });
    request.write('partial');
    await waitFor(() => chunks.length === 2, 5_000, 'first piece');
    request.abort();
    await waitFor(() => chunks.length === 3, 5_000, 'error marker');
    expect(shape(chunks)).toEqual([
      [0, 'open'],
      [1, 'partial'],
      [2, 'error {"error":"request aborted"}'],
    ]);
    // A failed stream releases its key: the retry sends it again, as a new stream.
    const retry = chunked(port, '/stream?channel=agent:3&event=reply', { 'idempotency-key': 'r1' });
    retry.end('whole');
    const { status, body } = await retry.answer;
    expect([status, body.duplicate, body.count]).toEqual([200, false, 2]);
    expect(body.id).not.toBe(chunks[0]!.id);
  });

  it('answers a retry with the same idempotency key from the first stream, publishing nothing', async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'agent:4');
    const send = (headers: Record<string, string>, path = '') => {
      const request = chunked(port, `/stream?channel=agent:4&event=reply${path}`, headers);
      request.write('a');
      request.end('b');
      return request.answer;
    };
    const first = await send({ 'idempotency-key': 'reply-7' });
    expect([first.status, first.body.duplicate]).toEqual([200, false]);
    await waitFor(() => chunks.length === 4, 5_000, 'first stream');
    // The header, quoted as a structured field, or the `key` parameter: the same key.
    for (const retry of [
      await send({ 'idempotency-key': 'reply-7' }),
      await send({ 'idempotency-key': '"reply-7"' }),
      await send({}, '&key=reply-7'),
    ])
      expect(retry).toMatchObject({ status: 200, body: { ...first.body, duplicate: true } });
    // Another channel is another key.
    const other = chunked(port, '/stream?channel=agent:5&event=reply', {
      'idempotency-key': 'reply-7',
    });
    other.end('c');
    expect((await other.answer).body.duplicate).toBe(false);
    await sleep(100);
    expect(chunks).toHaveLength(4);

    // While the first runs, a retry is refused: nothing done, retry later.
    const running = chunked(port, '/stream?channel=agent:4&event=reply', {
      'idempotency-key': 'slow',
    });
    running.write('x');
    await waitFor(() => chunks.length === 6, 5_000, 'second stream under way');
    const early = chunked(port, '/stream?channel=agent:4&event=reply', {
      'idempotency-key': 'slow',
    });
    early.end('y');
    const conflict = await early.answer;
    expect(conflict.status).toBe(409);
    expect(conflict.headers['retry-after']).toBe('1');
    expect(conflict.body.error).toMatchObject({
      code: ErrorCode.UNAVAILABLE,
      details: { stream: { id: chunks[5]!.id } },
    });
    running.end();
    expect((await running.answer).status).toBe(200);

    const both = chunked(port, '/stream?channel=agent:4&key=a', { 'idempotency-key': 'b' });
    both.end();
    expect((await both.answer).body.error.code).toBe(ErrorCode.BAD_FRAME);
  });

  it("opens with the caller's id and open marker data, and refuses an id in progress (403)", async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'agent:ids');
    const opening = { for: 'ada', after: { offset: 3 } };
    const path = `/stream?channel=agent:ids&event=reply&id=reply-1&data=${encodeURIComponent(JSON.stringify(opening))}`;
    const first = chunked(port, path, { 'content-type': 'text/plain' });
    await waitFor(() => chunks.length === 1, 5_000, 'open marker');
    expect(chunks[0]).toMatchObject({ id: 'reply-1', status: 'open', data: opening });
    // The id is taken while the stream runs: a second writer cannot interleave its chunks.
    const second = chunked(port, '/stream?channel=agent:ids&event=reply&id=reply-1');
    second.end('intruder');
    const refused = await second.answer;
    expect([refused.status, refused.body.error?.code]).toEqual([403, ErrorCode.FORBIDDEN]);
    first.end('answer');
    expect(await first.answer).toMatchObject({ status: 200, body: { id: 'reply-1', count: 2 } });
    await waitFor(() => chunks.length === 3, 5_000, 'end marker');
    expect(shape(chunks)).toEqual([
      [0, `open ${JSON.stringify(opening)}`],
      [1, 'answer'],
      [2, 'end'],
    ]);
    // Ended, the id may open a new stream.
    const again = chunked(port, '/stream?channel=agent:ids&event=reply&id=reply-1');
    again.end('again');
    expect((await again.answer).status).toBe(200);
  });

  it('refuses a bad request before opening anything, as the rest of the API does', async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'agent:6', '*');
    const cases: [string, Record<string, string>, number, string][] = [
      ['', {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6&extra=1', {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6&channel=agent:7', {}, 400, ErrorCode.BAD_FRAME],
      [`?channel=agent:${'x'.repeat(MAX_NAME_LENGTH)}`, {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6&event=', {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6&event=%24join', {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6&event=subscribed', {}, 400, ErrorCode.BAD_FRAME],
      [`?channel=agent:6&key=${'k'.repeat(MAX_KEY_LENGTH + 1)}`, {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6', { 'idempotency-key': '' }, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6&id=', {}, 400, ErrorCode.BAD_FRAME],
      [`?channel=agent:6&id=${'i'.repeat(MAX_KEY_LENGTH + 1)}`, {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6&data=%7Bnot%20json', {}, 400, ErrorCode.BAD_FRAME],
      [
        `?channel=agent:6&data=%22${'d'.repeat(MAX_MESSAGE_BYTES)}%22`,
        {},
        413,
        ErrorCode.TOO_LARGE,
      ],
      ['?channel=nowhere:6', {}, 404, ErrorCode.NOT_FOUND],
      ['?channel=%24user%3Abob', {}, 404, ErrorCode.NOT_FOUND],
      ['?channel=chat:6', {}, 403, ErrorCode.FORBIDDEN],
      ['?channel=typed:6&event=shout', {}, 400, ErrorCode.UNKNOWN_EVENT],
      ['?channel=loud:6&event=typing', {}, 400, ErrorCode.BAD_FRAME],
      ['?channel=agent:6', { authorization: 'Bearer wrong' }, 401, ErrorCode.UNAUTHORIZED],
    ];
    for (const [query, headers, status, code] of cases) {
      const request = chunked(port, `/stream${query}`, headers);
      request.write('some text');
      request.end('more text');
      const answer = await request.answer;
      expect([query, answer.status, answer.body.error?.code]).toEqual([query, status, code]);
    }
    expect((await api(port, '/stream')).status).toBe(405);
    await sleep(100);
    expect(chunks).toEqual([]);
  });

  it('fails the stream on a chunk over maxMessageBytes, a body over maxBodyBytes, a bad line or payload', async () => {
    const { url, port } = await start();
    const run = async (channel: string, headers: Record<string, string>, pieces: string[]) => {
      const request = chunked(port, `/stream?channel=${channel}&event=reply`, headers);
      for (const piece of pieces) request.write(piece);
      request.end();
      return request.answer;
    };
    const watched = await watch(url, 'agent:8');
    const big = await run('agent:8', {}, ['ok', 'x'.repeat(MAX_MESSAGE_BYTES + 10), 'never']);
    expect([big.status, big.body.error.code]).toEqual([413, ErrorCode.TOO_LARGE]);
    await waitFor(() => watched.at(-1)?.status === 'error', 5_000, 'error marker');
    expect(shape(watched)).toEqual([
      [0, 'open'],
      [1, 'ok'],
      [2, `error ${JSON.stringify({ error: big.body.error.message })}`],
    ]);
    // Where the stream stands: the chunk that went out and the error marker.
    expect(big.body.error.details.stream).toEqual({
      id: watched[0]!.id,
      first: { offset: watched[1]!.offset, epoch: expect.any(String) },
      last: { offset: watched[2]!.offset, epoch: expect.any(String) },
      count: 2,
    });

    const piece = 'y'.repeat(MAX_MESSAGE_BYTES / 2);
    const long = await run(
      'agent:9',
      {},
      Array(Math.ceil(MAX_BODY_BYTES / piece.length) + 2).fill(piece),
    );
    expect([long.status, long.body.error.code]).toEqual([413, ErrorCode.TOO_LARGE]);

    const ndjson = { 'content-type': 'application/x-ndjson' };
    const notJson = await run('agent:10', ndjson, ['"fine"\n', '{oops}\n']);
    expect([notJson.status, notJson.body.error.code]).toEqual([400, ErrorCode.BAD_FRAME]);
    expect(notJson.body.error.details.stream.count).toBe(2);

    const typed = await watch(url, 'typed:1');
    const invalid = await run('typed:1', ndjson, ['"four"\n', '"longer than five"\n']);
    expect([invalid.status, invalid.body.error.code]).toEqual([400, ErrorCode.VALIDATION_FAILED]);
    expect(invalid.body.error.details.issues).toHaveLength(1);
    await waitFor(() => typed.at(-1)?.status === 'error', 5_000, 'error marker');
    expect(typed.map((c) => c.data)).toEqual([
      undefined,
      'four',
      { error: `Invalid "reply" payload` },
    ]);
  });

  it('after a refusal, reads and drops the rest of the body so the client gets the answer on a reusable connection', async () => {
    const { port } = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    onCleanup(() => agent.destroy());
    const refused = chunked(port, '/stream?channel=chat:1', {}, agent);
    for (let i = 0; i < 20; i++) refused.write('still sending ');
    refused.end();
    const answer = await refused.answer;
    expect([answer.status, answer.body.error.code]).toEqual([403, ErrorCode.FORBIDDEN]);
    const next = chunked(port, '/stream?channel=agent:11', {}, agent);
    next.end('hello');
    const again = await next.answer;
    expect([again.status, again.reusedSocket]).toEqual([200, true]);
  });

  it('ends a body that goes quiet with one error marker (408), not two', async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'quick:1');
    const request = chunked(port, '/stream?channel=quick:1&event=reply');
    request.write('a');
    await waitFor(() => chunks.length === 2, 5_000, 'first piece');
    const { status, body, headers } = await request.answer;
    expect([status, body.error.code, headers.connection]).toEqual([
      408,
      ErrorCode.TIMEOUT,
      'close',
    ]);
    // The stream's tracker, whose deadline is the same, adds nothing of its own.
    await sleep(500);
    expect(shape(chunks)).toEqual([
      [0, 'open'],
      [1, 'a'],
      [2, 'error {"error":"stream timed out"}'],
    ]);
  });

  it(`publishes at most ${STREAM_PACE.chunksPerSecond} chunks a second, reading a faster body more slowly`, async () => {
    const { url, port } = await start();
    const chunks = await watch(url, 'agent:12');
    const extra = 300;
    const lines = STREAM_PACE.burst + extra;
    const request = chunked(port, '/stream?channel=agent:12&event=reply', {
      'content-type': 'application/x-ndjson',
    });
    const started = Date.now();
    for (let i = 0; i < lines; i += 100)
      request.write(Array.from({ length: 100 }, (_, j) => `${i + j}\n`).join(''));
    request.end();
    const { status, body } = await request.answer;
    const elapsed = Date.now() - started;
    expect([status, body.count]).toEqual([200, lines + 1]);
    expect(elapsed).toBeGreaterThanOrEqual((extra / STREAM_PACE.chunksPerSecond) * 1000 * 0.8);
    await waitFor(() => chunks.length === lines + 2, 5_000, 'every chunk');
    expect(chunks.slice(1, -1).map((c) => c.data)).toEqual(
      Array.from({ length: lines }, (_, i) => i),
    );
  });

  it('is in the OpenAPI document: parameters, both bodies, its own statuses', async () => {
    const { port } = await start();
    const document = (await (
      await fetch(`http://127.0.0.1:${port}/api/openapi.json`)
    ).json()) as any;
    const operation = document.paths['/api/stream'].post;
    expect(operation.parameters.map((p: any) => `${p.in} ${p.name}`)).toEqual([
      'query channel',
      'query event',
      'query key',
      'query id',
      'query data',
      'header Idempotency-Key',
    ]);
    expect(Object.keys(operation.requestBody.content)).toEqual([
      'application/x-ndjson',
      'text/plain',
    ]);
    expect(Object.keys(operation.responses)).toEqual(
      expect.arrayContaining([
        '200',
        '400',
        '401',
        '403',
        '404',
        '408',
        '409',
        '413',
        '503',
        '504',
      ]),
    );
    expect(operation.responses['200'].content['application/json'].schema.required).toEqual([
      'id',
      'first',
      'last',
      'count',
      'duplicate',
    ]);
  });
});
