/**
 * Fault injection for tests against real Redis processes: a Redis of the test's own that can be
 * killed, restarted with or without its data, frozen and thawed; a three-node Redis Cluster; a TCP
 * proxy that can cut, refuse or stall the link. Everything binds 127.0.0.1, every wait is bounded
 * and every process, socket and temp dir is released through `onCleanup`, also when a test fails.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { onCleanup, sleep, waitFor } from './helpers.js';

const HOST = '127.0.0.1';

// ── ports ────────────────────────────────────────────────────────────────────────────────────

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, HOST, () => probe.close(() => resolve(true)));
  });
}

/**
 * A port free on 127.0.0.1 right now. `clusterBus` also wants port + 10000 free (the Redis Cluster
 * bus port) and so picks from 20000–49999 rather than the kernel's ephemeral range.
 */
export async function freePort(options: { clusterBus?: boolean } = {}): Promise<number> {
  if (!options.clusterBus) {
    const probe = createNetServer();
    probe.listen(0, HOST);
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    return port;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) found');
}

// ── redis-server processes ───────────────────────────────────────────────────────────────────

/** A redis-server child whose recent log lines are kept for error messages. */
class ServerProcess {
  child: ChildProcess | undefined;
  private log = '';

  constructor(
    readonly port: number,
    private readonly args: () => string[],
  ) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns redis-server and waits until it answers PING with PONG (not LOADING). */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.running) throw new Error(`redis-server on ${this.port} is already running`);
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        HOST,
        '--daemonize',
        'no',
        '--logfile',
        '',
        ...this.args(),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.log = (this.log + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (error) => keep(Buffer.from(String(error))));
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null)
            throw new Error(`redis-server on ${this.port} exited while starting:\n${this.log}`);
          return (await pingOnce(this.port)) === 'PONG';
        },
        timeoutMs,
        `redis-server on ${this.port} to answer PONG`,
      );
    } catch (error) {
      await this.kill();
      throw new Error(`${(error as Error).message}\nlog:\n${this.log}`);
    }
  }

  /** SIGKILL (works on a stopped process too) and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }

  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (!this.running) throw new Error(`redis-server on ${this.port} is not running`);
    this.child!.kill(signal);
  }
}

/** One PING on a fresh connection: 'PONG', a server error such as LOADING, or undefined. */
async function pingOnce(port: number): Promise<string | undefined> {
  const probe = new Redis(port, HOST, {
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 500,
    commandTimeout: 500,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return await probe.ping();
  } catch (error) {
    return (error as Error).message;
  } finally {
    probe.disconnect();
  }
}

/** Sends one command on a short-lived connection of its own, bounded by `timeoutMs`. */
export async function redisCommand(
  port: number,
  args: (string | number)[],
  timeoutMs = 5_000,
): Promise<unknown> {
  const admin = new Redis(port, HOST, {
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  admin.on('error', () => {});
  try {
    await admin.connect();
    const [name, ...rest] = args;
    return await admin.call(String(name), ...rest);
  } finally {
    admin.disconnect();
  }
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export type Persistence = 'none' | 'aof' | 'rdb';

export interface RedisProcess {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** Its own data directory (`--dir`), kept across kill/start. */
  readonly dir: string;
  /** SIGKILL, no shutdown save: what was not yet persisted is lost. Waits for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port and dir; resolves once PING answers PONG (data loaded). */
  start(): Promise<void>;
  /** SIGSTOP: the socket stays open, nothing is answered. */
  pause(): void;
  /** SIGCONT: everything sent meanwhile is executed and answered. */
  resume(): void;
  /** RDB: takes the snapshot now (SAVE); only what is in it survives a kill. */
  snapshot(): Promise<void>;
  /** `CLIENT KILL TYPE pubsub` from a separate connection; the number of clients killed. */
  killPubsubClients(): Promise<number>;
  /** One command on a separate short-lived connection. */
  command(...args: (string | number)[]): Promise<unknown>;
}

/**
 * A redis-server of the test's own, with its own temp dir.
 * - `none`: no persistence; a kill loses everything.
 * - `aof`: append-only file, fsync `always` (or `everysec` through `appendfsync`); RDB off.
 * - `rdb`: automatic snapshots off; `snapshot()` takes one, so the test picks the moment.
 */
export async function redisProcess(
  options: { persistence?: Persistence; port?: number; appendfsync?: 'always' | 'everysec' } = {},
): Promise<RedisProcess> {
  const persistence = options.persistence ?? 'none';
  const port = options.port ?? (await freePort());
  const dir = await tempDir('sb-redis-');
  const args = ['--dir', dir, '--save', '', '--dbfilename', 'dump.rdb'];
  if (persistence === 'aof')
    args.push('--appendonly', 'yes', '--appendfsync', options.appendfsync ?? 'always');
  else args.push('--appendonly', 'no');
  const server = new ServerProcess(port, () => args);
  onCleanup(() => server.kill()); // registered after the dir: runs before its removal
  await server.start();
  return {
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    kill: () => server.kill(),
    start: () => server.start(),
    pause: () => server.signal('SIGSTOP'),
    resume: () => server.signal('SIGCONT'),
    async snapshot() {
      if (persistence !== 'rdb') throw new Error(`snapshot() needs persistence 'rdb'`);
      await redisCommand(port, ['SAVE']);
    },
    killPubsubClients: async () =>
      Number(await redisCommand(port, ['CLIENT', 'KILL', 'TYPE', 'pubsub'])),
    command: (...commandArgs) => redisCommand(port, commandArgs),
  };
}

// ── Redis Cluster ────────────────────────────────────────────────────────────────────────────

export interface RedisCluster {
  /** Startup nodes for `new Cluster(nodes)`. */
  readonly nodes: { host: string; port: number }[];
  readonly ports: number[];
  /** `CLIENT KILL TYPE pubsub` on one node or on every running node; the total killed. */
  killPubsubClients(port?: number): Promise<number>;
  /** SIGKILL one node (its data is gone; its slots stay its own, so the cluster fails). */
  kill(port: number): Promise<void>;
  /** Restarts a killed node with its nodes.conf; resolves once the cluster is ok again. */
  start(port: number): Promise<void>;
  /** One command on one node, over a separate short-lived connection. */
  command(port: number, ...args: (string | number)[]): Promise<unknown>;
  /** Kills every node (also done on cleanup). */
  stop(): Promise<void>;
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error)
        reject(
          new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`),
        );
      else resolve(stdout);
    });
  });
}

/**
 * Three masters, no replicas, 16384 slots split by `redis-cli --cluster create`; fresh temp dirs
 * each time, node timeout 2 s, no persistence. Resolves once every node reports cluster_state:ok
 * with all slots assigned.
 */
export async function redisCluster(
  options: { ports?: [number, number, number] } = {},
): Promise<RedisCluster> {
  const ports = [...(options.ports ?? [])];
  while (ports.length < 3) {
    const port = await freePort({ clusterBus: true });
    if (!ports.includes(port)) ports.push(port);
  }
  const dir = await tempDir('sb-cluster-');
  const servers = new Map<number, ServerProcess>();
  for (const port of ports) {
    const nodeDir = join(dir, String(port));
    const server = new ServerProcess(port, () => [
      '--dir',
      nodeDir,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout',
      '2000',
      '--appendonly',
      'no',
      '--save',
      '',
    ]);
    servers.set(port, server);
  }
  for (const port of ports) await mkdir(join(dir, String(port)));
  const stop = async () => {
    await Promise.all([...servers.values()].map((s) => s.kill()));
  };
  onCleanup(stop);
  await Promise.all([...servers.values()].map((s) => s.start()));
  await runRedisCli(
    [
      '--cluster',
      'create',
      ...ports.map((p) => `${HOST}:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    15_000,
  );

  const healthy = () =>
    waitFor(
      async () => {
        for (const port of ports) {
          const info = String(await redisCommand(port, ['CLUSTER', 'INFO'], 1_000).catch(() => ''));
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_assigned:16384'))
            return false;
        }
        return true;
      },
      15_000,
      'cluster_state:ok with 16384 slots on every node',
    );
  await healthy();

  const serverOf = (port: number) => {
    const server = servers.get(port);
    if (!server) throw new Error(`port ${port} is not a node of this cluster`);
    return server;
  };
  return {
    nodes: ports.map((port) => ({ host: HOST, port })),
    ports: [...ports],
    async killPubsubClients(port?: number) {
      const targets = port === undefined ? ports.filter((p) => serverOf(p).running) : [port];
      let killed = 0;
      for (const p of targets)
        killed += Number(await redisCommand(p, ['CLIENT', 'KILL', 'TYPE', 'pubsub']));
      return killed;
    },
    kill: (port) => serverOf(port).kill(),
    async start(port) {
      await serverOf(port).start();
      await healthy();
    },
    command: (port, ...args) => redisCommand(port, args),
    stop,
  };
}

// ── TCP proxy ────────────────────────────────────────────────────────────────────────────────

export interface TcpProxy {
  readonly port: number;
  /** `${scheme}://127.0.0.1:<port>` */
  url(scheme?: string): string;
  /** Destroys every open connection pair at once: a link cut with replies in flight. */
  cut(): void;
  /**
   * Cuts, then refuses connections (the listener is closed: ECONNREFUSED) for `ms`. Refusing
   * starts synchronously; the promise resolves once connections are accepted again.
   */
  refuse(ms: number): Promise<void>;
  /** Keeps connections open but forwards nothing either way until `heal()`: a network stall. */
  blackhole(): void;
  /** Ends a blackhole: what was held back is delivered, in order. */
  heal(): void;
  /** Number of open client connections. */
  readonly connections: number;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 in front of 127.0.0.1:`targetPort`. */
export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<{ down: Socket; up: Socket; linked: boolean }>();
  const stalled = new Set<() => void>();
  let blackholed = false;
  let closed = false;

  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (blackholed) {
        from.pause();
        stalled.add(() => {
          to.write(chunk);
          from.resume();
        });
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (!blackholed) from.resume();
        });
      }
    });
  };

  const server: NetServer = createNetServer((down) => {
    down.pause();
    const up = connect(targetPort, HOST);
    const pair = { down, up, linked: false };
    pairs.add(pair);
    const destroy = () => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', destroy);
    up.on('error', destroy);
    down.on('close', destroy);
    up.on('close', destroy);
    up.once('connect', () => {
      pair.linked = true;
      forward(down, up);
      forward(up, down);
      const flow = () => {
        down.resume();
        up.resume(); // blackhole() may have paused it while it was connecting
      };
      if (blackholed) stalled.add(flow);
      else flow();
    });
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const cut = () => {
    for (const { down, up } of pairs) {
      down.destroy();
      up.destroy();
    }
    pairs.clear();
  };
  // While refusing: the timer that listens again, and who waits for it.
  let reopen: NodeJS.Timeout | undefined;
  const refusing: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const settleRefusing = (error?: Error) => {
    for (const waiter of refusing.splice(0)) error ? waiter.reject(error) : waiter.resolve();
  };
  const closeListener = () =>
    new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

  const proxy: TcpProxy = {
    port,
    url: (scheme = 'redis') => `${scheme}://${HOST}:${port}`,
    cut,
    refuse(ms) {
      cut();
      const stopped = closeListener();
      if (reopen) clearTimeout(reopen); // a second refuse() extends the first
      reopen = setTimeout(async () => {
        reopen = undefined;
        await stopped;
        if (closed) return settleRefusing();
        const onError = (error: Error) => settleRefusing(error);
        server.once('error', onError);
        server.listen(port, HOST, () => {
          server.off('error', onError);
          settleRefusing();
        });
      }, ms);
      return new Promise<void>((resolve, reject) => refusing.push({ resolve, reject }));
    },
    blackhole() {
      blackholed = true;
      for (const { down, up } of pairs) {
        down.pause();
        up.pause();
      }
    },
    heal() {
      blackholed = false;
      const held = [...stalled];
      stalled.clear();
      for (const release of held) release();
      for (const { down, up, linked } of pairs) {
        if (!linked) continue; // still connecting: resumed once linked
        down.resume();
        up.resume();
      }
    },
    get connections() {
      return pairs.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (reopen) clearTimeout(reopen);
      reopen = undefined;
      settleRefusing();
      cut();
      await closeListener();
    },
  };
  onCleanup(() => proxy.close());
  return proxy;
}
