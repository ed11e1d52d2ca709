import { build } from 'esbuild';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import {
  SwitchboardProvider,
  useChannel,
  useConnectionState,
  usePresence,
} from '../../src/react/index.js';
import { chromiumAvailable, launch, servePage } from '../browser.js';
import { sleep, startServer, waitFor } from '../helpers.js';

const hasChromium = chromiumAvailable();

/** A fixture app bundled for the browser, in development: StrictMode's double effects run. */
async function bundleApp(entry: string): Promise<string> {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    define: { 'process.env.NODE_ENV': '"development"' },
  });
  return bundle.outputFiles[0]!.text;
}

describe.skipIf(!hasChromium)('react hooks in headless Chromium', () => {
  it('StrictMode opens one socket and subscribes once; 1,000 messages all arrive; new handlers do not resubscribe', async () => {
    const script = await bundleApp('test/fixtures/hooks-app.js');
    const { server, url, port } = await startServer({
      auth: { anonymous: true },
      limits: { maxQueueBytes: 16 * 1024 * 1024 },
    });
    let upgrades = 0;
    let subscribes = 0;
    server.tap({
      open: () => upgrades++,
      inbound: (_c, _raw, frames) => {
        for (const f of frames ?? [])
          if ((f as { type?: string }).type === 'subscribe') subscribes++;
      },
    });
    servePage(server, script);
    const browser = await launch();
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/page?ws=${encodeURIComponent(url)}`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'connected');
    await waitFor(() => subscribes >= 1, 5_000, 'subscribe');
    await sleep(200);
    expect(upgrades).toBe(1);
    expect(subscribes).toBe(1);

    for (let n = 1; n <= 1000; n++) void server.publish('chat:burst', 'n', n);
    await page.waitForFunction(
      () => document.getElementById('events')?.textContent === '1000',
      undefined,
      { timeout: 15_000 },
    );
    await page.waitForFunction(
      () => document.getElementById('messages')?.textContent === '1000',
      undefined,
      { timeout: 15_000 },
    );
    expect(await page.textContent('#last')).toBe('1000');
    expect(Number(await page.textContent('#renders'))).toBeGreaterThan(5);
    expect(subscribes).toBe(1);
    expect(upgrades).toBe(1);
  });
});

describe.skipIf(!hasChromium)('useLatest in headless Chromium', () => {
  it('shows the values kept before the page subscribed, then live ones; useChannel lists only live messages', async () => {
    const script = await bundleApp('test/fixtures/latest-app.js');
    const { server, port, url } = await startServer({
      auth: { anonymous: true },
      channels: { 'agent:*': { latest: true, ephemeral: ['progress'] } },
    });
    servePage(server, script);
    await server.publish('agent:1', 'status', { text: 'idle' });
    await server.publish('agent:1', 'status', { text: 'thinking' });
    await server.publish('agent:1', 'progress', 80); // ephemeral: kept as latest all the same
    const browser = await launch();
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/page?ws=${encodeURIComponent(url)}`);
    await page.waitForFunction(
      () =>
        document.getElementById('status')?.textContent === 'thinking' &&
        document.getElementById('progress')?.textContent === '80',
    );
    expect(await page.textContent('#messages')).toBe('');
    await server.publish('agent:1', 'status', { text: 'done' });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'done');
    expect(await page.textContent('#progress')).toBe('80');
    expect(await page.textContent('#messages')).toBe('status');
  });
});

function ServerView() {
  const state = useConnectionState();
  const { messages } = useChannel('chat:a');
  const members = usePresence('chat:a');
  return createElement('p', null, `${state} ${messages.length} ${members.length}`);
}

describe('react hooks on the server', () => {
  it('server rendering touches no socket and renders the empty state', () => {
    const html = renderToString(
      createElement(
        SwitchboardProvider,
        { options: { url: 'ws://127.0.0.1:1/never' } },
        createElement(ServerView),
      ),
    );
    expect(html).toBe('<p>idle 0 0</p>');
  });
});
