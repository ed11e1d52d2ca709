// The inspector's cost per captured frame, in one process, without sockets: what a gateway's
// capture hands the store for a fan-out (one publication's frame to 1,000 tracked connections)
// and for RPC replies of 64 B and 4 KiB to 50 connections, with the default bounds. Prints time
// per frame and the share of it spent collecting garbage. `node bench/inspector-store.mjs`
// (after `npm run build`); every loop is a fixed count.
import { PerformanceObserver } from 'node:perf_hooks';
import { InspectorStore } from '../dist/inspector/store.js';

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

/** A kept copy of the frame, as capture-gateway.ts keeps it (text below 1 KiB, else bytes). */
const keptForm = (raw) =>
  raw.length >= 1024 ? Uint8Array.prototype.slice.call(raw) : raw.toString();

async function run(label, { connections, frames, raw, shared }) {
  const store = new InspectorStore({ maxConnections: connections });
  const ids = Array.from({ length: connections }, (_, i) => `c${i}`);
  for (const id of ids)
    store.openConnection({ id, status: 'open', path: '/', query: {}, headers: {}, connectedAt: 0 });
  const gc0 = gcMs;
  const t0 = process.hrtime.bigint();
  for (let f = 0; f < frames; f++) {
    // A publication is one Buffer for every subscriber (decoded once); replies are each their own.
    const content = shared ? keptForm(raw) : undefined;
    for (const id of ids)
      store.record(
        id,
        'out',
        raw.length,
        shared ? 'message' : 'reply',
        shared ? 'bench:fan' : undefined,
        shared ? 'tick' : undefined,
        shared ? undefined : f,
        content ?? keptForm(raw),
        false,
      );
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  // GC entries arrive after the loop, asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const count = frames * connections;
  const gc = gcMs - gc0;
  console.log(
    `${label.padEnd(44)} ${((ms * 1000) / count).toFixed(2).padStart(7)} µs per frame, ${((gc / ms) * 100).toFixed(0).padStart(3)} % of it collecting garbage`,
  );
}

const json = (bytes) =>
  Buffer.from(JSON.stringify({ type: 'reply', id: 1, data: 'x'.repeat(bytes) }));
await run('fan-out: 150 B publication → 1,000 tracked', {
  connections: 1_000,
  frames: 300,
  raw: json(100),
  shared: true,
});
await run('RPC: 64 B replies, 50 tracked connections', {
  connections: 50,
  frames: 4_000,
  raw: json(64),
});
await run('RPC: 4 KiB replies, 50 tracked connections', {
  connections: 50,
  frames: 2_000,
  raw: json(4096),
});
