import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Target } from './capture.js';
import { createPanel } from './panel.js';
import { InspectorStore } from './store.js';

const target: Target = { replay: () => false, send: () => false, close: () => false };
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function servePanel({ credential }: { credential?: string } = { credential: 'sesame' }) {
  const store = new InspectorStore();
  store.openConnection({
    id: 'c1',
    status: 'open',
    path: '/ws',
    query: {},
    headers: {},
    connectedAt: 0,
  });
  store.addFrame('c1', { direction: 'in', time: 0, size: 2, type: 'publish' }, '{}');
  const panel = createPanel(store, target, { path: '/inspector', credential, actions: false });
  const unhandled: string[] = [];
  const http: Server = createServer((request, response) => {
    if (!panel.handleHttp(request, response)) {
      unhandled.push(request.url ?? '');
      response.writeHead(418).end();
    }
  });
  http.on('upgrade', (request, socket, head) => {
    if (!panel.handleUpgrade(request, socket, head)) {
      unhandled.push(request.url ?? '');
      socket.destroy();
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    panel.close();
    http.closeAllConnections();
    http.close();
  });
  const base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  return { base, unhandled };
}

describe('the panel over HTTP', () => {
  it('serves the page (with or without a slash or a query) and its script, under a strict CSP', async () => {
    const { base } = await servePanel();
    for (const path of ['/inspector', '/inspector/', '/inspector?x=1']) {
      const page = await fetch(`http://${base}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(await page.text()).toContain('src="/inspector/panel.js"');
    }
    const script = await fetch(`http://${base}/inspector/panel.js`);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`http://${base}/inspector/nope`)).status).toBe(404);
  });

  it('leaves other paths to the server', async () => {
    const { base, unhandled } = await servePanel();
    expect((await fetch(`http://${base}/inspectorx`)).status).toBe(418);
    expect((await fetch(`http://${base}/`)).status).toBe(418);
    expect(unhandled).toEqual(['/inspectorx', '/']);
  });

  it('refuses other origins', async () => {
    const { base } = await servePanel();
    const response = await fetch(`http://${base}/inspector`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(response.status).toBe(403);
  });

  it('hands exports only to the bearer of the credential (any case of the scheme)', async () => {
    const { base } = await servePanel();
    const url = `http://${base}/inspector/export.jsonl`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await fetch(url, { headers: { authorization: 'Bearer sesam' } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Basic sesame' } })).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: 'bearer sesame' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/x-ndjson');
    expect((await ok.text()).split('\n')[0]).toContain('"kind":"session"');
    const script = await fetch(`http://${base}/inspector/replay.mjs?connection=c1`, {
      headers: { authorization: 'Bearer sesame' },
    });
    expect(await script.text()).toContain('Replays the frames connection c1 sent');
  });

  it('needs no bearer when no credential is set', async () => {
    const { base } = await servePanel({});
    expect((await fetch(`http://${base}/inspector/export.jsonl`)).status).toBe(200);
  });
});

describe('the panel socket', () => {
  const open = (url: string, headers: Record<string, string> = {}) =>
    new Promise<WebSocket | number>((resolve) => {
      const ws = new WebSocket(url, { headers });
      ws.on('error', () => {});
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      cleanups.push(() => ws.terminate());
    });

  it('upgrades on {path}/ws only, and refuses other origins with 403', async () => {
    const { base, unhandled } = await servePanel();
    expect(await open(`ws://${base}/inspector/ws`, { origin: 'https://evil.example' })).toBe(403);
    expect(await open(`ws://${base}/inspector/ws?x=1`)).toBeInstanceOf(WebSocket);
    const elsewhere = new WebSocket(`ws://${base}/inspector/other`);
    elsewhere.on('error', () => {});
    await new Promise((resolve) => elsewhere.once('close', resolve));
    expect(unhandled).toEqual(['/inspector/other']);
  });

  it('closes with 4001 on a wrong credential, and says hello with a snapshot on the right one', async () => {
    const { base } = await servePanel();
    const wrong = (await open(`ws://${base}/inspector/ws`)) as WebSocket;
    const code = new Promise((resolve) => wrong.once('close', resolve));
    wrong.send(JSON.stringify({ type: 'auth', credential: 'nope' }));
    expect(await code).toBe(4001);
    const right = (await open(`ws://${base}/inspector/ws`)) as WebSocket;
    const messages: { type: string }[] = [];
    const snapshot = new Promise<void>((resolve) =>
      right.on('message', (data) => {
        messages.push(JSON.parse(data.toString()));
        if (messages.length === 2) resolve();
      }),
    );
    right.send(JSON.stringify({ type: 'auth', credential: 'sesame' }));
    await snapshot;
    expect(messages.map((m) => m.type)).toEqual(['hello', 'snapshot']);
    expect(messages[1]).toMatchObject({ total: 1, frames: [{ connection: 'c1' }] });
  });
});
