// Shared by the benchmarks: the server under test runs in its own process (server.mjs).
import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus } from 'node:os';
import { SignJWT } from 'jose';

/** taskset exists and there are two cores to split: pin the server and the load generator apart. */
export const PINNED = cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0;

/**
 * Moves this process (the load generator) to core 1: every thread of it (`-a`), as V8's and
 * libuv's threads exist before this runs and would otherwise stay free to run on the server's core.
 */
export function pin() {
  if (PINNED) spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)]);
}

export const SECRET = 'bench-secret-bench-secret-bench-secret';
// One imported key for every token this process signs (jose would import raw bytes each time).
const signingKey = crypto.subtle.importKey(
  'raw',
  new TextEncoder().encode(SECRET),
  { name: 'HMAC', hash: 'SHA-256' },
  false,
  ['sign'],
);
export const sign = async (sub) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('2h')
    .sign(await signingKey);

const signed = new Map();
/**
 * Tokens for `count` connections: a distinct user each (`<prefix><i>`), or with `sameUser` one
 * user for all of them. Signed once per process and kept, so no measured phase signs anything.
 */
export async function tokens(prefix, count, sameUser = false) {
  if (sameUser) {
    const one = await sign(prefix);
    return Array.from({ length: count }, () => one);
  }
  let list = signed.get(prefix);
  if (!list) signed.set(prefix, (list = []));
  while (list.length < count) list.push(await sign(`${prefix}${list.length}`));
  return list.slice(0, count);
}

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
  return startChild(new URL('./server.mjs', import.meta.url), env);
}

/**
 * Forks `script` as a benchmark child (pinned to core 0 like a server unless `core` says
 * otherwise) and waits for its first message, `{ type: 'ready', port, system }`.
 */
export async function startChild(script, env = {}, { core = 0, args = [] } = {}) {
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
    ? fork(script, args, {
        ...options,
        execPath: 'taskset',
        execArgv: ['-c', String(core), process.execPath, ...nodeArgs],
      })
    : fork(script, args, { ...options, execArgv: nodeArgs });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`bench server exited early (code ${code})`);
  });
  exited.catch(() => {});
  const [ready] = await Promise.race([once(child, 'message'), exited]);
  // Answers to stats() in the order asked; other messages go to `onMessage`.
  const waiting = [];
  const handle = { onMessage: undefined };
  child.on('message', (m) => {
    if (m.type === 'stats') waiting.shift()?.resolve(m);
    else handle.onMessage?.(m);
  });
  exited.catch((error) => {
    for (const w of waiting.splice(0)) w.reject(error);
  });
  /**
   * CPU, memory (after a full GC unless `gc` is false) and open connections of the child; with
   * LOOP_DELAY set in its env, its event-loop delays too (since the last `reset`).
   */
  const stats = (gc = true, reset = false) =>
    new Promise((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null)
        return reject(new Error('bench child has exited'));
      waiting.push({ resolve, reject });
      child.send({ type: 'stats', gc, reset });
    });
  const system = ready.system ?? 'switchboard';
  return {
    child,
    ready,
    handle,
    /** Resolves (never rejects) when the child has exited. */
    gone: exited.catch(() => {}),
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

/** Busy and total clock ticks of each core since boot (Linux /proc/stat), or undefined. */
function coreTicks() {
  try {
    const cores = [];
    for (const line of readFileSync('/proc/stat', 'latin1').split('\n')) {
      const m = /^cpu(\d+) (.*)/.exec(line);
      if (!m) continue;
      const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2].split(' ').map(Number);
      const busy = user + nice + system + irq + softirq + steal;
      cores[Number(m[1])] = { busy, total: busy + idle + iowait };
    }
    return cores;
  } catch {
    return undefined;
  }
}

/** The core the servers are pinned to, and the load generator's. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

/**
 * Measures one phase from both sides: the server children's CPU (from their stats()), this
 * process's CPU (the load generator), and how busy each of the two cores was in all (other
 * processes included). `stop()` answers with the figures and the servers' last stats.
 * Busy figures are fractions of one core over the phase's wall time: a side near 1 was the one
 * that saturated.
 */
export async function meter(servers) {
  const list = Array.isArray(servers) ? servers : [servers];
  const before = await Promise.all(list.map((s) => s.stats()));
  const load0 = process.cpuUsage();
  const cores0 = coreTicks();
  const t0 = performance.now();
  return {
    before: before[0],
    async stop() {
      const t1 = performance.now();
      const load1 = process.cpuUsage();
      const cores1 = coreTicks();
      const after = await Promise.all(list.map((s) => s.stats()));
      const seconds = (t1 - t0) / 1000;
      let serverCpu = 0;
      let serverBusy = 0;
      for (let i = 0; i < list.length; i++) {
        const cpu = cpuMicros(before[i], after[i]);
        serverCpu += cpu;
        // Over the child's own window (its CPU readings are a message away from ours).
        serverBusy += cpu / ((after[i].wall - before[i].wall) * 1e3);
      }
      const loadCpu = load1.user + load1.system - load0.user - load0.system;
      const coreBusy = (core) => {
        const a = cores0?.[core];
        const b = cores1?.[core];
        return a && b && b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : undefined;
      };
      return {
        after: after[0],
        afterAll: after,
        seconds,
        serverCpu,
        loadCpu,
        busy: {
          server: serverBusy,
          load: loadCpu / (seconds * 1e6),
          ...(PINNED && {
            serverCore: coreBusy(SERVER_CORE),
            loadCore: coreBusy(LOAD_CORE),
          }),
        },
      };
    },
  };
}

/** Which side saturated, from a phase's busy figures: 'server', 'load gen', 'both' or 'neither'. */
export const SATURATED_AT = 0.85;
export function saturated(busy) {
  if (!busy) return undefined;
  const s = busy.server >= SATURATED_AT;
  const l = busy.load >= SATURATED_AT;
  return s && l ? 'both' : s ? 'server' : l ? 'load gen' : 'neither';
}

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

/** REDIS_URL, or Redis on 127.0.0.1:6379. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether Redis answers PING at REDIS_URL within a second (no password or TLS: a bench Redis). */
export function redisAnswers(url = REDIS_URL) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port) || 6379, hostname || '127.0.0.1');
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
