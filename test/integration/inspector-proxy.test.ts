import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Server as SocketIOServer } from 'socket.io';
import { io as connectSocketIo } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type InspectorProxy, inspectProxy, type ProxyOptions } from '../../src/inspector/index.js';
import type { StoreEvent } from '../../src/inspector/types.js';
import { chromiumAvailable, launch } from '../browser.js';
import { connected, onCleanup, startServer, waitFor } from '../helpers.js';
import { type PythonView, pythonWebsocketsAvailable, startPythonServer } from '../python.js';

const hasPython = pythonWebsocketsAvailable();
const hasChromium = chromiumAvailable();

async function proxyTo(upstream: string, options: Partial<ProxyOptions> = {}) {
  const logs: string[] = [];
  const proxy = await inspectProxy({ upstream, log: (line) => logs.push(line), ...options });
  onCleanup(() => proxy.close());
  return { proxy, logs, ws: proxy.url.replace('http', 'ws') };
}

type Seen =
  | { text: string }
  | { binary: string }
  | { pong: string }
  | { close: number; reason: string };

/** A client's view of a conversation: everything it received, in order. */
function watch(ws: WebSocket) {
  const seen: Seen[] = [];
  const wake = () => {};
  ws.on('message', (data, isBinary) => {
    seen.push(isBinary ? { binary: (data as Buffer).toString('hex') } : { text: data.toString() });
    wake();
  });
  ws.on('pong', (data) => {
    seen.push({ pong: data.toString() });
    wake();
  });
  ws.on('close', (code, reason) => {
    seen.push({ close: code, reason: reason.toString() });
    wake();
  });
  ws.on('error', () => {});
  /** Waits until `count` things were seen. */
  const until = (count: number, what = `${count} frames`) =>
    waitFor(() => seen.length >= count, 5_000, what);
  return { seen, until };
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_request, response) =>
      reject(new Error(`HTTP ${response.statusCode}`)),
    );
  });
}

/**
 * The same conversation, direct or through the proxy: text, binary, a fragmented message, a
 * JSON request, a ping from each side, a 40 KiB message, and a close from the server with a code
 * and reason. Returns what the client saw and what the client sent.
 */
async function conversation(base: string) {
  const ws = new WebSocket(`${base}/chat/room?greet=1&token=SECRET-QUERY&room=7`, ['chat.v1'], {
    headers: { authorization: 'Bearer SECRET-AUTH', cookie: 'sid=SECRET-COOKIE', 'x-app': 'demo' },
  });
  const client = watch(ws);
  await opened(ws);
  const protocol = ws.protocol;
  const extensions = ws.extensions;
  const sent: ({ text: string } | { binary: string })[] = [];
  const send = (data: string | Buffer, options: { fin?: boolean } = {}) => {
    ws.send(data, options);
  };
  await client.until(1, 'greeting');
  send('hello text');
  sent.push({ text: 'hello text' });
  await client.until(2);
  send(Buffer.from([0, 1, 2, 0xff, 0xfe]));
  sent.push({ binary: '000102fffe' });
  await client.until(3);
  // One message in two fragments.
  send('frag-', { fin: false });
  send('mented', { fin: true });
  sent.push({ text: 'frag-mented' });
  await client.until(4);
  send('{"type":"add","id":1,"a":2,"b":3}');
  sent.push({ text: '{"type":"add","id":1,"a":2,"b":3}' });
  await client.until(5);
  ws.ping('client-ping');
  await client.until(6, 'pong');
  send('ping:server-ping');
  sent.push({ text: 'ping:server-ping' });
  await client.until(7, 'pong-received');
  const big = 'x'.repeat(40 * 1024);
  send(big);
  sent.push({ text: big });
  await client.until(8, 'big echo');
  send('whoami');
  sent.push({ text: 'whoami' });
  await client.until(9, 'whoami');
  send('close:4001:bye now');
  sent.push({ text: 'close:4001:bye now' });
  await client.until(10, 'close');
  return { seen: client.seen, sent, protocol, extensions };
}

/** Values that differ from run to run (times, the port in Host, the handshake key). */
function stable(seen: Seen[]): unknown[] {
  return seen.map((s) => {
    if (!('text' in s)) return s;
    try {
      const value = JSON.parse(s.text);
      if (value.headers) {
        value.headers.host = '<host>';
        value.headers['sec-websocket-key'] = '<key>';
      }
      if ('at' in value) value.at = '<time>';
      return { json: value };
    } catch {
      return s;
    }
  });
}

function headerOf(url: string, path: string, host: string, upgrade = false) {
  return new Promise<number>((resolve, reject) => {
    const { port } = new URL(url);
    const request = httpRequest({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        host,
        ...(upgrade && {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        }),
      },
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.setTimeout(5_000, () => request.destroy(new Error('timeout')));
    request.end();
  });
}

async function exportLines(proxy: InspectorProxy) {
  const text = await (await fetch(`${proxy.panelUrl}/export.jsonl`)).text();
  return {
    text,
    lines: text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe.skipIf(!hasPython)('inspectProxy in front of a Python websockets server', () => {
  it('changes nothing either side sees, frame by frame, and records it all', async () => {
    const python = await startPythonServer();
    const { proxy, logs, ws } = await proxyTo(python.url);
    const statuses: string[] = [];
    proxy.store.listen((event: StoreEvent) => {
      if (event.type === 'connection') statuses.push(event.connection.status);
    });

    const direct = await conversation(python.url);
    const proxied = await conversation(ws);
    await waitFor(() => python.views.length === 2, 5_000, 'both server reports');
    const [serverDirect, serverProxied] = python.views as [PythonView, PythonView];

    // The client's side: the same subprotocol, extensions, frames, pongs and close, in order.
    expect(proxied.protocol).toBe('chat.v1');
    expect(proxied.extensions).toBe(direct.extensions);
    expect(stable(proxied.seen)).toEqual(stable(direct.seen));
    expect(proxied.seen.at(-1)).toEqual({ close: 4001, reason: 'bye now' });
    expect(proxied.seen).toContainEqual({ pong: 'client-ping' });
    // The server's side: what the client sent, in order, and the same handshake.
    expect(serverProxied.received).toEqual(proxied.sent);
    expect(serverProxied.sent).toEqual(
      proxied.seen.filter((s) => 'text' in s || 'binary' in s).map((s) => s),
    );
    expect(serverProxied.pongs).toEqual(['server-ping']);
    expect(serverProxied.close).toEqual({ code: 4001, reason: 'bye now' });
    expect(serverProxied.path).toBe(serverDirect.path);
    expect(serverProxied.subprotocol).toBe('chat.v1');
    const { host: _h1, 'sec-websocket-key': _k1, ...proxiedHeaders } = serverProxied.headers;
    const { host: _h2, 'sec-websocket-key': _k2, ...directHeaders } = serverDirect.headers;
    expect(proxiedHeaders).toEqual(directHeaders);
    expect(proxiedHeaders['authorization']).toBe('Bearer SECRET-AUTH');
    expect(serverProxied.headers['host']).toBe(new URL(proxy.url).host);

    // What the inspector recorded of it.
    const record = proxy.store.connections()[0]!;
    expect(record).toMatchObject({
      path: '/chat/room',
      query: { greet: '1', token: '[redacted]', room: '7' },
      protocol: 'chat.v1',
      status: 'closed',
      closeCode: 4001,
      closeReason: 'bye now',
    });
    expect(record.headers['authorization']).toBe('[redacted]');
    expect(record.headers['cookie']).toBe('[redacted]');
    expect(statuses).toEqual(expect.arrayContaining(['connecting', 'open', 'closing', 'closed']));
    const frames = proxy.store.frames({ connection: record.id, control: true });
    const summary = frames.map((f) => `${f.direction} ${f.type}${f.control ? ' (control)' : ''}`);
    expect(summary).toEqual([
      'out greeting',
      'in text',
      'out text',
      'in binary',
      'out binary',
      'in text',
      'out text',
      'in add',
      'out result',
      'in ping (control)',
      'out pong (control)',
      'in text',
      'out ping (control)',
      'in pong (control)',
      'out text',
      'in text',
      'out text',
      'in text',
      'out json',
      'in text',
      'out close (control)',
      'in close (control)',
    ]);
    expect(frames.find((f) => f.type === 'binary')).toMatchObject({
      binary: true,
      size: 5,
      hex: '000102fffe',
    });
    expect(frames.find((f) => f.type === 'result')).toMatchObject({
      id: 1,
      latencyMs: expect.any(Number),
    });
    expect(frames.filter((f) => f.text === 'frag-mented')).toHaveLength(2);
    expect(frames.find((f) => f.size === 40 * 1024)).toMatchObject({ truncated: true });
    expect(frames.at(-2)).toMatchObject({ type: 'close', code: 4001, text: '4001 bye now' });
    expect(record.rttMs).toBeGreaterThanOrEqual(0);
    // Control frames are in the store but off the timeline unless asked for.
    expect(proxy.store.frames({ connection: record.id }).some((f) => f.control)).toBe(false);

    // The export says the same, and no credential leaves the proxy, in the export or the log
    // (but for what the server itself chose to send back: its answer to whoami is content).
    const { lines } = await exportLines(proxy);
    expect(lines.filter((l) => l['kind'] === 'frame')).toHaveLength(frames.length);
    expect(lines.find((l) => l['kind'] === 'connection')).toMatchObject({ id: record.id });
    const exported = lines.filter((l) => l['type'] !== 'json').map((l) => JSON.stringify(l));
    for (const secret of ['SECRET-QUERY', 'SECRET-AUTH', 'SECRET-COOKIE'])
      expect([...exported, ...logs].join('\n')).not.toContain(secret);
    expect(logs[0]).toMatch(/^→ \w+ \/chat\/room\?greet=1&token=%5Bredacted%5D&room=7$/);
    expect(logs.at(-1)).toMatch(/^✕ \w+ 4001 bye now$/);
  });

  it('redacts a token longer than the frame cap before cutting it', async () => {
    const python = await startPythonServer();
    const { proxy, ws } = await proxyTo(python.url);
    const token = Array.from(
      { length: 12 * 1024 },
      (_, i) => 'abcdefghijklmnopqrstuvwxyz'[i % 26],
    ).join('');
    const client = new WebSocket(`${ws}/login`);
    const view = watch(client);
    await opened(client);
    client.send(JSON.stringify({ type: 'login', id: 1, token }));
    await view.until(1);
    expect(JSON.parse((view.seen[0] as { text: string }).text)).toMatchObject({
      type: 'authed',
      tokenLength: 12 * 1024,
    });
    client.close();
    await view.until(2);
    const { text, lines } = await exportLines(proxy);
    const login = lines.find((l) => l['type'] === 'login')!;
    expect(login).toMatchObject({
      truncated: true,
      size: Buffer.byteLength(JSON.stringify({ type: 'login', id: 1, token })),
    });
    // Cut at capture past the frame cap, so the closing quote and brace are gone: the token with them.
    expect(login['text']).toBe('{"type":"login","id":1,"token":"[redacted]');
    expect(text).not.toContain('abcdefghijklmnopqrstuvwxyz');
  });

  it('passes plain HTTP through, maps the path prefix, and reports a refused upgrade', async () => {
    const python = await startPythonServer();
    const { proxy, ws } = await proxyTo(`${python.url}/base`, { pathPrefix: '/api' });
    const answer = await fetch(`${proxy.url}/api/http/hello?q=1`, { headers: { 'x-test': 'yes' } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-upstream')).toBe('python');
    // The prefix /api is replaced by the upstream's base path /base.
    expect(await answer.json()).toMatchObject({ path: '/base/http/hello?q=1', 'x-test': 'yes' });
    expect((await fetch(`${proxy.url}/elsewhere`)).status).toBe(404);
    // An upstream URL without a path: paths under the prefix go as they are (as nginx's proxy_pass).
    const asIs = await proxyTo(python.url, { pathPrefix: '/api/' });
    expect(await (await fetch(`${asIs.proxy.url}/api/http/x`)).json()).toMatchObject({
      path: '/api/http/x',
    });
    expect((await fetch(`${asIs.proxy.url}/apix/http/x`)).status).toBe(404);

    const client = new WebSocket(`${ws}/api/echo?x=1`);
    const view = watch(client);
    await opened(client);
    client.send('whoami');
    await view.until(1);
    expect(JSON.parse((view.seen[0] as { text: string }).text)).toMatchObject({
      path: '/base/echo?x=1',
    });
    client.close(1000);
    await view.until(2);

    await expect(opened(new WebSocket(`${ws}/api/forbidden`))).rejects.toThrow('HTTP 403');
    await expect(opened(new WebSocket(`${ws}/nope`))).rejects.toThrow('HTTP 404');
    await waitFor(() =>
      proxy.store.connections().some((c) => c.closeReason === 'HTTP 403 Forbidden'),
    );
    const refused = proxy.store.connections().find((c) => c.closeReason === 'HTTP 403 Forbidden')!;
    expect(refused.errors).toEqual(['upstream refused the upgrade: HTTP 403 Forbidden']);
  });

  it('replays on the live connection and on a new one, and writes a test that passes against the server', async () => {
    const python = await startPythonServer();
    const { proxy, ws } = await proxyTo(python.url);
    const client = new WebSocket(`${ws}/session?greet=1`, ['chat.v2']);
    const view = watch(client);
    await opened(client);
    await view.until(1);
    client.send('{"type":"hello","id":1}');
    await view.until(2);
    client.send('{"type":"add","id":2,"a":40,"b":2}');
    await view.until(3);
    client.send('plain words 123');
    await view.until(4);
    client.send(Buffer.from('binary!'));
    await view.until(5);
    client.send('{"type":"boom","id":3}');
    await view.until(6);
    client.ping('p');
    await view.until(7);
    const id = proxy.store.connections()[0]!.id;

    // The panel's actions, over its own socket (a loopback proxy has them without a credential).
    const panel = new WebSocket(`${proxy.panelUrl.replace('http', 'ws')}/ws`);
    const results: Record<string, unknown>[] = [];
    panel.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'result' || message.type === 'hello') results.push(message);
    });
    await opened(panel);
    onCleanup(() => panel.terminate());
    panel.send(JSON.stringify({ type: 'auth', credential: '' }));
    await waitFor(() => results.length === 1);
    expect(results[0]).toMatchObject({ type: 'hello', actions: true, replayNew: true });
    const add = proxy.store.frames({ connection: id }).find((f) => f.type === 'add')!;
    panel.send(JSON.stringify({ type: 'action', action: 'replay', seq: add.seq }));
    await waitFor(() => results.length === 2);
    expect(results[1]).toMatchObject({ ok: true, action: 'replay' });
    // The live client gets the server's answer to its replayed request.
    await view.until(8);
    expect(JSON.parse((view.seen[7] as { text: string }).text)).toMatchObject({
      type: 'result',
      id: 2,
      value: 42,
    });
    panel.send(JSON.stringify({ type: 'action', action: 'replay', seq: add.seq, where: 'new' }));
    await waitFor(() => results.length === 3);
    const replayed = results[2] as { ok: boolean; connection: string };
    expect(replayed.ok).toBe(true);
    await waitFor(() =>
      proxy.store.frames({ connection: replayed.connection }).some((f) => f.type === 'result'),
    );
    expect(proxy.store.connection(replayed.connection)).toMatchObject({
      replayOf: id,
      path: '/session',
      protocol: 'chat.v2',
    });
    // Binary frames within the preview replay too.
    const binary = proxy.store
      .frames({ connection: id })
      .find((f) => f.binary && f.direction === 'in')!;
    panel.send(JSON.stringify({ type: 'action', action: 'replay', seq: binary.seq }));
    await view.until(9);
    expect(view.seen[8]).toEqual({ binary: Buffer.from('binary!').toString('hex') });
    client.close(4100, 'done here');
    await view.until(10);

    // Record-to-test: the session as a test file, run by vitest against the same server.
    const response = await fetch(`${proxy.panelUrl}/test.mjs?connection=${id}`);
    expect(response.status).toBe(200);
    const source = await response.text();
    expect(source).toContain(`?? "${python.url}/session?greet=1"`);
    expect(source).toContain('const PROTOCOLS = ["chat.v2"]');
    const dir = join(process.cwd(), '.tmp', `record-to-test-${process.pid}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'session.test.mjs'), source);
    writeFileSync(
      join(dir, 'vitest.config.mjs'),
      "export default { test: { include: ['*.test.mjs'], testTimeout: 30000 } };\n",
    );
    const passed = await runVitest(dir, {});
    expect(passed.output).toMatch(/1 passed/);
    expect(passed.code).toBe(0);

    // Against a server that answers differently (echoes everything), it fails.
    const echo = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handleProtocols: (p) => [...p][0] ?? false,
    });
    echo.on('connection', (socket) =>
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })),
    );
    onCleanup(() => new Promise((resolve) => echo.close(resolve)));
    await new Promise((resolve) => echo.once('listening', resolve));
    const port = (echo.address() as { port: number }).port;
    const failed = await runVitest(dir, {
      WS_URL: `ws://127.0.0.1:${port}/session`,
      WAIT_MS: '500',
    });
    expect(failed.code).not.toBe(0);
    expect(failed.output).toMatch(/1 failed/);
  });

  it('keeps the panel, its export and its socket to loopback Host names without a credential', async () => {
    const python = await startPythonServer();
    const { proxy } = await proxyTo(python.url, { allowedHosts: ['inspector.test'] });
    const panel = proxy.panelUrl;
    const path = new URL(panel).pathname;
    for (const host of ['evil.example', 'evil.example:80', `127.0.0.2.nip.io:${proxy.port}`]) {
      expect(await headerOf(panel, path, host)).toBe(403);
      expect(await headerOf(panel, `${path}/export.jsonl`, host)).toBe(403);
      expect(await headerOf(panel, `${path}/ws`, host, true)).toBe(403);
    }
    for (const host of [
      `localhost:${proxy.port}`,
      '127.0.0.1',
      `[::1]:${proxy.port}`,
      'inspector.test:1234',
    ])
      expect(await headerOf(panel, path, host)).toBe(200);
    expect(await headerOf(panel, `${path}/ws`, 'localhost', true)).toBe(101);
    // The proxied app's own routes are the app's business: they are forwarded whatever the Host.
    expect(await headerOf(panel, '/http/x', 'evil.example')).toBe(200);

    // With a credential, the credential guards the panel and any Host goes.
    const guarded = await proxyTo(python.url, { credential: 'sesame' });
    const guardedPath = new URL(guarded.proxy.panelUrl).pathname;
    expect(await headerOf(guarded.proxy.panelUrl, guardedPath, 'evil.example')).toBe(200);
    expect(
      await headerOf(guarded.proxy.panelUrl, `${guardedPath}/export.jsonl`, 'evil.example'),
    ).toBe(401);
  });

  it('serves the panel on its own port when asked, leaving every path of the proxy to the app', async () => {
    const python = await startPythonServer();
    const { proxy, ws } = await proxyTo(python.url, { panelPort: 0 });
    expect(new URL(proxy.panelUrl).port).not.toBe(String(proxy.port));
    expect((await fetch(proxy.panelUrl)).status).toBe(200);
    const client = new WebSocket(`${ws}/inspector`);
    const view = watch(client);
    await opened(client);
    client.send('whoami');
    await view.until(1);
    expect(JSON.parse((view.seen[0] as { text: string }).text)).toMatchObject({
      path: '/inspector',
    });
    client.terminate();
  });
});

describe.skipIf(!hasPython || !hasChromium)('the proxy in the panel, in headless Chromium', () => {
  it('shows the session: raw text, pretty JSON, binary as size and hex, control frames on demand', async () => {
    const python = await startPythonServer();
    const { proxy, ws } = await proxyTo(python.url);
    const browser = await launch();
    const page = await browser.newPage();
    await page.goto(proxy.panelUrl);
    const client = new WebSocket(`${ws}/shown?greet=1`);
    const view = watch(client);
    await opened(client);
    await view.until(1);
    client.send('{"type":"add","id":9,"a":1,"b":1}');
    client.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    client.ping('hi');
    await view.until(4);
    await page.locator('#frames tr', { hasText: 'deadbeef' }).first().waitFor();
    await page.locator('#stats', { hasText: '1 active / 1 total' }).waitFor();
    await page.locator('#frames tr', { hasText: 'result' }).first().click();
    expect(await page.locator('#detail').textContent()).toContain('"value": 2');
    await page.locator('#frames tr', { hasText: 'deadbeef' }).first().click();
    expect(await page.locator('#detail').textContent()).toContain('binary, 4 bytes');
    expect(await page.locator('#frames tr', { hasText: 'pong' }).count()).toBe(0);
    await page.check('#f-control');
    await page.locator('#frames tr', { hasText: 'pong' }).first().waitFor();
    client.close(4002, 'seen');
    await view.until(5);
    await page.locator('#frames tr', { hasText: '4002 seen' }).first().waitFor();
    await page.locator('#stats', { hasText: '0 active / 1 total' }).waitFor();
  });
});

function runVitest(dir: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(process.cwd(), 'node_modules/vitest/vitest.mjs'),
        'run',
        '--root',
        dir,
        '--config',
        join(dir, 'vitest.config.mjs'),
      ],
      {
        cwd: dir,
        env: { ...process.env, ...env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('inspectProxy in front of a Socket.IO server', () => {
  it('relays long-polling, the upgrade to WebSocket and every event unchanged, both ways', async () => {
    const http = createHttpServer();
    const io = new SocketIOServer(http);
    const serverSaw: unknown[] = [];
    const serverSent: unknown[] = [];
    io.on('connection', (socket) => {
      socket.on('chat', (message: { n: number }, ack: (answer: unknown) => void) => {
        serverSaw.push(['chat', message]);
        ack({ ok: true, n: message.n });
        const news = { n: message.n * 2, text: 'twice' };
        serverSent.push(['news', news]);
        socket.emit('news', news);
      });
      socket.on('blob', (data: Buffer) => {
        serverSaw.push(['blob', Buffer.from(data).toString('hex')]);
        serverSent.push(['blob', 'cafe']);
        socket.emit('blob', Buffer.from('cafe', 'hex'));
      });
      socket.on('disconnect', (reason) => serverSaw.push(['disconnect', reason]));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => io.close(() => resolve(undefined))));
    const port = (http.address() as { port: number }).port;
    const { proxy } = await proxyTo(`ws://127.0.0.1:${port}`);

    // Long-polling first (plain HTTP through the proxy), then the upgrade to WebSocket.
    const client = connectSocketIo(proxy.url, {
      transports: ['polling', 'websocket'],
      reconnection: false,
      forceNew: true,
    });
    onCleanup(() => client.disconnect());
    const clientSaw: unknown[] = [];
    client.on('news', (news) => clientSaw.push(['news', news]));
    client.on('blob', (data: Buffer) =>
      clientSaw.push(['blob', Buffer.from(data).toString('hex')]),
    );
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('connect_error', reject);
    });
    await waitFor(() => client.io.engine.transport.name === 'websocket', 5_000, 'the upgrade');
    const ack = await client.timeout(5_000).emitWithAck('chat', { n: 21 });
    expect(ack).toEqual({ ok: true, n: 21 });
    client.emit('blob', Buffer.from([1, 2, 3]));
    await waitFor(() => clientSaw.length === 2, 5_000, 'news and blob');
    client.disconnect();
    await waitFor(() => serverSaw.length === 3, 5_000, 'the disconnect');

    expect(serverSaw).toEqual([
      ['chat', { n: 21 }],
      ['blob', '010203'],
      ['disconnect', 'client namespace disconnect'],
    ]);
    expect(clientSaw).toEqual(serverSent);

    // The WebSocket leg, as recorded: Engine.IO and Socket.IO packets, raw, with the binary
    // attachment as a binary frame; the session id in the query is redacted.
    await waitFor(() => proxy.store.connections().some((c) => c.status === 'closed'));
    const record = proxy.store.connections().find((c) => c.path === '/socket.io/')!;
    expect(record.query).toMatchObject({ EIO: '4', transport: 'websocket', sid: '[redacted]' });
    const texts = proxy.store.frames({ connection: record.id }).map((f) => f.text ?? f.hex);
    expect(texts).toEqual(
      expect.arrayContaining([
        '2probe',
        '3probe',
        '5',
        expect.stringMatching(/^42\d*\["chat",\{"n":21\}\]$/),
        '010203',
      ]),
    );
    expect(texts.some((t) => /^43\d*\[\{"ok":true,"n":21\}\]$/.test(t ?? ''))).toBe(true);
  });
});

describe('inspectProxy in front of a Switchboard gateway', () => {
  it('decodes its protocol, and replays a publish with a fresh key, or the same one, or on a new connection', async () => {
    const { url, server } = await startServer();
    const { proxy, ws } = await proxyTo(url.replace(/\/ws$/, ''));
    const published: unknown[] = [];
    server.tap({ publication: (publication) => published.push(publication.data) });
    const alice = await connected(`${ws}/ws`, 'alice');
    await alice.subscribe('chat:a').ready();
    await alice.publish('chat:a', 'said', { n: 1 });
    await waitFor(() => published.length === 1);
    const id = proxy.store.connections()[0]!.id;
    const frames = proxy.store.frames({ connection: id });
    expect(frames.find((f) => f.type === 'connect')!.text).toContain('"token":"[redacted]"');
    const publish = frames.find((f) => f.type === 'publish')!;
    expect(publish).toMatchObject({ channel: 'chat:a', event: 'said', direction: 'in' });
    expect(frames.find((f) => f.type === 'reply' && f.id === publish.id)).toMatchObject({
      latencyMs: expect.any(Number),
    });
    expect(frames.some((f) => f.type === 'message' && f.channel === 'chat:a')).toBe(true);

    const panel = new WebSocket(`${proxy.panelUrl.replace('http', 'ws')}/ws`);
    onCleanup(() => panel.terminate());
    const results: Record<string, unknown>[] = [];
    panel.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'result') results.push(message);
    });
    await opened(panel);
    panel.send(JSON.stringify({ type: 'auth', credential: '' }));
    const act = async (message: Record<string, unknown>) => {
      const before = results.length;
      panel.send(JSON.stringify({ type: 'action', ...message }));
      await waitFor(() => results.length > before, 5_000, 'the action result');
      return results.at(-1)!;
    };
    // A fresh idempotency key: published again.
    expect(await act({ action: 'replay', seq: publish.seq })).toMatchObject({ ok: true });
    await waitFor(() => published.length === 2, 5_000, 'the replayed publish');
    // The original key: the gateway drops it as a duplicate.
    expect(await act({ action: 'replay', seq: publish.seq, repeatKey: true })).toMatchObject({
      ok: true,
    });
    // On a new connection: the captured connect first (its real token), then the publish.
    const fresh = (await act({ action: 'replay', seq: publish.seq, where: 'new' })) as {
      ok: boolean;
      connection: string;
    };
    expect(fresh.ok).toBe(true);
    await waitFor(() => published.length === 3, 5_000, 'the publish on a new connection');
    expect(proxy.store.connection(fresh.connection)).toMatchObject({ replayOf: id });
    const replayFrames = proxy.store
      .frames({ connection: fresh.connection })
      .map((f) => `${f.direction} ${f.type}`);
    expect(replayFrames.slice(0, 4)).toEqual([
      'in connect',
      'out reply',
      'in publish',
      'out reply',
    ]);
    expect(published).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
  });
});
