// Shared by the benchmarks: the server under test runs in its own process (server.mjs).
import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { SignJWT } from 'jose';

/** taskset exists and there are two cores to split: pin the server and the load generator apart. */
export const PINNED = cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0;

/** Moves this process (the load generator) to core 1. */
export function pin() {
  if (PINNED) spawnSync('taskset', ['-cp', '1', String(process.pid)]);
}

export const SECRET = 'bench-secret-bench-secret-bench-secret';
const key = new TextEncoder().encode(SECRET);
export const sign = (sub) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(key);

// Every server child is killed when the load generator exits, whatever the reason.
const children = new Set();
const killAll = () => {
  for (const child of children) child.kill('SIGKILL');
};
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * Starts bench/server.mjs. env.SYSTEM picks switchboard (default), ws or socketio.
 * BENCH_PROFILE=<dir> runs the child under --cpu-prof and writes the profile there.
 */
export async function startServer(env = {}) {
  const nodeArgs = [
    '--expose-gc',
    ...(process.env.BENCH_PROFILE
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
      : []),
    // Extra V8 or Node flags for the server child, e.g. BENCH_NODE_ARGS=--trace-deopt.
    ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
  const options = { env: { ...process.env, SECRET, ...env } };
  // Server on core 0, load generator (this process, see pin()) on core 1, as the reference figures were taken.
  const child = PINNED
    ? fork(new URL('./server.mjs', import.meta.url), {
        ...options,
        execPath: 'taskset',
        execArgv: ['-c', '0', process.execPath, ...nodeArgs],
      })
    : fork(new URL('./server.mjs', import.meta.url), { ...options, execArgv: nodeArgs });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`bench server exited early (code ${code})`);
  });
  exited.catch(() => {});
  const [ready] = await Promise.race([once(child, 'message'), exited]);
  const stats = async () => {
    child.send({ type: 'stats' });
    for (;;) {
      const [m] = await Promise.race([once(child, 'message'), exited]);
      if (m.type === 'stats') return m;
    }
  };
  const system = ready.system ?? 'switchboard';
  return {
    system,
    port: ready.port,
    url:
      system === 'socketio'
        ? `ws://127.0.0.1:${ready.port}/socket.io/?EIO=4&transport=websocket`
        : `ws://127.0.0.1:${ready.port}/ws`,
    origin: `http://127.0.0.1:${ready.port}`,
    stats,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.send({ type: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Microseconds of CPU (user + system) between two stats() answers. */
export const cpuMicros = (before, after) =>
  after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;

export const median = (values) => {
  const sorted = values.filter((v) => v !== undefined && !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined;
};
export const fmt = (n, digits = 0) =>
  n === undefined ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: digits });

/** The p-th percentile (0–100) of a sample, or undefined when it is empty. */
export function percentile(sample, p) {
  if (sample.length === 0) return undefined;
  const sorted = Float64Array.from(sample).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Publishes `count` 100-byte messages keeping at most `window` unacknowledged. */
export async function publishWindowed(publisher, channel, count, window) {
  const payload = 'x'.repeat(100);
  const inFlight = new Set();
  for (let i = 0; i < count; i++) {
    const p = publisher.publish(channel, 'm', payload).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
