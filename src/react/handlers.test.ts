import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * A page that re-renders on demand (50 times here), each time with new handler functions for useEvent,
 * useStreams, useTyping and new option objects for useChannel, against a fake client that counts
 * what the hooks register.
 */
const PAGE = `
import { createElement as h, StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { SwitchboardProvider, useChannel, useEvent, useStreams, useTyping } from './index.ts';

const registered = {};
const live = {};
let subscribes = 0;
const sub = {
  channel: 'c',
  state: 'subscribed',
  on(event, handler) {
    registered[event] = (registered[event] ?? 0) + 1;
    (live[event] ??= new Set()).add(handler);
    return () => live[event].delete(handler);
  },
  history: async () => ({ publications: [] }),
  presence: async () => [],
  unsubscribe() {},
};
const client = {
  state: 'connected',
  userId: 'me',
  connect: async () => {},
  close() {},
  on: () => () => {},
  subscribe() { subscribes++; return sub; },
  publish: async () => ({}),
};

function App() {
  const [n, setN] = useState(0);
  useEffect(() => {
    window.bump = () => setN((x) => x + 1);
  }, []);
  useEvent('c', 'ping', () => { window.heardAt = n; });
  useChannel('c', { limit: 10 });
  useStreams('c');
  useTyping('c');
  return h('span', { id: 'n' }, String(n));
}

window.counts = () => ({
  subscribes,
  registered: { ...registered },
  live: Object.fromEntries(Object.entries(live).map(([k, v]) => [k, v.size])),
});
window.emit = (event, data, meta) => { for (const handler of live[event] ?? []) handler(data, meta); };
createRoot(document.getElementById('root')).render(
  h(StrictMode, null, h(SwitchboardProvider, { client }, h(App))),
);
`;

describe.skipIf(!existsSync(CHROMIUM))('hooks keep handlers in refs', () => {
  it('a new handler on every render never registers again, and the newest one is called', async () => {
    const bundle = await build({
      stdin: {
        contents: PAGE,
        resolveDir: fileURLToPath(new URL('.', import.meta.url)),
        loader: 'js',
      },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      write: false,
      define: { 'process.env.NODE_ENV': '"development"' }, // StrictMode's double effects
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    try {
      const page = await browser.newPage();
      await page.setContent('<div id="root"></div>');
      await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
      await page.waitForFunction(() => 'bump' in window);
      const early = await page.evaluate(() => (window as unknown as Counts).counts());
      for (let i = 1; i <= 50; i++) {
        await page.evaluate(() => (window as unknown as Counts).bump());
        await page.waitForFunction(
          (n) => document.getElementById('n')?.textContent === n,
          String(i),
        );
      }
      const late = await page.evaluate(() => (window as unknown as Counts).counts());
      // Fifty renders with new functions later, nothing registered or subscribed again.
      expect(late).toEqual(early);
      // '*': useChannel's list and useTyping (a user's message ends their typing).
      expect(late.live).toMatchObject({ ping: 1, stream: 1, typing: 1, '*': 2 });
      const heard = await page.evaluate(() => {
        (window as unknown as Counts).emit('ping', 1, {});
        return (window as unknown as { heardAt: number }).heardAt;
      });
      expect(heard).toBe(50);
    } finally {
      await browser.close();
    }
  }, 30_000);
});

interface Counts {
  counts(): {
    subscribes: number;
    registered: Record<string, number>;
    live: Record<string, number>;
  };
  emit(event: string, data: unknown, meta: unknown): void;
  bump(): void;
}
