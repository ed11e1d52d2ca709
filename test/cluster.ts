import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import {
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Client, MessageMeta, SubscribedEvent } from '../src/client/index.js';
import { onCleanup, SECRET, sleep, waitFor } from './helpers.js';

/** A gateway node in its own process (test/fixtures/node.mjs). */
export interface GatewayNode {
  port: number;
  url: string;
  process: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a gateway node sharing the Redis at `redisUrl` under `prefix`, or, with `sqliteFile`,
 * alone on that SQLite file. Rejects with the process's own startup error when it reports one.
 */
export async function startNode(
  redisUrl: string,
  prefix: string,
  port = 0,
  sqliteFile?: string,
): Promise<GatewayNode> {
  const broker = sqliteFile ? { SQLITE_FILE: sqliteFile } : { REDIS_URL: redisUrl, PREFIX: prefix };
  const child = fork('test/fixtures/node.mjs', {
    env: { ...process.env, ...broker, SECRET, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await Promise.race([exited, sleep(5_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  onCleanup(() => kill('SIGKILL'));
  const [message] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(() => [{ type: 'error', message: 'exited before it was ready' }]),
    sleep(15_000).then(() => [{ type: 'error', message: 'did not start in time' }]),
  ])) as [{ type: string; port: number; message?: string }];
  if (message.type !== 'ready') throw new Error(message.message ?? 'gateway node did not start');
  return { port: message.port, url: `ws://127.0.0.1:${message.port}/ws`, process: child, kill };
}

/** Listens on a free port of 127.0.0.1; after the test, cuts `sockets` and closes. */
async function listenLocal(server: NetServer, sockets: Set<Socket>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onCleanup(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as { port: number }).port;
}

/**
 * A round-robin TCP load balancer on 127.0.0.1, the way nginx or HAProxy would sit in front of
 * the nodes without sticky sessions. A backend that refuses the connection is skipped.
 */
export async function loadBalancer(
  backends: () => number[],
): Promise<{ url: string; dropAll(): void }> {
  const sockets = new Set<Socket>();
  let next = 0;
  const server: NetServer = createNetServer((downstream) => {
    sockets.add(downstream);
    downstream.on('close', () => sockets.delete(downstream));
    downstream.on('error', () => {});
    downstream.pause();
    const ports = backends();
    const attempt = (tries: number) => {
      if (tries >= ports.length || downstream.destroyed) return downstream.destroy();
      const port = ports[next++ % ports.length]!;
      const upstream = connect(port, '127.0.0.1');
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        upstream.on('error', () => downstream.destroy());
        upstream.on('close', () => downstream.destroy());
        downstream.on('close', () => upstream.destroy());
        downstream.pipe(upstream).pipe(downstream);
        downstream.resume();
      });
      upstream.once('error', () => {
        if (!connected) attempt(tries + 1);
      });
    };
    attempt(0);
  });
  const port = await listenLocal(server, sockets);
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    /** Cut every connection through the balancer, as a network blip would. */
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * A round-robin HTTP balancer on 127.0.0.1 that sends every HTTP request (not every TCP
 * connection: keep-alive would hide the point) to the next backend, with no affinity of any
 * kind: what the SSE transport's POSTs must survive. WebSocket upgrades are relayed to the next
 * backend too, or refused with 403 (`upgrades: false`), as a proxy that strips `Upgrade` would.
 * `served` lists the backend port of each request in order.
 */
export async function httpBalancer(
  backends: () => number[],
  options: { upgrades?: boolean } = {},
): Promise<{ url: string; port: number; served: number[]; refused: number; dropAll(): void }> {
  const sockets = new Set<Socket>();
  const served: number[] = [];
  const stats = { refused: 0 };
  let next = 0;
  const pick = () => {
    const ports = backends();
    return ports[next++ % ports.length]!;
  };
  const server = createHttpServer((request, response) => {
    const port = pick();
    served.push(port);
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent: false,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
        answer.on('error', () => response.destroy());
      },
    );
    upstream.on('error', () => response.destroy());
    response.on('close', () => upstream.destroy());
    request.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (request, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (options.upgrades === false) {
      stats.refused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(pick(), '127.0.0.1');
    upstream.on('error', () => socket.destroy());
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    const lines = [`${request.method} ${request.url} HTTP/1.1`];
    for (let i = 0; i < request.rawHeaders.length; i += 2)
      lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    upstream.write(head);
    socket.pipe(upstream).pipe(socket);
  });
  const port = await listenLocal(server, sockets);
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    served,
    get refused() {
      return stats.refused;
    },
    /** Cut every connection through the balancer, as a network blip would. */
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** A Redis of the test's own on a free port, so it can be killed and restarted. */
export async function privateRedis(
  port: number,
): Promise<{ url: string; stop(): Promise<void>; start(): Promise<void> }> {
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const { Redis } = await import('ioredis');
    await waitFor(
      async () => {
        const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
        probe.on('error', () => {});
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          probe.disconnect();
        }
      },
      10_000,
      'private redis to start',
    );
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  await start();
  onCleanup(stop);
  return { url: `redis://127.0.0.1:${port}`, stop, start };
}

/** Asks a node process to publish from its server side. */
export async function nodePublish(
  node: GatewayNode,
  channel: string,
  event: string,
  data: unknown,
) {
  const id = Math.random().toString(36).slice(2);
  node.process.send({ type: 'publish', id, channel, event, data });
  for (;;) {
    const [message] = (await once(node.process, 'message')) as [
      { type: string; id: string; error?: string },
    ];
    if (message.type === 'published' && message.id === id) return message;
  }
}

/** The ids of the connections a node process holds now. */
export async function nodeConnections(node: GatewayNode): Promise<string[]> {
  const id = Math.random().toString(36).slice(2);
  node.process.send({ type: 'connections', id });
  for (;;) {
    const [message] = (await once(node.process, 'message')) as [
      { type: string; id: string; ids: string[] },
    ];
    if (message.type === 'connections' && message.id === id) return message.ids;
  }
}

/** Client options for failover tests: quick reconnects, an outbox that outlasts an outage. */
export const fast = {
  reconnect: { minDelayMs: 20, maxDelayMs: 300 },
  outbox: { ttlMs: 60_000, maxEntries: 10_000 },
};

/** Subscribes to `channel` and records every `n` message with its meta, gaps and recoveries. */
export function recorder(c: Client, channel: string) {
  const sub = c.subscribe(channel);
  const got: { n: number; meta: MessageMeta }[] = [];
  const gaps: SubscribedEvent[] = [];
  const recovered: SubscribedEvent[] = [];
  sub.on('n', (n: number, meta) => got.push({ n, meta }));
  sub.on('gap', (event) => gaps.push(event));
  sub.on('recovered', (event) => recovered.push(event));
  return { c, sub, got, gaps, recovered };
}
