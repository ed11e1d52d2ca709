// The server under measurement, in its own process (started by lib.mjs startServer).
// SYSTEM=switchboard (default) | wscork | ws | socketio. All four verify the same HS256 JWT per
// connection, with the same key handling (one WebCrypto key imported at start, as Switchboard's
// auth keeps it), and implement the same scenarios: fan-out on a channel, echo / RPC, many channels.
// Switchboard: BROKER=redis uses REDIS_URL (REDIS_PREFIX: its keys' prefix); INSPECTOR=on attaches
// the inspector, tracking every connection; MAX_QUEUE_BYTES sets the slow-consumer limit;
// HISTORY=<size>:<ttl ms> keeps publications for recovery; API_KEY=<key> serves the HTTP API;
// SIGTERM closes it gracefully (1001 to every client), then the process exits.

import { createServer as createHttpServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { jwtVerify } from 'jose';

const system = process.env.SYSTEM ?? 'switchboard';
const key = await crypto.subtle.importKey(
  'raw',
  new TextEncoder().encode(process.env.SECRET),
  { name: 'HMAC', hash: 'SHA-256' },
  false,
  ['verify'],
);
const verify = (token) => jwtVerify(token, key, { algorithms: ['HS256'] });

let close = async () => {};
let connections = () => 0;
let port;

/** A fresh SQLite file per server child, in the system's temp dir, removed when the child exits. */
async function benchDatabase() {
  const { tmpdir } = await import('node:os');
  const { rmSync } = await import('node:fs');
  const file = `${tmpdir()}/switchboard-bench-${process.pid}.db`;
  process.on('exit', () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  });
  return file;
}

if (system === 'switchboard') {
  const { attachInspector } = await import('switchboard/inspector');
  const { createServer } = await import('switchboard/server');
  const broker =
    process.env.BROKER === 'redis'
      ? (await import('switchboard/redis')).redisBroker({
          url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
          prefix: process.env.REDIS_PREFIX ?? `bench:${process.pid}:`,
        })
      : process.env.BROKER === 'sqlite'
        ? (await import('switchboard/sqlite')).sqliteBroker({ file: await benchDatabase() })
        : undefined;
  const [historySize, historyTtl] = (process.env.HISTORY ?? '').split(':').map(Number);
  const history = historySize ? { size: historySize, ttlMs: historyTtl || 300_000 } : undefined;
  const server = createServer({
    auth: { jwt: { secret: process.env.SECRET } },
    limits: {
      messagesPerSecond: 1_000_000,
      burst: 1_000_000,
      maxConnectionsPerUser: 1_000_000,
      maxInFlight: 1_000,
      ...(process.env.MAX_QUEUE_BYTES && { maxQueueBytes: Number(process.env.MAX_QUEUE_BYTES) }),
    },
    channels: {
      'bench:*': { ...(history && { history }), ...(process.env.API_KEY && { streams: true }) },
    },
    ...(broker && { broker }),
    // API_KEY: the HTTP API under /api (bench/ingest.mjs), streams on bench:* for POST /api/stream.
    ...(process.env.API_KEY && { api: { key: process.env.API_KEY } }),
  });
  server.rpc('echo', (data) => data);
  // Tracking every connection (the default tracks the first 50), so every frame is captured.
  if (process.env.INSPECTOR === 'on')
    attachInspector(server, { limits: { maxConnections: 1_000_000 } });
  ({ port } = await server.listen());
  // Open ones only: a slow consumer being cut off is still in the map while it closes.
  connections = () => {
    let open = 0;
    for (const connection of server.connections.values()) if (connection.state === 'open') open++;
    return open;
  };
  close = async () => {
    await broker?.close();
  };
  process.once('SIGTERM', async () => {
    const t0 = performance.now();
    await server.close().catch(() => {});
    const report = {
      type: 'closed',
      ms: performance.now() - t0,
      cpu: process.cpuUsage(),
      memory: process.memoryUsage(),
    };
    // Exits once the report is on its way to the parent.
    if (process.send) process.send(report, () => process.exit(0));
    else process.exit(0);
  });
} else if (system === 'ws' || system === 'wscork') {
  // The speed limit: the least a pub/sub server on `ws` can do. One byte of opcode, then:
  //   s<channel>            subscribe, answered "k"
  //   p<channel>\0<payload> publish: <payload> (one Buffer for everyone) to the channel, "k" back
  //   e<payload>            echoed as is
  // wscork, the reference: the same server with Switchboard's write path (cork.ts): a socket is
  // corked on its first write in a tick, and one process.nextTick uncorks them all, so what a
  // socket is sent in one tick leaves in one writev.
  const { WebSocketServer } = await import('ws');
  let corked = [];
  const uncorkAll = () => {
    const list = corked;
    corked = [];
    for (const socket of list) socket.uncork();
  };
  const send =
    system === 'wscork'
      ? (ws, data, options) => {
          const socket = ws._socket; // the upgrade's socket, as Switchboard keeps it
          if (!socket.writableCorked) {
            socket.cork();
            if (corked.push(socket) === 1) process.nextTick(uncorkAll);
          }
          ws.send(data, options);
        }
      : (ws, data, options) => ws.send(data, options);
  const channels = new Map();
  const TEXT = { binary: false };
  const http = createHttpServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  http.on('upgrade', (request, socket, head) => {
    const token = request.headers.authorization?.slice(7) ?? '';
    verify(token).then(
      () =>
        wss.handleUpgrade(request, socket, head, (ws) => {
          const joined = [];
          ws.on('message', (data, isBinary) => {
            const op = data[0];
            if (op === 101 /* e */) send(ws, data, { binary: isBinary });
            else if (op === 112 /* p */) {
              const nul = data.indexOf(0);
              const subscribers = channels.get(data.toString('latin1', 1, nul));
              const payload = data.subarray(nul + 1);
              if (subscribers) for (const s of subscribers) send(s, payload, TEXT);
              send(ws, 'k', TEXT);
            } else if (op === 115 /* s */) {
              const channel = data.toString('latin1', 1);
              let set = channels.get(channel);
              if (!set) channels.set(channel, (set = new Set()));
              set.add(ws);
              joined.push(channel);
              send(ws, 'k', TEXT);
            }
          });
          ws.on('close', () => {
            for (const channel of joined) channels.get(channel)?.delete(ws);
          });
        }),
      () => {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      },
    );
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = http.address().port;
  connections = () => wss.clients.size;
} else if (system === 'socketio') {
  const { Server } = await import('socket.io');
  const http = createHttpServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false });
  io.use((socket, next) => {
    verify(socket.handshake.auth?.token ?? '').then(
      () => next(),
      () => next(new Error('unauthorized')),
    );
  });
  io.on('connection', (socket) => {
    socket.on('sub', (channel, ack) => {
      socket.join(channel);
      ack?.();
    });
    socket.on('pub', (channel, payload, ack) => {
      io.to(channel).emit('m', payload);
      ack?.();
    });
    socket.on('echo', (payload, ack) => ack(payload));
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = http.address().port;
  connections = () => io.engine.clientsCount;
} else {
  throw new Error(`unknown SYSTEM ${system}`);
}

// LOOP_DELAY=1: the event loop's delays (p50, p99, max since the last stats that reset them).
const loopDelay = process.env.LOOP_DELAY ? monitorEventLoopDelay({ resolution: 10 }) : undefined;
loopDelay?.enable();
function delays(histogram, reset) {
  const ms = (ns) => ns / 1e6;
  const figures = {
    p50: ms(histogram.percentile(50)),
    p99: ms(histogram.percentile(99)),
    max: ms(histogram.max),
  };
  if (reset) histogram.reset();
  return figures;
}

process.send({ type: 'ready', port, system });
process.on('message', async (message) => {
  if (message.type === 'stats') {
    // CPU first: the collection below is the measurement's own cost, not the server's.
    const cpu = process.cpuUsage();
    const wall = performance.now(); // the same moment, for CPU as a share of this process's time
    // A full collection first, so memory is what is kept; not for samples taken during a run.
    if (message.gc !== false) globalThis.gc?.();
    process.send({
      type: 'stats',
      memory: process.memoryUsage(),
      cpu,
      wall,
      connections: connections(),
      ...(loopDelay && { loopDelay: delays(loopDelay, message.reset) }),
    });
  } else if (message.type === 'exit') {
    // Exit without a graceful close of thousands of sockets; --cpu-prof still writes its profile.
    await close().catch(() => {});
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
