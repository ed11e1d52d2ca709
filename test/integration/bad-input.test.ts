import { describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode } from '../../src/protocol/index.js';
import { connected, RawSocket, startServer, waitFor } from '../helpers.js';

/** Bad frames, each with the error code it must get; none of them may close the connection. */
const cases: [string, unknown, string, number?][] = [
  ['not JSON', '{"type": "publish", nope', ErrorCode.BAD_FRAME],
  ['a JSON string', '"hello"', ErrorCode.BAD_FRAME],
  ['null', 'null', ErrorCode.BAD_FRAME],
  ['no type', { id: 5 }, ErrorCode.BAD_FRAME, 5],
  ['unknown type', { type: 'explode', id: 6 }, ErrorCode.UNKNOWN_TYPE, 6],
  ['prototype-polluting type', { type: '__proto__', id: 7 }, ErrorCode.UNKNOWN_TYPE, 7],
  ['missing channel', { type: 'subscribe', id: 8 }, ErrorCode.BAD_FRAME, 8],
  ['channel of the wrong type', { type: 'subscribe', id: 9, channel: 42 }, ErrorCode.BAD_FRAME, 9],
  ['empty channel', { type: 'publish', id: 10, channel: '', event: 'x' }, ErrorCode.BAD_FRAME, 10],
  [
    'huge channel name',
    { type: 'subscribe', id: 11, channel: 'c'.repeat(300) },
    ErrorCode.BAD_FRAME,
    11,
  ],
  ['missing event', { type: 'publish', id: 12, channel: 'chat:a' }, ErrorCode.BAD_FRAME, 12],
  ['negative id', { type: 'rpc', id: -1, method: 'x' }, ErrorCode.BAD_FRAME],
  ['fractional id', { type: 'rpc', id: 1.5, method: 'x' }, ErrorCode.BAD_FRAME],
  [
    'bad since',
    { type: 'subscribe', id: 13, channel: 'chat:a', since: { offset: 'x' } },
    ErrorCode.BAD_FRAME,
    13,
  ],
  ['empty batch', [], ErrorCode.BAD_FRAME],
  ['unknown channel', { type: 'subscribe', id: 14, channel: 'nowhere' }, ErrorCode.NOT_FOUND, 14],
  ['unknown method', { type: 'rpc', id: 15, method: 'nothing' }, ErrorCode.NOT_FOUND, 15],
  ['second connect', { type: 'connect', id: 16, version: 1 }, ErrorCode.BAD_FRAME, 16],
  [
    'unsubscribe without subscribe',
    { type: 'unsubscribe', id: 17, channel: 'chat:a' },
    ErrorCode.NOT_FOUND,
    17,
  ],
];

describe('bad input', () => {
  it.each(cases)('%s gets %s and the connection stays usable', async (_name, frame, code, id) => {
    const { url } = await startServer({ channels: { 'chat:*': { events: { message: null } } } });
    const socket = await RawSocket.connect(url);
    socket.send(frame);
    const error = await socket.next((f) => f['type'] === 'error');
    expect(error['code']).toBe(code);
    if (id !== undefined) expect(error['id']).toBe(id);
    else expect(error['id']).toBeUndefined();
    socket.send({ type: 'ping', id: 100 });
    expect(await socket.reply(100)).toMatchObject({ type: 'reply' });
    expect(socket.closed).toBeUndefined();
  });

  it('answers each frame of a batch on its own', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.connect(url);
    socket.send([
      { type: 'subscribe', id: 1, channel: 'chat:a' },
      { type: 'bogus', id: 2 },
      { type: 'publish', id: 3, channel: 'chat:a', event: 'm', data: 1 },
    ]);
    expect(await socket.reply(1)).toMatchObject({ type: 'reply' });
    expect(await socket.reply(2)).toMatchObject({ type: 'error', code: ErrorCode.UNKNOWN_TYPE });
    expect(await socket.reply(3)).toMatchObject({ type: 'reply', data: { offset: 1 } });
    expect(await socket.next((f) => f['type'] === 'message')).toMatchObject({ data: 1 });
  });

  it('refuses a batch over the limit', async () => {
    const { url } = await startServer({ limits: { maxBatch: 3 } });
    const socket = await RawSocket.connect(url);
    socket.send(Array.from({ length: 4 }, (_, i) => ({ type: 'ping', id: i + 1 })));
    // Every request in the refused batch is answered, so none waits for a timeout.
    for (let id = 1; id <= 4; id++) {
      expect(await socket.reply(id)).toMatchObject({ code: ErrorCode.BAD_FRAME });
    }
  });

  it('answers TOO_LARGE (by request id) for a message over maxMessageBytes and stays open', async () => {
    const { url } = await startServer({ limits: { maxMessageBytes: 1024 } });
    const socket = await RawSocket.connect(url);
    socket.send({ type: 'publish', id: 7, channel: 'chat:a', event: 'm', data: 'x'.repeat(1100) });
    expect(await socket.reply(7)).toMatchObject({ code: ErrorCode.TOO_LARGE });
    socket.send({ type: 'publish', id: 8, channel: 'chat:a', event: 'm', data: 'x'.repeat(900) });
    expect(await socket.reply(8)).toMatchObject({ type: 'reply' });
  });

  it('closes with 1009 past the hard cap, without reading the message', async () => {
    const { url } = await startServer({
      limits: { maxMessageBytes: 1024, hardMaxMessageBytes: 4096 },
    });
    const socket = await RawSocket.connect(url);
    socket.send({ type: 'publish', id: 7, channel: 'chat:a', event: 'm', data: 'x'.repeat(5000) });
    expect((await socket.closedWith()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });

  it('other clients see no error and lose nothing while one sends garbage', async () => {
    const { url } = await startServer();
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    const errors: unknown[] = [];
    bob.on('error', (e) => errors.push(e));
    const sub = bob.subscribe('chat:a');
    const got: number[] = [];
    sub.on('n', (n: number) => got.push(n));
    await sub.ready();
    const attacker = await RawSocket.connect(url, 'mallory');
    for (let i = 0; i < 20; i++) {
      for (const [, frame] of cases) attacker.send(frame);
      await alice.publish('chat:a', 'n', i);
    }
    await waitFor(() => got.length === 20);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(errors).toEqual([]);
  });
});
