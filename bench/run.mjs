// `npm run bench`: Switchboard against the strongest reference in Node, a corked `ws` server
// (raw `ws` with Switchboard's own write path), and beside it plain `ws` and Socket.IO, in one run
// on one machine. Each server runs in its own process (server.mjs, pinned to core 0 when there are
// two cores), this process is the load generator (core 1); all traffic on 127.0.0.1; every phase
// is bounded in count and in time. Several runs per scenario, medians, every figure's ratio to
// corked ws with each goal's pass or miss, server CPU per operation beside every rate, and for
// every rate which side saturated (server core or load generator), measured from both sides.
//
// Usage: node bench/run.mjs [--quick] [--only=fanout,channels,echo,inspector,slow,redis,proxy,ingest,sse] [--echo=1x64,…]
//          [--systems=switchboard,wscork,ws,socketio] [--runs=N] [--connections=N] [--same-user]
//          [--update-docs]
// Writes bench/results/latest.json and docs/bench.svg (--quick or a subset: bench/results/partial.json);
// --update-docs also rewrites the results section of BENCHMARKS.md. BENCH_PROFILE=<dir> runs
// every server child under --cpu-prof.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { ingestBench, pythonAvailable } from './ingest.mjs';
import { proxyLines, runProxyBench } from './inspect-proxy.mjs';
import {
  fmt,
  median,
  meter,
  PINNED,
  percentile,
  pin,
  redisAnswers,
  SATURATED_AT,
  saturated,
  startServer,
  tokens,
} from './lib.mjs';
import {
  forEachConcurrent,
  openCaller,
  openPeers,
  openPublisher,
  subscribePeer,
} from './peers.mjs';
import { sseBench } from './sse.mjs';

pin();

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const quick = args.includes('--quick');
const only = option('only')?.split(',');
const SYSTEMS = option('systems')?.split(',') ?? ['switchboard', 'wscork', 'ws', 'socketio'];
const NAMES = { switchboard: 'Switchboard', wscork: 'ws corked', ws: 'ws', socketio: 'Socket.IO' };
/** The denominator of every ratio: corked ws, or plain ws when corked ws is not in the run. */
const REFERENCE = SYSTEMS.includes('wscork') ? 'wscork' : SYSTEMS.includes('ws') ? 'ws' : undefined;
/** By default every connection is its own user (per-user state costs memory); --same-user: one. */
const SAME_USER = args.includes('--same-user');

const RUNS = Number(option('runs') ?? (quick ? 3 : 5));
const CONNECTION_RUNS = Number(option('runs') ?? (quick ? 1 : 3));
const FAN_SUBSCRIBERS = 1_000;
const FAN_PUBLISHES = quick ? 150 : 500;
const LATENCY_RATE = 100; // publishes per second, meant to be below saturation (see the busy row)
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
const ECHO_MS = quick ? 250 : 1_200;
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

/**
 * Tokens for `count` connections: users `<prefix>0`, `<prefix>1`… (subscribers `u`, publishers
 * `p`, RPC callers `c`), or with --same-user one user for every connection of the run.
 */
const userTokens = (prefix, count) =>
  SAME_USER ? tokens('bench', count, true) : tokens(prefix, count);

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
  {
    latency = true,
    stalled = 0,
    bytes = 100,
    subscribers = FAN_SUBSCRIBERS,
    publishes = FAN_PUBLISHES,
  } = {},
) {
  const payload = bytes === 100 ? PAYLOAD_100 : 'x'.repeat(bytes);
  const subscriberTokens = await userTokens('u', subscribers);
  const [publisherToken] = await userTokens('p', 1);
  const server = await startServer({ SYSTEM: system, ...env });
  let peers = [];
  let publisher;
  try {
    peers = await openPeers(server, subscriberTokens, subscribers, 50);
    await forEachConcurrent(subscribers, 50, (i) => subscribePeer(server, peers[i], 'bench:fan'));
    publisher = await openPublisher(server, publisherToken);
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
      const m = await meter(server);
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
      const r = await m.stop();
      const sample = latencies.subarray(0, c.count);
      result.p50 = percentile(sample, 50);
      result.p99 = percentile(sample, 99);
      result.latencyCpuPerDelivery = r.serverCpu / c.count;
      result.latencyBusy = r.busy;
    }

    c = counter(publishes * healthy.length);
    for (const p of healthy) p.onData = c.hit;
    const m = await meter(server);
    await publishWindowed(publisher, () => 'bench:fan', payload, publishes, 32);
    result.complete = await within(c.reached, PHASE_TIMEOUT_MS);
    const r = await m.stop();
    result.delivered = c.count;
    result.deliveredPerSecond = c.count / r.seconds;
    result.cpuPerDelivery = r.serverCpu / c.count;
    result.busy = r.busy;
    result.connectionsAtEnd = r.after.connections;
    return result;
  } finally {
    await stopAll(server, [...peers, publisher]);
  }
}

// ── idle connections, then many channels on the same connections ─────────────────────────────

async function connectionsScenario(system) {
  const peerTokens = await userTokens('u', CONNECTIONS);
  const [publisherToken] = await userTokens('p', 1);
  const server = await startServer({ SYSTEM: system });
  let peers = [];
  let publisher;
  try {
    let m = await meter(server);
    peers = await openPeers(server, peerTokens, CONNECTIONS, 100);
    let r = await m.stop();
    const base = m.before;
    const idle = r.after;
    if (idle.connections !== CONNECTIONS)
      throw new Error(`${system}: ${idle.connections} of ${CONNECTIONS} connections held`);
    const result = {
      acceptsPerSecond: CONNECTIONS / r.seconds,
      cpuPerAccept: r.serverCpu / CONNECTIONS,
      acceptBusy: r.busy,
      rssPerConnection: (idle.memory.rss - base.memory.rss) / CONNECTIONS,
      heapPerConnection: (idle.memory.heapUsed - base.memory.heapUsed) / CONNECTIONS,
    };

    // Many channels: each connection on its own channel plus one shared by all.
    m = await meter(server);
    await forEachConcurrent(CONNECTIONS, 100, async (i) => {
      await subscribePeer(server, peers[i], `bench:c${i}`);
      await subscribePeer(server, peers[i], 'bench:all');
    });
    r = await m.stop();
    result.subscriptionsPerSecond = (2 * CONNECTIONS) / r.seconds;
    result.cpuPerSubscription = r.serverCpu / (2 * CONNECTIONS);
    result.subscribeBusy = r.busy;
    result.rssPerSubscribedConnection = (r.after.memory.rss - base.memory.rss) / CONNECTIONS;
    publisher = await openPublisher(server, publisherToken);

    // One publish on each connection's own channel: one delivery each.
    let c = counter(CONNECTIONS);
    for (const p of peers) p.onData = c.hit;
    m = await meter(server);
    await publishWindowed(publisher, (i) => `bench:c${i}`, PAYLOAD_100, CONNECTIONS, 64);
    result.ownComplete = await within(c.reached, PHASE_TIMEOUT_MS);
    r = await m.stop();
    result.ownDeliveredPerSecond = c.count / r.seconds;
    result.ownCpuPerDelivery = r.serverCpu / c.count;
    result.ownBusy = r.busy;

    // The shared channel: every publish reaches every connection.
    c = counter(SHARED_PUBLISHES * CONNECTIONS);
    for (const p of peers) p.onData = c.hit;
    m = await meter(server);
    await publishWindowed(publisher, () => 'bench:all', PAYLOAD_100, SHARED_PUBLISHES, 4);
    result.sharedComplete = await within(c.reached, PHASE_TIMEOUT_MS);
    r = await m.stop();
    result.sharedDeliveredPerSecond = c.count / r.seconds;
    result.sharedCpuPerDelivery = r.serverCpu / c.count;
    result.sharedBusy = r.busy;
    return result;
  } finally {
    await stopAll(server, [...peers, publisher]);
  }
}

// ── echo / RPC round trips ───────────────────────────────────────────────────────────────────

async function echo(system, env = {}) {
  const callerTokens = await userTokens('c', Math.max(...ECHO_CASES.map((e) => e.connections)));
  const server = await startServer({ SYSTEM: system, ...env });
  const results = {};
  try {
    for (const { connections, bytes } of ECHO_CASES) {
      const callers = new Array(connections);
      await forEachConcurrent(connections, 25, async (i) => {
        callers[i] = await openCaller(server, callerTokens[i]);
      });
      const payload = 'x'.repeat(bytes);
      // Round trips completed inside the measured window count, whenever they were sent.
      let measuring = false;
      let stopping = false;
      let completed = 0;
      const latencies = [];
      let outstanding = 0;
      let drained;
      const allDrained = new Promise((resolve) => (drained = resolve));
      const issue = (caller) => {
        const sentAt = performance.now();
        outstanding++;
        caller.call(payload, () => {
          outstanding--;
          if (measuring) {
            completed++;
            latencies.push(performance.now() - sentAt);
          }
          if (!stopping) issue(caller);
          else if (outstanding === 0) drained();
        });
      };
      for (const caller of callers) for (let w = 0; w < ECHO_WINDOW; w++) issue(caller);
      await sleep(ECHO_WARMUP_MS);
      const m = await meter(server);
      measuring = true;
      await sleep(ECHO_MS);
      measuring = false;
      stopping = true;
      const r = await m.stop();
      await within(allDrained, PHASE_TIMEOUT_MS);
      for (const caller of callers) caller.close();
      results[`${connections}x${bytes}`] = {
        roundTripsPerSecond: completed / r.seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        cpuPerRoundTrip: r.serverCpu / completed,
        busy: r.busy,
      };
    }
    return results;
  } finally {
    await server.stop();
  }
}

// ── Switchboard alone: Redis broker vs in-memory ─────────────────────────────────────────────

async function brokerCost(broker) {
  const [subscriberToken] = await userTokens('u', 1);
  const [publisherToken] = await userTokens('p', 1);
  const server = await startServer({ SYSTEM: 'switchboard', BROKER: broker });
  let peers = [];
  let publisher;
  try {
    peers = await openPeers(server, subscriberToken, 1);
    await subscribePeer(server, peers[0], 'bench:b');
    publisher = await openPublisher(server, publisherToken);
    await publishWindowed(publisher, () => 'bench:b', PAYLOAD_100, 200, 16); // warm-up
    const c = counter(REDIS_PUBLISHES);
    peers[0].onData = c.hit;
    const m = await meter(server);
    await publishWindowed(publisher, () => 'bench:b', PAYLOAD_100, REDIS_PUBLISHES, 64);
    const complete = await within(c.reached, PHASE_TIMEOUT_MS);
    const r = await m.stop();
    return {
      complete,
      publishesPerSecond: c.count / r.seconds,
      cpuPerPublish: r.serverCpu / REDIS_PUBLISHES,
      busy: r.busy,
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

// Redis first: answers the question before anything is started.
const redisUp = wanted('redis') && SYSTEMS.includes('switchboard') && (await redisAnswers());
// Warm the token cache, so no scenario signs tokens inside a run.
await userTokens('u', Math.max(CONNECTIONS, FAN_SUBSCRIBERS));

// The inspector variant runs beside Switchboard in fan-out and echo: attached, tracking every
// connection (see server.mjs), against the same build without it, in the same rotation.
const INSPECTED = 'switchboard+inspector';
const inspecting = wanted('inspector') && SYSTEMS.includes('switchboard');
const withInspector = (include) => {
  const variants = include ? [...SYSTEMS] : ['switchboard'];
  if (inspecting) variants.push(INSPECTED);
  return variants;
};
if (wanted('fanout') || inspecting) {
  await repeat('fanout', RUNS, withInspector(wanted('fanout')), (v) =>
    v === INSPECTED ? fanOut('switchboard', { INSPECTOR: 'on' }, { latency: false }) : fanOut(v),
  );
}
// Slow consumers: 10 of 100 subscribers stop reading. 16 KiB messages, so a stalled reader fills
// the kernel's socket buffers (several MiB on loopback: a paused reader's receive buffer does not
// grow, the send buffer does, to tcp_wmem's maximum, 4 MiB by default) and then the server's
// 256 KiB send queue and is cut off (4007) mid-run, while the others are measured; the same run
// without stalled readers is the baseline. 500 publishes (8 MiB each) even with --quick: fewer
// would fit in the kernel's buffers and cut off no one.
const SLOW = {
  env: { MAX_QUEUE_BYTES: String(256 * 1024) },
  bytes: 16 * 1024,
  subscribers: 100,
  stalled: 10,
  publishes: 500,
};
if (wanted('slow') && SYSTEMS.includes('switchboard')) {
  await repeat('slow', quick ? 1 : RUNS, ['none', 'stalled'], (v) =>
    fanOut('switchboard', SLOW.env, {
      bytes: SLOW.bytes,
      subscribers: SLOW.subscribers,
      publishes: SLOW.publishes,
      stalled: v === 'stalled' ? SLOW.stalled : 0,
    }),
  );
}
if (wanted('echo') || inspecting) {
  await repeat('echo', RUNS, withInspector(wanted('echo')), (v) =>
    v === INSPECTED ? echo('switchboard', { INSPECTOR: 'on' }) : echo(v),
  );
}
if (wanted('channels')) await repeat('connections', CONNECTION_RUNS, SYSTEMS, connectionsScenario);
let redisSkipped;
if (wanted('redis') && SYSTEMS.includes('switchboard')) {
  const brokers = redisUp ? ['memory', 'sqlite', 'redis'] : ['memory', 'sqlite'];
  await repeat('broker', RUNS, brokers, brokerCost);
  if (!redisUp) redisSkipped = `no Redis answered at ${process.env.REDIS_URL ?? '127.0.0.1:6379'}`;
}
// The recording proxy in front of another backend (bench/inspect-proxy.mjs): its own section.
const proxyResults = wanted('proxy')
  ? await runProxyBench({ quick, runs: quick ? 1 : 3, progress })
  : undefined;
// The HTTP API from a Python backend (bench/ingest.mjs): its own section.
const ingestResults =
  wanted('ingest') && SYSTEMS.includes('switchboard')
    ? pythonAvailable()
      ? await ingestBench({ quick, runs: quick ? 1 : 3, progress })
      : { skipped: 'no python3' }
    : undefined;
// The HTTP transport (SSE + POST) beside WebSocket (bench/sse.mjs): its own section.
const sseResults =
  wanted('sse') && SYSTEMS.includes('switchboard')
    ? await sseBench({ quick, runs: quick ? 1 : 3, progress })
    : undefined;
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
const PCT = (n) => (n === undefined ? '—' : `${Math.round(n * 100)}%`);

/** A phase's busy figures, the median of each over the runs. */
function medianBusy(scenario, variant, pick) {
  const runs = raw[scenario]?.[variant];
  if (!runs) return undefined;
  const of = (field) => median(runs.map((r) => pick(r)?.[field]));
  return {
    server: of('server'),
    load: of('load'),
    serverCore: of('serverCore'),
    loadCore: of('loadCore'),
  };
}
/** Another process took this share of a pinned core or more: the machine was busy. */
const CONTENDED_AT = 0.15;
const contended = (b) =>
  (b.serverCore !== undefined && b.serverCore - b.server >= CONTENDED_AT) ||
  (b.loadCore !== undefined && b.loadCore - b.load >= CONTENDED_AT);
const busyText = (b) =>
  b?.server === undefined
    ? '—'
    : `S ${PCT(b.server)} L ${PCT(b.load)} → ${saturated(b)}${contended(b) ? ' *' : ''}`;

/** One comparable figure: the same measurement for every system. */
const rows = [];
function row(id, label, scenario, pick, unit, better, target, flags = ['complete']) {
  const values = {};
  for (const system of SYSTEMS) values[system] = med(scenario, system, pick);
  if (Object.values(values).every((v) => v === undefined)) return;
  const ratio = (system) =>
    values[system] !== undefined && REFERENCE && values[REFERENCE]
      ? values[system] / values[REFERENCE]
      : undefined;
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
/** Which side saturated in the phase behind the rows above it: server core or load generator. */
function busyRow(id, label, scenario, pick) {
  const values = {};
  for (const system of SYSTEMS) values[system] = medianBusy(scenario, system, pick);
  if (Object.values(values).every((v) => v === undefined)) return;
  const side = Object.fromEntries(SYSTEMS.map((s) => [s, saturated(values[s])]));
  rows.push({ id, label, unit: 'busy', values, saturated: side, ratios: {}, incomplete: [] });
}

const u = { rate: RATE, us: US, ms: MS, kb: K };
row(
  'fanout.delivered',
  'fan-out 1→1,000: delivered msgs/s',
  'fanout',
  (r) => r.deliveredPerSecond,
  'rate',
  'higher',
  { min: 1.0 },
);
row(
  'fanout.cpu',
  'fan-out: server CPU per delivered msg',
  'fanout',
  (r) => r.cpuPerDelivery,
  'us',
  'lower',
  { max: 1.0 },
);
busyRow('fanout.busy', 'fan-out: busy (S server, L load gen)', 'fanout', (r) => r.busy);
row(
  'fanout.p50',
  `fan-out at ${LATENCY_RATE} pub/s: latency p50`,
  'fanout',
  (r) => r.p50,
  'ms',
  'lower',
  undefined,
  ['latencyComplete'],
);
row(
  'fanout.p99',
  `fan-out at ${LATENCY_RATE} pub/s: latency p99`,
  'fanout',
  (r) => r.p99,
  'ms',
  'lower',
  { max: 1.2 },
  ['latencyComplete'],
);
row(
  'fanout.fixedCpu',
  `fan-out at ${LATENCY_RATE} pub/s: server CPU per delivery`,
  'fanout',
  (r) => r.latencyCpuPerDelivery,
  'us',
  'lower',
  undefined,
  ['latencyComplete'],
);
busyRow(
  'fanout.fixedBusy',
  `fan-out at ${LATENCY_RATE} pub/s: busy`,
  'fanout',
  (r) => r.latencyBusy,
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
    { min: 0.9 },
    [],
  );
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
  row(`echo.${key}.p50`, `${what}: p50`, 'echo', (r) => r[key].p50, 'ms', 'lower', undefined, []);
  row(`echo.${key}.p99`, `${what}: p99`, 'echo', (r) => r[key].p99, 'ms', 'lower', undefined, []);
  busyRow(`echo.${key}.busy`, `${what}: busy`, 'echo', (r) => r[key].busy);
}
const n = fmt(CONNECTIONS);
const users = SAME_USER ? 'one user' : 'a user each';
row(
  'idle.rss',
  `idle ${n} (JWT, ${users}): RSS per connection`,
  'connections',
  (r) => r.rssPerConnection,
  'kb',
  'lower',
  { max: 1.3 },
  [],
);
row(
  'idle.heap',
  `idle ${n}: heap per connection`,
  'connections',
  (r) => r.heapPerConnection,
  'kb',
  'lower',
  { max: 1.5 },
  [],
);
row(
  'idle.accepts',
  `idle ${n}: connection setups/s (JWT verified)`,
  'connections',
  (r) => r.acceptsPerSecond,
  'rate',
  'higher',
  { min: 0.8 },
  [],
);
row(
  'idle.cpu',
  `idle ${n}: server CPU per setup`,
  'connections',
  (r) => r.cpuPerAccept,
  'us',
  'lower',
  undefined,
  [],
);
busyRow('idle.busy', `idle ${n}: setups busy`, 'connections', (r) => r.acceptBusy);
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
  'channels.subscribeCpu',
  `${n} channels + 1 shared: server CPU per subscription`,
  'connections',
  (r) => r.cpuPerSubscription,
  'us',
  'lower',
  undefined,
  [],
);
busyRow(
  'channels.subscribeBusy',
  `${n} channels + 1 shared: subscribing busy`,
  'connections',
  (r) => r.subscribeBusy,
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
busyRow('channels.ownBusy', `${n} channels: busy`, 'connections', (r) => r.ownBusy);
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
busyRow('channels.sharedBusy', `shared channel → ${n}: busy`, 'connections', (r) => r.sharedBusy);

/** Switchboard against itself: the inspector's cost, slow consumers, the Redis broker's cost. */
const own = [];
const inspectorCase = (id, label, scenario, rate, cpu) => {
  const off = med(scenario, 'switchboard', rate);
  const on = med(scenario, INSPECTED, rate);
  if (!off || !on) return;
  own.push({
    id,
    label,
    values: { off, on },
    cpu: { off: med(scenario, 'switchboard', cpu), on: med(scenario, INSPECTED, cpu) },
    busy: medianBusy(scenario, INSPECTED, (r) =>
      id === 'inspector' ? r.busy : r[id.slice(10)].busy,
    ),
    ratio: on / off,
    target: { min: 0.95 },
    pass: on / off >= 0.95,
  });
};
inspectorCase(
  'inspector',
  'inspector on vs off, fan-out delivered/s',
  'fanout',
  (r) => r.deliveredPerSecond,
  (r) => r.cpuPerDelivery,
);
for (const { connections, bytes } of ECHO_CASES) {
  const key = `${connections}x${bytes}`;
  inspectorCase(
    `inspector.${key}`,
    `inspector on vs off, RPC ${connections}×${bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`} round trips/s`,
    'echo',
    (r) => r[key].roundTripsPerSecond,
    (r) => r[key].cpuPerRoundTrip,
  );
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
    label: `${SLOW.stalled} of ${SLOW.subscribers} not reading vs none, 16 KiB fan-out to the others`,
    values: { without: calmRate, with: stalledRate },
    cpu: {
      without: med('slow', 'none', (r) => r.cpuPerDelivery),
      with: med('slow', 'stalled', (r) => r.cpuPerDelivery),
    },
    busy: medianBusy('slow', 'stalled', (r) => r.busy),
    p99,
    cutOff: SLOW.subscribers + 1 - med('slow', 'stalled', (r) => r.connectionsAtEnd),
    ratio: stalledRate / calmRate,
    p99Ratio: p99.with / p99.without,
    target: { min: 0.9 },
    pass: stalledRate / calmRate >= 0.9 && p99.with / p99.without <= 1.1,
  });
}
const memRate = med('broker', 'memory', (r) => r.publishesPerSecond);
const sqliteRate = med('broker', 'sqlite', (r) => r.publishesPerSecond);
if (memRate && sqliteRate) {
  own.push({
    id: 'sqlite',
    label: 'SQLite vs memory broker, publish → deliver rate (durable: committed before the ack)',
    values: { memory: memRate, sqlite: sqliteRate },
    busy: medianBusy('broker', 'sqlite', (r) => r.busy),
    ratio: sqliteRate / memRate,
    target: { min: 0.8 },
    pass: sqliteRate / memRate >= 0.8,
  });
}
const memCpu = med('broker', 'memory', (r) => r.cpuPerPublish);
const redisCpu = med('broker', 'redis', (r) => r.cpuPerPublish);
if (memCpu && redisCpu) {
  own.push({
    id: 'broker',
    label: 'Redis vs memory broker, server CPU per publish → 1',
    values: { memory: memCpu, redis: redisCpu },
    rates: {
      memory: med('broker', 'memory', (r) => r.publishesPerSecond),
      redis: med('broker', 'redis', (r) => r.publishesPerSecond),
    },
    busy: medianBusy('broker', 'redis', (r) => r.busy),
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
  reference: REFERENCE,
  users: SAME_USER ? 'one user for every connection' : 'a distinct user per connection',
  saturatedAt: SATURATED_AT,
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
  if (row.unit === 'busy') return busyText(v);
  if (v === undefined) return '—';
  const text = u[row.unit](v);
  const ratio = row.ratios[system];
  const mark = row.incomplete.includes(system) ? ' !' : '';
  return system === REFERENCE || ratio === undefined
    ? text + mark
    : `${text} (${fmt(ratio, 2)}x)${mark}`;
};
const targetText = (t) =>
  t === undefined ? '' : t.min !== undefined ? `≥${t.min}x` : `≤${t.max}x`;
const passText = (p) => (p === undefined ? '' : p ? 'pass' : 'MISS');
const header = ['figure', ...SYSTEMS.map((s) => NAMES[s] ?? s), 'goal', 'Switchboard'];
const lines = rows.map((r) => [
  r.label,
  ...SYSTEMS.map((s) => cell(r, s)),
  targetText(r.target),
  passText(r.pass),
]);
const ownCell = (text) => SYSTEMS.map((s) => (s === 'switchboard' ? text : ''));
for (const o of own) {
  const busy = o.busy ? `; ${busyText(o.busy)}` : '';
  if (o.id === 'slow') {
    lines.push([
      `Switchboard ${o.label}`,
      ...ownCell(
        `${RATE(o.values.with)} vs ${RATE(o.values.without)} (${fmt(o.ratio, 2)}x), p99 ${fmt(o.p99Ratio, 2)}x, ${o.cutOff} cut off, CPU/delivery ${US(o.cpu.with)} vs ${US(o.cpu.without)}${busy}`,
      ),
      '≥0.9x',
      passText(o.pass),
    ]);
  } else if (o.id === 'sqlite') {
    lines.push([
      `Switchboard ${o.label}`,
      ...ownCell(
        `${RATE(o.values.sqlite)} vs ${RATE(o.values.memory)} publishes/s (${fmt(o.ratio, 2)}x)${busy}`,
      ),
      '≥0.8x',
      passText(o.pass),
    ]);
  } else if (o.id.startsWith('inspector')) {
    lines.push([
      `Switchboard ${o.label}`,
      ...ownCell(
        `${RATE(o.values.on)} vs ${RATE(o.values.off)} (${fmt(o.ratio, 3)}x), CPU/op ${US(o.cpu.on)} vs ${US(o.cpu.off)}${busy}`,
      ),
      '≥0.95x',
      passText(o.pass),
    ]);
  } else {
    lines.push([
      `Switchboard ${o.label}`,
      ...ownCell(
        `${US(o.values.redis)} vs ${US(o.values.memory)} (${fmt(o.ratio, 2)}x), ${RATE(o.rates.redis)} vs ${RATE(o.rates.memory)} publishes/s${busy}`,
      ),
      '',
      '',
    ]);
  }
}
const machineLine = `${machine.model}, ${machine.cpus} cores${PINNED ? ' (server and load generator pinned one core each)' : ''}, Node ${machine.node}, ${date}${quick ? ', --quick' : ''}; medians of ${RUNS} runs (${CONNECTION_RUNS} for the ${n}-connection scenarios); ${users}; ${seconds.toFixed(0)} s`;
const legend = `ratios (x) are to ${NAMES[REFERENCE] ?? 'nothing'}; ! = a run did not complete within its bound; busy = CPU of the server process(es) (S) and of the load generator (L) over the phase, in % of one core, → the side at ≥${Math.round(SATURATED_AT * 100)}% (saturated), * = another process took ≥${Math.round(CONTENDED_AT * 100)}% of a pinned core meanwhile`;

const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const printRow = (cols) =>
  cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`\n${machineLine}\n${legend}\n`);
console.log(printRow(header));
console.log(widths.map((w) => '─'.repeat(w)).join('  '));
for (const l of lines) console.log(printRow(l));
if (redisSkipped) console.log(`\nRedis broker: skipped (${redisSkipped})`);
if (proxyResults) console.log(`\n${proxyLines(proxyResults).join('\n')}`);
if (sseResults) console.log(`\n${sseResults.lines.join('\n')}`);
if (ingestResults)
  console.log(
    `\n${ingestResults.table ?? `HTTP API from Python: skipped (${ingestResults.skipped})`}`,
  );

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
const partial =
  quick || SAME_USER || args.some((a) => /^--(only|systems|runs|echo|connections)=/.test(a));
const jsonFile = partial ? 'bench/results/partial.json' : 'bench/results/latest.json';
writeFileSync(
  new URL(jsonFile, root),
  `${JSON.stringify({ date, machine, config, table: { machineLine, legend, markdown }, summary: rows, switchboard: own, proxy: proxyResults, ingest: ingestResults?.table ? { figures: ingestResults.figures, runs: ingestResults.runs } : ingestResults, runs: raw, durationSeconds: seconds }, null, 2)}\n`,
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
      `${doc.slice(0, a + begin.length)}\n${machineLine}\n\n${legend}\n\n${markdown}\n${doc.slice(b)}`,
    );
  }
}
console.log(`\nwrote ${jsonFile}${partial ? '' : ' and docs/bench.svg'}`);

/** Horizontal bars: each system's figure as a multiple of the reference's, Switchboard's goal marked. */
function chart(rows, own) {
  const comparable = rows.filter((r) => r.unit !== 'busy' && r.ratios.switchboard !== undefined);
  const shown = comparable.filter((r) => r.target !== undefined);
  const extra = comparable.filter(
    (r) => r.target === undefined && /delivered\/s|round trips|subscriptions\/s/.test(r.label),
  );
  const all = [...shown, ...extra];
  const others = SYSTEMS.filter((s) => s !== REFERENCE);
  const colors = { switchboard: '#2563eb', ws: '#f59e0b', socketio: '#9ca3af', wscork: '#111' };
  const left = 360;
  const barArea = 420;
  const max = 2;
  const x = (ratio) => left + (Math.min(ratio, max) / max) * barArea;
  const rowHeight = 14 * others.length + 16;
  const top = 56;
  const height = top + all.length * rowHeight + 40 + (own.length ? 20 * own.length + 10 : 0);
  const esc = (s) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const reference = NAMES[REFERENCE] ?? REFERENCE;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + barArea + 120}" height="${height}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-labelledby="title">`,
    `<title id="title">Switchboard, ws and Socket.IO benchmark figures as a multiple of ${esc(reference)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="600">As a multiple of ${esc(reference)} (= 1.0)</text>`,
    `<text x="12" y="38" fill="#555">${esc(machineLine.slice(0, 150))}</text>`,
  ];
  for (const [i, s] of others.entries()) {
    out.push(
      `<rect x="${left + 90 + i * 100}" y="8" width="10" height="10" fill="${colors[s]}"/><text x="${left + 104 + i * 100}" y="17">${NAMES[s]}</text>`,
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
    `<text x="12" y="${bottom + 30}" fill="#555">↑ higher is better, ↓ lower is better; green/red tick: Switchboard's goal (met/missed)</text>`,
  );
  own.forEach((o, i) => {
    const text = o.id.startsWith('inspector')
      ? `${o.label}: ${fmt(o.ratio, 3)}x (goal ≥0.95x: ${o.pass ? 'pass' : 'miss'})`
      : o.id === 'slow'
        ? `${SLOW.stalled} stalled readers among ${SLOW.subscribers}: the others get ${fmt(o.ratio, 2)}x the rate, ${fmt(o.p99Ratio, 2)}x the p99 (goal ≥0.9x, ≤1.1x: ${o.pass ? 'pass' : 'miss'})`
        : o.id === 'sqlite'
          ? `SQLite broker vs memory: ${fmt(o.ratio, 2)}x the publish → deliver rate (goal ≥0.8x: ${o.pass ? 'pass' : 'miss'})`
          : `Redis broker vs memory: ${fmt(o.ratio, 2)}x server CPU per publish (${US(o.values.redis)} vs ${US(o.values.memory)})`;
    out.push(`<text x="12" y="${bottom + 52 + i * 20}">${esc(text)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
