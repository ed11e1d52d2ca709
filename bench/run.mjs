// `npm run bench`: scenarios run side by side in one go, each several times, medians reported.
// Server and load generator are separate processes; all traffic on 127.0.0.1; every loop bounded.
// Usage: node bench/run.mjs [--quick]
import { cpus } from 'node:os';
import { createClient } from 'switchboard/client';
import WebSocket from 'ws';
import { fmt, median, PINNED, pin, publishWindowed, sign, startServer } from './lib.mjs';

pin();

const quick = process.argv.includes('--quick');
const RUNS = quick ? 3 : 5;
const SUBSCRIBERS = 100;
const PUBLISHES = quick ? 300 : 1_000;

/** One publisher, SUBSCRIBERS subscribers on one channel, 100-byte messages, unthrottled. */
async function fanOut(env) {
  const server = await startServer(env);
  const token = await sign('bench');
  const subscribers = [];
  let delivered = 0;
  const total = SUBSCRIBERS * PUBLISHES;
  let done;
  const all = new Promise((resolve) => (done = resolve));
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const c = createClient({ url: server.url, token, WebSocket, heartbeat: false });
    await c.connect();
    const sub = c.subscribe('bench:fan');
    sub.on('m', () => {
      if (++delivered === total) done();
    });
    await sub.ready();
    subscribers.push(c);
  }
  const publisher = createClient({ url: server.url, token, WebSocket, heartbeat: false });
  await publisher.connect();
  const cpuBefore = (await server.stats()).cpu;
  const started = performance.now();
  await publishWindowed(publisher, 'bench:fan', PUBLISHES, 32);
  const timeout = new Promise((resolve) => setTimeout(resolve, 60_000));
  await Promise.race([all, timeout]);
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = (await server.stats()).cpu;
  for (const c of [...subscribers, publisher]) c.close();
  await server.stop();
  const cpu = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
  return {
    perSecond: delivered / seconds,
    cpuPerDelivery: cpu / delivered,
    complete: delivered === total,
  };
}

const scenarios = [
  ['fan-out, inspector off', { INSPECTOR: 'off' }],
  ['fan-out, inspector on', { INSPECTOR: 'on' }],
];
const results = {};
for (let run = 1; run <= RUNS; run++) {
  // Alternate the order, so warm-up and machine drift do not favour one scenario.
  for (const [name, env] of run % 2 ? scenarios : [...scenarios].reverse()) {
    process.stdout.write(`\rrun ${run}/${RUNS}: ${name}…                    `);
    const r = await fanOut(env);
    if (!r.complete) throw new Error(`${name}: not every message was delivered`);
    (results[name] ??= []).push(r);
  }
}
console.log(
  `\n\nnode ${process.version}, ${cpus().length} cores${PINNED ? ' (server and load generator pinned one core each)' : ''}, ${new Date().toISOString()}, ${RUNS} runs, medians`,
);
console.log(`fan-out: 1 publisher → ${SUBSCRIBERS} subscribers, ${PUBLISHES} publishes of 100 B\n`);
console.log('scenario                   delivered msgs/s   server CPU per delivery');
const off = median(results['fan-out, inspector off'].map((r) => r.perSecond));
for (const [name] of scenarios) {
  const perSecond = median(results[name].map((r) => r.perSecond));
  const cpu = median(results[name].map((r) => r.cpuPerDelivery));
  console.log(
    `${name.padEnd(26)} ${fmt(perSecond).padStart(16)}   ${fmt(cpu, 2).padStart(8)} µs   (${fmt((perSecond / off) * 100, 1)}% of off)`,
  );
}
