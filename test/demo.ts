import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { buildDemo, tempDist } from './demo-build.js';
import { onCleanup, waitFor } from './helpers.js';

let own: { dir: string; remove: () => void } | undefined;

/**
 * Where the tests' build of the demo page is: the one the global setup made or, under a config
 * without it, the one `withDemoBuild` made for this test file.
 */
export function demoDist(): string {
  const dir = inject('demoDist') ?? own?.dir;
  if (!dir) throw new Error('No demo build: call withDemoBuild() in the test file');
  return dir;
}

/**
 * For a test file that starts the demo: under a config without the global setup, builds the page
 * into a temporary folder before its tests and removes it after them.
 */
export function withDemoBuild(): void {
  beforeAll(() => {
    if (inject('demoDist') || own) return;
    own = tempDist();
    buildDemo(own.dir);
  }, 120_000);
  afterAll(() => {
    own?.remove();
    own = undefined;
  });
}

export interface Demo {
  child: ChildProcess;
  /** `http://127.0.0.1:port/` */
  url: string;
  port: number;
  /** Where its SQLite file (demo.db) is: pass it as DEMO_DATA_DIR to restart on the same file. */
  dataDir: string;
  /** What it printed on stdout so far. */
  output(): string;
}

/** A data directory of its own for one test, removed after it. */
export function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-demo-data-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `node demo/server.js` as `npm start` runs it, serving the tests' build of the page. Its SQLite
 * file goes in a fresh temporary folder unless `env.DEMO_DATA_DIR` names one (never the
 * repository's .data/, which one process at a time may hold); REDIS_URL and DEMO_BROKER count
 * only when given in `env`.
 */
export async function startDemo(env: Record<string, string> = {}): Promise<Demo> {
  const dataDir = env.DEMO_DATA_DIR ?? tempDataDir();
  // Which broker is the test's to say, not the shell's.
  const { REDIS_URL: _url, DEMO_BROKER: _broker, ...inherited } = process.env;
  const child = spawn(process.execPath, ['demo/server.js'], {
    env: { ...inherited, PORT: '0', DEMO_DIST: demoDist(), DEMO_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onCleanup(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  // Its last startup line says where history is kept.
  const url = await waitFor(
    () =>
      output.includes('\nHistory: ') ? output.match(/http:\/\/127\.0\.0\.1:\d+\//)?.[0] : undefined,
    15_000,
    'demo to start',
  );
  return { child, url, port: Number(new URL(url).port), dataDir, output: () => output };
}

/** SIGTERM, as Ctrl-C would, and waits for the exit. */
export async function stopDemo(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}
