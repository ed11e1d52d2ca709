// What `switchboard inspect --upstream` costs a backend's clients: round trips to a plain `ws`
// echo server directly and through the recording proxy (every connection tracked), in one run.
// Latency at a fixed, unsaturated rate (p50/p99 added per round trip) and the most round trips a
// second through the proxy vs direct, with 64 B and 4 KiB messages. The upstream and the proxy run
// as children pinned to the server core (lib.mjs startChild), this process is the load generator.
//
// As a child (ROLE=upstream | proxy) it is one of those two servers; as a module, runProxyBench()
// drives them. `npm run bench -- --only=proxy` runs only this.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fmt, median, meter, percentile, pin, saturated, startChild } from './lib.mjs';

const SELF = new URL(import.meta.url);
const PATH = '/ws';

if (process.env.ROLE && process.send) await serveAsChild(process.env.ROLE);

/** A benchmark child: the echo upstream, or the proxy in front of UPSTREAM. */
async function serveAsChild(role) {
  let port;
  let close = async () => {};
  if (role === 'upstream') {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    await new Promise((resolve) => wss.once('listening', resolve));
    port = wss.address().port;
    close = () => new Promise((resolve) => wss.close(resolve));
  } else {
    const { inspectProxy } = await import('switchboard/inspector');
    const proxy = await inspectProxy({
      upstream: process.env.UPSTREAM,
      port: 0,
      // Every connection tracked: the cost measured is the cost with everything recorded.
      limits: { maxConnections: 100_000 },
    });
    port = proxy.port;
    close = () => proxy.close();
  }
  process.send({ type: 'ready', port, system: role });
  process.on('message', async (message) => {
    if (message.type === 'stats') {
      const cpu = process.cpuUsage();
      const wall = performance.now();
      process.send({ type: 'stats', memory: process.memoryUsage(), cpu, wall, connections: 0 });
    } else if (message.type === 'exit') {
      await close().catch(() => {});
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** Opens `count` echo clients on `port`. */
async function openClients(port, count) {
  const { WebSocket } = await import('ws');
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}${PATH}`);
          const timer = setTimeout(() => reject(new Error('connect timed out')), 10_000);
          ws.once('open', () => {
            clearTimeout(timer);
            resolve(ws);
          });
          ws.once('error', reject);
        }),
    ),
  );
}

/** Round trips on every client with `window` messages in flight each, for `ms`; bounded. */
async function saturate(clients, payload, window, ms) {
  let done = 0;
  let stopped = false;
  await Promise.all(
    clients.map(
      (ws) =>
        new Promise((resolve) => {
          let inFlight = 0;
          const send = () => {
            while (!stopped && inFlight < window) {
              inFlight++;
              ws.send(payload);
            }
            if (stopped && inFlight === 0) resolve();
          };
          ws.on('message', () => {
            inFlight--;
            done++;
            send();
          });
          send();
          setTimeout(() => {
            stopped = true;
            if (inFlight === 0) resolve();
          }, ms);
          // An echo lost would otherwise hold this promise: give up after a bound.
          setTimeout(resolve, ms + 5_000);
        }),
    ),
  );
  for (const ws of clients) ws.removeAllListeners('message');
  return done;
}

/** One round trip at a time, at `rate` per second, `count` of them: each one's time in ms. */
async function paced(ws, payload, rate, count) {
  const times = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      ws.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.send(payload);
    });
    times.push(performance.now() - t0);
    const wait = 1000 / rate - (performance.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return times;
}

/**
 * Direct vs through the proxy, each case in both orders per run (so a warm-up or a noisy
 * neighbour does not favour one side), medians over `runs`.
 */
export async function runProxyBench({ quick = false, runs = 3, progress = () => {} } = {}) {
  const CASES = [
    { connections: 1, bytes: 64 },
    { connections: 50, bytes: 64 },
    { connections: 1, bytes: 4096 },
    { connections: 50, bytes: 4096 },
  ];
  const MEASURE_MS = quick ? 300 : 1_200;
  const LATENCY = { rate: 200, count: quick ? 100 : 400 };
  const upstream = await startChild(SELF, { ROLE: 'upstream' });
  const proxy = await startChild(SELF, {
    ROLE: 'proxy',
    UPSTREAM: `ws://127.0.0.1:${upstream.port}`,
  });
  const servers = { direct: [upstream], proxied: [upstream, proxy] };
  const ports = { direct: upstream.port, proxied: proxy.port };
  const results = [];
  try {
    for (const c of CASES) {
      const payload = 'x'.repeat(c.bytes);
      const sample = { direct: [], proxied: [] };
      for (let run = 0; run < runs; run++) {
        const order = run % 2 ? ['proxied', 'direct'] : ['direct', 'proxied'];
        for (const side of order) {
          progress(`proxy · ${c.connections}×${c.bytes} B · ${side} · run ${run + 1}/${runs}`);
          const clients = await openClients(ports[side], c.connections);
          await saturate(clients, payload, 8, 100);
          const m = await meter(servers[side]);
          const done = await saturate(clients, payload, 8, MEASURE_MS);
          const phase = await m.stop();
          const times =
            c.connections === 1
              ? await paced(clients[0], payload, LATENCY.rate, LATENCY.count)
              : [];
          for (const ws of clients) ws.terminate();
          sample[side].push({
            rate: done / phase.seconds,
            cpuPerRoundTrip: phase.serverCpu / done,
            busy: phase.busy,
            p50: times.length ? percentile(times, 50) : undefined,
            p99: times.length ? percentile(times, 99) : undefined,
          });
        }
      }
      const pick = (side, key) =>
        median(sample[side].map((s) => s[key]).filter((v) => v !== undefined));
      results.push({
        ...c,
        direct: { rate: pick('direct', 'rate'), cpu: pick('direct', 'cpuPerRoundTrip') },
        proxied: {
          rate: pick('proxied', 'rate'),
          cpu: pick('proxied', 'cpuPerRoundTrip'),
          busy: sample.proxied.at(-1).busy,
        },
        ratio: pick('proxied', 'rate') / pick('direct', 'rate'),
        ...(c.connections === 1 && {
          addedP50: pick('proxied', 'p50') - pick('direct', 'p50'),
          addedP99: pick('proxied', 'p99') - pick('direct', 'p99'),
        }),
      });
    }
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
  return results;
}

/** Lines for the table printed by run.mjs. */
export function proxyLines(results) {
  return results.map((r) => {
    const what = `${r.connections} conn${r.connections > 1 ? 's' : ''}, ${r.bytes >= 1024 ? `${r.bytes / 1024} KiB` : `${r.bytes} B`}`;
    const latency =
      r.addedP50 !== undefined
        ? `; added per round trip p50 ${fmt(r.addedP50, 3)} ms, p99 ${fmt(r.addedP99, 3)} ms`
        : '';
    return `inspect proxy vs direct, echo ${what}: ${fmt(r.proxied.rate)} vs ${fmt(r.direct.rate)} round trips/s (${fmt(r.ratio, 2)}x), server CPU per round trip ${fmt(r.proxied.cpu, 1)} vs ${fmt(r.direct.cpu, 1)} µs${latency}; ${saturated(r.proxied.busy)} saturated`;
  });
}

if (process.argv[1] === fileURLToPath(SELF) && !process.env.ROLE) {
  pin();
  const quick = process.argv.includes('--quick');
  const results = await runProxyBench({ quick, progress: (s) => process.stderr.write(`${s}\n`) });
  for (const line of proxyLines(results)) console.log(line);
  process.exit(0);
}
