import type { Browser, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { chromiumAvailable, horizontalOverflow, launch, screenshot } from '../browser.js';
import { startDemo, withDemoBuild } from '../demo.js';
import { client } from '../helpers.js';

const hasChromium = chromiumAvailable();

withDemoBuild();

/**
 * A page at `width` that records what went wrong while it was open: HTTP errors (a missing
 * favicon included), console errors (React's warnings in the tests' development build) and
 * uncaught exceptions.
 */
async function openAt(browser: Browser, width: number, url: string) {
  const page = await (
    await browser.newContext({ viewport: { width, height: 800 }, deviceScaleFactor: 1 })
  ).newPage();
  const problems: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.goto(url);
  return { page, problems };
}

async function expectNoOverflow(page: Page, root: string) {
  const { scrollWidth, clientWidth, outside, wider } = await horizontalOverflow(page, root);
  expect(outside).toEqual([]);
  expect(wider).toEqual([]);
  expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
}

const say = async (page: Page, text: string) => {
  await page.fill('form input', text);
  await page.press('form input', 'Enter');
};

const LONG = `a-line-with-no-room-to-break:${'x'.repeat(160)}`;

describe.skipIf(!hasChromium)('the demo and the inspector at phone and desktop widths', () => {
  it('the demo at 390 and 1280 px: nothing sticks out, the header stays two lines, replies in place', async () => {
    const { url } = await startDemo();
    const browser = await launch();

    const login = await openAt(browser, 390, `${url}?room=screens`);
    await login.page.locator('.login button').waitFor();
    // The Join button is a styled button, not the browser's default grey one.
    expect(
      await login.page.$eval('.login button', (b) => getComputedStyle(b).backgroundColor),
    ).toBe('rgb(47, 91, 211)');
    await expectNoOverflow(login.page, '#root');
    await screenshot(login.page, 'demo-login-390');

    const phone = await openAt(browser, 390, `${url}?name=ada&room=screens`);
    const desktop = await openAt(browser, 1280, `${url}?name=bob&room=screens`);
    for (const { page } of [phone, desktop]) {
      await page.locator('.badge[data-state="connected"]').waitFor();
      await page.locator('.people li', { hasText: page === phone.page ? 'bob' : 'ada' }).waitFor();
    }
    await say(desktop.page, 'hi ada');
    await phone.page.locator('.message', { hasText: 'hi ada' }).waitFor();
    await say(phone.page, '@agent what is switchboard?');
    await phone.page.locator('.agent[data-stream="end"]').waitFor({ timeout: 15_000 });
    await say(desktop.page, LONG);
    for (const { page } of [phone, desktop]) {
      await page.locator('.message', { hasText: LONG.slice(0, 20) }).waitFor();
      await page.locator('.agent[data-stream="end"]').waitFor({ timeout: 15_000 });
    }

    for (const [{ page, problems }, width] of [
      [phone, 390],
      [desktop, 1280],
    ] as const) {
      await expectNoOverflow(page, '#root');
      expect(problems).toEqual([]);
      // The agent's reply sits right after the question it answers.
      const order = await page.$$eval('.log .line', (lines) =>
        lines.map((l) => (l.classList.contains('agent') ? 'agent' : l.textContent?.slice(0, 14))),
      );
      expect(order).toEqual(['bob hi ada', 'ada @agent wha', 'agent', `bob ${LONG.slice(0, 10)}`]);
      await screenshot(page, `demo-${width}`);
    }
    // On a phone: the header in two lines, and the conversation gets (nearly) the whole width.
    const header = await phone.page.$eval('header', (h) => h.getBoundingClientRect().height);
    expect(header).toBeLessThan(80);
    const log = await phone.page.$eval('.log', (l) => l.getBoundingClientRect().width);
    expect(log).toBeGreaterThan(390 * 0.9);
  }, 60_000);

  it('the inspector at 1024 and 1440 px: columns kept, counts that match, why actions are off, and paused', async () => {
    const { url } = await startDemo();
    const browser = await launch();
    const login = (name: string) => async () =>
      (
        (await (await fetch(`${url}login?name=${name}`, { method: 'POST' })).json()) as {
          token: string;
        }
      ).token;
    const connect = async (name: string) => {
      const c = client(`${url.replace('http', 'ws')}ws`, { token: login(name) });
      await c.connect();
      const room = c.subscribe('room:inspected');
      await room.ready();
      await room.publish('message', { text: `${name} says hello, with a payload long enough` });
      return c;
    };
    await connect('ada');

    for (const width of [1024, 1440]) {
      const { page, problems } = await openAt(browser, width, `${url}inspector`);
      await page.locator('#frames tr.frame').first().waitFor();
      // Connections that arrive after the panel opened are counted as they are listed.
      const users = [`bob${width}`, `cy${width}`, `dee${width}`];
      for (const name of users) await connect(name);
      for (const name of users)
        await page.locator('#connections .row', { hasText: name }).first().waitFor();
      const rows = await page.locator('#connections .row').count();
      expect(await page.textContent('#connection-count')).toBe(`(${rows})`);

      // Every column keeps its room, and the content column shows a useful part of the frame.
      await page.locator('#frames tr', { hasText: 'publish' }).first().click();
      const timeline = await page.$eval('#timeline', (t) => ({
        scroll: t.scrollWidth,
        client: t.clientWidth,
      }));
      expect(timeline.scroll).toBeLessThanOrEqual(timeline.client);
      const fixed = 'td.c-time, td.c-dir, td.c-conn, td.c-type, td.c-id, td.c-size';
      const cut = await page.$$eval(`#frames tr.frame ${fixed}`, (cells) =>
        cells.filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.className),
      );
      expect(cut).toEqual([]);
      const content = await page.$eval('th.c-content', (th) => th.getBoundingClientRect().width);
      expect(content).toBeGreaterThan(300);
      expect(
        await page
          .locator('#frames td.c-content', { hasText: 'says hello, with a payload' })
          .count(),
      ).toBeGreaterThan(0);

      // npm start has no credential: actions are off, and the panel says how to turn them on.
      await expect
        .poll(() => page.textContent('#actions-hint'))
        .toContain('start with INSPECTOR_CREDENTIAL to enable actions');
      expect(await page.isVisible('#replay')).toBe(false);

      await expectNoOverflow(page, 'body');
      expect(problems).toEqual([]);
      await screenshot(page, `inspector-${width}`);

      await page.click('#pause');
      await page.locator('#paused').waitFor();
      await page.locator('#paused-note').waitFor();
      expect(await page.getAttribute('#pause', 'aria-pressed')).toBe('true');
      expect(await page.textContent('#pause')).toBe('Resume');
      if (width === 1440) await screenshot(page, `inspector-${width}-paused`);
      await page.click('#pause');
      await page.locator('#paused').waitFor({ state: 'hidden' });
      await page.context().close();
    }
  }, 60_000);
});
