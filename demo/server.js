// The demo `npm start` runs: a chat with a streaming agent on the in-memory broker.
// Issue #6 replaces the page with the React app; the gateway wiring stays this small.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { attachInspector } from 'switchboard/inspector';
import { redisBroker } from 'switchboard/redis';
import { createServer, SwitchboardError } from 'switchboard/server';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const secret = process.env.JWT_SECRET ?? randomBytes(32).toString('hex');
const key = new TextEncoder().encode(secret);

// With REDIS_URL, several demo processes (on several ports) share rooms, history and presence.
const broker = process.env.REDIS_URL
  ? redisBroker({
      url: process.env.REDIS_URL,
      prefix: process.env.REDIS_PREFIX ?? 'switchboard-demo:',
    })
  : undefined;

const server = createServer({
  port,
  host,
  ...(broker && { broker }),
  auth: { jwt: { secret } },
  channels: {
    'room:*': {
      history: { size: 200, ttlMs: 60 * 60 * 1000 },
      events: { message: null, typing: null },
      ephemeral: ['typing'],
      presence: { info: (identity) => ({ name: identity.claims.name }) },
    },
    'agent:*': {
      clientPublish: false,
      history: { size: 2000, ttlMs: 10 * 60 * 1000 },
      streams: { timeoutMs: 30_000 },
    },
  },
});

// The page is built by Vite (`npm start` runs the build first) into demo/dist.
const dist = fileURLToPath(new URL('./dist/', import.meta.url));
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
  } else {
    const found = req.method === 'GET' ? await asset(url.pathname) : undefined;
    if (!found) return false;
    res.writeHead(200, { 'content-type': found.type }).end(found.body);
  }
  return true;
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The simulated agent: status, progress, then the reply streamed chunk by chunk.
server.rpc('agent.ask', async ({ room, prompt }, { identity }) => {
  if (typeof room !== 'string' || typeof prompt !== 'string' || prompt.length > 2000) {
    throw new SwitchboardError('VALIDATION_FAILED', 'room and prompt are required');
  }
  const channel = `agent:${room}`;
  const stream = await server.stream(channel, { event: 'reply', data: { for: identity.userId } });
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
});

// The wire, live, beside the app. Development only; in production it needs a credential.
const inspector = attachInspector(server, {
  credential: process.env.INSPECTOR_CREDENTIAL,
  actions: process.env.INSPECTOR_CREDENTIAL !== undefined,
});

const address = await server.listen();
console.log(`Switchboard demo: http://${host}:${address.port}/  (WebSocket ${address.url})`);
if (inspector.enabled)
  console.log(`Inspector:        http://${host}:${address.port}${inspector.path}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await server.close();
    await broker?.close();
    process.exit(0);
  });
}
