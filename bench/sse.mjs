// The HTTP transport (SSE + POST) beside WebSocket, on the same Switchboard server process:
// fan-out (one publisher, N subscribers, every delivery counted) and RPC (one caller, a window of
// requests in flight), each with Switchboard's own client forced to one transport. Both sides use
// the real client, so the figures compare transports, not receivers. Bounded in count and time.
import { createClient } from 'switchboard/client';
import WebSocket from 'ws';
import { fmt, median, percentile, startServer, tokens } from './lib.mjs';

const TRANSPORTS = ['websocket', 'sse'];
const PHASE_TIMEOUT_MS = 30_000;

async function connect(server, token, transport) {
  const client = createClient({
    url: server.url,
    token,
    WebSocket,
    transports: [transport],
    heartbeat: false,
    reconnect: false,
  });
  await client.connect();
  return client;
}

/** Messages per second delivered to `subscribers` clients, from the first publish to the last delivery. */
async function fanout(server, transport, subscribers, publishes) {
  const list = await tokens(`sse-fan-${transport}-`, subscribers + 1);
  const clients = [];
  let delivered = 0;
  try {
    for (let i = 0; i < subscribers; i++) {
      const client = await connect(server, list[i], transport);
      clients.push(client);
      const sub = client.subscribe('bench:sse');
      sub.on('m', () => delivered++);
      await sub.ready();
    }
    const publisher = await connect(server, list[subscribers], transport);
    clients.push(publisher);
    const expected = subscribers * publishes;
    const t0 = performance.now();
    const acks = [];
    for (let i = 0; i < publishes; i++) acks.push(publisher.publish('bench:sse', 'm', { i }));
    await Promise.all(acks);
    const deadline = t0 + PHASE_TIMEOUT_MS;
    while (delivered < expected && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 2));
    const seconds = (performance.now() - t0) / 1000;
    return { rate: delivered / seconds, complete: delivered === expected };
  } finally {
    for (const client of clients) client.close();
  }
}

/** Requests per second and latency percentiles of `echo` RPCs, `window` in flight, for `ms`. */
async function rpc(server, transport, window, ms) {
  const [token] = await tokens(`sse-rpc-${transport}-`, 1);
  const client = await connect(server, token, transport);
  try {
    const latencies = [];
    const end = performance.now() + ms;
    const worker = async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await client.request('echo', 'x'.repeat(64));
        latencies.push(performance.now() - t);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: window }, worker));
    const seconds = (performance.now() - t0) / 1000;
    return {
      rate: latencies.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
  } finally {
    client.close();
  }
}

/**
 * Runs both scenarios over both transports `runs` times on one server child; medians per
 * transport. Returns printable lines and the figures.
 */
export async function sseBench({ quick = false, runs = 3, progress = () => {} } = {}) {
  const subscribers = quick ? 50 : 200;
  const publishes = quick ? 100 : 300;
  const window = 8;
  const rpcMs = quick ? 500 : 2_000;
  const server = await startServer({ SYSTEM: 'switchboard' });
  const raw = { fanout: {}, rpc: {} };
  try {
    for (let run = 0; run < runs; run++) {
      for (const transport of TRANSPORTS) {
        progress(`sse: fan-out over ${transport} (run ${run + 1}/${runs})`);
        (raw.fanout[transport] ??= []).push(
          await fanout(server, transport, subscribers, publishes),
        );
        progress(`sse: RPC over ${transport} (run ${run + 1}/${runs})`);
        (raw.rpc[transport] ??= []).push(await rpc(server, transport, window, rpcMs));
      }
    }
  } finally {
    await server.stop();
  }
  const figures = {};
  for (const transport of TRANSPORTS) {
    const fan = raw.fanout[transport];
    const calls = raw.rpc[transport];
    figures[transport] = {
      fanoutPerSecond: median(fan.map((r) => r.rate)),
      fanoutComplete: fan.every((r) => r.complete),
      rpcPerSecond: median(calls.map((r) => r.rate)),
      rpcP50Ms: median(calls.map((r) => r.p50)),
      rpcP99Ms: median(calls.map((r) => r.p99)),
    };
  }
  const row = (name, pick) =>
    `  ${name.padEnd(34)}${TRANSPORTS.map((t) => pick(figures[t]).padStart(14)).join('')}`;
  const lines = [
    `Transports: Switchboard's client over WebSocket and over SSE + POST (median of ${runs})`,
    `  ${''.padEnd(34)}${TRANSPORTS.map((t) => t.padStart(14)).join('')}`,
    row(
      `fan-out msg/s (${subscribers} subscribers)`,
      (f) => `${fmt(f.fanoutPerSecond)}${f.fanoutComplete ? '' : ' (incomplete)'}`,
    ),
    row(`RPC req/s (${window} in flight)`, (f) => fmt(f.rpcPerSecond)),
    row('RPC p50 / p99 ms', (f) => `${f.rpcP50Ms.toFixed(2)} / ${f.rpcP99Ms.toFixed(2)}`),
  ];
  return { lines, figures, runs: raw };
}
