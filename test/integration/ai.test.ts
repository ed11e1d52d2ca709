import { readUIMessageStream, streamText, type UIMessage, type UIMessageChunk } from 'ai';
import { describe, expect, it } from 'vitest';
import { type ChatHandler, SwitchboardChatTransport, serveChat } from '../../src/ai/index.js';
import type { Client } from '../../src/client/index.js';
import { ErrorCode } from '../../src/protocol/index.js';
import { createServer, memoryBroker, type ServerOptions } from '../../src/server/index.js';
import { gate, mockModel, prompt, promptOf } from '../ai.js';
import {
  connected,
  dropConnection,
  onCleanup,
  SECRET,
  seededRandom,
  sleep,
  startServer,
  waitFor,
} from '../helpers.js';

/** Replies the random run drives through cuts and aborts (the figure). */
const REPLIES = 1_000;
/** Chats answering at once in that run, each on its own channel, all over one socket. */
const LANES = 10;

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/** What the mock model says to prompt `n`: a few words, different per prompt. */
function words(n: number): string[] {
  return Array.from({ length: 4 + (n % 9) }, (_, i) => `w${n}.${i} `);
}

/** Serves chats on `ai:*`, recording each prompt's abort as the handler's signal saw it. */
function serve(
  server: Parameters<typeof serveChat>[0],
  delayMs: number | null = 1,
  halfway?: Promise<void> | ((n: number) => Promise<void> | undefined),
) {
  const aborted = new Set<number>();
  const completed = new Set<number>();
  /** Prompts the handler ran, once each: a send resent after a cut must not run it again. */
  const runs: number[] = [];
  const handler: ChatHandler = ({ messages, signal }) => {
    const n = promptOf(messages);
    runs.push(n);
    signal.addEventListener('abort', () => aborted.add(n));
    const held = typeof halfway === 'function' ? halfway(n) : halfway;
    const model = mockModel(words(n), delayMs, held);
    return streamText({ model, prompt: 'hi', abortSignal: signal })
      .toUIMessageStream()
      .pipeThrough(
        new TransformStream<UIMessageChunk, UIMessageChunk>({ flush: () => void completed.add(n) }),
      );
  };
  const service = serveChat(server, { channel: 'ai:', handler });
  onCleanup(() => service.close());
  return { service, aborted, completed, runs };
}

const channels: ServerOptions['channels'] = {
  'ai:*': {
    streams: true,
    authorize: (identity, channel) => identity.userId !== 'mallory' || !channel.endsWith(':vip'),
  },
};

/** The text of the message a UI chunk stream builds, and whether it ended with an abort. */
async function read(stream: ReadableStream<UIMessageChunk>) {
  const [forMessage, forChunks] = stream.tee();
  const chunks: UIMessageChunk[] = [];
  const collecting = (async () => {
    const reader = forChunks.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read())
      chunks.push(next.value);
  })();
  let message: UIMessage | undefined;
  for await (const snapshot of readUIMessageStream({ stream: forMessage })) message = snapshot;
  await collecting;
  const text = (message?.parts ?? [])
    .map((part) => (part.type === 'text' ? part.text : ''))
    .join('');
  return { text, chunks, aborted: chunks.at(-1)?.type === 'abort' };
}

function send(
  transport: SwitchboardChatTransport,
  chatId: string,
  n: number,
  signal?: AbortSignal,
) {
  return transport.sendMessages({
    chatId,
    trigger: 'submit-message',
    messageId: undefined,
    messages: [prompt(n)],
    abortSignal: signal,
  });
}

describe('switchboard/ai', () => {
  it('streams a reply to the sender and to a second viewer who joins midway; the text is the model output', async () => {
    const { url, server } = await startServer({ channels });
    const halfway = gate();
    serve(server, 1, halfway.closed);
    const alice = new SwitchboardChatTransport({ client: await connected(url, 'alice') });
    const bob = new SwitchboardChatTransport({ client: await connected(url, 'bob') });
    onCleanup(() => alice.close());
    onCleanup(() => bob.close());
    expect(await bob.reconnectToStream({ chatId: 'room' })).toBeNull();

    const mine = read(await send(alice, 'room', 7));
    const joined = await bob.reconnectToStream({ chatId: 'room' });
    expect(joined).not.toBeNull();
    const theirs = read(joined!);
    halfway.open();
    const expected = words(7).join('');
    expect((await mine).text).toBe(expected);
    expect((await theirs).text).toBe(expected);
    // Joined midway, bob still gets the reply from its start (the Chat rebuilds it from there).
    expect((await theirs).chunks[0]).toEqual({ type: 'start' });
    expect(await bob.reconnectToStream({ chatId: 'room' })).toBeNull();
  });

  it("publishes the agent's status beside the text; on a `latest` channel a late viewer gets it first", async () => {
    const { url, server } = await startServer({
      channels: { 'ai:*': { streams: true, latest: true } },
    });
    serve(server, null);
    const watcher = await connected(url, 'carol');
    const seen: unknown[] = [];
    const room = watcher.subscribe('ai:room');
    room.on('status', (status) => seen.push(status));
    await room.ready();
    const alice = new SwitchboardChatTransport({ client: await connected(url, 'alice') });
    onCleanup(() => alice.close());
    const { text } = await read(await send(alice, 'room', 3));
    expect(text).toBe(words(3).join(''));
    await waitFor(() => seen.length === 3, 5_000, 'the statuses');
    const stream = (seen[0] as { stream: string }).stream;
    expect(seen).toEqual([
      { state: 'thinking', stream },
      { state: 'writing', stream },
      { state: 'finished', stream },
    ]);
    const late = (await connected(url, 'dave')).subscribe('ai:room');
    await late.ready();
    expect(late.latest('status')).toEqual({ state: 'finished', stream });
  });

  it('stop from one viewer aborts the generation on the server and ends the reply for both, also after a resume', async () => {
    const { url, server } = await startServer({ channels });
    const { aborted, completed } = serve(server, 1, new Promise(() => {}));
    const alice = new SwitchboardChatTransport({ client: await connected(url, 'alice') });
    const bob = new SwitchboardChatTransport({ client: await connected(url, 'bob') });
    onCleanup(() => alice.close());
    onCleanup(() => bob.close());

    const mine = read(await send(alice, 'room', 50));
    const stop = new AbortController();
    const joined = await bob.reconnectToStream({ chatId: 'room', abortSignal: stop.signal });
    const theirs = read(joined!);
    stop.abort();
    await waitFor(() => aborted.has(50), 5_000, 'the handler to see the abort');
    const result = await mine;
    expect(result.aborted).toBe(true);
    expect(result.text.length).toBeLessThan(words(50).join('').length);
    expect(words(50).join('').startsWith(result.text)).toBe(true);
    expect(completed.has(50)).toBe(false);
    // The viewer who stopped closed its stream at once, without an abort chunk of its own.
    expect((await theirs).aborted).toBe(false);
  });

  it('a reply survives a network cut mid-stream without losing or doubling text', async () => {
    const { url, server } = await startServer({ channels });
    const halfway = gate();
    serve(server, 1, halfway.closed);
    const client = await connected(url, 'alice');
    const transport = new SwitchboardChatTransport({ client });
    onCleanup(() => transport.close());
    const reply = read(await send(transport, 'cut', 8));
    dropConnection(server, client.connectionId);
    await waitFor(() => client.state === 'reconnecting');
    halfway.open();
    expect((await reply).text).toBe(words(8).join(''));
  });

  it('the same over SSE + POST (WebSockets blocked): a cut mid-reply loses and doubles nothing', async () => {
    const { url, server } = await startServer({ channels });
    const halfway = gate();
    serve(server, 1, halfway.closed);
    const client = await connected(url, 'alice', { transports: ['sse'] });
    const transport = new SwitchboardChatTransport({ client });
    onCleanup(() => transport.close());
    const reply = read(await send(transport, 'sse', 8));
    expect(dropConnection(server, client.connectionId)).toBe(true);
    await waitFor(() => client.state === 'reconnecting');
    halfway.open();
    expect((await reply).text).toBe(words(8).join(''));
  });

  it("applies the channel's rules: a caller who may not publish there is refused, bad input is VALIDATION_FAILED", async () => {
    const { url, server } = await startServer({ channels, logger: quiet });
    serve(server);
    const mallory = await connected(url, 'mallory');
    await expect(mallory.request('ai.send', { chatId: 'x:vip' })).rejects.toMatchObject({
      code: ErrorCode.VALIDATION_FAILED,
    });
    const request = { chatId: 'x:vip', requestId: 'r1', trigger: 'submit-message', messages: [] };
    await expect(mallory.request('ai.send', request)).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    await expect(mallory.request('ai.stop', { chatId: 'x:vip' })).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    await expect(
      mallory.request('ai.send', { ...request, chatId: 'x'.repeat(200) }),
    ).rejects.toMatchObject({ code: ErrorCode.VALIDATION_FAILED });
    // Through the transport, the refusal is sendMessages' rejection.
    const transport = new SwitchboardChatTransport({ client: mallory });
    onCleanup(() => transport.close());
    await expect(send(transport, 'x:vip', 1)).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
  });

  it('a resent send (same caller, same request id) starts one reply; a failing handler ends it with an error for every viewer', async () => {
    const { url, server } = await startServer({ channels, logger: quiet });
    let runs = 0;
    let fail = () => {};
    const failing = new Promise<void>((resolve) => (fail = resolve));
    const service = serveChat(server, {
      channel: 'ai:',
      maxReplies: 1,
      handler: async function* () {
        runs++;
        yield { type: 'start' } as UIMessageChunk;
        await failing;
        throw new Error('model exploded: secret detail');
      },
    });
    onCleanup(() => service.close());
    const alice = await connected(url, 'alice');
    const request = {
      chatId: 'room',
      requestId: 'same',
      trigger: 'submit-message',
      messages: [prompt(1)],
    };
    const [first, again] = await Promise.all([
      alice.request<{ stream: string }>('ai.send', request),
      alice.request<{ stream: string }>('ai.send', request),
    ]);
    expect(again.stream).toBe(first.stream);
    expect(runs).toBe(1);
    // One reply at most runs here: another request is refused while it does.
    await expect(
      alice.request('ai.send', { ...request, requestId: 'other' }),
    ).rejects.toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED });
    const viewer = new SwitchboardChatTransport({ client: await connected(url, 'bob') });
    onCleanup(() => viewer.close());
    const joined = await viewer.reconnectToStream({ chatId: 'room' });
    expect(joined).not.toBeNull();
    fail();
    const { chunks } = await read(joined!);
    // The cause stays in the server's log; viewers get a generic error chunk.
    expect(chunks.at(-1)).toEqual({ type: 'error', errorText: 'The reply failed' });
    await waitFor(() => service.active === 0);
  });

  it('a stop reaches the node running the reply from another node', async () => {
    const broker = memoryBroker();
    onCleanup(() => broker.close());
    const nodes = [];
    for (let i = 0; i < 2; i++) {
      const server = createServer({ auth: { jwt: { secret: SECRET } }, channels, broker });
      const { url } = await server.listen();
      onCleanup(() => server.close());
      nodes.push({ server, url });
    }
    const held = new Promise<void>(() => {});
    const { aborted } = serve(nodes[0]!.server, 1, held);
    serve(nodes[1]!.server, 1, held);
    const alice = new SwitchboardChatTransport({ client: await connected(nodes[0]!.url, 'alice') });
    const bob = new SwitchboardChatTransport({ client: await connected(nodes[1]!.url, 'bob') });
    onCleanup(() => alice.close());
    onCleanup(() => bob.close());
    const mine = read(await send(alice, 'room', 60));
    const stop = new AbortController();
    const joined = await bob.reconnectToStream({ chatId: 'room', abortSignal: stop.signal });
    expect(joined).not.toBeNull();
    stop.abort();
    await waitFor(() => aborted.has(60), 5_000, 'the stop to cross nodes');
    expect((await mine).aborted).toBe(true);
  });

  it(`${REPLIES} replies over random cuts and aborts: every finished reply is the model output exactly`, async () => {
    const random = seededRandom(19);
    let client: Client | undefined;
    /** Cuts made while the server handled a send or stop: its answer is lost, the RPC resent. */
    let cutsInRpc = 0;
    const { url, server } = await startServer({
      logger: quiet,
      channels: {
        'ai:*': {
          streams: true,
          authorize: (_identity, _channel, action) => {
            if (action === 'publish' && random() < 0.03 && client)
              if (dropConnection(server, client.connectionId)) cutsInRpc++;
            return true;
          },
        },
      },
    });
    // The replies the run will stop are held halfway: each stop has a generation to abort.
    const toStop = new Set<number>();
    const never = new Promise<void>(() => {});
    const { aborted, runs } = serve(server, 1, (n) => (toStop.has(n) ? never : undefined));
    // Quick reconnects: the run measures the transport, not the backoff after each cut.
    client = await connected(url, 'alice', { reconnect: { minDelayMs: 5, maxDelayMs: 40 } });
    const transport = new SwitchboardChatTransport({ client });
    onCleanup(() => transport.close());
    let running = true;
    let cuts = 0;
    const cutter = (async () => {
      while (running) {
        await sleep(30 + random() * 120);
        if (running && dropConnection(server, client?.connectionId)) cuts++;
      }
    })();

    const stopped: number[] = [];
    let finished = 0;
    /** Finished replies during which the socket was cut at least once. */
    let throughCuts = 0;
    let next = 0;
    const lane = async (chatId: string) => {
      for (let n = next++; n < REPLIES; n = next++) {
        const abort = random() < 0.1 ? new AbortController() : undefined;
        if (abort) toStop.add(n);
        const stream = await send(transport, chatId, n, abort?.signal);
        if (abort) {
          const reading = read(stream);
          abort.abort();
          stopped.push(n);
          await reading;
          continue;
        }
        const reconnects = client.metrics().reconnects;
        const { text, aborted: cut } = await read(stream);
        if (client.metrics().reconnects > reconnects) throughCuts++;
        expect(cut).toBe(false);
        expect(text).toBe(words(n).join(''));
        finished++;
      }
    };
    await Promise.all(Array.from({ length: LANES }, (_, i) => lane(`lane-${i}`)));
    running = false;
    await cutter;
    expect(finished + stopped.length).toBe(REPLIES);
    expect(runs.sort((a, b) => a - b)).toEqual(Array.from({ length: REPLIES }, (_, n) => n));
    expect(cuts).toBeGreaterThan(10);
    expect(throughCuts).toBeGreaterThan(10);
    expect(cutsInRpc).toBeGreaterThan(5);
    // Every stop reached the generation it meant, through the cuts.
    await waitFor(() => stopped.every((n) => aborted.has(n)), 10_000, 'every stop');
    expect([...aborted].sort((a, b) => a - b)).toEqual(stopped.sort((a, b) => a - b));
    // Compaction: history holds one publication per finished reply (its end, with the roll-up),
    // but for the pieces written before another publication came between (a stopped reply's end
    // landing after the next reply opened): those stay, the end covers the rest.
    let rolledUp = 0;
    let whole = 0;
    for (let lane = 0; lane < LANES; lane++) {
      const { publications } = await server.broker.history(`ai:lane-${lane}`);
      const at = new Map(publications.map((p) => [p.offset, p]));
      const byStream = new Map<string, typeof publications>();
      for (const p of publications)
        byStream.set(p.stream!.id, [...(byStream.get(p.stream!.id) ?? []), p]);
      for (const [id, list] of byStream) {
        const end = list.at(-1)!;
        if ((end.data as { outcome?: string } | null)?.outcome !== 'finished') continue;
        rolledUp++;
        expect(end.stream!.rollup).toHaveLength(end.stream!.seq);
        expect(end.covers).toBeLessThan(end.offset);
        if (list.length === 1) whole++;
        else expect(at.get(end.covers! - 1)?.stream?.id).not.toBe(id);
      }
    }
    expect(rolledUp).toBe(finished);
    console.log(
      `ai: ${REPLIES} replies, ${finished} finished (${throughCuts} through a cut, ${whole} one publication in history), ${stopped.length} stopped, ${cuts} cuts + ${cutsInRpc} during a send or stop`,
    );
  }, 60_000);
});
