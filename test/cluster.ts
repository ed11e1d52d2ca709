import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
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
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onCleanup(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/ws`,
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
