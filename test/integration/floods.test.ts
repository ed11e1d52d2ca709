import { connect as tcpConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, ErrorCode } from '../../src/protocol/index.js';
import { connected, onCleanup, RawSocket, startServer, token, waitFor } from '../helpers.js';

/** FLOOD_CONNECTIONS makes the connection burst bigger than the 2 000 `npm test` opens. */
const BURST = Number(process.env.FLOOD_CONNECTIONS ?? 2_000);

describe('rate floods', () => {
  it('a batch spends one token per frame: the burst is served, the rest RATE_LIMITED, a bystander untouched', async () => {
    const { url } = await startServer({
      limits: { messagesPerSecond: 1, burst: 20, maxRateLimited: 1_000 },
    });
    const bystander = await connected(url, 'bob');
    const errors: unknown[] = [];
    bystander.on('error', (e) => errors.push(e));
    const socket = await RawSocket.connect(url, 'mallory');
    socket.send(Array.from({ length: 50 }, (_, i) => ({ type: 'ping', id: i + 1 })));
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => socket.reply(i + 1)));
    const limited = answers.filter((a) => a['code'] === ErrorCode.RATE_LIMITED).length;
    // 19 left after connect, give or take one refilled while the batch was read.
    expect(limited).toBeGreaterThanOrEqual(29);
    expect(limited).toBeLessThanOrEqual(32);
    expect(await bystander.ping()).toBeGreaterThanOrEqual(0);
    expect(errors).toEqual([]);
  });

  /*
   * Found by this suite: only frames that passed validation spent a rate-limit token, so a
   * client sending nothing but garbage was never throttled nor closed.
   */
  it('garbage is rate limited like valid frames, then closed with 4008', async () => {
    const { url } = await startServer({
      limits: { messagesPerSecond: 10, burst: 5, maxRateLimited: 20 },
    });
    const socket = await RawSocket.connect(url);
    for (let i = 1; i <= 60; i++) socket.send({ type: 'bogus', id: i });
    const limited = await socket.next((f) => f['code'] === ErrorCode.RATE_LIMITED, 2_000);
    expect(limited['id']).toBeGreaterThan(4);
    expect((await socket.closedWith(2_000)).code).toBe(CloseCode.RATE_LIMITED);
  });
});

describe('connection floods', () => {
  it(`${BURST} connection attempts at once: the server stays up, serves a bystander, releases them all`, async () => {
    const { url, server } = await startServer({ limits: { authTimeoutMs: 5_000 } });
    const alice = await connected(url, 'alice');
    const bob = await connected(url, 'bob');
    const got: number[] = [];
    const sub = bob.subscribe('chat:flood');
    sub.on('n', (n: number) => got.push(n));
    await sub.ready();
    const jwt = await token('mallory');

    // Every fourth authenticates, the rest open and idle, some leave mid-handshake.
    const sockets: WebSocket[] = [];
    let opened = 0;
    let failed = 0;
    const attempts = Array.from({ length: BURST }, (_, i) => {
      const ws = new WebSocket(url);
      sockets.push(ws);
      ws.on('error', () => {});
      return new Promise<void>((resolve) => {
        ws.once('open', () => {
          opened++;
          if (i % 4 === 0)
            ws.send(JSON.stringify({ type: 'connect', id: 1, version: 1, token: jwt }));
          if (i % 10 === 9) ws.terminate();
          resolve();
        });
        ws.once('close', () => resolve());
        ws.once('unexpected-response', () => {
          failed++;
          resolve();
        });
      });
    });
    onCleanup(() => {
      for (const ws of sockets) ws.terminate();
    });
    // The bystander keeps publishing through the storm.
    let sent = 0;
    const during = (async () => {
      while (sent < 50) {
        await alice.publish('chat:flood', 'n', sent++);
      }
    })();
    await Promise.all(attempts);
    await during;
    expect(opened + failed).toBe(BURST);
    expect(opened).toBeGreaterThan(BURST * 0.9);
    await waitFor(() => got.length === 50, 10_000, 'every publication during the flood');
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await alice.ping()).toBeLessThan(5_000);

    for (const ws of sockets) ws.terminate();
    await waitFor(() => server.connections.size === 2, 15_000, 'the flood to be released');
    expect(alice.state).toBe('connected');
    expect(bob.state).toBe('connected');
  }, 60_000);

  it('a subscription flood stops at maxSubscriptions and leaves no channel behind', async () => {
    const { url, server } = await startServer({ limits: { maxSubscriptions: 64 } });
    const sockets = await Promise.all(
      Array.from({ length: 20 }, (_, i) => RawSocket.connect(url, `flood-${i}`)),
    );
    for (const socket of sockets) {
      for (let batch = 0; batch < 10; batch++) {
        socket.send(
          Array.from({ length: 10 }, (_, j) => ({
            type: 'subscribe',
            id: batch * 10 + j + 1,
            channel: `chat:${batch * 10 + j}-${Math.random()}`,
          })),
        );
      }
    }
    for (const socket of sockets) {
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => socket.reply(i + 1)));
      expect(answers.filter((a) => a['type'] === 'reply')).toHaveLength(64);
      expect(answers.filter((a) => a['code'] === ErrorCode.LIMIT_EXCEEDED)).toHaveLength(36);
    }
    expect(server.localChannels()).toHaveLength(20 * 64);
    for (const socket of sockets) socket.ws.close();
    await waitFor(() => server.connections.size === 0, 5_000, 'sockets to close');
    expect(server.localChannels()).toEqual([]);
  });
});

describe('message size limits, to the byte', () => {
  const SOFT = 2_048;
  const HARD = 8_192;
  /** A publish of exactly `size` bytes. */
  const sized = (id: number, size: number) => {
    const head = `{"type":"publish","id":${id},"channel":"chat:a","event":"m","data":"`;
    return `${head}${'x'.repeat(size - head.length - 2)}"}`;
  };

  it.each([
    ['text', false],
    ['binary', true],
  ])(
    '%s: at the limit accepted, one byte over TOO_LARGE, at the hard cap TOO_LARGE, one over 1009',
    async (_kind, binary) => {
      const { url } = await startServer({
        limits: { maxMessageBytes: SOFT, hardMaxMessageBytes: HARD },
      });
      const socket = await RawSocket.connect(url);
      const send = (data: string) => socket.ws.send(binary ? Buffer.from(data) : data, { binary });
      send(sized(1, SOFT));
      expect(await socket.reply(1)).toMatchObject({ type: 'reply' });
      send(sized(2, SOFT + 1));
      expect(await socket.reply(2)).toMatchObject({ code: ErrorCode.TOO_LARGE });
      send(sized(3, HARD));
      expect(await socket.reply(3)).toMatchObject({ code: ErrorCode.TOO_LARGE });
      expect(socket.closed).toBeUndefined();
      send(sized(4, HARD + 1));
      expect((await socket.closedWith()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    },
  );
});

describe('compression', () => {
  it('the gateway never negotiates permessage-deflate, so no decompression bomb can reach it', async () => {
    const { url, port } = await startServer();
    // A client that offers compression gets a connection without it.
    const offered = new WebSocket(url, { perMessageDeflate: true });
    onCleanup(() => offered.terminate());
    await new Promise((resolve) => offered.once('open', resolve));
    expect(offered.extensions).toBe('');

    // On the wire: the 101 carries no Sec-WebSocket-Extensions, and a frame with RSV1 set
    // (a "compressed" message) is a protocol error: ws closes with 1002 without inflating it.
    const tcp = tcpConnect(port, '127.0.0.1');
    onCleanup(() => tcp.destroy());
    let response = '';
    const closed = new Promise<number>((resolve) => {
      tcp.on('data', (chunk: Buffer) => {
        if (!response.includes('\r\n\r\n')) {
          response += chunk.toString('latin1');
          return;
        }
        // A server close frame: 0x88, length, then the 2-byte code.
        if (chunk[0] === 0x88) resolve(chunk.readUInt16BE(2));
      });
      tcp.on('close', () => resolve(-1));
    });
    tcp.write(
      [
        'GET /ws HTTP/1.1',
        'Host: 127.0.0.1',
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
        '',
        '',
      ].join('\r\n'),
    );
    await waitFor(() => response.includes('\r\n\r\n'), 3_000, 'the upgrade response');
    expect(response).toMatch(/^HTTP\/1\.1 101/);
    expect(response.toLowerCase()).not.toContain('sec-websocket-extensions');
    // FIN + RSV1 + text opcode, masked, 4 bytes of "deflated" payload.
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from([0xf2, 0x48, 0x05, 0x00]).map((b, i) => b ^ mask[i % 4]!);
    tcp.write(Buffer.concat([Buffer.from([0xc1, 0x80 | payload.length]), mask, payload]));
    expect(await closed).toBe(1002);
  });
});
