import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { attachInspector } from '../../src/inspector/index.js';
import { chromiumAvailable, launch } from '../browser.js';
import { connected, onCleanup, startServer, waitFor } from '../helpers.js';

const hasChromium = chromiumAvailable();

async function gatewayWithInspector(options: Parameters<typeof attachInspector>[1] = {}) {
  const started = await startServer();
  const inspector = attachInspector(started.server, options);
  onCleanup(() => inspector.close());
  const base = `http://127.0.0.1:${started.port}${inspector.path}`;
  return { ...started, inspector, base };
}

/** The panel's own socket, driven by hand. */
async function panelSocket(base: string, origin?: string) {
  const ws = new WebSocket(
    `${base.replace('http', 'ws')}/ws`,
    origin ? { headers: { origin } } : {},
  );
  ws.on('error', () => {});
  onCleanup(() => ws.terminate());
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return { ws, messages, closed, send: (m: unknown) => ws.send(JSON.stringify(m)) };
}

describe('inspector: capture and panel API', () => {
  it('captures connections and frames with redacted tokens, pairing replies with requests', async () => {
    const { url, inspector } = await gatewayWithInspector();
    const c = await connected(url, 'alice');
    await c.subscribe('chat:a').ready();
    await c.publish('chat:a', 'message', { text: 'hi' });
    const store = inspector.store!;
    const record = store.connections()[0]!;
    expect(record).toMatchObject({
      id: c.connectionId,
      status: 'open',
      user: 'alice',
      path: '/ws',
      channels: ['chat:a'],
    });
    const frames = store.frames({ connection: c.connectionId! });
    const connect = frames.find((f) => f.type === 'connect')!;
    expect(connect.text).toContain('"token":"[redacted]"');
    expect(connect.text).not.toMatch(/eyJ/);
    const reply = frames.find((f) => f.direction === 'out' && f.id === connect.id);
    expect(reply?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(
      frames.some((f) => f.type === 'message' && f.channel === 'chat:a' && f.event === 'message'),
    ).toBe(true);
    await c.publish('nowhere', 'x', 1).catch(() => {});
    expect(store.connection(c.connectionId!)?.errors).toEqual([
      'NOT_FOUND: Unknown channel "nowhere"',
    ]);
  });

  it('requires the credential, refuses other origins, and keeps actions off unless enabled', async () => {
    const { base } = await gatewayWithInspector({ credential: 'sesame' });
    await expect(panelSocket(base, 'https://evil.example')).rejects.toThrow(/403/);
    expect((await fetch(`${base}`, { headers: { origin: 'https://evil.example' } })).status).toBe(
      403,
    );
    const wrong = await panelSocket(base);
    wrong.send({ type: 'auth', credential: 'nope' });
    expect(await wrong.closed).toBe(4001);
    const right = await panelSocket(base);
    right.send({ type: 'auth', credential: 'sesame' });
    await waitFor(() => right.messages.some((m) => m['type'] === 'snapshot'));
    expect(right.messages[0]).toMatchObject({ type: 'hello', actions: false });
    right.send({ type: 'action', action: 'close', connection: 'x', code: 4010 });
    await waitFor(() => right.messages.some((m) => m['type'] === 'result'));
    expect(right.messages.find((m) => m['type'] === 'result')).toMatchObject({ ok: false });
    expect((await fetch(`${base}/export.jsonl`)).status).toBe(401);
  });

  it('is off in production without a credential, and then costs nothing', async () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const { server, url } = await startServer();
      const inspector = attachInspector(server);
      expect(inspector.enabled).toBe(false);
      expect(
        (await fetch(url.replace('ws://', 'http://').replace('/ws', '/inspector'))).status,
      ).toBe(404);
      const guarded = attachInspector(server, { credential: 'sesame', path: '/ops' });
      expect(guarded.enabled).toBe(true);
      guarded.close();
    } finally {
      process.env.NODE_ENV = previous;
    }
  });

  it('filters on the server, exports JSON Lines and writes a replay script', async () => {
    const { url, base } = await gatewayWithInspector({ credential: 'sesame' });
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    await alice.subscribe('chat:a').ready();
    await bob.subscribe('chat:b').ready();
    const panel = await panelSocket(base);
    panel.send({ type: 'auth', credential: 'sesame' });
    await waitFor(() => panel.messages.some((m) => m['type'] === 'snapshot'));
    panel.send({ type: 'filter', filter: { channel: 'chat:b', direction: 'in' } });
    await waitFor(() => panel.messages.filter((m) => m['type'] === 'snapshot').length === 2);
    await alice.publish('chat:a', 'm', 1);
    await bob.publish('chat:b', 'm', 2);
    await waitFor(() =>
      panel.messages.some((m) => m['type'] === 'batch' && (m['frames'] as unknown[]).length > 0),
    );
    const sent = panel.messages.flatMap((m) =>
      m['type'] === 'batch' ? (m['frames'] as { channel: string; direction: string }[]) : [],
    );
    expect(sent.every((f) => f.channel === 'chat:b' && f.direction === 'in')).toBe(true);

    const auth = { headers: { authorization: 'Bearer sesame' } };
    const lines = (await (await fetch(`${base}/export.jsonl`, auth)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ kind: 'session', version: 1 });
    expect(lines.filter((l) => l.kind === 'connection')).toHaveLength(2);
    expect(lines.some((l) => l.kind === 'frame' && l.channel === 'chat:b')).toBe(true);
    const script = await (
      await fetch(`${base}/replay.mjs?connection=${bob.connectionId}`, auth)
    ).text();
    expect(script).toContain('\\"type\\":\\"subscribe\\"');
    expect(script).toContain('chat:b');
    expect(script).toContain("import WebSocket from 'ws'");
  });
});

describe.skipIf(!hasChromium)('inspector panel in headless Chromium', () => {
  it('shows a connection, streams frames, filters, replays a frame to the server, and shows a close code', async () => {
    const { url, base, server } = await gatewayWithInspector({
      credential: 'sesame',
      actions: true,
    });
    const received: string[] = [];
    server.tap({
      inbound: (_c, _raw, frames) => received.push(...(frames ?? []).map((f) => JSON.stringify(f))),
    });
    const browser = await launch();
    const page = await browser.newPage();
    await page.goto(base);
    await page.fill('#credential', 'sesame');
    await page.click('#login button');

    const alice = await connected(url, 'alice');
    // The row appears when the socket opens and gains its user once authenticated (the panel
    // batches updates), so wait for the user rather than reading the first version of the row.
    const row = page.locator(`#connections .row[data-id="${alice.connectionId}"]`);
    await row.filter({ hasText: 'alice' }).waitFor();

    await alice.subscribe('chat:a').ready();
    await alice.publish('chat:a', 'greeting', { text: 'hello panel' });
    await alice.publish('chat:b', 'other', 1).catch(() => {});
    await page.locator('#frames tr', { hasText: 'greeting' }).first().waitFor();

    await page.fill('#f-event', 'greeting');
    await page.waitForFunction(() => {
      const rows = Array.from(document.querySelectorAll('#frames tr'));
      return rows.length > 0 && rows.every((r) => r.textContent?.includes('greeting'));
    });

    // Replay the client's publish: the server receives it a second time.
    await row.click();
    await page.fill('#f-direction', '').catch(() => {});
    await page.selectOption('#f-direction', 'in');
    const publishRow = page.locator('#frames tr', { hasText: 'greeting' }).first();
    await publishRow.click();
    const before = received.filter((r) => r.includes('hello panel')).length;
    await page.click('#replay');
    await waitFor(
      () => received.filter((r) => r.includes('hello panel')).length === before + 1,
      5_000,
      'replayed frame',
    );

    // Close it from the panel with a code; the timeline shows it.
    await page.fill('#f-event', '');
    await page.selectOption('#f-direction', '');
    await page.fill('#close-code', '4010');
    await page.click('#close');
    await page.locator('#frames tr.closed', { hasText: '4010' }).waitFor();
    expect(await row.locator('.dot').getAttribute('class')).toContain('closed');
    // The README's screenshot is this very panel: UPDATE_SCREENSHOTS=1 npm test refreshes it.
    if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: 'docs/inspector.png' });
  });

  it('works for a plain ws server: raw frames, same panel', async () => {
    const http = createHttpServer((_req, res) => res.writeHead(200).end('app'));
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data}`)));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const inspector = attachInspector(wss, { server: http });
    onCleanup(() => {
      inspector.close();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      return new Promise((resolve) => http.close(resolve));
    });
    const port = (http.address() as AddressInfo).port;
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('app');

    const browser = await launch();
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/inspector`);
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    onCleanup(() => client.terminate());
    await new Promise((resolve) => client.once('open', resolve));
    client.send('ping-42');
    await page.locator('#frames tr', { hasText: 'echo:ping-42' }).waitFor();
    expect(await page.locator('#frames tr', { hasText: 'ping-42' }).count()).toBe(2);
    client.close(4321, 'bye');
    await page.locator('#connections .row', { hasText: 'closed 4321' }).waitFor();
  });
});
