import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode } from '../../src/protocol/errors.js';
import { RawSocket, sleep, startServer, token } from '../helpers.js';

/**
 * Rules docs/protocol.md states in prose, held to the code: what a client written from the
 * document alone relies on.
 */
describe('protocol rules as documented', () => {
  it('an ephemeral publish is answered with the channel position, marked ephemeral', async () => {
    const { url } = await startServer({ channels: { 'chat:*': { ephemeral: ['typing'] } } });
    const socket = await RawSocket.connect(url, 'alice');
    socket.send({ type: 'publish', id: 1, channel: 'chat:a', event: 'message', data: 1 });
    expect(await socket.reply(1)).toMatchObject({ data: { offset: 1 } });
    socket.send({ type: 'publish', id: 2, channel: 'chat:a', event: 'typing', data: {} });
    const reply = (await socket.reply(2))['data'] as Record<string, unknown>;
    expect(reply).toMatchObject({ offset: 1, ephemeral: true });
    socket.send({ type: 'publish', id: 3, channel: 'chat:a', event: 'message', data: 2 });
    expect(((await socket.reply(3))['data'] as Record<string, unknown>)['ephemeral']).toBe(
      undefined,
    );
  });

  it('a history page cut by limit says `more`, and is not a gap', async () => {
    const { url, server } = await startServer({
      channels: { 'chat:*': { history: { size: 100, ttlMs: 60_000 } } },
    });
    const first = await server.publish('chat:h', 'm', 0);
    for (let n = 1; n < 5; n++) await server.publish('chat:h', 'm', n);
    const socket = await RawSocket.connect(url, 'alice');
    socket.send({ type: 'history', id: 1, channel: 'chat:h', since: first, limit: 2 });
    const page = (await socket.reply(1))['data'] as Record<string, unknown>;
    expect(page).toMatchObject({ recovered: true, more: true });
    expect((page['publications'] as unknown[]).length).toBe(2);
  });

  it('WebSocket ping control frames count as a sign of life', async () => {
    const { url } = await startServer({ heartbeat: { intervalMs: 150 } });
    // A client that answers no app-level ping but sends control pings stays connected.
    const ws = new WebSocket(url);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'connect', id: 0, version: 1, token: await token('bob') }));
    let closed: number | undefined;
    ws.on('close', (code) => {
      closed = code;
    });
    const pinger = setInterval(() => ws.ping(), 50);
    await sleep(700); // more than four heartbeat intervals
    clearInterval(pinger);
    expect(closed).toBeUndefined();
    ws.close();
  });

  it('a ping before connect is refused with UNAUTHORIZED and close 4000', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    socket.send({ type: 'ping', id: 7 });
    expect(await socket.reply(7)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect((await socket.closedWith()).code).toBe(4000);
  });
});
