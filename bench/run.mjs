// `npm run bench`: Switchboard, raw `ws` (the speed limit in Node) and Socket.IO side by side in
// one run on one machine. Each server runs in its own process (server.mjs, pinned to core 0 when
// there are two cores), this process is the load generator (core 1); all traffic on 127.0.0.1;
// every phase is bounded in count and in time. Several runs per scenario, medians and ratios to
// ws reported, with each target's pass or miss.
//
// Usage: node bench/run.mjs [--quick] [--only=fanout,channels,echo,inspector,slow,redis] [--echo=1x64,…]
//          [--systems=switchboard,ws,socketio] [--runs=N] [--connections=N] [--update-docs]
// Writes bench/results/latest.json and docs/bench.svg (--quick or a subset: bench/results/partial.json);
// --update-docs also rewrites the results section of BENCHMARKS.md. BENCH_PROFILE=<dir> runs
// every server child under --cpu-prof.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { cpuMicros, fmt, median, PINNED, percentile, pin, sign, startServer } from './lib.mjs';
import {
  forEachConcurrent,
  openCaller,
  openPeers,
  openPublisher,
  subscribePeer,
} from './peers.mjs';

pin();

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const quick = args.includes('--quick');
const only = option('only')?.split(',');
const SYSTEMS = option('systems')?.split(',') ?? ['switchboard', 'ws', 'socketio'];
const NAMES = { switchboard: 'Switchboard', ws: 'ws', socketio: 'Socket.IO' };

const RUNS = Number(option('runs') ?? (quick ? 3 : 5));
const CONNECTION_RUNS = Number(option('runs') ?? 3);
const FAN_SUBSCRIBERS = 1_000;
const FAN_PUBLISHES = quick ? 150 : 500;
const LATENCY_RATE = 100; // publishes per second, well below saturation
const LATENCY_PUBLISHES = quick ? 50 : 200;
const CONNECTIONS = Number(option('connections') ?? (quick ? 2_000 : 10_000));
const SHARED_PUBLISHES = quick ? 10 : 20;
// --echo=1x64,50x4096 picks cases (connections x payload bytes), e.g. to profile one.
const ECHO_CASES = (option('echo') ?? '1x64,50x64,1x4096,50x4096').split(',').map((c) => {
  const [connections, bytes] = c.split('x').map(Number);
  return { connections, bytes };
});
const ECHO_WINDOW = 8; // requests in flight per connection
const ECHO_WARMUP_MS = quick ? 100 : 300;
const ECHO_MS = quick ? 300 : 1_200;
const REDIS_PUBLISHES = quick ? 2_000 : 10_000;
/** Upper bound on any single wait for deliveries: a stuck run is recorded as incomplete. */
const PHASE_TIMEOUT_MS = 30_000;

const wanted = (scenario) => !only || only.includes(scenario);
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
let lastProgress = '';
function progress(text) {
  lastProgress = `[${elapsed()}] ${text}`;
  if (process.stdout.isTTY) process.stdout.write(`\r${lastProgress.padEnd(78).slice(0, 78)}`);
  else console.log(lastProgress);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves true when `promise` settles first, false after `ms`. */
const within = (promise, ms) => {
  let timer;
  return Promise.race([
    promise.then(() => true),
    new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
};

/** A counter that resolves `reached` when it hits `target`. */
function counter(target) {
  const c = { count: 0, target };
  c.reached = new Promise((resolve) => (c.done = resolve));
  c.hit = () => {
    if (++c.count === c.target) c.done();
  };
  return c;
}

/** Publishes `count` times keeping at most `window` unacknowledged. */
async function publishWindowed(publisher, channelOf, payload, count, window) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await publisher.publish(channelOf(i), payload);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
}

const PAYLOAD_100 = 'x'.repeat(100);
/** 100 bytes: '#', an 8-digit sequence number the receivers read back, then padding. */
const stamped = (seq, bytes = 100) => `#${String(seq).padStart(8, '0')}${'x'.repeat(bytes - 9)}`;
function readSeq(data) {
  let i = data.indexOf(35) + 1;
  let seq = 0;
  for (const end = i + 8; i < end; i++) seq = seq * 10 + data[i] - 48;
  return seq;
}

async function stopAll(server, closers) {
  for (const c of closers) {
    try {
      c?.close();
    } catch {}
  }
  await server.stop();
}

// ── fan-out: 1 publisher → 1,000 subscribers on one channel ──────────────────────────────────

async function fanOut(
  system,
  env = {},
  { latency = true, stalled = 0, bytes = 100, subscribers = FAN_SUBSCRIBERS } = {},
) {
  const payload = bytes === 100 ? PAYLOAD_100 : 'x'.repeat(bytes);
  const server = await startServer({ SYSTEM: system, ...env });
  const token = await sign('bench');
  let peers = [];
  let publisher;
  try {
    peers = await openPeers(server, token, subscribers, 50);
    await forEachConcurrent(subscribers, 50, (i) => subscribePeer(server, peers[i], 'bench:fan'));
    publisher = await openPublisher(server, token);
    const result = {};
    // Stalled readers: their TCP sockets stop reading, so the server's queue for them fills up.
    for (const p of peers.slice(0, stalled)) p.ws._socket.pause();
    const healthy = peers.slice(stalled);

    // Warm-up, so the JIT has seen the path before anything is timed.
    let c = counter(20 * healthy.length);
    for (const p of healthy) p.onData = c.hit;
    await publishWindowed(publisher, () => 'bench:fan', payload, 20, 8);
    await within(c.reached, PHASE_TIMEOUT_MS);

    if (latency) {
      const sentAt = new Float64Array(LATENCY_PUBLISHES);
      const latencies = new Float64Array(LATENCY_PUBLISHES * healthy.length);
      c = counter(latencies.length);
      const record = (data) => {
        latencies[c.count] = performance.now() - sentAt[readSeq(data)];
        c.hit();
      };
      for (const p of healthy) p.onData = record;
      const t0 = performance.now();
      const acks = [];
      for (let seq = 0; seq < LATENCY_PUBLISHES; seq++) {
        const wait = t0 + (seq * 1000) / LATENCY_RATE - performance.now();
        if (wait > 0) await sleep(wait);
        sentAt[seq] = performance.now();
        acks.push(publisher.publish('bench:fan', stamped(seq, bytes)));
      }
      await Promise.all(acks);
      result.latencyComplete = await within(c.reached, PHASE_TIMEOUT_MS);
      const sample = latencies.subarray(0, c.count);
      result.p50 = percentile(sample, 50);
      result.p99 = percentile(sample, 99);
    }

    c = counter(FAN_PUBLISHES * healthy.length);
    for (const p of healthy) p.onData = c.hit;
    const before = await server.stats();
    const t0 = performance.now();
    await publishWindowed(publisher, () => 'bench:fan', payload, FAN_PUBLISHES, 32);
    result.complete = await within(c.reached, PHASE_TIMEOUT_MS);
    const seconds = (performance.now() - t0) / 1000;
    const after = await server.stats();
    result.delivered = c.count;
    result.deliveredPerSecond = c.count / seconds;
    result.cpuPerDelivery = cpuMicros(before, after) / c.count;
    result.connectionsAtEnd = after.connections;
    return result;
  } finally {
    await stopAll(server, [...peers, publisher]);
  }
}

// ── idle connections, then many channels on the same connections ─────────────────────────────

async function connectionsScenario(system) {
  const server = await startServer({ SYSTEM: system });
  const token = await sign('bench');
  let peers = [];
  let publisher;
  try {
    const base = await server.stats();
    let t0 = performance.now();
    peers = await openPeers(server, token, CONNECTIONS, 100);
    const acceptSeconds = (performance.now() - t0) / 1000;
    const idle = await server.stats();
    if (idle.connections !== CONNECTIONS)
      throw new Error(`${system}: ${idle.connections} of ${CONNECTIONS} connections held`);
    const result = {
      acceptsPerSecond: CONNECTIONS / acceptSeconds,
      cpuPerAccept: cpuMicros(base, idle) / CONNECTIONS,
      rssPerConnection: (idle.memory.rss - base.memory.rss) / CONNECTIONS,
      heapPerConnection: (idle.memory.heapUsed - base.memory.heapUsed) / CONNECTIONS,
    };

    // Many channels: each connection on its own channel plus one shared by all.
    t0 = performance.now();
    await forEachConcurrent(CONNECTIONS, 100, async (i) => {
      await subscribePeer(server, peers[i], `bench:c${i}`);
      await subscribePeer(server, peers[i], 'bench:all');
    });
    result.subscriptionsPerSecond = (2 * CONNECTIONS) / ((performance.now() - t0) / 1000);
    const subscribed = await server.stats();
    result.rssPerSubscribedConnection = (subscribed.memory.rss - base.memory.rss) / CONNECTIONS;
    publisher = await openPublisher(server, token);

    // One publish on each connection's own channel: one delivery each.
    let c = counter(CONNECTIONS);
    for (const p of peers) p.onData = c.hit;
    let before = await server.stats();
    t0 = performance.now();
    await publishWindowed(publisher, (i) => `bench:c${i}`, PAYLOAD_100, CONNECTIONS, 64);
    result.ownComplete = await within(c.reached, PHASE_TIMEOUT_MS);
    let after = await server.stats();
    result.ownDeliveredPerSecond = c.count / ((performance.now() - t0) / 1000);
    result.ownCpuPerDelivery = cpuMicros(before, after) / c.count;

    // The shared channel: every publish reaches every connection.
    c = counter(SHARED_PUBLISHES * CONNECTIONS);
    for (const p of peers) p.onData = c.hit;
    before = await server.stats();
    t0 = performance.now();
    await publishWindowed(publisher, () => 'bench:all', PAYLOAD_100, SHARED_PUBLISHES, 4);
    result.sharedComplete = await within(c.reached, PHASE_TIMEOUT_MS);
    after = await server.stats();
    result.sharedDeliveredPerSecond = c.count / ((performance.now() - t0) / 1000);
    result.sharedCpuPerDelivery = cpuMicros(before, after) / c.count;
    return result;
  } finally {
    await stopAll(server, [...peers, publisher]);
  }
}

// ── echo / RPC round trips ───────────────────────────────────────────────────────────────────

async function echo(system) {
  const server = await startServer({ SYSTEM: system });
  const token = await sign('bench');
  const results = {};
  try {
    for (const { connections, bytes } of ECHO_CASES) {
      const callers = [];
      for (let i = 0; i < connections; i++) callers.push(await openCaller(server, token));
      const payload = 'x'.repeat(bytes);
      let measuring = false;
      let stopAt = Number.POSITIVE_INFINITY;
      let completed = 0;
      const latencies = [];
      let outstanding = 0;
      let drained;
      const allDrained = new Promise((resolve) => (drained = resolve));
      const issue = (caller) => {
        const sentAt = performance.now();
        const counted = measuring;
        outstanding++;
        caller.call(payload, () => {
          outstanding--;
          const now = performance.now();
          if (counted && now <= stopAt) {
            completed++;
            latencies.push(now - sentAt);
          }
          if (now < stopAt) issue(caller);
          else if (outstanding === 0) drained();
        });
      };
      for (const caller of callers) for (let w = 0; w < ECHO_WINDOW; w++) issue(caller);
      await sleep(ECHO_WARMUP_MS);
      const before = await server.stats();
      measuring = true;
      const t0 = performance.now();
      stopAt = t0 + ECHO_MS;
      await sleep(ECHO_MS);
      const after = await server.stats();
      const seconds = (performance.now() - t0) / 1000;
      await within(allDrained, PHASE_TIMEOUT_MS);
      for (const caller of callers) caller.close();
      results[`${connections}x${bytes}`] = {
        roundTripsPerSecond: completed / seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        cpuPerRoundTrip: cpuMicros(before, after) / completed,
      };
    }
    return results;
  } finally {
    await server.stop();
  }
}

// ── Switchboard alone: Redis broker vs in-memory ─────────────────────────────────────────────

function redisAnswers() {
  return new Promise((resolve) => {
    const socket = connect(6379, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 1_000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

async function brokerCost(broker) {
  const server = await startServer({ SYSTEM: 'switchboard', BROKER: broker });
  const token = await sign('bench');
  let peers = [];
  let publisher;
  try {
    peers = await openPeers(server, token, 1);
    await subscribePeer(server, peers[0], 'bench:b');
    publisher = await openPublisher(server, token);
    await publishWindowed(publisher, () => 'bench:b', PAYLOAD_100, 200, 16); // warm-up
    const c = counter(REDIS_PUBLISHES);
    peers[0].onData = c.hit;
    const before = await server.stats();
    const t0 = performance.now();
    await publishWindowed(publisher, () => 'bench:b', PAYLOAD_100, REDIS_PUBLISHES, 64);
    const complete = await within(c.reached, PHASE_TIMEOUT_MS);
    const after = await server.stats();
    return {
      complete,
      publishesPerSecond: c.count / ((performance.now() - t0) / 1000),
      cpuPerPublish: cpuMicros(before, after) / REDIS_PUBLISHES,
    };
  } finally {
    await stopAll(server, [...peers, publisher]);
  }
}

// ── the runs ─────────────────────────────────────────────────────────────────────────────────

/** raw[scenario][variant] = one result per run */
const raw = {};
const record = (scenario, variant, result) => ((raw[scenario] ??= {})[variant] ??= []).push(result);
/** Rotates the order each run, so warm-up and machine drift do not favour one system. */
const rotated = (list, run) => list.map((_, i) => list[(i + run) % list.length]);

async function repeat(scenario, runs, variants, task) {
  for (let run = 0; run < runs; run++) {
    for (const variant of rotated(variants, run)) {
      progress(`${scenario} · ${variant} · run ${run + 1}/${runs}`);
      record(scenario, variant, await task(variant));
    }
  }
}

const fanVariants = [...SYSTEMS];
if (wanted('inspector') && SYSTEMS.includes('switchboard'))
  fanVariants.push('switchboard+inspector');
if (wanted('fanout') || wanted('inspector')) {
  const variants = wanted('fanout') ? fanVariants : ['switchboard', 'switchboard+inspector'];
  await repeat('fanout', RUNS, variants, (v) =>
    v === 'switchboard+inspector'
      ? fanOut('switchboard', { INSPECTOR: 'on' }, { latency: false })
      : fanOut(v),
  );
}
// Slow consumers: 10 of 100 subscribers stop reading. 16 KiB messages, so a stalled reader fills
// the kernel's socket buffers (several MiB on loopback) and then the server's 256 KiB send queue
// and is cut off (4007) mid-run, while the others are measured; the same run without stalled
// readers is the baseline.
const SLOW = {
  env: { MAX_QUEUE_BYTES: String(256 * 1024) },
  bytes: 16 * 1024,
  subscribers: 100,
  stalled: 10,
};
if (wanted('slow') && SYSTEMS.includes('switchboard')) {
  await repeat('slow', quick ? 2 : RUNS, ['none', 'stalled'], (v) =>
    fanOut('switchboard', SLOW.env, {
      bytes: SLOW.bytes,
      subscribers: SLOW.subscribers,
      stalled: v === 'stalled' ? SLOW.stalled : 0,
    }),
  );
}
if (wanted('echo')) await repeat('echo', RUNS, SYSTEMS, echo);
if (wanted('channels')) await repeat('connections', CONNECTION_RUNS, SYSTEMS, connectionsScenario);
let redisSkipped;
if (wanted('redis') && SYSTEMS.includes('switchboard')) {
  if (await redisAnswers()) await repeat('broker', RUNS, ['memory', 'redis'], brokerCost);
  else redisSkipped = 'no Redis answered on 127.0.0.1:6379';
}
if (process.stdout.isTTY) process.stdout.write('\n');

// ── summary ──────────────────────────────────────────────────────────────────────────────────

const med = (scenario, variant, pick) => {
  const runs = raw[scenario]?.[variant];
  return runs ? median(runs.map(pick)) : undefined;
};
const incomplete = (scenario, variant, flags) =>
  (raw[scenario]?.[variant] ?? []).some((r) => flags.some((f) => r[f] === false));

const K = (n) => `${fmt(n / 1024, 1)} KB`;
const US = (n) => `${fmt(n, 2)} µs`;
const MS = (n) => `${fmt(n, 2)} ms`;
const RATE = (n) => fmt(n);

/** One comparable figure: the same measurement for every system. */
const rows = [];
function row(id, label, scenario, pick, unit, better, target, flags = ['complete']) {
  const values = {};
  for (const system of SYSTEMS) values[system] = med(scenario, system, pick);
  if (Object.values(values).every((v) => v === undefined)) return;
  const ratio = (system) =>
    values[system] !== undefined && values.ws ? values[system] / values.ws : undefined;
  const ratios = Object.fromEntries(SYSTEMS.map((s) => [s, ratio(s)]));
  const r = ratios.switchboard;
  const pass =
    target === undefined || r === undefined
      ? undefined
      : target.min !== undefined
        ? r >= target.min
        : r <= target.max;
  const warnings = SYSTEMS.filter((s) => incomplete(scenario, s, flags));
  rows.push({ id, label, unit, better, target, values, ratios, pass, incomplete: warnings });
}

const u = { rate: RATE, us: US, ms: MS, kb: K };
row(
  'fanout.delivered',
  'fan-out 1→1,000: delivered msgs/s',
  'fanout',
  (r) => r.deliveredPerSecond,
  'rate',
  'higher',
  { min: 0.9 },
);
row(
  'fanout.cpu',
  'fan-out: server CPU per delivered msg',
  'fanout',
  (r) => r.cpuPerDelivery,
  'us',
  'lower',
  { max: 1.1 },
);
row(
  'fanout.p50',
  'fan-out at 100 pub/s: latency p50',
  'fanout',
  (r) => r.p50,
  'ms',
  'lower',
  undefined,
  ['latencyComplete'],
);
row(
  'fanout.p99',
  'fan-out at 100 pub/s: latency p99',
  'fanout',
  (r) => r.p99,
  'ms',
  'lower',
  { max: 1.2 },
  ['latencyComplete'],
);
for (const { connections, bytes } of ECHO_CASES) {
  const key = `${connections}x${bytes}`;
  const what = `echo/RPC ${connections} conn${connections > 1 ? 's' : ''}, ${bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`}`;
  row(
    `echo.${key}.rate`,
    `${what}: round trips/s`,
    'echo',
    (r) => r[key].roundTripsPerSecond,
    'rate',
    'higher',
    { min: 0.8 },
    [],
  );
  row(`echo.${key}.p50`, `${what}: p50`, 'echo', (r) => r[key].p50, 'ms', 'lower', undefined, []);
  row(`echo.${key}.p99`, `${what}: p99`, 'echo', (r) => r[key].p99, 'ms', 'lower', undefined, []);
  row(
    `echo.${key}.cpu`,
    `${what}: server CPU per round trip`,
    'echo',
    (r) => r[key].cpuPerRoundTrip,
    'us',
    'lower',
    undefined,
    [],
  );
}
const n = fmt(CONNECTIONS);
row(
  'idle.rss',
  `idle ${n} (JWT): RSS per connection`,
  'connections',
  (r) => r.rssPerConnection,
  'kb',
  'lower',
  { max: 1.5 },
  [],
);
row(
  'idle.heap',
  `idle ${n} (JWT): heap per connection`,
  'connections',
  (r) => r.heapPerConnection,
  'kb',
  'lower',
  undefined,
  [],
);
row(
  'idle.accepts',
  `idle ${n} (JWT): accepted per second`,
  'connections',
  (r) => r.acceptsPerSecond,
  'rate',
  'higher',
  { min: 0.7 },
  [],
);
row(
  'idle.cpu',
  `idle ${n} (JWT): server CPU per accept`,
  'connections',
  (r) => r.cpuPerAccept,
  'us',
  'lower',
  undefined,
  [],
);
row(
  'channels.subscribe',
  `${n} channels + 1 shared: subscriptions/s`,
  'connections',
  (r) => r.subscriptionsPerSecond,
  'rate',
  'higher',
  undefined,
  [],
);
row(
  'channels.rss',
  `${n} channels + 1 shared: RSS per connection`,
  'connections',
  (r) => r.rssPerSubscribedConnection,
  'kb',
  'lower',
  undefined,
  [],
);
row(
  'channels.own',
  `${n} channels: 1 publish each, delivered/s`,
  'connections',
  (r) => r.ownDeliveredPerSecond,
  'rate',
  'higher',
  undefined,
  ['ownComplete'],
);
row(
  'channels.ownCpu',
  `${n} channels: server CPU per delivery`,
  'connections',
  (r) => r.ownCpuPerDelivery,
  'us',
  'lower',
  undefined,
  ['ownComplete'],
);
row(
  'channels.shared',
  `shared channel → ${n}: delivered/s`,
  'connections',
  (r) => r.sharedDeliveredPerSecond,
  'rate',
  'higher',
  undefined,
  ['sharedComplete'],
);
row(
  'channels.sharedCpu',
  `shared channel → ${n}: server CPU per delivery`,
  'connections',
  (r) => r.sharedCpuPerDelivery,
  'us',
  'lower',
  undefined,
  ['sharedComplete'],
);

/** Switchboard against itself: the inspector's cost and the Redis broker's. */
const own = [];
const off = med('fanout', 'switchboard', (r) => r.deliveredPerSecond);
const on = med('fanout', 'switchboard+inspector', (r) => r.deliveredPerSecond);
if (off && on) {
  own.push({
    id: 'inspector',
    label: 'fan-out delivered msgs/s, inspector on vs off',
    values: { off, on },
    cpu: {
      off: med('fanout', 'switchboard', (r) => r.cpuPerDelivery),
      on: med('fanout', 'switchboard+inspector', (r) => r.cpuPerDelivery),
    },
    ratio: on / off,
    target: { min: 0.95 },
    pass: on / off >= 0.95,
  });
}
const calmRate = med('slow', 'none', (r) => r.deliveredPerSecond);
const stalledRate = med('slow', 'stalled', (r) => r.deliveredPerSecond);
if (calmRate && stalledRate) {
  const p99 = {
    without: med('slow', 'none', (r) => r.p99),
    with: med('slow', 'stalled', (r) => r.p99),
  };
  own.push({
    id: 'slow',
    label: `fan-out (16 KiB) to the others, ${SLOW.stalled} of ${SLOW.subscribers} not reading vs none`,
    values: { without: calmRate, with: stalledRate },
    p99,
    cutOff: SLOW.subscribers + 1 - med('slow', 'stalled', (r) => r.connectionsAtEnd),
    ratio: stalledRate / calmRate,
    p99Ratio: p99.with / p99.without,
    target: { min: 0.9 },
    pass: stalledRate / calmRate >= 0.9 && p99.with / p99.without <= 1.1,
  });
}
const memCpu = med('broker', 'memory', (r) => r.cpuPerPublish);
const redisCpu = med('broker', 'redis', (r) => r.cpuPerPublish);
if (memCpu && redisCpu) {
  own.push({
    id: 'broker',
    label: 'publish → 1 subscriber, server CPU per publish, Redis vs memory broker',
    values: { memory: memCpu, redis: redisCpu },
    rates: {
      memory: med('broker', 'memory', (r) => r.publishesPerSecond),
      redis: med('broker', 'redis', (r) => r.publishesPerSecond),
    },
    ratio: redisCpu / memCpu,
  });
}

const cpuList = cpus();
const machine = {
  cpus: cpuList.length,
  model: cpuList[0]?.model?.trim(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  memory: totalmem(),
  pinned: PINNED,
  loadAverageAtEnd: loadavg(),
};
const config = {
  quick,
  runs: RUNS,
  connectionRuns: CONNECTION_RUNS,
  fanOut: { subscribers: FAN_SUBSCRIBERS, publishes: FAN_PUBLISHES, bytes: 100, window: 32 },
  latency: { ratePerSecond: LATENCY_RATE, publishes: LATENCY_PUBLISHES },
  connections: CONNECTIONS,
  sharedPublishes: SHARED_PUBLISHES,
  echo: { cases: ECHO_CASES, window: ECHO_WINDOW, warmupMs: ECHO_WARMUP_MS, measureMs: ECHO_MS },
  brokerPublishes: REDIS_PUBLISHES,
  ...(redisSkipped && { redisSkipped }),
};
const date = new Date().toISOString();
const seconds = (performance.now() - started) / 1000;

// ── the table ────────────────────────────────────────────────────────────────────────────────

const cell = (row, system) => {
  const v = row.values[system];
  if (v === undefined) return '—';
  const text = u[row.unit](v);
  const ratio = row.ratios[system];
  const mark = row.incomplete.includes(system) ? ' !' : '';
  return system === 'ws' || ratio === undefined
    ? text + mark
    : `${text} (${fmt(ratio, 2)}x)${mark}`;
};
const targetText = (t) =>
  t === undefined ? '' : t.min !== undefined ? `≥${t.min}x` : `≤${t.max}x`;
const passText = (p) => (p === undefined ? '' : p ? 'pass' : 'MISS');
const header = ['figure', ...SYSTEMS.map((s) => NAMES[s] ?? s), 'target', 'Switchboard'];
const lines = rows.map((r) => [
  r.label,
  ...SYSTEMS.map((s) => cell(r, s)),
  targetText(r.target),
  passText(r.pass),
]);
for (const o of own) {
  if (o.id === 'slow') {
    lines.push([
      `Switchboard ${o.label}`,
      ...SYSTEMS.map((s) =>
        s === 'switchboard'
          ? `${RATE(o.values.with)} vs ${RATE(o.values.without)} (${fmt(o.ratio, 2)}x), p99 ${fmt(o.p99Ratio, 2)}x, ${o.cutOff} cut off`
          : '',
      ),
      '≥0.9x',
      passText(o.pass),
    ]);
  } else if (o.id === 'inspector') {
    lines.push([
      `Switchboard ${o.label}`,
      ...SYSTEMS.map((s) =>
        s === 'switchboard'
          ? `${RATE(o.values.on)} vs ${RATE(o.values.off)} (${fmt(o.ratio, 3)}x)`
          : '',
      ),
      '≥0.95x',
      passText(o.pass),
    ]);
  } else {
    lines.push([
      `Switchboard ${o.label}`,
      ...SYSTEMS.map((s) =>
        s === 'switchboard'
          ? `${US(o.values.redis)} vs ${US(o.values.memory)} (${fmt(o.ratio, 2)}x)`
          : '',
      ),
      '',
      '',
    ]);
  }
}
const machineLine = `${machine.model}, ${machine.cpus} cores${PINNED ? ' (server and load generator pinned one core each)' : ''}, Node ${machine.node}, ${date}${quick ? ', --quick' : ''}; medians of ${RUNS} runs (${CONNECTION_RUNS} for the ${n}-connection scenarios); ${seconds.toFixed(0)} s`;

const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const printRow = (cols) =>
  cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(
  `\n${machineLine}\nratios are to ws (x); ! = a run did not complete within its bound\n`,
);
console.log(printRow(header));
console.log(widths.map((w) => '─'.repeat(w)).join('  '));
for (const l of lines) console.log(printRow(l));
if (redisSkipped) console.log(`\nRedis broker: skipped (${redisSkipped})`);

const markdown = [
  `| ${header.join(' | ')} |`,
  `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
  ...lines.map((l) => `| ${l.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`),
].join('\n');

// ── files: JSON with every figure, the chart, optionally BENCHMARKS.md ───────────────────────

const root = new URL('../', import.meta.url);
mkdirSync(new URL('bench/results/', root), { recursive: true });
// A subset (--only, --systems, --runs, --echo…) or a --quick run must not overwrite the full
// run's record.
const partial = quick || args.some((a) => /^--(only|systems|runs|echo|connections)=/.test(a));
const jsonFile = partial ? 'bench/results/partial.json' : 'bench/results/latest.json';
writeFileSync(
  new URL(jsonFile, root),
  `${JSON.stringify({ date, machine, config, summary: rows, switchboard: own, runs: raw, durationSeconds: seconds }, null, 2)}\n`,
);
if (!partial) writeFileSync(new URL('docs/bench.svg', root), chart(rows, own));
if (args.includes('--update-docs') && !partial) {
  const file = new URL('BENCHMARKS.md', root);
  const doc = readFileSync(file, 'utf8');
  const begin = '<!-- bench:results -->';
  const end = '<!-- /bench:results -->';
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a >= 0 && b > a) {
    writeFileSync(
      file,
      `${doc.slice(0, a + begin.length)}\n${machineLine}\n\n${markdown}\n${doc.slice(b)}`,
    );
  }
}
console.log(`\nwrote ${jsonFile}${partial ? '' : ' and docs/bench.svg'}`);

/** Horizontal bars: each system's figure as a multiple of ws's, the target marked for Switchboard. */
function chart(rows, own) {
  const shown = rows.filter((r) => r.ratios.switchboard !== undefined && r.target !== undefined);
  const extra = rows.filter(
    (r) =>
      r.target === undefined &&
      /delivered\/s|round trips|subscriptions/.test(r.label) &&
      r.ratios.switchboard !== undefined,
  );
  const all = [...shown, ...extra];
  const others = SYSTEMS.filter((s) => s !== 'ws');
  const colors = { switchboard: '#2563eb', socketio: '#9ca3af' };
  const left = 360;
  const barArea = 420;
  const max = 2;
  const x = (ratio) => left + (Math.min(ratio, max) / max) * barArea;
  const rowHeight = 14 * others.length + 16;
  const top = 56;
  const height = top + all.length * rowHeight + 40 + (own.length ? 20 * own.length + 10 : 0);
  const esc = (s) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + barArea + 120}" height="${height}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-labelledby="title">`,
    '<title id="title">Switchboard and Socket.IO benchmark figures as a multiple of raw ws</title>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="600">Switchboard and Socket.IO as a multiple of raw ws (= 1.0)</text>`,
    `<text x="12" y="38" fill="#555">${esc(machineLine.slice(0, 150))}</text>`,
  ];
  for (const [i, s] of others.entries()) {
    out.push(
      `<rect x="${left + 200 + i * 110}" y="8" width="10" height="10" fill="${colors[s]}"/><text x="${left + 214 + i * 110}" y="17">${NAMES[s]}</text>`,
    );
  }
  all.forEach((r, i) => {
    const y = top + i * rowHeight;
    out.push(
      `<text x="12" y="${y + rowHeight / 2 + 2}">${esc(r.label)}${r.better === 'lower' ? ' ↓' : ' ↑'}</text>`,
    );
    others.forEach((s, j) => {
      const ratio = r.ratios[s];
      if (ratio === undefined) return;
      const by = y + 4 + j * 14;
      out.push(
        `<rect x="${left}" y="${by}" width="${(x(ratio) - left).toFixed(1)}" height="11" fill="${colors[s]}"/>`,
      );
      out.push(
        `<text x="${x(ratio) + 4}" y="${by + 10}" fill="#333">${fmt(ratio, 2)}x${ratio > max ? ' →' : ''}</text>`,
      );
    });
    if (r.target) {
      const t = r.target.min ?? r.target.max;
      out.push(
        `<line x1="${x(t)}" x2="${x(t)}" y1="${y + 2}" y2="${y + 18}" stroke="${r.pass ? '#16a34a' : '#dc2626'}" stroke-width="2"/>`,
      );
    }
  });
  const bottom = top + all.length * rowHeight;
  out.push(
    `<line x1="${x(1)}" x2="${x(1)}" y1="${top - 4}" y2="${bottom}" stroke="#111" stroke-dasharray="3 3"/>`,
  );
  for (const t of [0, 0.5, 1, 1.5, 2])
    out.push(`<text x="${x(t)}" y="${bottom + 14}" text-anchor="middle" fill="#555">${t}x</text>`);
  out.push(
    `<text x="12" y="${bottom + 30}" fill="#555">↑ higher is better, ↓ lower is better; green/red tick: Switchboard's target (met/missed)</text>`,
  );
  own.forEach((o, i) => {
    const text =
      o.id === 'inspector'
        ? `inspector on vs off: ${fmt(o.ratio, 3)}x of the delivered rate (target ≥0.95x: ${o.pass ? 'pass' : 'miss'})`
        : o.id === 'slow'
          ? `${SLOW.stalled} stalled readers among ${SLOW.subscribers}: the others get ${fmt(o.ratio, 2)}x the rate, ${fmt(o.p99Ratio, 2)}x the p99 (target ≥0.9x, ≤1.1x: ${o.pass ? 'pass' : 'miss'})`
          : `Redis broker vs memory: ${fmt(o.ratio, 2)}x server CPU per publish (${US(o.values.redis)} vs ${US(o.values.memory)})`;
    out.push(`<text x="12" y="${bottom + 52 + i * 20}">${esc(text)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
