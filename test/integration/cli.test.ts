import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { stringify as toYaml } from 'yaml';
import { configSpec } from '../../src/cli/schema.js';
import type { ObjectSpec } from '../../src/cli/spec.js';
import { CloseCode, ErrorCode } from '../../src/protocol/index.js';
import { LOG_EVENT } from '../../src/server/index.js';
import { privateRedis } from '../cluster.js';
import {
  client,
  connected,
  onCleanup,
  RawSocket,
  redisAvailable,
  SECRET,
  scrapeMetrics,
  sleep,
  token,
  uniquePrefix,
  waitFor,
} from '../helpers.js';

const CLI = 'dist/cli/main.js';
const canRunRedis =
  (await redisAvailable()) && spawnSync('redis-server', ['--version']).status === 0;

const baseConfig = {
  port: 0,
  host: '127.0.0.1',
  auth: { jwt: { secret: SECRET } },
  heartbeat: { intervalMs: 0 },
  channels: { 'chat:*': { history: { size: 100 }, presence: true, publish: 'all' } },
};

function configFile(config: unknown, format: 'yaml' | 'json' = 'yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  const file = join(dir, `switchboard.${format}`);
  writeFileSync(file, format === 'json' ? JSON.stringify(config) : toYaml(config));
  return file;
}

interface Cli {
  child: ChildProcess;
  port: number;
  url: string;
  records: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** Starts `switchboard serve` in its own process and waits for its "listening" record. */
async function startCli(
  config: unknown,
  options: { env?: Record<string, string>; format?: 'yaml' | 'json'; args?: string[] } = {},
): Promise<Cli> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--config', configFile(config, options.format), ...(options.args ?? [])],
    {
      env: { ...process.env, NODE_ENV: 'test', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const records: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line) records.push(JSON.parse(line));
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const listening = await Promise.race([
    waitFor(() => records.find((r) => r.msg === 'listening'), 15_000, 'the CLI to listen'),
    exited.then((code) => {
      throw new Error(`CLI exited with ${code}: ${stderr}`);
    }),
  ]);
  return {
    child,
    port: listening.port as number,
    url: listening.url as string,
    records,
    exited,
  };
}

function runCli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function allKeys(spec: ObjectSpec, prefix = ''): string[] {
  return Object.entries(spec.fields).flatMap(([key, child]) => {
    const path = prefix + key;
    if (child.type === 'object')
      return [...(child.toggle ? [path] : []), ...allKeys(child, `${path}.`)];
    if (child.type === 'map' && child.value.type === 'object')
      return [path, ...allKeys(child.value, `${path}.<${child.key}>.`)];
    return [path];
  });
}

/** A port on 127.0.0.1 free a moment ago. */
async function freePort(): Promise<number> {
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const api = (port: number, path: string, body: unknown, key?: string) =>
  fetch(`http://127.0.0.1:${port}/api${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }) },
    body: JSON.stringify(body),
  });

describe('switchboard CLI: configuration', () => {
  it('--help lists every option with its environment variable', () => {
    const { code, stdout } = runCli(['serve', '--help']);
    expect(code).toBe(0);
    const keys = allKeys(configSpec);
    expect(keys.length).toBeGreaterThan(50);
    for (const key of keys) expect(stdout).toContain(`  ${key}  (`);
    expect(stdout).toContain('env PORT or SWITCHBOARD_PORT');
    expect(stdout).toContain('env REDIS_URL or SWITCHBOARD_REDIS_URL');
  });

  it('names the bad key, with a suggestion, and exits 2', () => {
    const file = configFile({
      ...baseConfig,
      limits: { maxMesageBytes: 1000, maxSubscriptions: 'lots' },
      channels: { 'chat:*': { subscribe: 'everyone' } },
    });
    const { code, stderr } = runCli(['serve', '-c', file]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      'limits.maxMesageBytes: unknown option (did you mean "maxMessageBytes"?)',
    );
    expect(stderr).toContain('limits.maxSubscriptions: expected an integer, got "lots"');
    expect(stderr).toContain('channels."chat:*".subscribe: expected all, none, owner, proxy');
  });

  it('reads environment variables over the file and hides secrets in errors', () => {
    const file = configFile(baseConfig, 'json');
    const bad = runCli(['check', '-c', file], { PORT: 'eighty', SWITCHBOARD_API_KEY: '' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('port: expected an integer, got "eighty"');

    const good = runCli(['check', '-c', file, '--set', 'limits.maxMessageBytes=2048'], {
      PORT: '9123',
      SWITCHBOARD_API_KEY: 'from-env',
      SWITCHBOARD_LIMITS_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
      // The close timeout's old name still sets it, and both names show the one value.
      SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '7000',
    });
    expect(good.code).toBe(0);
    const config = JSON.parse(good.stdout);
    expect([config.limits.closeTimeoutMs, config.shutdown.timeoutMs]).toEqual([7000, 7000]);
    expect(config.port).toBe(9123);
    expect(config.limits.maxMessageBytes).toBe(2048);
    expect(config.limits.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.api.key).toBe('(hidden)');
    expect(config.auth.jwt.secret).toBe('(hidden)');

    const missingAuth = runCli(['check', '-c', configFile({ port: 0 })]);
    expect(missingAuth.code).toBe(2);
    expect(missingAuth.stderr).toContain('auth.jwt.secret: no way to authenticate');
    const unreadable = runCli(['check', '-c', '/nonexistent/switchboard.yaml']);
    expect([unreadable.code, unreadable.stderr]).toEqual([
      2,
      expect.stringContaining('/nonexistent/switchboard.yaml: cannot read (ENOENT)'),
    ]);
  });
});

describe('switchboard CLI: defaults, names and warnings', () => {
  it('listens on 127.0.0.1 unless told otherwise (HOST=0.0.0.0 in a container)', async () => {
    const { host: _host, ...noHost } = baseConfig;
    const file = configFile(noHost);
    expect(JSON.parse(runCli(['check', '-c', file]).stdout).host).toBe('127.0.0.1');
    expect(JSON.parse(runCli(['check', '-c', file], { HOST: '0.0.0.0' }).stdout).host).toBe(
      '0.0.0.0',
    );
    const cli = await startCli(noHost);
    expect(cli.records.find((r) => r.msg === 'listening')).toMatchObject({ host: '127.0.0.1' });
  });

  it('check warns on stderr, and still exits 0, when no channel is configured', () => {
    const { channels: _channels, ...noChannels } = baseConfig;
    const { code, stdout, stderr } = runCli(['check', '-c', configFile(noChannels)]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).channels).toEqual({});
    expect(stderr).toContain(
      'switchboard: warning: channels: none configured, so every subscribe will be refused',
    );
    expect(runCli(['check', '-c', configFile(baseConfig)]).stderr).toBe('');
  });

  it('takes every limit by its library name; history.ttlSeconds still works as ttlMs', async () => {
    const checked = runCli([
      'check',
      '-c',
      configFile({
        ...baseConfig,
        channels: {
          'chat:*': { history: { size: 5, ttlSeconds: 90 }, streams: { timeoutMs: 500 } },
        },
        broker: { idempotencyWindowMs: 60_000 },
      }),
    ]);
    expect(checked.code).toBe(0);
    expect(JSON.parse(checked.stdout).channels['chat:*']).toMatchObject({
      history: { size: 5, ttlMs: 90_000 },
      streams: { timeoutMs: 500 },
    });
    const cli = await startCli({
      ...baseConfig,
      limits: { maxMessageBytes: 1024, hardMaxMessageBytes: 4096, maxBatch: 2 },
    });
    const socket = await RawSocket.connect(cli.url);
    socket.send(Array.from({ length: 3 }, (_, i) => ({ type: 'ping', id: i + 1 })));
    expect(await socket.reply(1)).toMatchObject({ code: ErrorCode.BAD_FRAME });
    socket.send({ type: 'publish', id: 9, channel: 'chat:a', event: 'm', data: 'x'.repeat(2000) });
    expect(await socket.reply(9)).toMatchObject({ code: ErrorCode.TOO_LARGE });
    socket.send({ type: 'publish', id: 10, channel: 'chat:a', event: 'm', data: 'x'.repeat(5000) });
    expect((await socket.closedWith()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });

  it('serves metrics and health on a port of their own, not the gateway port', async () => {
    const side = await freePort();
    const cli = await startCli({ ...baseConfig, metrics: { port: side }, health: { port: side } });
    expect(cli.records.find((r) => r.msg === 'listening')).toMatchObject({
      metrics: `http://127.0.0.1:${side}/metrics`,
      health: `http://127.0.0.1:${side}/healthz`,
    });
    for (const path of ['/metrics', '/healthz', '/readyz'])
      expect((await fetch(`http://127.0.0.1:${cli.port}${path}`)).status).toBe(404);
    expect((await scrapeMetrics(side)).get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${side}/readyz`)).status).toBe(200);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${side}/healthz`)).rejects.toThrow();
  });

  it('a wrong redis.url: starts, /readyz answers 503 naming the cause, logged once at error', async () => {
    const cli = await startCli({
      ...baseConfig,
      redis: { url: 'redis://nonexistent.invalid:6379', prefix: uniquePrefix() },
    });
    const body = await waitFor(
      async () => {
        const answer = await fetch(`http://127.0.0.1:${cli.port}/readyz`);
        const json = (await answer.json()) as { reason?: string };
        return answer.status === 503 && json.reason?.includes('ENOTFOUND') ? json : undefined;
      },
      5_000,
      'a 503 naming ENOTFOUND',
    );
    expect(body.reason).toBe('Redis unreachable: getaddrinfo ENOTFOUND nonexistent.invalid');
    // ioredis retries every few hundred ms meanwhile; the cause is logged once.
    await sleep(2_000);
    const errors = cli.records.filter((r) => r.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      msg: 'Redis unreachable: getaddrinfo ENOTFOUND nonexistent.invalid',
      redis: 'nonexistent.invalid:6379',
      err: { code: 'ENOTFOUND' },
    });
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });
});

/** A temporary directory, removed after the test. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-data-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('switchboard serve: the SQLite broker', () => {
  it('--data-dir keeps history across a SIGKILL and a restart: the client recovers, same epoch and offsets', async () => {
    const dataDir = join(tempDir(), 'data'); // not there yet: --data-dir makes it
    const args = ['--data-dir', dataDir];
    const first = await startCli(baseConfig, { args });
    expect(first.records.find((r) => r.msg === 'listening')).toMatchObject({
      broker: 'sqlite',
      dataFile: join(dataDir, 'switchboard.db'),
    });
    const alice = await connected(first.url, 'alice');
    const sub = alice.subscribe('chat:kept');
    const got: { n: number; offset: number; epoch: string }[] = [];
    const recovered: boolean[] = [];
    sub.on('n', (n: number, meta) => got.push({ n, offset: meta.offset!, epoch: meta.epoch! }));
    sub.on('recovered', () => recovered.push(true));
    sub.on('gap', () => recovered.push(false));
    await sub.ready();
    for (const n of [1, 2, 3]) await alice.publish('chat:kept', 'n', n);
    await waitFor(() => got.length === 3, 5_000, 'the first three');

    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);
    // Same port: the client reconnects by itself and resubscribes from offset 3.
    const second = await startCli({ ...baseConfig, port: first.port }, { args });
    const bob = await connected(second.url, 'bob');
    expect((await bob.publish('chat:kept', 'n', 4)).offset).toBe(4);
    await waitFor(() => got.length === 4 && recovered.length === 1, 10_000, 'alice to recover');
    expect(recovered).toEqual([true]);
    expect(got.map((g) => [g.n, g.offset])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    expect(new Set(got.map((g) => g.epoch)).size).toBe(1);
    const { publications } = await bob.subscribe('chat:kept').history({ limit: 10 });
    expect(publications.map((p) => p.data)).toEqual([1, 2, 3, 4]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('broker.sqlite.file from the environment, the file or --set; refuses it with redis.url (exit 2)', () => {
    const file = configFile(baseConfig);
    const db = join(tempDir(), 'x.db');
    const fromEnv = runCli(['check', '-c', file], { SWITCHBOARD_BROKER_SQLITE_FILE: db });
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(fromEnv.stdout).broker.sqlite).toEqual({ file: db });
    const dataDir = join(tempDir(), 'data');
    const fromFlag = runCli([
      'check',
      '-c',
      file,
      '--data-dir',
      dataDir,
      '--set',
      'broker.sqlite.synchronous=normal',
    ]);
    expect(JSON.parse(fromFlag.stdout).broker.sqlite).toEqual({
      file: join(dataDir, 'switchboard.db'),
      synchronous: 'normal',
    });
    // check reads the configuration and touches nothing.
    expect(existsSync(dataDir)).toBe(false);
    expect(
      runCli(['check', '-c', file, '--set', 'broker.sqlite.synchronous=off']).stderr,
    ).toContain('broker.sqlite.synchronous: expected one of full, normal, got "off"');

    const refusal =
      'broker.sqlite.file: set either redis.url (nodes sharing one Redis) or broker.sqlite.file (--data-dir; one durable node), not both';
    const both = runCli(['serve', '-c', file, '--data-dir', dataDir], {
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect([both.code, both.stdout]).toEqual([2, '']);
    expect(both.stderr).toContain(refusal);
    expect(existsSync(dataDir)).toBe(false);
    const inFile = runCli([
      'serve',
      '-c',
      configFile({
        ...baseConfig,
        redis: { url: 'redis://127.0.0.1:6379' },
        broker: { sqlite: { file: db } },
      }),
    ]);
    expect([inFile.code, inFile.stderr.includes(refusal)]).toEqual([2, true]);
  });

  it('without better-sqlite3 installed: says which package to install, exit 2', () => {
    // The driver is made unresolvable, as in an installation without it.
    const hide = join(tempDir(), 'hide-better-sqlite3.cjs');
    writeFileSync(
      hide,
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'better-sqlite3') {
    const error = new Error("Cannot find module 'better-sqlite3'");
    error.code = 'MODULE_NOT_FOUND';
    throw error;
  }
  return resolve.call(this, request, ...rest);
};
`,
    );
    const result = spawnSync(
      process.execPath,
      ['--require', hide, CLI, 'serve', '-c', configFile(baseConfig), '--data-dir', tempDir()],
      { env: process.env, encoding: 'utf8', timeout: 15_000 },
    );
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(
      'switchboard: could not start: the SQLite broker (broker.sqlite.file, --data-dir) needs the better-sqlite3 package, which is not installed: npm install better-sqlite3',
    );
  });

  it('a second server on the same data directory fails to start, naming the file (exit 1)', async () => {
    const dataDir = tempDir();
    await startCli(baseConfig, { args: ['--data-dir', dataDir] });
    const second = runCli(['serve', '-c', configFile(baseConfig), '--data-dir', dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `switchboard: could not start: sqliteBroker: ${join(dataDir, 'switchboard.db')} is in use by another process`,
    );
  });
});

describe('switchboard serve', () => {
  it('publishes over HTTP only with the API key; clients receive; metrics scrape and parse', async () => {
    const cli = await startCli(
      {
        ...baseConfig,
        log: { channel: 'admin:logs', collapseMs: 300, keep: 20 },
        inspector: { enabled: true, credential: 'panel-secret' },
      },
      { env: { SWITCHBOARD_API_KEY: 'ops-key' } },
    );
    const bob = await connected(cli.url, 'bob');
    const received: unknown[] = [];
    const sub = bob.subscribe('chat:lobby');
    sub.on('news', (data) => received.push(data));
    await sub.ready();

    const refused = await api(cli.port, '/publish', {
      channel: 'chat:lobby',
      event: 'news',
      data: 0,
    });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as any).error.code).toBe(ErrorCode.UNAUTHORIZED);
    const accepted = await api(
      cli.port,
      '/publish',
      { channel: 'chat:lobby', event: 'news', data: { headline: 'hello' } },
      'ops-key',
    );
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({ offset: 1, duplicate: false });
    await waitFor(() => received.length === 1, 5_000, 'the HTTP publication');
    expect(received).toEqual([{ headline: 'hello' }]);
    // Nothing arrived from the refused request.
    await sleep(50);
    expect(received).toHaveLength(1);

    const metrics = await scrapeMetrics(cli.port);
    expect(metrics.get('switchboard_connections{state="open"}')).toBe(1);
    expect(metrics.get('switchboard_subscriptions')).toBe(1);
    expect(
      metrics.get('switchboard_messages_total{direction="out",pattern="chat:*"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(metrics.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${cli.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${cli.port}/readyz`)).status).toBe(200);

    const inspector = (path: string, credential?: string) =>
      fetch(`http://127.0.0.1:${cli.port}/inspector${path}`, {
        headers: credential ? { authorization: `Bearer ${credential}` } : {},
      });
    expect((await inspector('/')).status).toBe(200);
    expect((await inspector('/export.jsonl')).status).toBe(401);
    expect((await inspector('/export.jsonl', 'panel-secret')).status).toBe(200);

    // The log channel: only admins may watch; a storm of identical records arrives collapsed.
    const nosy = await connected(cli.url, 'mallory');
    await expect(nosy.subscribe('admin:logs').ready()).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    const admin = client(cli.url, { token: await token('root', { roles: ['admin'] }) });
    await admin.connect();
    const logs: any[] = [];
    const watch = admin.subscribe('admin:logs');
    watch.on(LOG_EVENT, (record) => logs.push(record));
    await watch.ready();
    for (let i = 0; i < 6; i++) {
      const intruder = new WebSocket(cli.url);
      intruder.on('open', () =>
        intruder.send(JSON.stringify({ type: 'connect', id: 1, token: 'forged', version: 1 })),
      );
      await once(intruder, 'close');
    }
    await waitFor(
      () => logs.filter((r) => r.msg === 'connection refused').length === 2,
      5_000,
      'one refused record and one summary',
    );
    const refusals = logs.filter((r) => r.msg === 'connection refused');
    expect(refusals[0]).toMatchObject({ level: 30, code: CloseCode.UNAUTHORIZED });
    expect(refusals[1]).toMatchObject({ repeated: 5 });
    // Late joiners read the last records from the channel's history.
    const late = await watch.history({ limit: 20 });
    expect(late.publications.some((p) => (p.data as any).repeated === 5)).toBe(true);
    // And the same records went to stdout as JSON lines.
    expect(cli.records.filter((r) => r.msg === 'connection refused')).toHaveLength(6);
  });

  it('drains on SIGTERM: clients get 1001, a silent one is cut off at the deadline, exit 0', async () => {
    const cli = await startCli({ ...baseConfig, shutdown: { timeoutMs: 1_500 } });
    const sockets = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const ws = new WebSocket(cli.url);
        await once(ws, 'open');
        ws.send(
          JSON.stringify({ type: 'connect', id: 1, token: await token(`u${i}`), version: 1 }),
        );
        await once(ws, 'message');
        const closed = once(ws, 'close').then(([code]) => code as number);
        return { ws, closed };
      }),
    );
    // One peer stops reading: it can never finish the closing handshake.
    (sockets[2]!.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const started = Date.now();
    cli.child.kill('SIGTERM');
    expect(await sockets[0]!.closed).toBe(CloseCode.GOING_AWAY);
    expect(await sockets[1]!.closed).toBe(CloseCode.GOING_AWAY);
    expect(await cli.exited).toBe(0);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(6_000);
    expect(cli.records.map((r) => r.msg)).toEqual(
      expect.arrayContaining(['shutting down', 'stopped']),
    );
    // New connections were refused while draining (the port is closed now).
    await expect(fetch(`http://127.0.0.1:${cli.port}/healthz`)).rejects.toThrow();
  });

  it('hands connect, channel and RPC decisions to a backend', async () => {
    const backend = createHttpServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString());
      const reply = (status: number, value: unknown) =>
        response
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify(value));
      if (request.headers['x-backend-secret'] !== 's3cret') return reply(401, {});
      if (request.url === '/connect')
        return reply(body.token === 'let-me-in' ? 200 : 403, { user: 'carol' });
      if (request.url === '/authorize')
        return reply(200, { allow: body.channel === 'orders:carol' });
      if (request.url === '/rpc') return reply(200, { result: `${body.method} for ${body.user}` });
      reply(404, {});
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    onCleanup(() => new Promise((resolve) => backend.close(resolve)));
    const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    const cli = await startCli(
      {
        port: 0,
        host: '127.0.0.1',
        proxy: {
          connect: `${base}/connect`,
          authorize: `${base}/authorize`,
          rpc: `${base}/rpc`,
          headers: { 'x-backend-secret': 's3cret' },
          timeoutMs: 1_000,
        },
        channels: { 'orders:*': { subscribe: 'proxy' } },
      },
      { format: 'json' },
    );
    const carol = client(cli.url, { token: 'let-me-in' });
    await carol.connect();
    await carol.subscribe('orders:carol').ready();
    await expect(carol.subscribe('orders:dave').ready()).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    expect(await carol.request('quote', {})).toBe('quote for carol');
    const stranger = client(cli.url, { token: 'nope', reconnect: false });
    await expect(stranger.connect()).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
  });

  it.skipIf(!canRunRedis)(
    'with Redis: /readyz fails while Redis is stopped and recovers when it is back',
    async () => {
      const redis = await privateRedis(18379 + Math.floor(Math.random() * 1000));
      const cli = await startCli({
        ...baseConfig,
        redis: { url: redis.url, prefix: uniquePrefix() },
      });
      const ready = async () => (await fetch(`http://127.0.0.1:${cli.port}/readyz`)).status;
      await waitFor(async () => (await ready()) === 200, 5_000, 'ready');
      expect(cli.records.find((r) => r.msg === 'listening')?.broker).toBe('redis');
      await redis.stop();
      await waitFor(async () => (await ready()) === 503, 5_000, 'not ready');
      expect((await fetch(`http://127.0.0.1:${cli.port}/healthz`)).status).toBe(200);
      await redis.start();
      await waitFor(async () => (await ready()) === 200, 10_000, 'ready again');
    },
  );
});
