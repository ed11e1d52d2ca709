import { streamText, type UIMessageChunk } from 'ai';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { type ChatHandler, serveChat } from '../../src/ai/index.js';
import { mockModel, promptOf } from '../ai.js';
import { chromiumAvailable, launch, servePage } from '../browser.js';
import { dropConnection, onCleanup, startServer, token, waitFor } from '../helpers.js';

const hasChromium = chromiumAvailable();

/** What the mock model answers prompt `n`: long enough to reload and cut in the middle of it. */
function answer(n: number): string[] {
  return Array.from({ length: 60 }, (_, i) => `r${n}w${i} `);
}

/** The page's state: the Chat's status and each message's role and text. */
async function view(page: Page) {
  return page.evaluate(() => ({
    status: document.getElementById('status')?.textContent ?? '',
    connection: document.getElementById('connection')?.textContent ?? '',
    messages: Array.from(document.querySelectorAll('#messages li')).map((li) => ({
      role: li.getAttribute('data-role'),
      text: li.textContent ?? '',
    })),
  }));
}

async function assistantText(page: Page): Promise<string> {
  return (await view(page)).messages.filter((m) => m.role === 'assistant').at(-1)?.text ?? '';
}

describe.skipIf(!hasChromium)('useChat over SwitchboardChatTransport in headless Chromium', () => {
  it('two users watch one reply: a reload and a cut mid-reply show the text once; Stop from the other ends it for both', async () => {
    const bundle = await build({
      entryPoints: ['test/fixtures/ai-chat-app.js'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      define: { 'process.env.NODE_ENV': '"development"' }, // StrictMode's double effects run
    });
    const { server, url, port } = await startServer({ channels: { 'ai:*': { streams: true } } });
    const aborted = new Set<number>();
    const completed = new Set<number>();
    const handler: ChatHandler = ({ messages, signal }) => {
      const n = promptOf(messages);
      signal.addEventListener('abort', () => aborted.add(n));
      return streamText({ model: mockModel(answer(n), 60), prompt: 'hi', abortSignal: signal })
        .toUIMessageStream()
        .pipeThrough(
          new TransformStream<UIMessageChunk, UIMessageChunk>({
            flush: () => void completed.add(n),
          }),
        );
    };
    const service = serveChat(server, { channel: 'ai:', handler });
    onCleanup(() => service.close());
    servePage(server, bundle.outputFiles[0]!.text);
    const browser = await launch();
    const open = async (user: string, prompt: number) => {
      const page = await browser.newPage();
      const query = new URLSearchParams({ ws: url, token: await token(user), prompt: `${prompt}` });
      await page.goto(`http://127.0.0.1:${port}/page?${query}`);
      await waitFor(async () => (await view(page)).connection, 10_000, `${user} connected`);
      return page;
    };

    // Alice asks; Bob opens the chat in the middle of the reply and joins it.
    const alice = await open('alice', 1);
    await alice.click('#send');
    await waitFor(async () => (await assistantText(alice)).length > 0, 10_000, 'the reply');
    const bob = await open('bob', 1);
    await waitFor(async () => (await assistantText(bob)).length > 0, 10_000, 'bob joining');

    // Alice reloads mid-reply: the page resumes it. Then her socket is cut: it resumes again.
    await alice.reload();
    await waitFor(async () => (await assistantText(alice)).length > 0, 10_000, 'the resume');
    const before = (await assistantText(alice)).length;
    const connection = (await view(alice)).connection;
    expect(dropConnection(server, connection)).toBe(true);
    await waitFor(
      async () => (await view(alice)).connection !== connection,
      10_000,
      'a new connection',
    );
    expect(completed.has(1)).toBe(false); // all of that happened while the reply was running
    expect(before).toBeGreaterThan(0);

    const full = answer(1).join('');
    for (const page of [alice, bob]) {
      await waitFor(async () => (await assistantText(page)) === full, 15_000, 'the full reply');
      await waitFor(async () => (await view(page)).status === 'ready', 5_000, 'ready');
      // The text once: one assistant message, exactly the model's output.
      const { messages } = await view(page);
      expect(messages.filter((m) => m.role === 'assistant')).toEqual([
        { role: 'assistant', text: full },
      ]);
    }

    // A second reply, from Alice; Bob follows it, and stops it: the generation ends for both.
    await alice.evaluate(() => {
      const url = new URL(location.href);
      url.searchParams.set('prompt', '2');
      history.replaceState(null, '', url);
    });
    await alice.reload();
    await waitFor(async () => (await view(alice)).status === 'ready', 10_000, 'alice ready');
    await alice.click('#send');
    await waitFor(async () => (await assistantText(alice)).startsWith('r2w0'), 10_000, 'reply 2');
    await bob.click('#resume');
    await waitFor(async () => (await assistantText(bob)).startsWith('r2w0'), 10_000, 'bob on 2');
    await bob.click('#stop');
    await waitFor(() => aborted.has(2), 5_000, 'the server to abort the generation');
    for (const page of [alice, bob])
      await waitFor(async () => (await view(page)).status === 'ready', 5_000, 'stopped');
    const stopped = await assistantText(alice);
    const full2 = answer(2).join('');
    expect(full2.startsWith(stopped)).toBe(true);
    expect(stopped.length).toBeLessThan(full2.length);
    expect(completed.has(2)).toBe(false);
  }, 60_000);
});
