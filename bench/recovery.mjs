// `npm run bench:recovery`: recovery under churn, after AnyCable's public benchmark. Thousands of
// subscribers (the built client, `switchboard/client`, with its real reconnect) on a gateway in its
// own process; each subscriber's TCP socket is destroyed at a random moment of every ~15 s window
// and the network stays down for it ~2 s (its reconnect attempts are refused meanwhile), while
// publications flow at a fixed rate. Then every subscriber's offsets are checked: delivered
// exactly once (losses and duplicates counted per subscriber), and the replay latency from each
// reconnect (the new socket open) to caught up (everything acknowledged to the publisher before
// that moment delivered).
//
// With Redis, a rolling restart follows: several gateways behind a round-robin TCP proxy
// (proxy.mjs), each in turn SIGTERMed (graceful close, 1001 to its clients) while the others take
// its clients and a fresh one replaces it; nothing may be lost, and the time to recover (SIGTERM
// to the last moved client caught up) is reported.
//
// Usage: node bench/recovery.mjs [--quick] [--broker=memory|redis|memory,redis] [--clients=5000]
//          [--seconds=120] [--rate=100] [--channels=50] [--cut-every=15] [--offline=2]
//          [--history=100:300000] [--gateways=3] [--no-restart]
// --quick: 1,000 clients for 30 s. Redis at REDIS_URL or 127.0.0.1:6379, every run under a
// prefix of its own (removed at the end). Full runs write bench/results/recovery-<broker>.json,
// quick or changed ones a file in the OS temp directory. Server on core 0, this load generator
// (and the proxy) on core 1; everything on 127.0.0.1; every wait bounded.
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient } from 'switchboard/client';
import WebSocket from 'ws';
import {
  cpuMicros,
  fmt,
  LOAD_CORE,
  meter,
  PINNED,
  percentile,
  pin,
  REDIS_URL,
  redisAnswers,
  saturated,
  startChild,
  startServer,
  tokens,
} from './lib.mjs';

pin();

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const quick = args.includes('--quick');
const CLIENTS = Number(option('clients') ?? (quick ? 1_000 : 5_000));
const SECONDS = Number(option('seconds') ?? (quick ? 30 : 120));
const BROKERS = (option('broker') ?? 'memory').split(',');
/** Publications per second over all channels, round robin. */
const RATE = Number(option('rate') ?? 100);
const CHANNELS = Number(option('channels') ?? 50);
const CUT_EVERY_MS = Number(option('cut-every') ?? 15) * 1000;
const OFFLINE_MS = Number(option('offline') ?? 2) * 1000;
/** Publications kept per channel and for how long (AnyCable's defaults: 100, 5 minutes). */
const HISTORY = option('history') ?? '100:300000';
const GATEWAYS = Number(option('gateways') ?? 3);
const RESTART = !args.includes('--no-restart');
/**
 * Publishing before the first restart, and between restarts: more than the client's 5 s after
 * which a connection counts as stable (before that, a drop keeps its backoff growing, as it
 * would in a crash loop).
 */
const WARM_MS = quick ? 3_000 : 10_000;
const BETWEEN_RESTARTS_MS = quick ? 6_000 : 10_000;
/** Bound of every wait: for subscribers to catch up, for a gateway to close. */
const SETTLE_MS = 30_000;
const REPLAY_GOAL_MS = 500;
const PAYLOAD = 'x'.repeat(64);

const started = performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (text) =>
  console.log(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${text}`);
const MiB = (bytes) => `${fmt(bytes / 2 ** 20)} MiB`;
const ms = (n) => (n === undefined ? '—' : `${fmt(n, n < 10 ? 1 : 0)} ms`);
const pct = (n) => `${Math.round(n * 100)}%`;

/** Waits until `done()` holds, checking every 50 ms; false when `limit` ms passed first. */
async function until(done, limit = SETTLE_MS) {
  const end = performance.now() + limit;
  while (!done()) {
    if (performance.now() > end) return false;
    await sleep(50);
  }
  return true;
}

// "The network is down" for a client: its connection attempts go here and are reset at once.
const offline = createNetServer((socket) => socket.destroy());
offline.listen(0, '127.0.0.1');
await once(offline, 'listening');
const OFFLINE_URL = `ws://127.0.0.1:${offline.address().port}/ws`;

// ── one run's subscribers, publisher and bookkeeping ─────────────────────────────────────────

/**
 * A run: subscribers spread over the channels, a publisher at a fixed rate, and per subscriber
 * the count of every offset it was delivered.
 */
function createRun(label) {
  const run = {
    label,
    channels: Array.from({ length: CHANNELS }, (_, i) => `bench:r${i}`),
    /** channel → highest offset the publisher has had acknowledged */
    heads: new Map(),
    entries: [],
    /** reconnect (socket open) → caught up, ms */
    replay: [],
    /** [ms since publishing began at the reconnect, replay ms] of the replays over 100 ms */
    slowReplays: [],
    nothingToReplay: 0,
    /** reconnects cut again before they had caught up (no replay figure for those) */
    interrupted: 0,
    publisher: undefined,
    sent: 0,
    acked: 0,
    failed: 0,
    publisherDisconnects: 0,
    publishing: undefined,
  };
  const head = (channel) => run.heads.get(channel) ?? 0;

  function opened(entry) {
    entry.opens++;
    if (entry.from === undefined) return; // the first connection, not a reconnect
    const now = performance.now();
    entry.reconnects++;
    if (entry.target >= 0) run.interrupted++;
    entry.openedAt = now;
    entry.replayMs = undefined;
    entry.target = head(entry.channel);
    if (entry.last >= entry.target) {
      entry.target = -1;
      entry.caughtUpAt = now;
      run.nothingToReplay++;
    }
  }

  /** A WebSocket class of its own per subscriber: it knows its current socket and its outages. */
  function socketClass(entry) {
    return class extends WebSocket {
      constructor(address) {
        const down = performance.now() < entry.offlineUntil;
        super(down ? OFFLINE_URL : address, { perMessageDeflate: false });
        if (down) {
          entry.refused++;
          return;
        }
        entry.socket = this;
        this.on('open', () => opened(entry));
        this.on('close', () => {
          if (entry.socket !== this) return;
          entry.socket = undefined;
          entry.disconnects++;
          entry.closedAt = performance.now();
        });
      }
    };
  }

  /** Connects `count` subscribers to `url`, `concurrency` at a time, each subscribed. */
  run.connect = async (url, count, concurrency = 100) => {
    const list = await tokens('r', count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        const entry = {
          index,
          channel: run.channels[index % CHANNELS],
          socket: undefined,
          offlineUntil: 0,
          from: undefined,
          last: 0,
          epoch: undefined,
          counts: new Uint8Array(64),
          duplicates: 0,
          beforeStart: 0,
          epochChanges: 0,
          gaps: 0,
          recovered: 0,
          opens: 0,
          reconnects: 0,
          disconnects: 0,
          refused: 0,
          cuts: 0,
          skipped: 0,
          target: -1,
          openedAt: 0,
          closedAt: 0,
          caughtUpAt: 0,
          replayMs: undefined,
          window: 0,
          nextCut: 0,
        };
        const client = createClient({ url, token: list[index], WebSocket: socketClass(entry) });
        entry.client = client;
        const sub = client.subscribe(entry.channel);
        entry.sub = sub;
        sub.on('subscribed', (reply) => {
          if (entry.from === undefined) {
            entry.from = reply.offset;
            entry.last = reply.offset;
            entry.epoch = reply.epoch;
          }
        });
        sub.on('gap', () => entry.gaps++);
        sub.on('recovered', () => entry.recovered++);
        sub.on('m', (_data, meta) => {
          const offset = meta.offset;
          if (meta.epoch !== entry.epoch) {
            entry.epochChanges++;
            entry.epoch = meta.epoch;
          }
          const i = offset - entry.from;
          if (i <= 0) {
            entry.beforeStart++;
            return;
          }
          if (i >= entry.counts.length) {
            const grown = new Uint8Array(Math.max(i + 1, entry.counts.length * 2));
            grown.set(entry.counts);
            entry.counts = grown;
          }
          if (entry.counts[i] > 0) entry.duplicates++;
          if (entry.counts[i] < 255) entry.counts[i]++;
          if (offset > entry.last) entry.last = offset;
          if (entry.target >= 0 && entry.last >= entry.target) {
            const now = performance.now();
            entry.replayMs = now - entry.openedAt;
            run.replay.push(entry.replayMs);
            if (entry.replayMs > 100)
              run.slowReplays.push([
                Math.round(entry.openedAt - run.t0),
                Math.round(entry.replayMs),
              ]);
            entry.target = -1;
            entry.caughtUpAt = now;
          }
        });
        await client.connect();
        await sub.ready();
        run.entries.push(entry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  };

  /** Publishes RATE per second, round robin over the channels, until stopPublishing(). */
  run.startPublishing = async (url) => {
    const [token] = await tokens('publisher', 1);
    // Its disconnects counted, to tell which restart moved it.
    class Counted extends WebSocket {
      constructor(address) {
        super(address, { perMessageDeflate: false });
        this.on('close', () => run.publisherDisconnects++);
      }
    }
    const publisher = createClient({
      url,
      token,
      WebSocket: Counted,
      // A publish waits out a gateway's restart in the outbox, then is resent under its key.
      outbox: { maxEntries: 100_000, maxBytes: 64 * 2 ** 20, ttlMs: 60_000 },
    });
    run.publisher = publisher;
    await publisher.connect();
    const t0 = performance.now();
    run.t0 = t0;
    let channel = 0;
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
      while (run.sent < due) {
        const name = run.channels[channel++ % CHANNELS];
        run.sent++;
        publisher.publish(name, 'm', PAYLOAD).then(
          (reply) => {
            run.acked++;
            if (reply.offset > head(name)) run.heads.set(name, reply.offset);
          },
          () => run.failed++,
        );
      }
    }, 10);
    run.publishing = timer;
  };
  run.stopPublishing = () => clearInterval(run.publishing);

  /** Everything published was answered, and every subscriber is connected and has it all. */
  run.caughtUp = () =>
    run.acked + run.failed === run.sent &&
    run.entries.every(
      (e) =>
        e.client.state === 'connected' && e.sub.state === 'subscribed' && e.last >= head(e.channel),
    );

  /** Exactly once, per subscriber: each offset after its first position up to its channel's head. */
  run.tally = () => {
    const t = {
      subscribers: run.entries.length,
      expected: 0,
      delivered: 0,
      lost: 0,
      duplicates: 0,
      exact: 0,
      withLosses: 0,
      withDuplicates: 0,
      gaps: 0,
      epochChanges: 0,
      beyondHead: 0,
    };
    for (const e of run.entries) {
      const want = head(e.channel) - e.from;
      let got = 0;
      for (let i = 1; i <= want; i++) if (e.counts[i] > 0) got++;
      for (let i = want + 1; i < e.counts.length; i++) if (e.counts[i] > 0) t.beyondHead++;
      t.expected += want;
      t.delivered += got;
      t.lost += want - got;
      t.duplicates += e.duplicates;
      t.gaps += e.gaps;
      t.epochChanges += e.epochChanges;
      if (got < want) t.withLosses++;
      if (e.duplicates > 0) t.withDuplicates++;
      if (got === want && e.duplicates === 0) t.exact++;
    }
    t.fraction = t.expected ? t.delivered / t.expected : 1;
    return t;
  };

  run.close = () => {
    run.stopPublishing();
    run.publisher?.close();
    for (const e of run.entries) e.client.close();
  };
  return run;
}

const sum = (list, pick) => list.reduce((a, e) => a + pick(e), 0);
const delayFigures = (histogram) => ({
  p50: histogram.percentile(50) / 1e6,
  p99: histogram.percentile(99) / 1e6,
  max: histogram.max / 1e6,
});
const replayFigures = (sample) => ({
  count: sample.length,
  p50: percentile(sample, 50),
  p99: percentile(sample, 99),
  max: sample.length ? Math.max(...sample) : undefined,
});

/** Samples the servers' RSS every second (no GC), keeping each one's peak. */
function rssSampler(servers, { delays = false } = {}) {
  const peaks = new Map();
  /** With `delays`: [when, the largest event-loop delay of any server over the last second]. */
  const delayLog = [];
  const timer = setInterval(() => {
    for (const s of servers()) {
      s.stats(false, delays).then(
        (m) => {
          peaks.set(s, Math.max(peaks.get(s) ?? 0, m.memory.rss));
          if (m.loopDelay) delayLog.push([performance.now(), m.loopDelay.max]);
        },
        () => {},
      );
    }
  }, 1_000);
  /** The largest server event-loop delay sampled between `from` and `to` (ms, performance.now()). */
  const worstDelay = (from, to) =>
    Math.max(0, ...delayLog.filter(([t]) => t >= from && t <= to).map(([, d]) => d));
  return { peaks, worstDelay, stop: () => clearInterval(timer) };
}

// ── churn: random cuts and outages while publications flow ──────────────────────────────────

async function churn(broker) {
  const prefix = `bench:recovery:${process.pid}:${Date.now()}:`;
  const server = await startServer({
    SYSTEM: 'switchboard',
    BROKER: broker,
    REDIS_PREFIX: prefix,
    HISTORY,
    LOOP_DELAY: '1',
  });
  const run = createRun(`churn, ${broker} broker`);
  try {
    const base = await server.stats();
    log(`${broker}: connecting ${fmt(CLIENTS)} subscribers on ${CHANNELS} channels`);
    const t0 = performance.now();
    await run.connect(server.url, CLIENTS);
    const connected = await server.stats();
    log(
      `${broker}: connected in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${fmt(RATE)} publications/s for ${SECONDS} s, each subscriber cut once per ~${CUT_EVERY_MS / 1000} s, offline ${OFFLINE_MS / 1000} s`,
    );
    const sampler = rssSampler(() => [server]);
    await server.stats(false, true); // the server's loop delays from here
    const ownDelay = monitorEventLoopDelay({ resolution: 10 });
    ownDelay.enable();
    const m = await meter(server);
    const start = performance.now();
    for (const e of run.entries) e.nextCut = start + Math.random() * CUT_EVERY_MS;
    await run.startPublishing(server.url);
    const end = start + SECONDS * 1000;
    let skipped = 0;
    let cuts = 0;
    let nextReport = start + 10_000;
    while (performance.now() < end) {
      const now = performance.now();
      for (const e of run.entries) {
        if (now < e.nextCut) continue;
        const socket = e.socket;
        if (socket?.readyState === WebSocket.OPEN && e.client.state === 'connected') {
          // The cut: the TCP socket destroyed, and no way back for the next OFFLINE_MS.
          e.offlineUntil = now + OFFLINE_MS;
          e.cuts++;
          cuts++;
          socket._socket.destroy();
        } else {
          e.skipped++;
          skipped++;
        }
        e.window++;
        e.nextCut = start + e.window * CUT_EVERY_MS + Math.random() * CUT_EVERY_MS;
      }
      if (now >= nextReport) {
        nextReport += 10_000;
        const offlineNow = run.entries.filter((e) => e.client.state !== 'connected').length;
        log(
          `${broker}: ${fmt((now - start) / 1000)} s: ${fmt(run.sent)} published, ${fmt(cuts)} cuts, ${fmt(offlineNow)} offline now, ${fmt(run.replay.length)} replays`,
        );
      }
      await sleep(20);
    }
    run.stopPublishing();
    const r = await m.stop();
    ownDelay.disable();
    sampler.stop();
    log(`${broker}: publishing stopped; waiting for every subscriber to catch up`);
    const settled = await until(run.caughtUp);
    const tally = run.tally();
    const deliveries = sum(run.entries, (e) => e.counts.reduce((a, c) => a + c, 0));
    const result = {
      broker,
      clients: run.entries.length,
      channels: CHANNELS,
      rate: RATE,
      seconds: SECONDS,
      cutEveryMs: CUT_EVERY_MS,
      offlineMs: OFFLINE_MS,
      history: HISTORY,
      settled,
      publications: { sent: run.sent, acked: run.acked, failed: run.failed },
      cuts,
      skippedCuts: skipped,
      reconnects: sum(run.entries, (e) => e.reconnects),
      refusedAttempts: sum(run.entries, (e) => e.refused),
      recovered: sum(run.entries, (e) => e.recovered),
      nothingToReplay: run.nothingToReplay,
      interrupted: run.interrupted,
      delivery: tally,
      replay: replayFigures(run.replay),
      server: {
        cpuBusy: r.busy.server,
        cpuPerDelivery: r.serverCpu / Math.max(1, deliveries),
        rssBeforeClients: base.memory.rss,
        rssConnected: connected.memory.rss,
        rssPeak: Math.max(sampler.peaks.get(server) ?? 0, r.after.memory.rss),
        rssEnd: r.after.memory.rss,
        heapEnd: r.after.memory.heapUsed,
      },
      loopDelay: { server: r.after.loopDelay, loadGenerator: delayFigures(ownDelay) },
      slowReplays: run.slowReplays,
      busy: r.busy,
      saturated: saturated(r.busy),
    };
    return result;
  } finally {
    run.close();
    await server.stop();
    if (broker === 'redis') await removeKeys(prefix);
  }
}

// ── rolling restart: gateways behind a round-robin proxy, each replaced in turn ─────────────

async function rollingRestart() {
  const prefix = `bench:recovery:${process.pid}:${Date.now()}:`;
  const env = {
    SYSTEM: 'switchboard',
    BROKER: 'redis',
    REDIS_PREFIX: prefix,
    HISTORY,
    LOOP_DELAY: '1',
  };
  const proxy = await startChild(new URL('./proxy.mjs', import.meta.url), {}, { core: LOAD_CORE });
  let gateways = await Promise.all(Array.from({ length: GATEWAYS }, () => startServer(env)));
  const everyGateway = [...gateways];
  const setBackends = () =>
    proxy.child.send({ type: 'backends', ports: gateways.map((g) => g.port) });
  setBackends();
  const url = `ws://127.0.0.1:${proxy.port}/ws`;
  const run = createRun('rolling restart');
  const restarts = [];
  const cpuAtStart = new Map();
  const closedCpu = new Map();
  const sampler = rssSampler(() => gateways, { delays: true });
  const ownDelay = monitorEventLoopDelay({ resolution: 10 });
  try {
    log(
      `restart: ${GATEWAYS} gateways (Redis) behind a round-robin proxy, ${fmt(CLIENTS)} subscribers`,
    );
    await run.connect(url, CLIENTS);
    const perGateway = await Promise.all(
      gateways.map(async (g) => (await g.stats(false)).connections),
    );
    log(`restart: connected, ${perGateway.join(' / ')} per gateway; publishing ${fmt(RATE)}/s`);
    for (const g of gateways) cpuAtStart.set(g, (await g.stats(false)).cpu);
    const proxyBefore = await proxy.stats(false);
    const load0 = process.cpuUsage();
    const phaseStart = performance.now();
    await run.startPublishing(url);
    await sleep(WARM_MS);
    for (let i = 0; i < GATEWAYS; i++) {
      const victim = gateways[0];
      const disconnectsBefore = run.entries.map((e) => e.disconnects);
      const publisherBefore = run.publisherDisconnects;
      const held = (await victim.stats(false)).connections;
      const closed = new Promise((resolve) => {
        victim.handle.onMessage = (message) => {
          if (message.type === 'closed') resolve(message);
        };
      });
      // The load balancer stops sending it new connections, then it is told to stop.
      gateways = gateways.slice(1);
      setBackends();
      const t0 = performance.now();
      ownDelay.reset();
      ownDelay.enable();
      victim.child.kill('SIGTERM');
      const closing = await Promise.race([closed, sleep(SETTLE_MS).then(() => undefined)]);
      if (closing) closedCpu.set(victim, closing.cpu);
      const exited = await Promise.race([victim.gone.then(() => true), sleep(5_000)]);
      if (!exited) victim.child.kill('SIGKILL');
      // Its replacement joins the pool once the others have taken its clients (its start would
      // take CPU from them, on the same core): at once only when no other gateway is left.
      const replace = async () => {
        const fresh = await startServer(env);
        everyGateway.push(fresh);
        cpuAtStart.set(fresh, (await fresh.stats(false)).cpu);
        gateways = [...gateways, fresh];
        setBackends();
      };
      const alone = gateways.length === 0;
      if (alone) await replace();
      // Every connection it held has seen its close (the last may still be on the way here).
      const movedNow = () => run.entries.filter((e, k) => e.disconnects > disconnectsBefore[k]);
      await until(
        () => movedNow().length + (run.publisherDisconnects > publisherBefore ? 1 : 0) >= held,
        5_000,
      );
      const moved = movedNow();
      const recovered = await until(() =>
        moved.every(
          (e) =>
            e.client.state === 'connected' &&
            e.sub.state === 'subscribed' &&
            e.target < 0 &&
            e.caughtUpAt > t0,
        ),
      );
      ownDelay.disable();
      const since = (pick) => Math.max(0, ...moved.map((e) => pick(e) - t0));
      const replays = moved
        .filter((e) => e.openedAt > t0 && e.replayMs !== undefined)
        .map((e) => e.replayMs);
      const restart = {
        gateway: i + 1,
        held,
        moved: moved.length,
        recovered,
        closeMs: closing?.ms,
        lastReconnectMs: since((e) => e.openedAt),
        recoverMs: since((e) => e.caughtUpAt),
        replay: replayFigures(replays),
      };
      // The servers' delays are sampled once a second: the next sample covers the last moments.
      const recoveredAt = performance.now();
      await sleep(1_100);
      restart.loopDelayMax = {
        servers: sampler.worstDelay(t0, recoveredAt + 1_100),
        loadGenerator: ownDelay.max / 1e6,
      };
      restarts.push(restart);
      log(
        `restart ${i + 1}/${GATEWAYS}: ${restart.moved} clients moved; last reconnected after ${ms(restart.lastReconnectMs)}, all caught up after ${ms(restart.recoverMs)}${recovered ? '' : ' (NOT all within the bound)'}`,
      );
      if (!alone) await replace();
      await sleep(BETWEEN_RESTARTS_MS - 1_100);
    }
    run.stopPublishing();
    const seconds = (performance.now() - phaseStart) / 1000;
    const load1 = process.cpuUsage();
    log('restart: publishing stopped; waiting for every subscriber to catch up');
    const settled = await until(run.caughtUp);
    sampler.stop();
    let serverCpu = 0;
    for (const g of everyGateway) {
      const end =
        closedCpu.get(g) ?? (g.child.exitCode === null ? (await g.stats(false)).cpu : undefined);
      if (end) serverCpu += cpuMicros({ cpu: cpuAtStart.get(g) }, { cpu: end });
    }
    const proxyAfter = await proxy.stats(false);
    const busy = {
      server: serverCpu / (seconds * 1e6),
      load: (load1.user + load1.system - load0.user - load0.system) / (seconds * 1e6),
      proxy: cpuMicros(proxyBefore, proxyAfter) / (seconds * 1e6),
    };
    return {
      gateways: GATEWAYS,
      clients: run.entries.length,
      channels: CHANNELS,
      rate: RATE,
      settled,
      seconds,
      publications: { sent: run.sent, acked: run.acked, failed: run.failed },
      restarts,
      delivery: run.tally(),
      replay: replayFigures(run.replay),
      proxy: {
        accepted: proxyAfter.accepted,
        refused: proxyAfter.refused,
        retried: proxyAfter.retried,
      },
      server: {
        cpuBusy: busy.server,
        rssPeakPerGateway: everyGateway.map((g) => sampler.peaks.get(g)).filter(Boolean),
      },
      busy,
      saturated: saturated(busy),
    };
  } finally {
    sampler.stop();
    run.close();
    for (const g of everyGateway) await g.stop().catch(() => {});
    await proxy.stop();
    await removeKeys(prefix);
  }
}

/** Deletes a run's Redis keys (SCAN, bounded). */
async function removeKeys(prefix) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    for (let round = 0; round < 10_000; round++) {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = nextCursor;
      if (cursor === '0') break;
    }
  } catch {
    // Best effort: the broker's keys expire on their own.
  } finally {
    redis.disconnect();
  }
}

// ── the runs and the report ──────────────────────────────────────────────────────────────────

function deliveryLines(d, pubs) {
  return [
    `  delivered        ${fmt(d.delivered)} of ${fmt(d.expected)} expected deliveries (${(d.fraction * 100).toFixed(3)}%), ${fmt(d.lost)} lost, ${fmt(d.duplicates)} duplicates; ${fmt(d.exact)} of ${fmt(d.subscribers)} subscribers exactly once (goal: all)`,
    `                   ${fmt(d.withLosses)} subscribers with losses, ${fmt(d.withDuplicates)} with duplicates, ${fmt(d.gaps)} gaps signalled, ${fmt(d.epochChanges)} epoch changes`,
    `  publications     ${fmt(pubs.sent)} sent, ${fmt(pubs.acked)} acknowledged, ${fmt(pubs.failed)} failed`,
  ];
}
const busyLine = (b) =>
  `server ${pct(b.server)} of its core, load generator ${pct(b.load)} of its core${b.proxy !== undefined ? `, proxy ${pct(b.proxy)}` : ''} → saturated: ${saturated(b)}`;

function report(c, r) {
  const pass = (ok) => (ok ? 'pass' : 'MISS');
  const exact = c.delivery.exact === c.delivery.subscribers && c.delivery.lost === 0;
  const lines = [
    '',
    `recovery, ${c.broker} broker${quick ? ' (--quick)' : ''}: ${fmt(c.clients)} subscribers on ${c.channels} channels, ${fmt(c.rate)} publications/s for ${c.seconds} s; each subscriber cut once per ~${c.cutEveryMs / 1000} s window, offline ${c.offlineMs / 1000} s; history ${c.history}`,
    ...deliveryLines(c.delivery, c.publications),
    `  cuts             ${fmt(c.cuts)} (${fmt(c.skippedCuts)} skipped: not connected at that moment), ${fmt(c.reconnects)} reconnects, ${fmt(c.refusedAttempts)} attempts refused while offline`,
    `  replay latency   reconnect (socket open) → caught up: p50 ${ms(c.replay.p50)}, p99 ${ms(c.replay.p99)}, max ${ms(c.replay.max)} over ${fmt(c.replay.count)} reconnects (${fmt(c.nothingToReplay)} had nothing to replay, ${fmt(c.interrupted)} were cut again first)`,
    `  server           CPU ${pct(c.server.cpuBusy)} of a core, ${fmt(c.server.cpuPerDelivery, 1)} µs per delivery (reconnects' work included); RSS ${MiB(c.server.rssBeforeClients)} before the clients, ${MiB(c.server.rssConnected)} with them, peak ${MiB(c.server.rssPeak)}`,
    `  event loop       delay p99 / max: server ${ms(c.loopDelay.server?.p99)} / ${ms(c.loopDelay.server?.max)}, load generator ${ms(c.loopDelay.loadGenerator.p99)} / ${ms(c.loopDelay.loadGenerator.max)}`,
    `  busy             ${busyLine(c.busy)}${c.settled ? '' : '\n  NOT SETTLED: some subscribers had not caught up within the bound'}`,
    `  goals            exactly once, 100%: ${pass(exact)}; replay p99 < ${REPLAY_GOAL_MS} ms: ${pass((c.replay.p99 ?? 0) < REPLAY_GOAL_MS)}`,
  ];
  if (r) {
    const rExact = r.delivery.exact === r.delivery.subscribers && r.delivery.lost === 0;
    lines.push(
      '',
      `rolling restart, Redis broker: ${r.gateways} gateways behind a round-robin TCP proxy, ${fmt(r.clients)} subscribers, ${fmt(r.rate)} publications/s; each gateway SIGTERMed in turn and replaced`,
      ...r.restarts.map(
        (x) =>
          `  restart ${x.gateway}        ${fmt(x.moved)} subscribers moved (of ${fmt(x.held)} connections it held); graceful close ${ms(x.closeMs)}; last reconnected ${ms(x.lastReconnectMs)}, all caught up ${ms(x.recoverMs)} after SIGTERM; replay p50 ${ms(x.replay.p50)}, p99 ${ms(x.replay.p99)}; event-loop delay max: servers ${ms(x.loopDelayMax.servers)}, load generator ${ms(x.loopDelayMax.loadGenerator)}${x.recovered ? '' : ' (NOT recovered within the bound)'}`,
      ),
      ...deliveryLines(r.delivery, r.publications),
      `  proxy            ${fmt(r.proxy.accepted)} connections accepted, ${fmt(r.proxy.retried)} sent on to the next backend, ${fmt(r.proxy.refused)} refused`,
      `  server           CPU ${pct(r.server.cpuBusy)} of core 0 (all gateways); peak RSS per gateway ${r.server.rssPeakPerGateway.map(MiB).join(', ')}`,
      `  busy             ${busyLine(r.busy)}`,
      `  goals            nothing lost, exactly once: ${pass(rExact && r.publications.failed === 0)}`,
    );
  }
  console.log(lines.join('\n'));
}

const results = { date: new Date().toISOString(), quick, runs: [] };
for (const broker of BROKERS) {
  if (broker === 'redis' && !(await redisAnswers())) {
    console.log(`\nRedis: skipped (no Redis answered at ${REDIS_URL})`);
    continue;
  }
  const churned = await churn(broker);
  const restarted = broker === 'redis' && RESTART ? await rollingRestart() : undefined;
  results.runs.push({ broker, churn: churned, restart: restarted });
  report(churned, restarted);
}
offline.close();

const cpuList = cpus();
results.machine = {
  cpus: cpuList.length,
  model: cpuList[0]?.model?.trim(),
  node: process.version,
  pinned: PINNED,
  loadAverageAtEnd: loadavg(),
};
results.durationSeconds = (performance.now() - started) / 1000;
const changed =
  quick ||
  args.some((a) =>
    /^--(clients|seconds|rate|channels|cut-every|offline|history|gateways)=/.test(a),
  );
const dir = changed
  ? `${tmpdir()}/switchboard-bench`
  : new URL('./results/', import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const file = `${dir}/recovery-${BROKERS.join('-')}.json`.replace('//', '/');
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${file} (${results.durationSeconds.toFixed(0)} s)`);
process.exit(0);
