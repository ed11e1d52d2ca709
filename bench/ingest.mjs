// The HTTP API from a backend in another language, as issue 18 frames it: a Python process
// (bench/ingest_load.py, standard library http.client) publishes one event per POST over
// kept-alive connections, then many as NDJSON in one long request, then streams text chunks
// through POST /api/stream. Each row gives events (or chunks) per second as Python saw them and
// the server's CPU per event, with the goal's pass or miss; the POST rows also against a bare
// node:http server (bench/ingest-floor.mjs), the most the load generator allows. No subscriber is
// attached: these rows measure the ingest path; delivery is what the fan-out rows measure.
//
// Run by bench/run.mjs (its `ingest` block, --only=ingest), or alone (see the end of this file).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fmt, median, meter, PINNED, saturated, startChild, startServer } from './lib.mjs';

const PYTHON = process.env.PYTHON_PATH ?? 'python3';
const API_KEY = 'bench-api-key';
const LOAD_SCRIPT = new URL('./ingest_load.py', import.meta.url).pathname;
/** Upper bound on one Python run; a stuck run is killed and reported, never waited for. */
const RUN_TIMEOUT_MS = 90_000;

/** The cases: what Python does, how much of it, and the goal from the issue (events/s). */
const cases = (quick) => [
  {
    id: 'floor',
    label: 'floor: bare node:http, one POST per event, 4 connections',
    server: 'floor',
    args: ['post', quick ? 5_000 : 20_000, 4],
    unit: 'events/s',
  },
  {
    id: 'floor1',
    label: 'floor: bare node:http, one POST per event, 1 connection',
    server: 'floor',
    args: ['post', quick ? 2_000 : 10_000, 1],
    unit: 'events/s',
  },
  {
    id: 'post',
    label: 'one POST per event, 4 kept-alive connections',
    args: ['post', quick ? 5_000 : 20_000, 4],
    unit: 'events/s',
    goal: 5_000,
  },
  {
    id: 'post1',
    label: 'one POST per event, 1 connection (request, answer, next)',
    args: ['post', quick ? 2_000 : 10_000, 1],
    unit: 'events/s',
  },
  {
    id: 'ndjson',
    label: 'NDJSON, one long request (500 lines a chunk)',
    args: ['ndjson', quick ? 40_000 : 100_000, 1],
    unit: 'events/s',
    goal: 20_000,
  },
  {
    id: 'stream',
    label: 'HTTP streams, 8 at once (POST /api/stream, text chunks)',
    // ≤ 1,000 chunks each: within a stream's burst, so the server's per-stream pace
    // (1,000 chunks/s, api-streams.ts) does not set the figure.
    args: ['stream', 1_000, 8],
    unit: 'chunks/s',
  },
];

export const pythonAvailable = () =>
  spawnSync(PYTHON, ['--version'], { timeout: 10_000 }).status === 0;

/** One Python run against `server`: its own figures, and the server's CPU over the run. */
async function load(server, [mode, count, connections]) {
  const command = PINNED ? 'taskset' : PYTHON;
  const args = [LOAD_SCRIPT, mode, server.port, API_KEY, count, connections].map(String);
  const child = spawn(command, PINNED ? ['-c', '1', PYTHON, ...args] : args, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  try {
    const lines = createInterface({ input: child.stdout });
    const exited = once(child, 'exit');
    let m;
    let result;
    for await (const line of lines) {
      if (line === 'ready') {
        m = await meter(server);
        child.stdin.write('go\n');
      } else if (line.startsWith('{')) result = JSON.parse(line);
    }
    const [code] = await exited;
    if (!result || !m) throw new Error(`${mode}: Python load generator exited (${code})`);
    const measured = await m.stop();
    return {
      rate: result.events / result.seconds,
      events: result.events,
      errors: result.errors,
      complete: result.errors === 0,
      cpuPerEvent: measured.serverCpu / Math.max(1, result.events),
      loadCpuPerEvent: (result.cpu * 1e6) / Math.max(1, result.events),
      // The load generator is Python, not this process: its own CPU over its own clock.
      busy: {
        server: measured.busy.server,
        load: result.cpu / result.seconds,
        serverCore: measured.busy.serverCore,
        loadCore: measured.busy.loadCore,
      },
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs every case `runs` times (a fresh server per run, cases in turn) and answers the medians,
 * the printable rows, and every run's figures.
 */
export async function ingestBench({
  quick = false,
  runs = quick ? 1 : 3,
  only = undefined,
  progress = () => {},
}) {
  // --quick keeps the rows with a goal and their floor (npm run bench -- --quick stays short).
  const list = cases(quick).filter((c) =>
    only
      ? only.includes(c.id)
      : !quick || c.goal !== undefined || c.id === 'floor' || c.id === 'stream',
  );
  const raw = Object.fromEntries(list.map((c) => [c.id, []]));
  for (let run = 0; run < runs; run++) {
    const servers = {
      switchboard: await startServer({ API_KEY }),
      floor: await startChild(new URL('./ingest-floor.mjs', import.meta.url)),
    };
    try {
      // Every other run the other way round, so drift on a shared machine favours no case.
      for (const c of run % 2 ? [...list].reverse() : list) {
        progress(`ingest · ${c.id} · run ${run + 1}/${runs}`);
        // A failed run (Python gone, the run past its bound) is recorded, not fatal to the bench.
        raw[c.id].push(
          await load(servers[c.server ?? 'switchboard'], c.args).catch((error) => ({
            complete: false,
            error: error.message,
            busy: {},
          })),
        );
      }
    } finally {
      await Promise.all(Object.values(servers).map((server) => server.stop()));
    }
  }
  const figures = list.map((c) => {
    const of = (pick) => median(raw[c.id].map(pick));
    const rate = of((r) => r.rate);
    return {
      id: c.id,
      label: c.label,
      unit: c.unit,
      rate,
      cpuPerEvent: of((r) => r.cpuPerEvent),
      loadCpuPerEvent: of((r) => r.loadCpuPerEvent),
      busy: {
        server: of((r) => r.busy.server),
        load: of((r) => r.busy.load),
        serverCore: of((r) => r.busy.serverCore),
        loadCore: of((r) => r.busy.loadCore),
      },
      goal: c.goal,
      pass: c.goal === undefined ? undefined : rate >= c.goal,
      incomplete: raw[c.id].some((r) => !r.complete),
    };
  });
  // Each POST row against the floor with as many connections.
  const floors = { post: 'floor', post1: 'floor1' };
  for (const f of figures) {
    const floor = figures.find((g) => g.id === floors[f.id])?.rate;
    if (floor) f.ofFloor = f.rate / floor;
  }
  return { figures, runs: raw, table: table(figures, runs) };
}

/** Another process took this share of a pinned core or more (as run.mjs marks it). */
const CONTENDED_AT = 0.15;
const contended = (b) =>
  (b.serverCore !== undefined && b.serverCore - b.server >= CONTENDED_AT) ||
  (b.loadCore !== undefined && b.loadCore - b.load >= CONTENDED_AT);

/** The block bench/run.mjs prints under its own table. */
function table(figures, runs) {
  const header = [
    'HTTP API from Python (http.client)',
    'rate',
    'of floor',
    'server CPU/event',
    'Python CPU/event',
    'busy',
    'goal',
    '',
  ];
  const pct = (n) => (n === undefined ? '—' : `${Math.round(n * 100)}%`);
  const lines = figures.map((f) => [
    f.label,
    `${fmt(f.rate)} ${f.unit}${f.incomplete ? ' !' : ''}`,
    f.ofFloor === undefined ? '' : pct(f.ofFloor),
    `${fmt(f.cpuPerEvent, 1)} µs`,
    `${fmt(f.loadCpuPerEvent, 1)} µs`,
    `S ${pct(f.busy.server)} L ${pct(f.busy.load)} → ${saturated(f.busy)}${contended(f.busy) ? ' *' : ''}`,
    f.goal === undefined ? '' : `≥${fmt(f.goal)}`,
    f.pass === undefined ? '' : f.pass ? 'pass' : 'MISS',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cols) =>
    cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [
    `median of ${runs} run${runs > 1 ? 's' : ''}; rate as Python timed it; ! = some events failed; of floor = the rate as a share of the same load against a bare node:http server; busy: CPU of the server (S) and of Python (L) in % of one core over the run, → the saturated side, * = other processes took ≥${CONTENDED_AT * 100}% of a pinned core meanwhile (figures are then low)`,
    row(header),
    widths.map((w) => '─'.repeat(w)).join('  '),
    ...lines.map(row),
  ].join('\n');
}

// Alone: node bench/ingest.mjs [--quick] [--cases=post,post1,ndjson,stream] [--runs=N]
// (BENCH_PROFILE=<dir> profiles the server, as for run.mjs)
if (import.meta.url === `file://${process.argv[1]}`) {
  const { pin } = await import('./lib.mjs');
  pin();
  if (!pythonAvailable()) {
    console.log(`no ${PYTHON}: skipped`);
    process.exit(0);
  }
  const option = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const quick = process.argv.includes('--quick');
  const runs = option('runs') ? Number(option('runs')) : undefined;
  const only = option('cases')?.split(',');
  const result = await ingestBench({ quick, runs, only, progress: (text) => console.log(text) });
  console.log(`\n${result.table}`);
}
