import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { onCleanup } from './helpers.js';

/** Debian's python3-websockets, for /usr/bin/python3: CI installs it, elsewhere its tests skip. */
export const PYTHON = process.env.PYTHON_PATH ?? '/usr/bin/python3';

export function pythonWebsocketsAvailable(): boolean {
  const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (probe.status === 0) return true;
  if (process.env.CI === 'true')
    throw new Error(
      `CI needs python3-websockets for ${PYTHON} (apt-get install python3-websockets)`,
    );
  console.log(
    `Skipping the Python backend tests: no websockets module for ${PYTHON} (apt-get install python3-websockets)`,
  );
  return false;
}

/** What the Python server saw of one connection, reported when it ended. */
export interface PythonView {
  path: string;
  subprotocol: string | null;
  headers: Record<string, string>;
  received: ({ text: string } | { binary: string })[];
  sent: ({ text: string } | { binary: string })[];
  pongs: string[];
  close: { code: number | null; reason: string | null };
}

/**
 * Starts test/fixtures/ws_server.py on a free port of 127.0.0.1; it stops after the test (it
 * also exits by itself when its stdin closes, so it never outlives the test process).
 */
export async function startPythonServer(): Promise<{
  port: number;
  url: string;
  views: PythonView[];
  process: ChildProcess;
}> {
  const child = spawn(PYTHON, ['test/fixtures/ws_server.py'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const views: PythonView[] = [];
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('Python server did not start in 10 s')),
      10_000,
    );
    child.once('exit', (code) => reject(new Error(`Python server exited (${code})`)));
    lines.on('line', (line) => {
      const ready = /^READY (\d+)$/.exec(line);
      if (ready) {
        clearTimeout(timer);
        resolve(Number(ready[1]));
      } else if (line.startsWith('{')) views.push(JSON.parse(line) as PythonView);
    });
  });
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 2_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.stdin!.end();
      }),
  );
  return { port, url: `ws://127.0.0.1:${port}`, views, process: child };
}
