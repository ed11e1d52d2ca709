import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { ClientRequestFrame, ErrorFrame } from '../protocol/frames.js';
import { resolveOptions } from './options.js';
import { Outbox } from './outbox.js';
import type { Transport } from './transport.js';
import type { ClientOptions, Counters, Entry } from './types.js';

function setup(options: Partial<ClientOptions> = {}) {
  const counters: Counters = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    rttMs: undefined,
    reconnects: 0,
  };
  const outbox = new Outbox(resolveOptions({ url: 'ws://x', WebSocket, ...options }), counters);
  return { outbox, counters };
}

/** What the outbox needs of a socket: whether it is open, and somewhere to send batches. */
function link() {
  const batches: ClientRequestFrame[][] = [];
  const socket = { open: true, send: (frames: ClientRequestFrame[]) => batches.push([...frames]) };
  return { socket: socket as unknown as Transport, batches, sent: () => batches.flat() };
}

let keys = 0;
const publish = (data: unknown = null): ClientRequestFrame => ({
  type: 'publish',
  id: 0,
  channel: 'c',
  event: 'e',
  key: `k.${++keys}`,
  data,
});
const rpc = (): ClientRequestFrame => ({ type: 'rpc', id: 0, method: 'm' });
const error = (id: number | undefined, code: string): ErrorFrame =>
  id === undefined
    ? { type: 'error', code, message: code }
    : { type: 'error', id, code, message: code };
const settled = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ value }),
    (reason: SwitchboardError) => ({ code: reason.code }),
  );
const own = (frame: ClientRequestFrame, settle: Partial<Entry> = {}): Entry => ({
  frame,
  resolve: () => {},
  reject: () => {},
  ttlTimer: undefined,
  sentAt: 0,
  bytes: 0,
  ...settle,
});

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Outbox bounds', () => {
  it('holds at most maxEntries waiting requests and refuses the next with LIMIT_EXCEEDED', async () => {
    const { outbox } = setup({ outbox: { maxEntries: 2 } });
    void outbox.request(publish());
    void outbox.request(publish());
    await expect(outbox.request(publish())).rejects.toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
      message: 'Outbox is full',
    });
    expect(outbox.depth).toBe(2);
  });

  it('counts the encoded bytes of what waits against maxBytes', async () => {
    const { outbox } = setup({ outbox: { maxBytes: 200 } });
    void outbox.request(publish('x'.repeat(100)));
    await expect(outbox.request(publish('y'.repeat(100)))).rejects.toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
      message: 'Outbox is full (bytes)',
    });
    // Connected and not held back, nothing piles up: the bytes bound does not apply.
    const { socket } = link();
    outbox.resume(socket, undefined, []);
    await vi.advanceTimersByTimeAsync(0);
    void outbox.request(publish('z'.repeat(500)));
    expect(outbox.depth).toBe(2);
  });

  it('the connect handshake (via a socket) is outside the bounds and goes out at once', () => {
    const { outbox } = setup({ outbox: { maxEntries: 1 } });
    void outbox.request(publish());
    const { socket, sent } = link();
    void outbox.request({ type: 'connect', id: 0, version: 1 }, undefined, socket);
    expect(sent().map((f) => f.type)).toEqual(['connect']);
  });
});

describe('Outbox time to live', () => {
  it('an entry that expires while waiting rejects with TIMEOUT and is never sent', async () => {
    const { outbox } = setup();
    const result = settled(outbox.request(rpc(), 100));
    await vi.advanceTimersByTimeAsync(100);
    expect(await result).toEqual({ code: ErrorCode.TIMEOUT });
    const { socket, sent } = link();
    outbox.resume(socket, undefined, []);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent()).toEqual([]);
    expect(outbox.depth).toBe(0);
  });

  it("a late answer to an expired request is nobody's news; an error that answers nothing is returned", async () => {
    const { outbox } = setup();
    const { socket, sent } = link();
    outbox.resume(socket, undefined, []);
    const result = settled(outbox.request(rpc(), 100));
    await vi.advanceTimersByTimeAsync(100);
    expect(await result).toEqual({ code: ErrorCode.TIMEOUT });
    const { id } = sent()[0]!;
    expect(outbox.answer(error(id, 'INTERNAL'))).toBeUndefined();
    expect(outbox.answer(error(undefined, 'BAD_FRAME'))).toMatchObject({ code: 'BAD_FRAME' });
    expect(outbox.answer(error(12345, 'NOT_A_CODE'))).toMatchObject({ code: ErrorCode.INTERNAL });
    expect(outbox.answer({ type: 'reply', id: 12345, data: {} })).toBeUndefined();
  });
});

describe('Outbox across a reconnect', () => {
  it('resends publishes in flight first, then what waited, in order; RPCs in flight fail DISCONNECTED', async () => {
    const { outbox } = setup();
    const first = link();
    outbox.resume(first.socket, undefined, []);
    const a = outbox.request(publish('a'), 30_000);
    const b = outbox.request(publish('b'), 30_000);
    const call = settled(outbox.request(rpc()));
    let subscribeRejected = false;
    outbox.queue(
      [
        own(
          { type: 'subscribe', id: 0, channel: 'c' },
          { reject: () => (subscribeRejected = true) },
        ),
      ],
      false,
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(first.sent().map((f) => f.type)).toEqual(['publish', 'publish', 'rpc', 'subscribe']);

    outbox.suspend(1006);
    expect(await call).toEqual({ code: ErrorCode.DISCONNECTED });
    const c = outbox.request(publish('c'), 30_000);
    // The subscribe is dropped (the client rebuilds it), and its time to live stopped with it.
    await vi.advanceTimersByTimeAsync(11_000);
    expect(subscribeRejected).toBe(false);

    const second = link();
    const resubscribe = own({ type: 'subscribe', id: 0, channel: 'c' });
    outbox.resume(second.socket, undefined, [resubscribe]);
    await vi.advanceTimersByTimeAsync(0);
    const resent = second.sent();
    expect(resent.map((f) => (f.type === 'publish' ? f.data : f.type))).toEqual([
      'subscribe',
      'a',
      'b',
      'c',
    ]);
    // The same frames: the same idempotency keys.
    expect(resent.slice(1, 3)).toEqual(first.sent().slice(0, 2));
    for (const frame of resent.slice(1)) outbox.answer({ type: 'reply', id: frame.id, data: {} });
    await expect(Promise.all([a, b, c])).resolves.toHaveLength(3);
  });

  it('fail() rejects everything still here with the close error', async () => {
    const { outbox } = setup();
    const waiting = settled(outbox.request(publish()));
    const { socket } = link();
    outbox.resume(socket, undefined, []);
    await vi.advanceTimersByTimeAsync(0);
    const inflight = settled(outbox.request(rpc()));
    outbox.fail(new SwitchboardError(ErrorCode.CLOSED, 'closed by app'));
    expect(await waiting).toEqual({ code: ErrorCode.CLOSED });
    expect(await inflight).toEqual({ code: ErrorCode.CLOSED });
    expect(outbox.depth).toBe(0);
  });

  it("queues the client's own requests only while connected, numbered in order, first when asked", async () => {
    const { outbox } = setup();
    outbox.queue([own({ type: 'subscribe', id: 0, channel: 'dropped' })], false);
    expect(outbox.depth).toBe(0);
    const { socket, sent } = link();
    outbox.resume(socket, undefined, []);
    void outbox.request(publish());
    outbox.queue(
      [
        own({ type: 'unsubscribe', id: 0, channel: 'c' }),
        own({ type: 'subscribe', id: 0, channel: 'c' }),
      ],
      true,
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(sent().map((f) => [f.type, f.id])).toEqual([
      ['unsubscribe', 2],
      ['subscribe', 3],
      ['publish', 1],
    ]);
  });
});

describe('Outbox retries of uncertain publishes', () => {
  it('asks again with the same frame (and key) after a backoff, until answered', async () => {
    const { outbox } = setup({ reconnect: { minDelayMs: 100, maxDelayMs: 100 } });
    const { socket, sent } = link();
    outbox.resume(socket, undefined, []);
    const result = outbox.request(publish('p'));
    await vi.advanceTimersByTimeAsync(0);
    const [frame] = sent();
    expect(outbox.answer(error(frame!.id, ErrorCode.UNCERTAIN))).toBeUndefined();
    expect(outbox.depth).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent()).toEqual([frame, frame]);
    // A refusal after an uncertain answer says nothing of the first attempt: asked again.
    outbox.answer(error(frame!.id, ErrorCode.UNAVAILABLE));
    await vi.advanceTimersByTimeAsync(100);
    expect(sent()).toHaveLength(3);
    outbox.answer({ type: 'reply', id: frame!.id, data: { offset: 1, epoch: 'e' } });
    await expect(result).resolves.toEqual({ offset: 1, epoch: 'e' });
  });

  it('rejects with the UNCERTAIN answer when its time to live runs out first', async () => {
    const { outbox } = setup({ reconnect: { minDelayMs: 10_000, maxDelayMs: 10_000 } });
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    const { socket, sent } = link();
    outbox.resume(socket, undefined, []);
    const result = settled(outbox.request(publish(), 1000));
    await vi.advanceTimersByTimeAsync(0);
    outbox.answer(error(sent()[0]!.id, ErrorCode.UNCERTAIN));
    await vi.advanceTimersByTimeAsync(1000);
    expect(await result).toEqual({ code: ErrorCode.UNCERTAIN });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(sent()).toHaveLength(1);
    vi.restoreAllMocks();
  });
});

describe('Outbox pacing', () => {
  it('keeps to the announced requests in flight; each answer lets the next one go', async () => {
    const { outbox } = setup();
    const { socket, batches } = link();
    // maxInFlight 3: one slot kept in reserve, so two at a time.
    outbox.resume(socket, { maxInFlight: 3 }, []);
    for (let i = 0; i < 5; i++) void outbox.request(publish(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches.map((batch) => batch.length)).toEqual([2]);
    outbox.answer({ type: 'reply', id: batches[0]![0]!.id, data: {} });
    await vi.advanceTimersByTimeAsync(0);
    expect(batches.map((batch) => batch.length)).toEqual([2, 1]);
  });
});
