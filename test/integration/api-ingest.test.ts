import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/index.js';
import type { ServerOptions } from '../../src/server/index.js';
import { connected, sleep, startServer, waitFor } from '../helpers.js';
import { api, chunked } from './api-requests.js';

/**
 * Fast ingest: `POST /api/publish` with an NDJSON body, one publication per line, read as it
 * streams in and answered line by line as each is applied.
 */

const KEY = 'test-api-key';
const MAX_MESSAGE_BYTES = 1024;
const NDJSON = { 'content-type': 'application/x-ndjson' };

function start(options: ServerOptions = {}) {
  return startServer({
    api: { key: KEY, maxBodyBytes: 4096 },
    limits: { maxMessageBytes: MAX_MESSAGE_BYTES },
    channels: {
      'chat:*': { history: { size: 1000, ttlMs: 60_000 } },
      'agent:*': { streams: true },
    },
    ...options,
  });
}

const line = (value: unknown) => `${JSON.stringify(value)}\n`;
type Result = { offset?: number; duplicate?: boolean; error?: { code: string } };
const outcomes = (results: unknown[]) =>
  (results as Result[]).map((r) => r.offset ?? r.error?.code);

describe('NDJSON ingest on POST /api/publish', () => {
  it('applies each line in order and answers each with its own line; a bad one does not stop the rest', async () => {
    const { url, port } = await start();
    const bob = await connected(url, 'bob');
    const received: unknown[] = [];
    const sub = bob.subscribe('chat:a');
    sub.on('m', (data) => received.push(data));
    await sub.ready();
    const ok = (n: number) => ({ channel: 'chat:a', event: 'm', data: n });
    const request = chunked(port, '/publish', NDJSON);
    request.write(line(ok(1)) + line({ ...ok(2), stream: { id: 's', seq: 0 } }));
    // A line split across pieces, CRLF, blank lines (skipped, no answer).
    request.write(JSON.stringify(ok(3)).slice(0, 10));
    request.write(`${JSON.stringify(ok(3)).slice(10)}\r\n\n  \r\n`);
    request.write('{not json\n[1]\n');
    request.write(line({ channel: 'nowhere', event: 'm' }) + line({ ...ok(4), event: '$join' }));
    request.write(line({ ...ok(5), data: 'x'.repeat(MAX_MESSAGE_BYTES) }));
    // Longer than limits.hardMaxMessageBytes (4 × maxMessageBytes): dropped as it arrives.
    request.write(
      `{"channel":"chat:a","event":"m","data":"${'y'.repeat(MAX_MESSAGE_BYTES * 5)}"}\n`,
    );
    request.write(
      line({ ...ok(6), idempotencyKey: 'job-6' }) + line({ ...ok(6), idempotencyKey: 'job-6' }),
    );
    // The last line needs no newline.
    request.end(JSON.stringify(ok(7)));
    const { status, headers, body } = await request.answer;
    expect(status).toBe(200);
    expect(headers['content-type']).toBe('application/x-ndjson');
    expect(outcomes(body)).toEqual([
      1,
      ErrorCode.BAD_FRAME,
      2,
      ErrorCode.BAD_FRAME,
      ErrorCode.BAD_FRAME,
      ErrorCode.NOT_FOUND,
      ErrorCode.BAD_FRAME,
      ErrorCode.TOO_LARGE,
      ErrorCode.TOO_LARGE,
      3,
      3,
      4,
    ]);
    // The unknown field is named, as in a JSON body.
    expect(body[1].error.message).toContain('"stream"');
    expect(body.slice(9, 11).map((r: Result) => r.duplicate)).toEqual([false, true]);
    await waitFor(() => received.length === 4, 5_000, 'four messages');
    expect(received).toEqual([1, 3, 6, 7]);
  });

  it('writes each result as it comes, before the body ends', async () => {
    const { port } = await start();
    const request = chunked(port, '/publish', NDJSON);
    for (let n = 1; n <= 3; n++) {
      request.write(line({ channel: 'chat:b', event: 'm', data: n }));
      // The answer to this line arrives while the request is still open.
      expect(outcomes(await request.linesUntil(n))).toEqual([1, 2, 3].slice(0, n));
    }
    request.end();
    expect((await request.answer).body).toHaveLength(3);
  });

  it('has no size bound for the whole body, only per line', async () => {
    const { port } = await start();
    const request = chunked(port, '/publish', NDJSON);
    const count = 300;
    // Far past api.maxBodyBytes (4 KiB here).
    for (let n = 0; n < count; n += 50)
      request.write(
        Array.from({ length: 50 }, (_, i) =>
          line({ channel: 'chat:c', event: 'm', data: n + i }),
        ).join(''),
      );
    request.end();
    const { status, body } = await request.answer;
    expect(status).toBe(200);
    expect(outcomes(body)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  });

  it('refuses without the key, and keeps what a dropped ingest applied', async () => {
    const { port } = await start();
    const refused = chunked(port, '/publish', { ...NDJSON, authorization: 'Bearer nope' });
    refused.end(line({ channel: 'chat:d', event: 'm' }));
    const answer = await refused.answer;
    expect([answer.status, answer.body.error.code]).toEqual([401, ErrorCode.UNAUTHORIZED]);

    const dropped = chunked(port, '/publish', NDJSON);
    dropped.write(line({ channel: 'chat:d', event: 'm', data: 1 }));
    await dropped.linesUntil(1);
    // A line cut off by the drop is not applied.
    dropped.write('{"channel":"chat:d","event":"m","data":2}');
    await sleep(50);
    dropped.abort();
    await sleep(50);
    const history = await api(port, '/history', { channel: 'chat:d' });
    expect(history.body.publications.map((p: { data: unknown }) => p.data)).toEqual([1]);
  });
});

describe('a `stream` field in a publication', () => {
  it('is refused in every publish body: streams go through /api/stream', async () => {
    const { port } = await start();
    const marked = {
      channel: 'agent:1',
      event: 'm',
      data: 1,
      stream: { id: 's1', seq: 0, status: 'open' },
    };
    const one = await api(port, '/publish', marked);
    expect([one.status, one.body.error.code]).toEqual([400, ErrorCode.BAD_FRAME]);
    expect(one.body.error.message).toContain('"stream"');
    const batch = await api(port, '/batch', { publications: [marked] });
    expect(batch.body.results[0].error.code).toBe(ErrorCode.BAD_FRAME);
    const ndjson = chunked(port, '/publish', NDJSON);
    ndjson.end(line(marked));
    expect(outcomes((await ndjson.answer).body)).toEqual([ErrorCode.BAD_FRAME]);
    expect((await api(port, '/history', { channel: 'agent:1' })).body.offset).toBe(0);
  });
});
