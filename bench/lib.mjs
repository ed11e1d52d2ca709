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

export async function startServer(env = {}) {
  const nodeArgs = [
    '--expose-gc',
    ...(process.env.BENCH_PROFILE
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
      : []),
  ];
  // Server on core 0, load generator (this process, see pin()) on core 1, as the reference figures were taken.
  const child = PINNED
    ? fork(new URL('./server.mjs', import.meta.url), {
        env: { ...process.env, SECRET, ...env },
        execPath: 'taskset',
        execArgv: ['-c', '0', process.execPath, ...nodeArgs],
      })
    : fork(new URL('./server.mjs', import.meta.url), {
        env: { ...process.env, SECRET, ...env },
        execArgv: nodeArgs,
      });
  const [ready] = await once(child, 'message');
  const stats = async () => {
    child.send({ type: 'stats' });
    for (;;) {
      const [m] = await once(child, 'message');
      if (m.type === 'stats') return m;
    }
  };
  return {
    url: `ws://127.0.0.1:${ready.port}/ws`,
    stats,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
export const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });

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
