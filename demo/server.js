// The demo `npm start` runs: a chat with a streaming agent (the React page in demo/web). Rooms,
// history and agent replies live in an SQLite file (.data/demo.db), so a restart keeps them;
// with REDIS_URL they live in Redis; DEMO_BROKER=memory keeps them in memory, lost on restart.
// Environment: PORT (default 3000; 0 picks a free one), HOST (default 127.0.0.1), JWT_SECRET,
// DEMO_BROKER (sqlite, memory or redis; default redis with REDIS_URL, else sqlite),
// DEMO_DATA_DIR (where demo.db goes; default .data), REDIS_URL and REDIS_PREFIX,
// INSPECTOR_CREDENTIAL (enables the panel's actions), DEMO_DIST, AGENT (python: the agent runs
// as a Python process, demo/agent.py, answering through the HTTP API; PYTHON picks the binary).
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { attachInspector } from 'switchboard/inspector';
import { createServer, SwitchboardError } from 'switchboard/server';
import { pythonAgent } from './agent-python.js';
import { aiChannels, serveDemoChat } from './ai-agent.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const secret = process.env.JWT_SECRET ?? randomBytes(32).toString('hex');
const key = new TextEncoder().encode(secret);

/** Says what went wrong in one line, and how to get going, then exits 1. */
function fail(message) {
  console.error(`Switchboard demo: ${message}`);
  process.exit(1);
}

const kind = process.env.DEMO_BROKER || (process.env.REDIS_URL ? 'redis' : 'sqlite');
if (!['sqlite', 'memory', 'redis'].includes(kind))
  fail(`DEMO_BROKER=${kind}? Use sqlite (the default), memory or redis (with REDIS_URL).`);
if (kind === 'redis' && !process.env.REDIS_URL)
  fail('DEMO_BROKER=redis needs REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379 npm start');
const agentKind = process.env.AGENT || 'node';
if (!['node', 'python'].includes(agentKind))
  fail(`AGENT=${agentKind}? Use node (the default) or python.`);
// The Python agent publishes through the HTTP API: a key of this process's own.
const apiKey = agentKind === 'python' ? randomBytes(24).toString('hex') : undefined;

// The SQLite file: in the repository's .data/ (git-ignored) unless DEMO_DATA_DIR says elsewhere.
const dataDir = process.env.DEMO_DATA_DIR
  ? resolve(process.env.DEMO_DATA_DIR)
  : fileURLToPath(new URL('../.data/', import.meta.url));
const dataFile = join(dataDir, 'demo.db');
/** The path as typed from here: `.data/demo.db` for `npm start` in the repository. */
const shown = (() => {
  const path = relative(process.cwd(), dataFile);
  return path && !path.startsWith('..') && !isAbsolute(path) ? path : dataFile;
})();

/** The broker the environment asks for; undefined: the server's in-memory default. */
async function openBroker() {
  if (kind === 'memory') return undefined;
  if (kind === 'redis') {
    // Several demo processes (on several ports) share rooms, history and presence.
    const { redisBroker } = await import('switchboard/redis');
    return redisBroker({
      url: process.env.REDIS_URL,
      prefix: process.env.REDIS_PREFIX ?? 'switchboard-demo:',
    });
  }
  let sqlite;
  try {
    sqlite = await import('switchboard/sqlite');
  } catch (error) {
    fail(`${error.message}, or run without a history file: DEMO_BROKER=memory npm start`);
  }
  try {
    mkdirSync(dataDir, { recursive: true });
    return sqlite.sqliteBroker({ file: dataFile });
  } catch (error) {
    if (/in use by another process/.test(error.message))
      fail(
        `${shown} is in use by another demo process. Stop it, or give this one its own: DEMO_DATA_DIR=.data-2 PORT=${port + 1} npm start`,
      );
    fail(error.message);
  }
}

const broker = await openBroker();

const server = createServer({
  port,
  host,
  ...(broker && { broker }),
  auth: { jwt: { secret } },
  ...(apiKey && { api: { key: apiKey } }),
  channels: {
    'room:*': {
      history: { size: 200, ttlMs: 60 * 60 * 1000 },
      events: { message: null, typing: null },
      ephemeral: ['typing'],
      presence: { info: (identity) => ({ name: identity.claims.name }) },
    },
    'agent:*': {
      clientPublish: false,
      // As long as the room's: a reload shows the replies beside the messages they answer.
      history: { size: 2000, ttlMs: 60 * 60 * 1000 },
      streams: { timeoutMs: 30_000 },
    },
    ...aiChannels,
  },
});
// The AI chat page (/ai.html): useChat over switchboard/ai, answered by demo/ai-agent.js.
serveDemoChat(server);

// The page is built by Vite (`npm start` runs the build first) into demo/dist; DEMO_DIST serves
// another build (the tests build theirs into a temporary folder and leave demo/dist alone).
const dist = process.env.DEMO_DIST
  ? `${resolve(process.env.DEMO_DIST)}${sep}`
  : fileURLToPath(new URL('./dist/', import.meta.url));
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
};
async function asset(pathname) {
  const file = pathname === '/' ? 'index.html' : pathname.slice(1);
  if (file.includes('..')) return undefined;
  try {
    return {
      body: await readFile(dist + file),
      type: types[extname(file)] ?? 'application/octet-stream',
    };
  } catch {
    return undefined;
  }
}

server.route(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://demo');
  if (url.pathname === '/login' && req.method === 'POST') {
    // A development login: any name gets a short-lived token. Never ship this.
    const name =
      (url.searchParams.get('name') ?? '').trim().slice(0, 32) ||
      `guest-${randomBytes(2).toString('hex')}`;
    const token = await new SignJWT({ name })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(name)
      .setExpirationTime('15m')
      .sign(key);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, user: name }));
  } else if (url.pathname === '/favicon.ico' && req.method === 'GET') {
    // The pages link a data: icon; this answers whoever asks the conventional path anyway.
    res
      .writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=86400' })
      .end(ICON);
  } else {
    const found = req.method === 'GET' ? await asset(url.pathname) : undefined;
    if (!found) return false;
    res.writeHead(200, { 'content-type': found.type }).end(found.body);
  }
  return true;
});

const ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1d2330"/><path d="M8 11h16M8 16h10M8 21h13" stroke="#7fa2ff" stroke-width="3" stroke-linecap="round"/></svg>';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The simulated agent: status, progress, then the reply streamed chunk by chunk. An agent is
 * `{ ask({ room, prompt, user, after }) → { id } }`: it opens the reply stream on `agent:<room>`
 * (its opening data `{ for: user, after }`), answers the stream id, and publishes `status`
 * events `{ id, state, progress? }` naming it. AGENT=python swaps in demo/agent-python.js.
 */
function simulatedAgent(server) {
  return {
    async ask({ room, prompt, user, after }) {
      const channel = `agent:${room}`;
      const stream = await server.stream(channel, { event: 'reply', data: { for: user, after } });
      const id = stream.id;
      void (async () => {
        await server.publish(channel, 'status', { id, state: 'thinking' }, { ephemeral: true });
        for (const progress of [20, 50, 80]) {
          await sleep(250);
          await server.publish(
            channel,
            'status',
            { id, state: 'searching', progress },
            { ephemeral: true },
          );
        }
        const answer = `You asked: "${prompt.replace(/^@agent\s*/, '')}". Here is a streamed answer, token by token, delivered to everyone in the room with offsets, so a reconnecting page resumes without gaps or duplicates.`;
        for (const token of answer.split(/(?<= )/)) {
          await sleep(60);
          await stream.write(token);
        }
        await stream.end();
        await server.publish(channel, 'status', { id, state: 'done' }, { ephemeral: true });
      })();
      return { id };
    },
    close() {},
  };
}

/** The agent in use: the simulated one now; the Python one once the server listens. */
let agent = agentKind === 'node' ? simulatedAgent(server) : undefined;

server.rpc('agent.ask', async ({ room, prompt }, { identity }) => {
  if (typeof room !== 'string' || typeof prompt !== 'string' || prompt.length > 2000) {
    throw new SwitchboardError('VALIDATION_FAILED', 'room and prompt are required');
  }
  if (!agent) throw new SwitchboardError('UNAVAILABLE', 'The agent is starting');
  // Where the reply belongs in the room: after the room's newest message when it opens. Two
  // channels count their offsets apart, so the page places replies by this (see Room in main.tsx).
  const { offset, epoch } = await server.history(`room:${room}`, { limit: 1 });
  return agent.ask({ room, prompt, user: identity.userId, after: { offset, epoch } });
});

// The wire, live, beside the app. Development only; in production it needs a credential.
const inspector = attachInspector(server, {
  credential: process.env.INSPECTOR_CREDENTIAL,
  actions: process.env.INSPECTOR_CREDENTIAL !== undefined,
});

let address;
try {
  address = await server.listen();
} catch (error) {
  if (error?.code !== 'EADDRINUSE' && error?.code !== 'EACCES') throw error;
  const why = error.code === 'EADDRINUSE' ? 'is already in use' : 'is not allowed';
  console.error(
    `Switchboard demo: port ${port} on ${host} ${why}. Stop what holds it, or pick another port: PORT=${port + 1} npm start`,
  );
  await broker?.close();
  process.exit(1);
}
/** The gateway's host as this machine calls it: a wildcard address is not one to call. */
const callable = (host) =>
  ['0.0.0.0', '::'].includes(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
if (agentKind === 'python') {
  try {
    agent = await pythonAgent({
      url: `http://${callable(host)}:${address.port}`,
      apiKey,
      python: process.env.PYTHON || 'python3',
    });
  } catch (error) {
    await server.close();
    await broker?.close();
    fail(`AGENT=python: ${error.message}. Install Python 3, or run the Node agent: npm start`);
  }
}
console.log(`Switchboard demo: http://${host}:${address.port}/  (WebSocket ${address.url})`);
if (inspector.enabled)
  console.log(`Inspector:        http://${host}:${address.port}${inspector.path}`);
console.log(
  {
    sqlite: `History:          ${shown} (kept across restarts; DEMO_BROKER=memory keeps nothing)`,
    memory: 'History:          in memory, lost on restart (unset DEMO_BROKER to keep it in a file)',
    redis: `History:          in Redis (REDIS_URL), prefix ${process.env.REDIS_PREFIX ?? 'switchboard-demo:'}`,
  }[kind],
);
if (agentKind === 'python')
  console.log('Agent:            demo/agent.py, answering through the HTTP API (AGENT=python)');

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    agent?.close();
    await server.close();
    await broker?.close();
    process.exit(0);
  });
}
