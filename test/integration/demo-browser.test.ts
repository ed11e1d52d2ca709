import { spawnSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { chromiumAvailable, launch } from '../browser.js';
import { httpBalancer } from '../cluster.js';
import { startDemo, stopDemo, withDemoBuild } from '../demo.js';
import { waitFor } from '../helpers.js';
import { PYTHON } from '../python.js';

const hasChromium = chromiumAvailable();
const hasPython = spawnSync(PYTHON, ['--version']).status === 0 || process.env['CI'] === 'true';

withDemoBuild();

const say = async (page: Page, text: string) => {
  await page.fill('form input', text);
  await page.press('form input', 'Enter');
};

/** The room's log as a reader sees it, top to bottom: "who: text" per line. */
const logLines = (page: Page) =>
  page.$$eval('.log .line.message, .log .line.agent', (lines) =>
    lines.map((line) => {
      const who = line.querySelector('b')?.textContent ?? '';
      const text = line.classList.contains('agent')
        ? (line.querySelector('.text')?.textContent ?? '')
        : (line.textContent ?? '').slice(who.length).trim();
      return `${who}: ${text}`;
    }),
  );

const replyDone = (page: Page, prompt: string) =>
  page
    .locator('.agent[data-stream="end"]', { hasText: `You asked: "${prompt}"` })
    .waitFor({ timeout: 15_000 });

describe.skipIf(!hasChromium)('the demo in headless Chromium', () => {
  // Behind a proxy that refuses WebSocket upgrades, the page falls back to SSE + POST.
  it.each(['directly', 'through a proxy that refuses WebSocket upgrades'])(
    'two people chat, see presence and typing, and both watch the agent stream its reply (%s)',
    async (how) => {
      const demo = await startDemo({ JWT_SECRET: 'demo-test-secret' });
      const proxy =
        how === 'directly' ? undefined : await httpBalancer(() => [demo.port], { upgrades: false });
      const url = proxy ? `http://127.0.0.1:${proxy.port}/` : demo.url;
      const browser = await launch();
      const ada = await (await browser.newContext()).newPage();
      const bob = await (await browser.newContext()).newPage();
      // Ada signs in through the login form; Bob through a link with his name.
      await ada.goto(`${url}?room=r1`);
      await ada.fill('.login input', 'ada');
      await ada.click('.login button');
      await bob.goto(`${url}?name=bob&room=r1`);
      for (const page of [ada, bob]) await page.locator('.badge[data-state="connected"]').waitFor();

      await ada.locator('.people li', { hasText: 'bob' }).waitFor();
      await bob.locator('.people li', { hasText: 'ada' }).waitFor();

      await say(bob, 'hi ada');
      await ada.locator('.message', { hasText: 'hi ada' }).waitFor();

      await ada.fill('form input', 'typing something');
      await bob.locator('.typing', { hasText: 'ada is typing' }).waitFor();
      // Her message ends her typing at once, not when the 3 s notice runs out.
      await ada.press('form input', 'Enter');
      await bob.locator('.message', { hasText: 'typing something' }).waitFor();
      await bob.locator('.typing', { hasText: 'ada is typing' }).waitFor({
        state: 'detached',
        timeout: 1_000,
      });

      await say(ada, '@agent what is switchboard?');
      // Progress shows until the answer starts, never beside streamed text.
      await bob.locator('.agent .text', { hasText: 'You asked' }).waitFor({ timeout: 15_000 });
      expect(await bob.locator('.agent .status').count()).toBe(0);
      for (const page of [ada, bob]) await replyDone(page, 'what is switchboard?');
      // Both pages tried a WebSocket once, were refused, and stayed on SSE.
      if (proxy) expect(proxy.refused).toBe(2);
    },
    40_000,
  );

  // The same page with the agent as a Python process answering through the HTTP API.
  const agents = hasPython ? ['node', 'python'] : ['node'];
  it.each(agents)(
    'a reload mid-conversation keeps the agent replies in publication order, on both pages (AGENT=%s)',
    async (agent) => {
      const { url } = await startDemo(agent === 'python' ? { AGENT: 'python', PYTHON } : {});
      const browser = await launch();
      const ada = await (await browser.newContext()).newPage();
      const bob = await (await browser.newContext()).newPage();
      await ada.goto(`${url}?name=ada&room=r3`);
      await bob.goto(`${url}?name=bob&room=r3`);
      for (const page of [ada, bob]) await page.locator('.badge[data-state="connected"]').waitFor();

      await say(ada, 'hello');
      await say(ada, '@agent one');
      for (const page of [ada, bob]) await replyDone(page, 'one');
      await say(bob, 'nice');
      await ada.locator('.message', { hasText: 'nice' }).waitFor();
      await say(ada, '@agent two');
      // Bob reloads while the second reply is still streaming: history brings what streamed so
      // far, the live stream the rest.
      await bob.locator('.agent[data-stream="open"]', { hasText: 'You asked: "two"' }).waitFor({
        timeout: 15_000,
      });
      await bob.reload();
      for (const page of [ada, bob]) await replyDone(page, 'two');
      await say(bob, 'thanks');
      await ada.locator('.message', { hasText: 'thanks' }).waitFor();

      const expected = await logLines(ada);
      const order = [
        'ada: hello',
        'ada: @agent one',
        'agent: You asked: "one"',
        'bob: nice',
        'ada: @agent two',
        'agent: You asked: "two"',
        'bob: thanks',
      ];
      expect(expected.map((line, i) => (line.startsWith(order[i]!) ? order[i] : line))).toEqual(
        order,
      );
      expect(expected[2]).toMatch(/without gaps or duplicates\.$/);
      await waitFor(async () => (await logLines(bob)).join('\n') === expected.join('\n'), 5_000);

      await ada.reload();
      await bob.reload();
      for (const page of [ada, bob]) {
        await page.locator('.message', { hasText: 'thanks' }).waitFor();
        await replyDone(page, 'two');
        expect(await logLines(page)).toEqual(expected);
      }
    },
    60_000,
  );

  it('a server restart keeps the conversation: both pages show it, agent replies in place, and carry on', async () => {
    // As `npm start` twice in a row: the second run opens the first one's SQLite file.
    const secret = 'demo-test-secret';
    let demo = await startDemo({ JWT_SECRET: secret });
    const { url, port, dataDir } = demo;
    expect(demo.output()).toContain(`History:          ${dataDir}/demo.db (kept across restarts`);
    const browser = await launch();
    const ada = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    await ada.goto(`${url}?name=ada&room=r2`);
    await bob.goto(`${url}?name=bob&room=r2`);
    for (const page of [ada, bob]) await page.locator('.badge[data-state="connected"]').waitFor();
    await say(ada, 'first message');
    await say(ada, '@agent remember this');
    for (const page of [ada, bob]) await replyDone(page, 'remember this');
    await say(bob, 'second message');
    await ada.locator('.message', { hasText: 'second message' }).waitFor();
    const before = await logLines(ada);
    const order = [
      'ada: first message',
      'ada: @agent remember this',
      'agent: You asked: "remember this"',
      'bob: second message',
    ];
    expect(before.map((line, i) => (line.startsWith(order[i]!) ? order[i] : line))).toEqual(order);
    await waitFor(async () => (await logLines(bob)).join('\n') === before.join('\n'), 5_000);

    await stopDemo(demo.child);
    for (const page of [ada, bob])
      await page.locator('.badge[data-state="reconnecting"]').waitFor();
    demo = await startDemo({ JWT_SECRET: secret, PORT: String(port), DEMO_DATA_DIR: dataDir });
    // Both pages resume from their last offsets and are told everything missed was replayed.
    await Promise.all(
      [ada, bob].map((page) =>
        page.locator('.badge', { hasText: 'connected · recovered' }).waitFor({ timeout: 15_000 }),
      ),
    );
    for (const page of [ada, bob]) {
      expect(await logLines(page)).toEqual(before);
      expect(await page.locator('.notice').count()).toBe(0);
    }
    // A page loaded from the restarted server reads the same conversation from its history.
    await bob.reload();
    await replyDone(bob, 'remember this');
    await waitFor(async () => (await logLines(bob)).join('\n') === before.join('\n'), 5_000);
    // And the conversation carries on after it, on both pages.
    await say(bob, 'after the restart');
    await say(ada, '@agent still here?');
    for (const page of [ada, bob]) await replyDone(page, 'still here?');
    const after = [
      ...order,
      'bob: after the restart',
      'ada: @agent still here?',
      'agent: You asked: "still here?"',
    ];
    for (const page of [ada, bob]) {
      const lines = await logLines(page);
      expect(lines.slice(0, before.length)).toEqual(before);
      expect(lines.map((line, i) => (line.startsWith(after[i]!) ? after[i] : line))).toEqual(after);
    }
  }, 60_000);

  it('with DEMO_BROKER=memory a restart loses the rooms, and the pages say so', async () => {
    const env = { JWT_SECRET: 'demo-test-secret', DEMO_BROKER: 'memory' };
    let demo = await startDemo(env);
    expect(demo.output()).toContain('History:          in memory, lost on restart');
    const { url, port } = demo;
    const browser = await launch();
    const ada = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    await ada.goto(`${url}?name=ada&room=r4`);
    await bob.goto(`${url}?name=bob&room=r4`);
    await ada.locator('.badge[data-state="connected"]').waitFor();
    await say(ada, 'first message');
    await bob.locator('.message', { hasText: 'first message' }).waitFor();

    await stopDemo(demo.child);
    await ada.locator('.badge[data-state="reconnecting"]').waitFor();
    demo = await startDemo({ ...env, PORT: String(port) });
    await bob.locator('.badge[data-state="connected"]').waitFor({ timeout: 15_000 });
    // Published while ada's page may still be away: it catches up whether it reconnects before
    // (live) or after (history, since the in-memory broker restarted with a new epoch).
    await say(bob, 'after the restart');
    await ada.locator('.badge[data-state="connected"]').waitFor({ timeout: 15_000 });
    await ada.locator('.message', { hasText: 'after the restart' }).waitFor({ timeout: 15_000 });
    await waitFor(
      async () => (await ada.locator('.message', { hasText: 'after the restart' }).count()) === 1,
    );
    // The earlier conversation is gone, and the page says why instead of silently starting over.
    for (const page of [ada, bob]) {
      await page.locator('.notice', { hasText: 'could not replay' }).waitFor();
      expect(await page.locator('.message', { hasText: 'first message' }).count()).toBe(0);
    }
  }, 60_000);
});
