// The gateway under measurement, in its own process. BROKER=redis uses REDIS_URL.

import { attachInspector } from 'switchboard/inspector';
import { redisBroker } from 'switchboard/redis';
import { createServer } from 'switchboard/server';

const broker =
  process.env.BROKER === 'redis'
    ? redisBroker({ url: process.env.REDIS_URL, prefix: `bench:${process.pid}:` })
    : undefined;
const server = createServer({
  auth: { jwt: { secret: process.env.SECRET } },
  limits: { messagesPerSecond: 1_000_000, burst: 1_000_000, maxConnectionsPerUser: 1_000_000 },
  channels: { 'bench:*': {} },
  ...(broker && { broker }),
});
if (process.env.INSPECTOR === 'on') attachInspector(server);
const { port } = await server.listen();
process.send({ type: 'ready', port });
process.on('message', (message) => {
  if (message.type === 'stats') {
    globalThis.gc?.();
    process.send({
      type: 'stats',
      memory: process.memoryUsage(),
      cpu: process.cpuUsage(),
      connections: server.connections.size,
    });
  }
});
process.on('SIGTERM', async () => {
  await server.close();
  await broker?.close();
  process.exit(0);
});
