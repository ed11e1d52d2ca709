// Per-node figures for docs/scaling.md: memory per idle authenticated connection, and
// publish-to-deliver throughput through one node with the in-memory and the Redis broker.
// Everything on 127.0.0.1, every loop bounded. Usage: node bench/scaling.mjs [--quick]
import { createClient } from 'switchboard/client';
import WebSocket from 'ws';
import { fmt, publishWindowed, sign, startServer } from './lib.mjs';

const quick = process.argv.includes('--quick');
const IDLE = quick ? 1_000 : 5_000;
const PUBLISHES = quick ? 2_000 : 20_000;

async function idleConnections() {
  const server = await startServer({ BROKER: 'memory' });
  const before = await server.stats();
  const token = await sign('idle');
  const clients = [];
  const started = performance.now();
  for (let i = 0; i < IDLE; i += 100) {
    const batch = Array.from({ length: Math.min(100, IDLE - i) }, () => {
      const c = createClient({ url: server.url, token, WebSocket, heartbeat: false });
      clients.push(c);
      return c.connect();
    });
    await Promise.all(batch);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = await server.stats();
  for (const c of clients) c.close();
  await server.stop();
  return {
    connections: after.connections,
    rssPerConnection: (after.memory.rss - before.memory.rss) / IDLE,
    heapPerConnection: (after.memory.heapUsed - before.memory.heapUsed) / IDLE,
    acceptedPerSecond: IDLE / seconds,
  };
}

async function publishThroughput(broker) {
  const server = await startServer({ BROKER: broker });
  const subscriber = createClient({ url: server.url, token: await sign('sub'), WebSocket });
  const publisher = createClient({ url: server.url, token: await sign('pub'), WebSocket });
  await Promise.all([subscriber.connect(), publisher.connect()]);
  let received = 0;
  let done;
  const all = new Promise((resolve) => (done = resolve));
  subscriber.subscribe('bench:a').on('m', () => {
    if (++received === PUBLISHES) done();
  });
  await subscriber.subscribe('bench:a').ready();
  const cpuBefore = (await server.stats()).cpu;
  const started = performance.now();
  await publishWindowed(publisher, 'bench:a', PUBLISHES, 64);
  await all;
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = (await server.stats()).cpu;
  const cpuMicros = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
  subscriber.close();
  publisher.close();
  server.stop();
  return {
    broker,
    perSecond: PUBLISHES / seconds,
    serverCpuMicrosPerPublish: cpuMicros / PUBLISHES,
  };
}

const idle = await idleConnections();
const memory = await publishThroughput('memory');
const redis =
  process.env.REDIS_URL || process.argv.includes('--redis')
    ? await publishThroughput('redis')
    : undefined;
console.log(
  `\nnode ${process.version}, ${(await import('node:os')).cpus().length} cores, ${new Date().toISOString()}`,
);
console.log(
  `idle connections: ${fmt(idle.connections)} held; ${fmt(idle.rssPerConnection / 1024, 1)} KB RSS and ${fmt(idle.heapPerConnection / 1024, 1)} KB heap each; ${fmt(idle.acceptedPerSecond)} accepted (JWT-verified) per second`,
);
for (const r of [memory, redis].filter(Boolean)) {
  console.log(
    `publish → deliver, ${r.broker} broker, 1 publisher → 1 subscriber, 100 B: ${fmt(r.perSecond)} msgs/s, server CPU ${fmt(r.serverCpuMicrosPerPublish, 1)} µs per publish`,
  );
}
