import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { client, REDIS_URL, redisAvailable, uniquePrefix, waitFor } from '../helpers.js';

const hasRedis = await redisAvailable();

let demo: ChildProcess | undefined;
const others: ChildProcess[] = [];
afterEach(() => {
  demo?.kill('SIGTERM');
  demo = undefined;
  for (const child of others.splice(0)) child.kill('SIGTERM');
});

describe('the demo npm start runs', () => {
  it('serves the page, logs in, and streams an agent reply to the room', async () => {
    demo = spawn(process.execPath, ['demo/server.js'], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    demo.stdout!.on('data', (chunk) => (output += chunk));
    demo.stderr!.on('data', (chunk) => (output += chunk));
    const http = await waitFor(
      () => output.match(/http:\/\/127\.0\.0\.1:(\d+)\//)?.[0],
      15_000,
      'demo to start',
    );

    const page = await fetch(http);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Switchboard demo');
    const script = html.match(/src="\/?(assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${http}${script}`)).status).toBe(200);

    const login = async () =>
      (
        (await (await fetch(`${http}login?name=tester`, { method: 'POST' })).json()) as {
          token: string;
        }
      ).token;
    const c = client(`${http.replace('http', 'ws')}ws`, { token: login });
    await c.connect();
    const room = c.subscribe('room:lobby');
    await room.ready();
    expect((await room.presence()).map((m) => m.info)).toEqual([{ name: 'tester' }]);
    const agent = c.subscribe('agent:lobby');
    const chunks: string[] = [];
    const markers: (string | undefined)[] = [];
    const states: string[] = [];
    agent.on('reply', (chunk: string, meta) => {
      markers.push(meta.stream?.status);
      if (meta.stream?.status === undefined) chunks.push(chunk);
    });
    agent.on('status', ({ state }: { state: string }) => states.push(state));
    await agent.ready();
    await room.publish('message', { text: '@agent hello' });
    await c.request('agent.ask', { room: 'lobby', prompt: '@agent hello' });
    await waitFor(() => markers.includes('end'), 15_000, 'agent to finish');
    expect(markers[0]).toBe('open');
    expect(states.slice(0, 2)).toEqual(['thinking', 'searching']);
    expect(chunks.join('')).toContain('You asked: "hello"');
    expect((await room.history()).publications.map((p) => p.data)).toEqual([
      { text: '@agent hello' },
    ]);
  });
});

describe.skipIf(!hasRedis)('the demo with REDIS_URL', () => {
  it('two demo processes on two ports share a room', async () => {
    const env = {
      ...process.env,
      PORT: '0',
      REDIS_URL,
      REDIS_PREFIX: uniquePrefix(),
      JWT_SECRET: 'shared-demo-secret',
    };
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, ['demo/server.js'], {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      others.push(child);
      let output = '';
      child.stdout!.on('data', (chunk) => (output += chunk));
      urls.push(
        await waitFor(
          () => output.match(/http:\/\/127\.0\.0\.1:(\d+)\//)?.[0],
          15_000,
          'demo to start',
        ),
      );
    }
    const login = (http: string, name: string) => async () =>
      (
        (await (await fetch(`${http}login?name=${name}`, { method: 'POST' })).json()) as {
          token: string;
        }
      ).token;
    const ada = client(`${urls[0]!.replace('http', 'ws')}ws`, { token: login(urls[0]!, 'ada') });
    const bob = client(`${urls[1]!.replace('http', 'ws')}ws`, { token: login(urls[1]!, 'bob') });
    await Promise.all([ada.connect(), bob.connect()]);
    const got: string[] = [];
    const room = bob.subscribe('room:shared');
    room.on('message', ({ text }: { text: string }) => got.push(text));
    await room.ready();
    await ada.subscribe('room:shared').ready();
    await ada.publish('room:shared', 'message', { text: 'across processes' });
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['across processes']);
    expect((await room.presence()).map((m) => m.user).sort()).toEqual(['ada', 'bob']);
  });
});

describe('README', () => {
  it('shows the quickstart example as it is in examples/quickstart.mjs', () => {
    const readme = readFileSync('README.md', 'utf8');
    const example = readFileSync('examples/quickstart.mjs', 'utf8');
    const block = readme.split('## Ten lines that run')[1]!.split('```js\n')[1]!.split('```')[0]!;
    for (const line of block.split('\n').filter(Boolean)) expect(example).toContain(line);
  });
});
