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
import { chromiumAvailable, launch } from '../browser.js';
import { sleep, startServer, waitFor } from '../helpers.js';

const hasChromium = chromiumAvailable();

describe.skipIf(!hasChromium)('react hooks in headless Chromium', () => {
  it('StrictMode opens one socket and subscribes once; 1,000 messages all arrive; new handlers do not resubscribe', async () => {
    const bundle = await build({
      entryPoints: ['test/fixtures/hooks-app.js'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      define: { 'process.env.NODE_ENV': '"development"' }, // StrictMode's double effects run in development
    });
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
    server.route((req, res) => {
      if (req.url?.startsWith('/app.js'))
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle.outputFiles[0]!.text);
      else if (req.url?.startsWith('/page'))
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<div id="root"></div><script type="module" src="/app.js"></script>');
      else return false;
      return true;
    });
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
