import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/index.js';
import { client, onCleanup, SECRET, startServer, token, waitFor } from '../helpers.js';

/**
 * A backend in another language: test/fixtures/backend.py, Python's standard library only, mints
 * a client's token and drives the gateway over the HTTP API (publish one by one, NDJSON ingest, a
 * reply streamed as a chunked body, an agent status late joiners get first) while a Switchboard client checks exactly what arrives.
 * docs/backends.md quotes that script; the last tests hold its quotes to the script and run its
 * curl commands against a gateway.
 */

const KEY = 'python-api-key';
const fixture = fileURLToPath(new URL('../fixtures/backend.py', import.meta.url));
const docs = fileURLToPath(new URL('../../docs/backends.md', import.meta.url));
const hasPython = spawnSync('python3', ['--version']).status === 0;
const hasCurl = spawnSync('curl', ['--version']).status === 0;

/** The script's stdout, one JSON value per line, taken in order. */
function linesOf(child: ReturnType<typeof spawn>) {
  const queue: Record<string, any>[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => queue.push(JSON.parse(line)));
  let stderr = '';
  child.stderr!.on('data', (data) => (stderr += data));
  return async () => {
    await waitFor(() => queue.length > 0 || child.exitCode !== null, 20_000, 'the script');
    const next = queue.shift();
    if (!next) throw new Error(`backend.py exited ${child.exitCode}: ${stderr}`);
    return next;
  };
}

describe.skipIf(!hasPython && process.env['CI'] !== 'true')('a Python backend', () => {
  it('mints a token, publishes one by one and as NDJSON, streams a reply: the client gets exactly that, in order', async () => {
    const { server, url, port } = await startServer({
      api: { key: KEY },
      auth: { jwt: { secret: SECRET } },
      channels: {
        'chat:*': { history: { size: 2_000, ttlMs: 60_000 } },
        'agent:*': { streams: true },
        'status:*': { latest: true },
      },
    });
    const child = spawn('python3', [fixture], {
      env: {
        ...process.env,
        SWITCHBOARD_HOST: '127.0.0.1',
        SWITCHBOARD_PORT: String(port),
        SWITCHBOARD_API_KEY: KEY,
        SWITCHBOARD_JWT_SECRET: SECRET,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    onCleanup(() => child.kill());
    const next = linesOf(child);

    // The token Python minted is one the gateway accepts, for the user it names.
    const { token } = await next();
    const alice = client(url, { token });
    await alice.connect();
    expect([...server.connections.values()].map((c) => c.userId)).toEqual(['alice']);

    const messages: { n: number; offset: number | undefined }[] = [];
    const chat = alice.subscribe('chat:python');
    chat.on('message', (data, meta) => messages.push({ n: data.n, offset: meta.offset }));
    const chunks: { data: unknown; id?: string; seq?: number; status?: string }[] = [];
    const agent = alice.subscribe('agent:python');
    agent.on('reply', (data, { stream }) => chunks.push({ data, ...stream }));
    await Promise.all([chat.ready(), agent.ready()]);
    child.stdin!.write('go\n');

    const { published } = await next();
    expect(published.map((p: any) => [p.offset, p.duplicate])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      // The retry with the same key: the first's offset, published once.
      [4, true],
    ]);

    const { ingested } = await next();
    expect(ingested).toHaveLength(1_001);
    expect(ingested[3].error.code).toBe(ErrorCode.NOT_FOUND);
    const offsets = ingested.filter((r: any) => !r.error).map((r: any) => r.offset);
    expect(offsets).toEqual(Array.from({ length: 1_000 }, (_, i) => 5 + i));

    const { reply, retry, tokens } = await next();
    expect(retry).toEqual({ ...reply, duplicate: true });
    expect(reply).toMatchObject({ count: tokens.length + 1, duplicate: false });
    await waitFor(() => messages.length === 1_004 && chunks.length === tokens.length + 2);
    expect(messages).toEqual(
      Array.from({ length: 1_004 }, (_, i) => ({ n: i + 1, offset: i + 1 })),
    );
    // One stream, token by token as Python sent them, not a second one for the retry.
    expect(chunks).toEqual([
      { data: undefined, id: reply.id, seq: 0, status: 'open' },
      ...tokens.map((data: string, i: number) => ({ data, id: reply.id, seq: i + 1 })),
      // The end rolls the stream up (what history keeps of it): every piece before it.
      {
        data: undefined,
        id: reply.id,
        seq: tokens.length + 1,
        status: 'end',
        rollup: [null, ...tokens],
      },
    ]);
    // The agent's status: the newest over HTTP, and first for a client that subscribes now.
    const { status } = await next();
    expect(status).toEqual({ state: 'done' });
    const late = alice.subscribe('status:python');
    const marked: unknown[] = [];
    late.on('status', (data, meta) => marked.push({ data, latest: meta.latest }));
    await late.ready();
    expect(late.latest('status')).toEqual({ state: 'done' });
    expect(marked).toEqual([{ data: { state: 'done' }, latest: true }]);
    await waitFor(() => child.exitCode !== null, 10_000, 'the script to exit');
    expect(child.exitCode).toBe(0);
  });
});

describe('docs/backends.md', () => {
  it('quotes the Python it shows from test/fixtures/backend.py, as it is', () => {
    const script = readFileSync(fixture, 'utf8');
    const text = readFileSync(docs, 'utf8');
    const blocks = [...text.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const block of blocks) expect(script).toContain(block);
  });

  it.skipIf(!hasCurl && process.env['CI'] !== 'true')(
    'shows curl commands that work against a gateway',
    async () => {
      const { url, port } = await startServer({
        api: { key: KEY },
        channels: { 'chat:*': {}, 'agent:*': { streams: true } },
      });
      const alice = client(url, { token: await token('alice') });
      await alice.connect();
      const chat: unknown[] = [];
      const lobby = alice.subscribe('chat:lobby');
      lobby.on('message', (data) => chat.push(data));
      const chunks: { data: unknown; status: string | undefined }[] = [];
      const agent = alice.subscribe('agent:42');
      agent.on('reply', (data, { stream }) => chunks.push({ data, status: stream?.status }));
      await Promise.all([lobby.ready(), agent.ready()]);
      const blocks = [...readFileSync(docs, 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)].map(
        (m) => m[1]!,
      );
      expect(blocks.length).toBeGreaterThanOrEqual(5);
      const cwd = mkdtempSync(join(tmpdir(), 'backends-'));
      onCleanup(() => rmSync(cwd, { recursive: true, force: true }));
      const env = {
        ...process.env,
        SWITCHBOARD_URL: `http://127.0.0.1:${port}`,
        SWITCHBOARD_API_KEY: KEY,
      };
      for (const block of blocks) {
        const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
          const shell = spawn('bash', ['-eo', 'pipefail', '-c', block], { cwd, env });
          let out = '';
          shell.stdout.on('data', (data) => (out += data));
          shell.stderr.on('data', (data) => (out += data));
          shell.on('close', (code) => resolve({ code, out }));
        });
        expect([block, run.code]).toEqual([block, 0]);
        // Every answer is JSON (one value, or one per line), none an error.
        const answers = run.out
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line));
        expect([block, answers.filter((a) => a.error)]).toEqual([block, []]);
      }
      await waitFor(() => chat.length === 6, 5_000, 'the publications');
      await waitFor(() => chunks.filter((c) => c.status === 'end').length === 2, 5_000, 'ends');
      expect(chat).toEqual([
        { text: 'deploy finished' },
        { n: 1 },
        { n: 2 },
        { n: 1 },
        { n: 2 },
        { n: 3 },
      ]);
      // Two streams: the text one (pieces as they came), then the NDJSON one.
      const ends = chunks.flatMap((c, i) => (c.status === 'end' ? [i] : []));
      const text = chunks.slice(1, ends[0]).map((c) => c.data);
      expect(text.join('')).toBe('Hello, world!');
      expect(chunks.slice(ends[0]! + 2, ends[1]).map((c) => c.data)).toEqual([
        { delta: 'Hel' },
        { delta: 'lo' },
      ]);
    },
  );
});
