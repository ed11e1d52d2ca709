import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { demoDist, startDemo, stopDemo, tempDataDir, withDemoBuild } from '../demo.js';
import { client, onCleanup, REDIS_URL, redisAvailable, uniquePrefix, waitFor } from '../helpers.js';
import { PYTHON } from '../python.js';

const hasRedis = await redisAvailable();
const hasPython = spawnSync(PYTHON, ['--version']).status === 0 || process.env['CI'] === 'true';

withDemoBuild();

const login = (http: string, name: string) => async () =>
  (
    (await (await fetch(`${http}login?name=${name}`, { method: 'POST' })).json()) as {
      token: string;
    }
  ).token;

describe('the demo npm start runs', () => {
  it('serves the page, logs in, and streams an agent reply to the room', async () => {
    const { url: http } = await startDemo();

    const page = await fetch(http);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Switchboard demo');
    const script = html.match(/src="\/?(assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${http}${script}`)).status).toBe(200);

    const c = client(`${http.replace('http', 'ws')}ws`, { token: login(http, 'tester') });
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
    // The finished reply is one publication in history, its end rolled up; its opening (the
    // roll-up's first piece) says where it belongs in the room: after the prompt.
    const replies = (await agent.history()).publications.filter((p) => p.event === 'reply');
    expect(replies.map((p) => p.stream?.status)).toEqual(['end']);
    expect(replies[0]!.stream!.rollup![0]).toMatchObject({ for: 'tester', after: { offset: 1 } });
  });

  it.skipIf(!hasPython)(
    'with AGENT=python, a Python process streams the reply and its status through the HTTP API',
    async () => {
      const demo = await startDemo({ AGENT: 'python', PYTHON });
      const http = demo.url;
      expect(demo.output()).toContain('Agent:            demo/agent.py');
      const c = client(`${http.replace('http', 'ws')}ws`, { token: login(http, 'tester') });
      await c.connect();
      const room = c.subscribe('room:py');
      await room.ready();
      const agent = c.subscribe('agent:py');
      const chunks: string[] = [];
      const markers: (string | undefined)[] = [];
      const ids = new Set<string | undefined>();
      const statuses: { id: string; state: string; progress?: number }[] = [];
      agent.on('reply', (chunk: string, meta) => {
        markers.push(meta.stream?.status);
        ids.add(meta.stream?.id);
        if (meta.stream?.status === undefined) chunks.push(chunk);
      });
      agent.on('status', (status: { id: string; state: string }) => statuses.push(status));
      await agent.ready();
      await room.publish('message', { text: '@agent hello' });
      const { id } = (await c.request('agent.ask', { room: 'py', prompt: '@agent hello' })) as {
        id: string;
      };
      await waitFor(() => statuses.some((s) => s.state === 'done'), 15_000, 'the agent to finish');
      expect(markers[0]).toBe('open');
      expect(markers.at(-1)).toBe('end');
      expect([...ids]).toEqual([id]);
      expect(chunks.join('')).toContain('You asked: "hello". Here is a streamed answer');
      expect(chunks.length).toBeGreaterThan(10);
      // The page's status line: every update names the reply it belongs to.
      expect(statuses.map((s) => [s.id, s.state, s.progress])).toEqual([
        [id, 'thinking', undefined],
        [id, 'searching', 20],
        [id, 'searching', 50],
        [id, 'searching', 80],
        [id, 'done', undefined],
      ]);
      // The reply's opening says where it belongs in the room, as the Node agent's does.
      const opening = (await agent.history()).publications.find((p) => p.stream?.status === 'open');
      expect(opening?.data).toMatchObject({ for: 'tester', after: { offset: 1 } });
      expect(opening?.stream?.id).toBe(id);
    },
  );

  it('answers /favicon.ico, and its pages link an icon', async () => {
    const { url } = await startDemo();
    const icon = await fetch(`${url}favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    expect(await icon.text()).toContain('<svg');
    for (const path of ['', 'inspector'])
      expect(await (await fetch(url + path)).text()).toContain('<link rel="icon" href="data:');
  });

  it('says in one line that the port is taken, and how to pick another, then exits 1', async () => {
    const holder = createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    onCleanup(() => holder.close());
    const port = (holder.address() as { port: number }).port;
    const child = spawn(process.execPath, ['demo/server.js'], {
      env: {
        ...process.env,
        PORT: String(port),
        DEMO_DIST: demoDist(),
        DEMO_DATA_DIR: tempDataDir(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onCleanup(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const [code] = (await Promise.race([
      once(child, 'exit'),
      new Promise((_, reject) => setTimeout(() => reject(new Error('demo did not exit')), 10_000)),
    ])) as [number];
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      `Switchboard demo: port ${port} on 127.0.0.1 is already in use. Stop what holds it, or pick another port: PORT=${port + 1} npm start`,
    ]);
  });
});

describe('the demo keeps its rooms in an SQLite file by default', () => {
  it('a restarted demo (even after SIGKILL) serves the rooms from its file, at the same offsets', async () => {
    const first = await startDemo();
    expect(first.output()).toContain(`History:          ${first.dataDir}/demo.db`);
    const ada = client(`${first.url.replace('http', 'ws')}ws`, { token: login(first.url, 'ada') });
    await ada.connect();
    await ada.subscribe('room:kept').ready();
    for (const text of ['one', 'two'])
      await ada.publish('room:kept', 'message', { text }, { timeoutMs: 5_000 });
    ada.close();
    const killed = once(first.child, 'exit');
    first.child.kill('SIGKILL');
    await killed;

    const second = await startDemo({ DEMO_DATA_DIR: first.dataDir });
    const bob = client(`${second.url.replace('http', 'ws')}ws`, {
      token: login(second.url, 'bob'),
    });
    await bob.connect();
    const room = bob.subscribe('room:kept');
    await room.ready();
    const kept = (await room.history()).publications;
    expect(kept.map((p) => [p.offset, p.data])).toEqual([
      [1, { text: 'one' }],
      [2, { text: 'two' }],
    ]);
    expect((await bob.publish('room:kept', 'message', { text: 'three' })).offset).toBe(3);
  });

  it('a second demo on the same file says in one line that it is in use, then exits 1', async () => {
    const first = await startDemo();
    const child = spawn(process.execPath, ['demo/server.js'], {
      env: {
        ...process.env,
        PORT: '0',
        DEMO_DIST: demoDist(),
        DEMO_BROKER: 'sqlite',
        DEMO_DATA_DIR: first.dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onCleanup(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^Switchboard demo: .*demo\.db is in use by another demo process\. Stop it, or give this one its own: DEMO_DATA_DIR=/,
      ),
    ]);
  });
});

describe.skipIf(!hasRedis)('the demo with REDIS_URL', () => {
  it('two demo processes on two ports share a room', async () => {
    const env = {
      REDIS_URL,
      REDIS_PREFIX: uniquePrefix(),
      JWT_SECRET: 'shared-demo-secret',
    };
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) urls.push((await startDemo(env)).url);
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

  it('a restarted demo process keeps the rooms: history lives in Redis', async () => {
    const env = { REDIS_URL, REDIS_PREFIX: uniquePrefix() };
    const first = await startDemo(env);
    const ada = client(`${first.url.replace('http', 'ws')}ws`, { token: login(first.url, 'ada') });
    await ada.connect();
    await ada.subscribe('room:kept').ready();
    await ada.publish('room:kept', 'message', { text: 'before the restart' });
    ada.close();
    await stopDemo(first.child);

    const second = await startDemo({ ...env, PORT: String(first.port) });
    const bob = client(`${second.url.replace('http', 'ws')}ws`, {
      token: login(second.url, 'bob'),
    });
    await bob.connect();
    const room = bob.subscribe('room:kept');
    await room.ready();
    expect((await room.history()).publications.map((p) => p.data)).toEqual([
      { text: 'before the restart' },
    ]);
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
