import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { attachInspector } from '../../src/inspector/index.js';
import type { StoreEvent } from '../../src/inspector/types.js';
import type { Codec } from '../../src/protocol/codec.js';
import { connected, onCleanup, startServer, token, waitFor } from '../helpers.js';

/** Capture on a gateway and on a plain ws server: binary frames, control frames, what is tracked. */

/** A binary codec: JSON behind a 0xff byte, so no message is valid UTF-8. */
const binaryCodec: Codec = {
  name: 'tagged-json',
  binary: true,
  encode: (frames) => Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify(frames))]),
  decode: (data) =>
    JSON.parse(
      Buffer.from(typeof data === 'string' ? Buffer.from(data) : data)
        .subarray(1)
        .toString(),
    ),
};
const tagged = (frame: unknown) =>
  Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify(frame))]);

async function binaryClient(url: string) {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  onCleanup(() => ws.terminate());
  const received: Buffer[] = [];
  ws.on('message', (data) => received.push(data as Buffer));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(tagged({ type: 'connect', id: 1, version: 1, token: await token('bin') }));
  await waitFor(() => received.length > 0, 5_000, 'connect reply');
  ws.send(tagged({ type: 'subscribe', id: 2, channel: 'chat:bin' }));
  await waitFor(() => received.length > 1, 5_000, 'subscribe reply');
  return ws;
}

function get(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, headers: { host } });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

describe('inspector on a gateway', () => {
  it('shows a binary codec’s frames as binary, described, with no hex unless showBinaryPreview', async () => {
    const { server, url } = await startServer({ codec: binaryCodec });
    const quiet = attachInspector(server, { path: '/quiet' });
    const shown = attachInspector(server, { path: '/shown', showBinaryPreview: true });
    onCleanup(() => {
      quiet.close();
      shown.close();
    });
    await binaryClient(url);
    for (const inspector of [quiet, shown]) {
      const frames = inspector.store!.frames();
      expect(frames.map((f) => `${f.direction} ${f.type}`)).toEqual([
        'in connect',
        'out reply',
        'in subscribe',
        'out reply',
      ]);
      expect(frames.every((f) => f.binary && f.text === undefined)).toBe(true);
      expect(frames.find((f) => f.type === 'subscribe')).toMatchObject({
        channel: 'chat:bin',
        id: 2,
      });
    }
    expect(quiet.store!.frames().some((f) => f.hex !== undefined)).toBe(false);
    const subscribe = shown.store!.frames().find((f) => f.type === 'subscribe')!;
    expect(Buffer.from(subscribe.hex!, 'hex')).toEqual(
      tagged({ type: 'subscribe', id: 2, channel: 'chat:bin' }),
    );
    // A binary connect frame carries its token: never previewed.
    expect(shown.store!.frames().find((f) => f.type === 'connect')!.hex).toBeUndefined();
  });

  it('answers the panel only for loopback or allowed Host names without a credential (DNS rebinding)', async () => {
    const { server, port } = await startServer();
    const open = attachInspector(server, { allowedHosts: ['dev.example'] });
    const guarded = attachInspector(server, { path: '/guarded', credential: 'sesame' });
    onCleanup(() => {
      open.close();
      guarded.close();
    });
    expect(await get(port, '/inspector', 'evil.example')).toBe(403);
    expect(await get(port, '/inspector/export.jsonl', `evil.example:${port}`)).toBe(403);
    expect(await get(port, '/inspector', `localhost:${port}`)).toBe(200);
    expect(await get(port, '/inspector', 'dev.example:8080')).toBe(200);
    expect(await get(port, '/inspector/export.jsonl', '[::1]')).toBe(200);
    expect(await get(port, '/guarded', 'evil.example')).toBe(200);
    expect(await get(port, '/guarded/export.jsonl', 'evil.example')).toBe(401);
  });

  it('tracks the connections the predicate lets through, one in N when sampling, and counts the rest', async () => {
    const { server, url } = await startServer();
    const inspector = attachInspector(server, {
      track: (request) => !request.headers['user-agent']?.includes('health'),
      sample: 2,
    });
    onCleanup(() => inspector.close());
    const clients = [];
    for (const user of ['a', 'b', 'c', 'd']) clients.push(await connected(url, user));
    const health = new WebSocket(url, { headers: { 'user-agent': 'health-check' } });
    onCleanup(() => health.terminate());
    await new Promise((resolve) => health.once('open', resolve));
    const store = inspector.store!;
    expect(store.connections().map((c) => c.user)).toEqual(['a', 'c']);
    expect(store.stats()).toMatchObject({ connections: 2, active: 2, untracked: 3 });
    clients[0]!.close();
    await waitFor(() => store.stats().active === 1);
  });
});

describe('inspector on a plain ws server', () => {
  it('records ping, pong and close frames (hidden unless asked for) and the closing state', async () => {
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const text = data.toString();
        if (text === 'ping me') ws.ping('from server');
        else if (text === 'bye') ws.close(4004, 'server says bye');
        else ws.send(`echo:${text}`);
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const inspector = attachInspector(wss, { server: http });
    onCleanup(() => {
      inspector.close();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      return new Promise((resolve) => http.close(resolve));
    });
    const store = inspector.store!;
    const statuses: string[] = [];
    store.listen((event: StoreEvent) => {
      if (event.type === 'connection') statuses.push(event.connection.status);
    });
    const port = (http.address() as AddressInfo).port;

    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    onCleanup(() => client.terminate());
    const seen: string[] = [];
    client.on('message', (data) => seen.push(String(data)));
    client.on('ping', () => seen.push('ping'));
    client.on('pong', () => seen.push('pong'));
    const closed = new Promise<number>((resolve) => client.once('close', resolve));
    await new Promise((resolve) => client.once('open', resolve));
    client.ping('from client');
    client.send('ping me');
    await waitFor(() => seen.includes('ping') && seen.includes('pong'));
    client.send('bye');
    expect(await closed).toBe(4004);
    await waitFor(() => store.connections()[0]?.status === 'closed');

    const id = store.connections()[0]!.id;
    const frames = store.frames({ connection: id, control: true });
    expect(frames.map((f) => `${f.direction} ${f.type}${f.control ? '*' : ''}`)).toEqual([
      'in ping*',
      'out pong*',
      'in raw',
      'out ping*',
      'in pong*',
      'in raw',
      'out close*',
      'in close*',
    ]);
    expect(frames[0]).toMatchObject({ text: 'from client', size: 11 });
    expect(frames.at(-2)).toMatchObject({ code: 4004, text: '4004 server says bye' });
    expect(store.frames({ connection: id }).some((f) => f.control)).toBe(false);
    expect(store.connections()[0]).toMatchObject({
      closeCode: 4004,
      closeReason: 'server says bye',
    });
    expect(statuses).toEqual(['open', 'closing', 'closed']);
    expect(store.connections()[0]!.rttMs).toBeGreaterThanOrEqual(0);
  });
});

describe('control frames on a gateway', () => {
  it("records the peer's pings, the server's close, and the closing state", async () => {
    const { server, url } = await startServer();
    const inspector = attachInspector(server);
    const store = inspector.store!;
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    onCleanup(() => ws.terminate());
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'connect', id: 0, version: 1, token: await token('cleo') }));
    await waitFor(() => store.connections()[0]?.status === 'open');
    const id = store.connections()[0]!.id;
    ws.ping('are you there');
    const control = () => store.frames({ control: true }).filter((f) => f.control);
    await waitFor(() => control().some((f) => f.type === 'ping'), 3_000, 'the ping recorded');
    server.connections.get(id)!.close(4010, 'bye');
    await waitFor(() => store.connection(id)?.status === 'closed', 3_000, 'the close');
    expect(control().find((f) => f.type === 'close')).toMatchObject({ direction: 'out' });
    expect(store.frames().some((f) => f.control)).toBe(false); // hidden unless asked for
    expect(store.connection(id)).toMatchObject({ closeCode: 4010 });
  });
});
