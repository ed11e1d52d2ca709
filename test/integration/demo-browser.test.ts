import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { chromiumAvailable, launch } from '../browser.js';
import { onCleanup, waitFor } from '../helpers.js';

const hasChromium = chromiumAvailable();

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** `node demo/server.js` as `npm start` runs it (the page is built by the test setup). */
async function startDemo(port: number, secret: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['demo/server.js'], {
    env: { ...process.env, PORT: String(port), JWT_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onCleanup(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  await waitFor(() => output.includes('Switchboard demo'), 15_000, 'demo to start');
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

const say = async (page: Page, text: string) => {
  await page.fill('form input', text);
  await page.press('form input', 'Enter');
};

describe.skipIf(!hasChromium)('the demo in headless Chromium', () => {
  it('two people chat, see presence and typing, and both watch the agent stream its reply', async () => {
    const port = await freePort();
    await startDemo(port, 'demo-test-secret');
    const browser = await launch();
    const ada = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    // Ada signs in through the login form; Bob through a link with his name.
    await ada.goto(`http://127.0.0.1:${port}/?room=r1`);
    await ada.fill('.login input', 'ada');
    await ada.click('.login button');
    await bob.goto(`http://127.0.0.1:${port}/?name=bob&room=r1`);
    for (const page of [ada, bob]) await page.locator('.badge[data-state="connected"]').waitFor();

    await ada.locator('.people li', { hasText: 'bob' }).waitFor();
    await bob.locator('.people li', { hasText: 'ada' }).waitFor();

    await say(bob, 'hi ada');
    await ada.locator('.message', { hasText: 'hi ada' }).waitFor();

    await ada.fill('form input', 'typing something');
    await bob.locator('.typing', { hasText: 'ada is typing' }).waitFor();

    await say(ada, '@agent what is switchboard?');
    for (const page of [ada, bob]) {
      await page
        .locator('.agent[data-stream="end"]', { hasText: 'You asked: "what is switchboard?"' })
        .waitFor({ timeout: 15_000 });
    }
  });

  it('a reload keeps the history; a server restart shows reconnecting, then the page catches up', async () => {
    const port = await freePort();
    const secret = 'demo-test-secret';
    let demo = await startDemo(port, secret);
    const browser = await launch();
    const ada = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    await ada.goto(`http://127.0.0.1:${port}/?name=ada&room=r2`);
    await bob.goto(`http://127.0.0.1:${port}/?name=bob&room=r2`);
    await ada.locator('.badge[data-state="connected"]').waitFor();
    await say(ada, 'first message');
    await say(ada, 'second message');
    await bob.locator('.message', { hasText: 'second message' }).waitFor();

    await bob.reload();
    await bob.locator('.message', { hasText: 'first message' }).waitFor();
    expect(await bob.locator('.message').count()).toBe(2);

    await stop(demo);
    await ada.locator('.badge[data-state="reconnecting"]').waitFor();
    demo = await startDemo(port, secret);
    await bob.locator('.badge[data-state="connected"]').waitFor({ timeout: 15_000 });
    // Published while ada's page may still be away: it catches up whether it reconnects before
    // (live) or after (history, since the in-memory broker restarted with a new epoch).
    await say(bob, 'after the restart');
    await ada.locator('.badge[data-state="connected"]').waitFor({ timeout: 15_000 });
    await ada.locator('.message', { hasText: 'after the restart' }).waitFor({ timeout: 15_000 });
    await waitFor(
      async () => (await ada.locator('.message', { hasText: 'after the restart' }).count()) === 1,
    );
  });
});
