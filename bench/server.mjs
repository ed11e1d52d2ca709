// The server under measurement, in its own process (started by lib.mjs startServer).
// SYSTEM=switchboard (default) | ws | socketio. All three verify the same HS256 JWT per connection
// and implement the same scenarios: fan-out on a channel, echo / RPC, many channels.
// Switchboard: BROKER=redis uses REDIS_URL; INSPECTOR=on attaches the inspector;
// MAX_QUEUE_BYTES sets the slow-consumer limit.

import { createServer as createHttpServer } from 'node:http';
import { jwtVerify } from 'jose';

const system = process.env.SYSTEM ?? 'switchboard';
const key = new TextEncoder().encode(process.env.SECRET);
const verify = (token) => jwtVerify(token, key, { algorithms: ['HS256'] });

let close = async () => {};
let connections = () => 0;
let port;

if (system === 'switchboard') {
  const { attachInspector } = await import('switchboard/inspector');
  const { createServer } = await import('switchboard/server');
  const broker =
    process.env.BROKER === 'redis'
      ? (await import('switchboard/redis')).redisBroker({
          url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
          prefix: `bench:${process.pid}:`,
        })
      : undefined;
  const server = createServer({
    auth: { jwt: { secret: process.env.SECRET } },
    limits: {
      messagesPerSecond: 1_000_000,
      burst: 1_000_000,
      maxConnectionsPerUser: 1_000_000,
      maxInFlight: 1_000,
      ...(process.env.MAX_QUEUE_BYTES && { maxQueueBytes: Number(process.env.MAX_QUEUE_BYTES) }),
    },
    channels: { 'bench:*': {} },
    ...(broker && { broker }),
  });
  server.rpc('echo', (data) => data);
  if (process.env.INSPECTOR === 'on') attachInspector(server);
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
} else if (system === 'ws') {
  // The speed limit: the least a pub/sub server on `ws` can do. One byte of opcode, then:
  //   s<channel>            subscribe, answered "k"
  //   p<channel>\0<payload> publish: <payload> (one Buffer for everyone) to the channel, "k" back
  //   e<payload>            echoed as is
  const { WebSocketServer } = await import('ws');
  const channels = new Map();
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
            if (op === 101 /* e */) ws.send(data, { binary: isBinary });
            else if (op === 112 /* p */) {
              const nul = data.indexOf(0);
              const subscribers = channels.get(data.toString('latin1', 1, nul));
              const payload = data.subarray(nul + 1);
              if (subscribers) for (const s of subscribers) s.send(payload, { binary: false });
              ws.send('k');
            } else if (op === 115 /* s */) {
              const channel = data.toString('latin1', 1);
              let set = channels.get(channel);
              if (!set) channels.set(channel, (set = new Set()));
              set.add(ws);
              joined.push(channel);
              ws.send('k');
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

process.send({ type: 'ready', port, system });
process.on('message', async (message) => {
  if (message.type === 'stats') {
    // CPU first: the collection below is the measurement's own cost, not the server's.
    const cpu = process.cpuUsage();
    globalThis.gc?.();
    process.send({ type: 'stats', memory: process.memoryUsage(), cpu, connections: connections() });
  } else if (message.type === 'exit') {
    // Exit without a graceful close of thousands of sockets; --cpu-prof still writes its profile.
    await close().catch(() => {});
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
