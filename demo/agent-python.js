// AGENT=python: the demo's agent as a Python process (demo/agent.py, standard library only) that
// answers through the gateway's HTTP API like any backend in another language. This module
// starts it, hands it each question over a local HTTP call, and stops it with the demo.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./agent.py', import.meta.url));
/** How long the Python process may take to start, and to take one question. */
const START_TIMEOUT_MS = 10_000;
const ASK_TIMEOUT_MS = 5_000;

/**
 * Starts demo/agent.py against the gateway at `url` (its HTTP API under /api, `apiKey`), and
 * answers `{ ask, close }`: `ask({ room, prompt, user, after })` resolves `{ id }`, the reply's
 * stream id, as soon as Python has taken the question; the reply and the status updates then
 * arrive on `agent:<room>` from Python, through POST /api/stream and POST /api/publish.
 */
export async function pythonAgent({ url, apiKey, python = 'python3' }) {
  const token = randomBytes(16).toString('hex');
  const child = spawn(python, [script], {
    env: {
      ...process.env,
      SWITCHBOARD_URL: url,
      SWITCHBOARD_API_KEY: apiKey,
      AGENT_TOKEN: token,
    },
    // stdin stays open: Python exits when it closes, so it never outlives the demo.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${python} ${script} did not start within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${python} (${error.code ?? error.message})`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${python} ${script} exited (${code}) before it was ready`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const ready = /^READY (\d+)$/.exec(line);
      if (!ready) return;
      clearTimeout(timer);
      resolve(Number(ready[1]));
    });
  });

  let closing = false;
  child.once('exit', (code, signal) => {
    if (!closing)
      console.error(
        `Switchboard demo: the Python agent exited (${signal ?? code}); agent.ask fails until the demo restarts`,
      );
  });

  /** POSTs one question to Python; resolves once it answered 202. */
  const post = (body) =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/ask',
          method: 'POST',
          timeout: ASK_TIMEOUT_MS,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          res.resume();
          res.once('end', () =>
            res.statusCode === 202
              ? resolve()
              : reject(new Error(`the Python agent answered ${res.statusCode}`)),
          );
        },
      );
      req.once('timeout', () => req.destroy(new Error('the Python agent did not answer')));
      req.once('error', reject);
      req.end(payload);
    });

  return {
    async ask({ room, prompt, user, after }) {
      // The demo names the stream, so the page's status line and the reply share one id.
      const id = randomBytes(8).toString('hex');
      await post({ stream: id, room, prompt, user, after });
      return { id };
    },
    close() {
      closing = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      setTimeout(() => child.kill('SIGKILL'), 2_000).unref();
    },
  };
}
