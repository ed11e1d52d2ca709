import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { chromiumAvailable, launch } from '../browser.js';
import { startDemo, withDemoBuild } from '../demo.js';
import { waitFor } from '../helpers.js';

const hasChromium = chromiumAvailable();
// The demo's agent module (plain JavaScript): what its mock model answers a question.
const agentModule: string = '../../demo/ai-agent.js';
const { demoAnswer } = (await import(agentModule)) as { demoAnswer: (question: string) => string };

withDemoBuild();

/** The chat as the page shows it: each message's role and text. */
const lines = (page: Page) =>
  page.$$eval('.log .line[data-role]', (all) =>
    all.map((line) => ({
      role: line.getAttribute('data-role'),
      text: line.querySelector('.text')?.textContent ?? '',
    })),
  );

const answerOn = async (page: Page) =>
  (await lines(page)).filter((line) => line.role === 'assistant').at(-1)?.text ?? '';

const status = (page: Page) => page.$eval('.typing', (el) => el.getAttribute('data-status') ?? '');

describe.skipIf(!hasChromium)("the demo's AI chat (useChat over switchboard/ai)", () => {
  it('two people follow one reply; a reload mid-reply resumes it once; Stop from the other ends it for both', async () => {
    const demo = await startDemo({ JWT_SECRET: 'demo-test-secret' });
    const browser = await launch();
    const ada = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    for (const page of [ada, bob])
      page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    await ada.goto(`${demo.url}ai.html?name=ada&chat=c1`);
    await bob.goto(`${demo.url}ai.html?name=bob&chat=c1`);
    for (const page of [ada, bob]) await page.locator('.badge[data-state="connected"]').waitFor();

    // A long question makes a long answer (it is quoted): time to reload in the middle of it.
    const question = `what is an offset? ${'and why does it matter? '.repeat(7)}`.trim();
    await ada.fill('form input', question);
    await ada.press('form input', 'Enter');
    const full = demoAnswer(question);
    await waitFor(async () => (await answerOn(ada)).length > 0, 10_000, 'the answer to start');
    // Bob was on the page before the question: Follow joins the reply in progress.
    await bob.click('button.follow');
    await waitFor(async () => (await answerOn(bob)).length > 0, 10_000, 'bob following');
    await ada.reload();
    await waitFor(async () => (await answerOn(ada)).length > 0, 10_000, 'the resume');
    expect((await answerOn(ada)).length).toBeLessThan(full.length); // resumed mid-reply
    for (const page of [ada, bob]) {
      await waitFor(async () => (await answerOn(page)) === full, 20_000, 'the whole answer');
      expect((await lines(page)).filter((line) => line.role === 'assistant')).toHaveLength(1);
    }

    // A second question; Bob follows and stops it: the reply ends, part-written, for both.
    await waitFor(async () => (await status(ada)) === 'ready', 5_000, 'ada ready');
    await ada.fill('form input', 'and a gap?');
    await ada.press('form input', 'Enter');
    await waitFor(async () => (await answerOn(ada)).startsWith('You asked: "and'), 10_000, 'two');
    await bob.click('button.follow');
    await waitFor(async () => (await answerOn(bob)).startsWith('You asked: "and'), 10_000, 'bob');
    await bob.click('button.stop');
    const second = demoAnswer('and a gap?');
    for (const page of [ada, bob])
      await waitFor(async () => (await status(page)) === 'ready', 10_000, 'stopped');
    // Had the generation gone on, Ada's reply would only be ready once whole.
    const stopped = await answerOn(ada);
    expect(second.startsWith(stopped)).toBe(true);
    expect(stopped.length).toBeLessThan(second.length);
    expect(errors).toEqual([]);
  }, 60_000);
});
