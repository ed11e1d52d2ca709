import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Target } from './capture.js';
import {
  type ConnectionRecord,
  type Filter,
  type FrameRecord,
  type InspectorStore,
  matches,
  type StoreEvent,
} from './store.js';
import { PANEL_HTML, PANEL_JS } from './ui.js';

export interface PanelOptions {
  path: string;
  credential: string | undefined;
  actions: boolean;
}

/** Bytes waiting for one panel socket before live frames are dropped (and counted) for it. */
const MAX_PANEL_BUFFER = 4 * 1024 * 1024;
const FLUSH_MS = 100;
const SNAPSHOT_FRAMES = 500;
const PAGE = 200;
/** A panel socket that has not sent the credential by then is closed, like the gateway's 4005. */
const AUTH_TIMEOUT_MS = 10_000;

function sameCredential(expected: string | undefined, given: unknown): boolean {
  if (expected === undefined) return true;
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}

/** The panel never answers another origin: a page elsewhere must not read or drive it. */
function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true; // not a browser; the credential still applies
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

interface PanelSession {
  ws: WebSocket;
  authed: boolean;
  filter: Filter;
  paused: boolean;
  dropped: number;
  connections: Map<string, ConnectionRecord>;
  frames: FrameRecord[];
}

export function replayScript(store: InspectorStore, connection: string): string {
  const record = store.connection(connection);
  const frames = store.frames({ connection, direction: 'in' }, Number.POSITIVE_INFINITY);
  const lines = frames.map(
    (f) =>
      `  ${JSON.stringify(f.text ?? '')}, // +${f.time - (frames[0]?.time ?? f.time)} ms ${f.type}`,
  );
  return `// Replays the frames connection ${connection} sent (captured by the Switchboard inspector).
// Tokens were redacted at capture: put a real one in TOKEN. Usage: node replay.mjs ws://host:port${record?.path ?? '/ws'}
import WebSocket from 'ws';

const TOKEN = process.env.TOKEN ?? '';
const frames = [
${lines.join('\n')}
];
const ws = new WebSocket(process.argv[2] ?? 'ws://127.0.0.1:3000${record?.path ?? '/ws'}');
ws.on('message', (data) => console.log('←', data.toString()));
ws.on('open', async () => {
  for (const frame of frames) {
    ws.send(frame.replace('"token":"[redacted]"', JSON.stringify({ token: TOKEN }).slice(1, -1)));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  setTimeout(() => ws.close(), 500);
});
`;
}

export function createPanel(store: InspectorStore, target: Target, options: PanelOptions) {
  const { path } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const sessions = new Set<PanelSession>();

  const send = (session: PanelSession, message: unknown) => {
    if (session.ws.readyState === session.ws.OPEN) session.ws.send(JSON.stringify(message));
  };

  // Listening makes the store decode every frame it records: only while a panel is open.
  let unlisten: (() => void) | undefined;
  const onStoreEvent = (event: StoreEvent) => {
    for (const session of sessions) {
      if (!session.authed) continue;
      if (event.type === 'connection')
        session.connections.set(event.connection.id, event.connection);
      else if (event.type === 'forget') send(session, { type: 'forget', id: event.id });
      else if (!session.paused && matches(session.filter, event.frame, event.connection)) {
        session.connections.set(event.connection.id, event.connection);
        if (
          session.ws.bufferedAmount > MAX_PANEL_BUFFER ||
          session.frames.length >= SNAPSHOT_FRAMES
        )
          session.dropped++;
        else session.frames.push(event.frame);
      }
    }
  };
  const watch = () => {
    unlisten ??= store.listen(onStoreEvent);
  };
  const unwatchIfIdle = () => {
    if ([...sessions].some((s) => s.authed)) return;
    unlisten?.();
    unlisten = undefined;
  };

  // Updates go out in batches: a busy gateway must not turn into one panel message per frame.
  const flushTimer = setInterval(() => {
    for (const session of sessions) {
      if (session.connections.size === 0 && session.frames.length === 0) continue;
      send(session, {
        type: 'batch',
        connections: [...session.connections.values()],
        frames: session.frames,
        dropped: session.dropped,
        stats: store.stats(),
      });
      session.connections.clear();
      session.frames = [];
    }
  }, FLUSH_MS);
  flushTimer.unref?.();

  function snapshot(session: PanelSession, offset = 0, search = '') {
    const all = store
      .connections()
      .filter((c) => !search || c.id.includes(search) || (c.user ?? '').includes(search))
      .sort((a, b) => b.connectedAt - a.connectedAt);
    send(session, {
      type: 'snapshot',
      connections: all.slice(offset, offset + PAGE),
      total: all.length,
      offset,
      frames: store.frames(session.filter, SNAPSHOT_FRAMES),
      stats: store.stats(),
    });
  }

  async function act(session: PanelSession, message: Record<string, unknown>) {
    if (!options.actions)
      return send(session, {
        type: 'result',
        ok: false,
        error: 'Actions are disabled: enable them with `actions: true` and a credential',
      });
    const connection = String(message['connection'] ?? '');
    let ok = false;
    switch (message['action']) {
      case 'replay': {
        const frame = store.frame(Number(message['seq']));
        ok =
          frame?.direction === 'in' &&
          frame.text !== undefined &&
          target.replay(frame.connection, frame.text);
        break;
      }
      case 'send':
        ok = target.send(connection, String(message['text'] ?? ''));
        break;
      case 'close':
        ok = target.close(
          connection,
          Number(message['code'] ?? 1000),
          String(message['reason'] ?? 'closed from the inspector'),
        );
        break;
      case 'publish':
        if (!target.publish) break;
        await target.publish(String(message['channel']), String(message['event']), message['data']);
        ok = true;
        break;
    }
    send(session, { type: 'result', ok, action: message['action'] });
  }

  wss.on('connection', (ws) => {
    const session: PanelSession = {
      ws,
      authed: false,
      filter: {},
      paused: false,
      dropped: 0,
      connections: new Map(),
      frames: [],
    };
    sessions.add(session);
    const authTimer = setTimeout(() => {
      if (!session.authed) ws.close(4001, 'inspector credential required');
    }, AUTH_TIMEOUT_MS);
    authTimer.unref?.();
    ws.on('close', () => {
      clearTimeout(authTimer);
      sessions.delete(session);
      unwatchIfIdle();
    });
    ws.on('error', () => {});
    ws.on('message', (data) => {
      let message: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(data.toString());
        // `null`, numbers, strings: this listener runs inside ws's read loop, where a throw would
        // take the whole gateway down, so anything but an object counts as an empty message.
        message =
          typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
      } catch {
        if (!session.authed) ws.close(4001, 'inspector credential required');
        return;
      }
      if (!session.authed) {
        if (
          message['type'] !== 'auth' ||
          !sameCredential(options.credential, message['credential'])
        ) {
          ws.close(4001, 'inspector credential required');
          return;
        }
        session.authed = true;
        clearTimeout(authTimer);
        watch();
        send(session, {
          type: 'hello',
          actions: options.actions,
          limits: store.limits,
          needsCredential: options.credential !== undefined,
        });
        return snapshot(session);
      }
      switch (message['type']) {
        case 'filter':
          session.filter = sanitizeFilter(message['filter']);
          session.frames = [];
          return snapshot(session, Number(message['offset'] ?? 0), String(message['search'] ?? ''));
        case 'page':
          return snapshot(session, Number(message['offset'] ?? 0), String(message['search'] ?? ''));
        case 'pause':
          session.paused = true;
          return;
        case 'resume':
          session.paused = false;
          return snapshot(session);
        case 'action':
          return void act(session, message).catch((error) =>
            send(session, { type: 'result', ok: false, error: String(error) }),
          );
      }
    });
  });

  // Absolute, so the page works at both `/inspector` and `/inspector/`.
  const html = PANEL_HTML.replace('src="panel.js"', `src="${path}/panel.js"`);

  const handleHttp = (request: IncomingMessage, response: ServerResponse): boolean => {
    const url = new URL(request.url ?? '/', 'http://inspector');
    if (url.pathname !== path && !url.pathname.startsWith(`${path}/`)) return false;
    if (!sameOrigin(request)) {
      response.writeHead(403).end();
      return true;
    }
    const sub = url.pathname.slice(path.length);
    if (sub === '' || sub === '/') {
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS })
        .end(html);
    } else if (sub === '/panel.js') {
      response
        .writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS })
        .end(PANEL_JS);
    } else if (sub === '/export.jsonl' || sub === '/replay.mjs') {
      if (!sameCredential(options.credential, bearer(request))) {
        response.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      } else if (sub === '/export.jsonl') {
        const lines = [
          JSON.stringify({
            kind: 'session',
            version: 1,
            exportedAt: new Date().toISOString(),
            stats: store.stats(),
          }),
          ...store.connections().map((c) => JSON.stringify({ kind: 'connection', ...c })),
          ...store
            .frames({}, Number.POSITIVE_INFINITY)
            .map((f) => JSON.stringify({ kind: 'frame', ...f })),
        ];
        response
          .writeHead(200, { 'content-type': 'application/x-ndjson', ...SECURITY_HEADERS })
          .end(`${lines.join('\n')}\n`);
      } else {
        response
          .writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS })
          .end(replayScript(store, url.searchParams.get('connection') ?? ''));
      }
    } else {
      response.writeHead(404).end();
    }
    return true;
  };

  const handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    if (new URL(request.url ?? '/', 'http://inspector').pathname !== `${path}/ws`) return false;
    if (!sameOrigin(request)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    return true;
  };

  return {
    handleHttp,
    handleUpgrade,
    close() {
      clearInterval(flushTimer);
      unlisten?.();
      for (const session of sessions) session.ws.terminate();
      wss.close();
    },
  };
}

function sanitizeFilter(value: unknown): Filter {
  if (typeof value !== 'object' || value === null) return {};
  const input = value as Record<string, unknown>;
  const filter: Filter = {};
  for (const key of ['connection', 'user', 'channel', 'event', 'text'] as const) {
    const v = input[key];
    if (typeof v === 'string' && v !== '') filter[key] = v.slice(0, 256);
  }
  if (input['direction'] === 'in' || input['direction'] === 'out')
    filter.direction = input['direction'];
  return filter;
}
