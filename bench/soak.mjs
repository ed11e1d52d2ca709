// Soak test (not part of npm test): N client connections against a gateway in a child process,
// steady publishing, random connection drops, for a duration. Reports the child's memory and
// handle/timer counts over time and checks that every subscriber got every offset of its
// channel exactly once, through the client's recovery (resubscribe with `since`).
//
//   npm run build && node bench/soak.mjs                       # 5,000 connections, 10 minutes
//   node bench/soak.mjs --connections 1000 --minutes 3         # or SOAK_CONNECTIONS, SOAK_MINUTES
//   flags/env: --rate (publishes/s, SOAK_RATE, default 200), --channels (SOAK_CHANNELS, 50),
//              --drops (random drops per second, SOAK_DROPS, default 5), --sample (s, 10)
//              --history (publications kept per channel, SOAK_HISTORY, 500)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import WebSocket from 'ws';

const SECRET = 'soak-secret-that-is-long-enough-for-hs256';
const arg = (name, env, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? process.argv[i + 1] : (process.env[env] ?? fallback));
};

if (process.argv.includes('--child')) await child();
else await parent();

// ── the gateway, in its own process so its memory is its own ────────────────────────────────
async function child() {
  const { createServer } = await import('../dist/server/index.js');
  const server = createServer({
    auth: { jwt: { secret: SECRET } },
    // Bounded history (by default 500 per channel: two minutes of a channel's traffic, far more
    // than a reconnect takes), so memory reaches its plateau early and flatness can be judged.
    channels: {
      'soak:*': { history: { size: arg('history', 'SOAK_HISTORY', 500), ttlMs: 30 * 60_000 } },
    },
    limits: { messagesPerSecond: 10_000, maxConnectionsPerUser: 100_000, authTimeoutMs: 30_000 },
    heartbeat: { intervalMs: 10_000 },
    logger: { error: console.error, warn: () => {}, info: () => {}, debug: () => {} },
  });
  const { url } = await server.listen();
  const sample = (collect) => {
    if (collect) global.gc?.();
    const kinds = {};
    for (const kind of process.getActiveResourcesInfo()) kinds[kind] = (kinds[kind] ?? 0) + 1;
    const m = process.memoryUsage();
    return {
      rss: m.rss,
      heapUsed: m.heapUsed,
      connections: server.connections.size,
      sockets: kinds.TCPSocketWrap ?? 0,
      timers: kinds.Timeout ?? 0,
    };
  };
  process.on('message', async (message) => {
    if (message.type === 'sample') process.send({ type: 'sample', ...sample(message.gc) });
    if (message.type === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
  process.send({ type: 'ready', url, ...sample(true) });
}

// ── the clients and the bookkeeping ──────────────────────────────────────────────────────────
async function parent() {
  const { createClient } = await import('../dist/client/index.js');
  const N = arg('connections', 'SOAK_CONNECTIONS', 5_000);
  const minutes = arg('minutes', 'SOAK_MINUTES', 10);
  const rate = arg('rate', 'SOAK_RATE', 200);
  const CHANNELS = arg('channels', 'SOAK_CHANNELS', 50);
  const dropsPerSecond = arg('drops', 'SOAK_DROPS', 5);
  const sampleSeconds = arg('sample', 'SOAK_SAMPLE', 10);
  const PUBLISHERS = Math.max(1, Math.min(CHANNELS, Math.floor(N / 20)));

  const server = fork(fileURLToPath(import.meta.url), ['--child', ...process.argv.slice(2)], {
    execArgv: ['--expose-gc'],
  });
  const replies = [];
  server.on('message', (m) => replies.shift()?.(m));
  const ask = (message) =>
    new Promise((resolve) => {
      replies.push(resolve);
      server.send(message);
    });
  const ready = await new Promise((resolve) => server.once('message', resolve));
  replies.length = 0;
  const url = ready.url;
  const baseline = ready;
  const log = (...a) => console.log(new Date().toISOString().slice(11, 19), ...a);
  log(
    `soak: ${N} connections, ${CHANNELS} channels, ${rate} publishes/s, ${dropsPerSecond} drops/s, ${minutes} min`,
  );

  const key = new TextEncoder().encode(SECRET);
  const sign = (sub) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setExpirationTime('2h')
      .sign(key);

  // Each client remembers its current socket, so the soak can cut it like a network would.
  const clients = [];
  const started = performance.now();
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, async (_, j) => {
        const index = i + j;
        const entry = {
          socket: undefined,
          channel: `soak:${index % CHANNELS}`,
          offsets: [],
          dup: 0,
        };
        class Tracked extends WebSocket {
          constructor(address) {
            super(address);
            entry.socket = this;
          }
        }
        const c = createClient({
          url,
          token: await sign(`u${index}`),
          WebSocket: Tracked,
          reconnect: { minDelayMs: 100, maxDelayMs: 2_000 },
          outbox: { ttlMs: 120_000, maxEntries: 100_000 },
        });
        entry.client = c;
        await c.connect();
        const sub = c.subscribe(entry.channel);
        let last = 0;
        sub.on('m', (_data, meta) => {
          if (meta.offset <= last) entry.dup++;
          else entry.offsets.push(meta.offset);
          last = Math.max(last, meta.offset);
        });
        entry.gaps = 0;
        sub.on('gap', () => entry.gaps++);
        await sub.ready();
        entry.from = sub.position.offset;
        clients.push(entry);
      }),
    );
  }
  log(`connected ${N} in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  // Publishers are ordinary clients: their publishes go through the outbox and survive drops.
  const publishers = clients.slice(0, PUBLISHERS);
  const accepted = new Map(); // channel → highest acked offset
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let drops = 0;
  const end = Date.now() + minutes * 60_000;
  const samples = [];
  const sampleTimer = setInterval(async () => {
    const s = await ask({ type: 'sample', gc: true });
    samples.push({ t: Math.round((Date.now() - (end - minutes * 60_000)) / 1000), ...s });
    log(
      `rss ${(s.rss / 2 ** 20).toFixed(0)} MiB heap ${(s.heapUsed / 2 ** 20).toFixed(1)} MiB conns ${s.connections} sockets ${s.sockets} timers ${s.timers} | sent ${sent} acked ${acked} drops ${drops}`,
    );
  }, sampleSeconds * 1_000);

  const tick = 50;
  const perTick = (rate * tick) / 1000;
  let credit = 0;
  let p = 0;
  while (Date.now() < end) {
    credit += perTick;
    for (; credit >= 1; credit--) {
      const publisher = publishers[p++ % publishers.length];
      const channel = `soak:${p % CHANNELS}`;
      sent++;
      publisher.client.publish(channel, 'm', { n: sent }).then(
        (reply) => {
          acked++;
          accepted.set(channel, Math.max(accepted.get(channel) ?? 0, reply.offset));
        },
        () => failed++,
      );
    }
    for (let d = Math.random() < (dropsPerSecond * tick) / 1000 ? 1 : 0; d > 0; d--) {
      const victim = clients[Math.floor(Math.random() * clients.length)];
      if (victim.client.state === 'connected' && victim.socket?._socket) {
        victim.socket._socket.destroy();
        drops++;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, tick));
  }
  clearInterval(sampleTimer);
  log('publishing stopped; waiting for acks and deliveries');
  const settle = Date.now() + 120_000;
  while (acked + failed < sent && Date.now() < settle) await new Promise((r) => setTimeout(r, 200));
  const complete = (e) => {
    const top = accepted.get(e.channel) ?? 0;
    return e.offsets.length >= top - e.from;
  };
  while (clients.some((e) => !complete(e)) && Date.now() < settle)
    await new Promise((r) => setTimeout(r, 500));

  // Every subscriber: offsets from its first position + 1 to the channel's last, each once.
  let exact = 0;
  let missing = 0;
  let duplicates = 0;
  let gaps = 0;
  for (const e of clients) {
    const top = accepted.get(e.channel) ?? 0;
    const expected = top - e.from;
    const unique = new Set(e.offsets);
    duplicates += e.dup + (e.offsets.length - unique.size);
    gaps += e.gaps;
    let ok = unique.size === expected;
    for (let o = e.from + 1; ok && o <= top; o++) if (!unique.has(o)) ok = false;
    if (ok && e.dup === 0) exact++;
    else missing += Math.max(0, expected - unique.size);
  }
  const beforeClose = await ask({ type: 'sample', gc: true });
  for (const e of clients) e.client.close();
  await new Promise((r) => setTimeout(r, 3_000));
  const after = await ask({ type: 'sample', gc: true });
  const summary = {
    connections: N,
    minutes,
    publishes: { sent, acked, failed },
    drops,
    subscribers: { exact, total: clients.length, missingOffsets: missing, duplicates, gaps },
    memory: {
      baselineHeapMiB: +(baseline.heapUsed / 2 ** 20).toFixed(1),
      peakRssMiB: +(Math.max(...samples.map((s) => s.rss), beforeClose.rss) / 2 ** 20).toFixed(0),
      heapWithClientsMiB: +(beforeClose.heapUsed / 2 ** 20).toFixed(1),
      heapAfterCloseMiB: +(after.heapUsed / 2 ** 20).toFixed(1),
      rssAfterCloseMiB: +(after.rss / 2 ** 20).toFixed(0),
    },
    handles: {
      baseline: { sockets: baseline.sockets, timers: baseline.timers },
      withClients: { sockets: beforeClose.sockets, timers: beforeClose.timers },
      afterClose: { connections: after.connections, sockets: after.sockets, timers: after.timers },
    },
    samples: samples.map((s) => ({
      t: s.t,
      rssMiB: +(s.rss / 2 ** 20).toFixed(0),
      heapMiB: +(s.heapUsed / 2 ** 20).toFixed(1),
      conns: s.connections,
      timers: s.timers,
    })),
  };
  console.log(JSON.stringify(summary, null, 2));
  server.send({ type: 'stop' });
  await new Promise((resolve) => {
    const timer = setTimeout(() => server.kill(), 10_000);
    server.once('exit', () => resolve(clearTimeout(timer)));
  });
  process.exit(exact === clients.length && failed === 0 ? 0 : 1);
}
