/**
 * Replay on a new connection: remembers (in memory only, bounded) how each connection was opened,
 * and opens a new one through the proxy the same way to send a captured frame on it, after the
 * captured Switchboard `connect` when there was one. Such connections carry a marker with this
 * proxy's nonce, which the upgrade relay reads back.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { describeText } from './decode.js';
import type { InspectorStore } from './store.js';

export const REPLAY_HEADER = 'x-switchboard-inspector-replay';
/** How long a connection opened to replay a frame stays open. */
const REPLAY_LINGER_MS = 30_000;
const MAX_REPLAY_CONNECTIONS = 8;

interface ReplayContext {
  /** Path and query on the proxy, as the client asked for them (credentials included). */
  url: string;
  headers: Record<string, string>;
  protocols: string[];
}

const HANDSHAKE_HEADERS = new Set([
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'connection',
  'upgrade',
  'content-length',
  'transfer-encoding',
  REPLAY_HEADER,
]);

/** What a replay on a new connection needs to open it as the client did: kept in memory only. */
function replayContext(request: IncomingMessage): ReplayContext {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HANDSHAKE_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
  }
  const offered = request.headers['sec-websocket-protocol'];
  return {
    url: request.url ?? '/',
    headers,
    protocols: offered
      ? offered
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean)
      : [],
  };
}

/** The connection's Switchboard `connect` frame, as captured, if it sent one and it is kept. */
function connectFrameOf(
  store: InspectorStore,
  id: string,
): { text: string; id: number | undefined } | undefined {
  const frame = store
    .frames({ connection: id, direction: 'in' }, Number.POSITIVE_INFINITY)
    .find((f) => f.type === 'connect');
  if (!frame) return undefined;
  const kept = store.replayable(frame.seq);
  return kept && typeof kept.data === 'string' ? { text: kept.data, id: frame.id } : undefined;
}

export interface Replayer {
  /** Remembers how a tracked connection was opened, to replay on a new one like it. */
  remember(id: string, request: IncomingMessage): void;
  /** The replay a connection opened by this proxy says it is: its id and the original's. */
  marker(request: IncomingMessage): { id: string; of: string } | undefined;
  /** Opens a new connection like `id` and sends `data` on it; resolves with its id. */
  replayNew(id: string, data: string | Uint8Array): Promise<string | undefined>;
  /** Ends every replay connection still open. */
  close(): void;
}

/** `origin`: ws://host:port of the proxy, once it listens. */
export function replayer(
  store: InspectorStore,
  origin: () => string,
  connectTimeoutMs: number,
): Replayer {
  const nonce = randomBytes(16).toString('hex');
  /** How each connection was opened, for replaying on a new one (kept privately, bounded). */
  const contexts = new Map<string, ReplayContext>();
  const replays = new Set<WebSocket>();
  return {
    remember(id, request) {
      contexts.set(id, replayContext(request));
      if (contexts.size > store.limits.maxConnections * 2)
        contexts.delete(contexts.keys().next().value!);
    },
    marker(request) {
      const marker = request.headers[REPLAY_HEADER];
      const [markNonce, replayId, replayOf] =
        typeof marker === 'string' ? marker.split(' ') : [undefined, undefined, undefined];
      return markNonce === nonce && replayId !== undefined && replayOf !== undefined
        ? { id: replayId, of: replayOf }
        : undefined;
    },
    replayNew(id, data) {
      const context = contexts.get(id);
      if (!context) return Promise.resolve(undefined);
      const newId = randomBytes(6).toString('hex');
      const url = `${origin()}${context.url}`;
      const ws = new WebSocket(url, context.protocols, {
        headers: { ...context.headers, [REPLAY_HEADER]: `${nonce} ${newId} ${id}` },
        handshakeTimeout: connectTimeoutMs,
      });
      replays.add(ws);
      if (replays.size > MAX_REPLAY_CONNECTIONS) {
        const oldest = replays.values().next().value!;
        oldest.close(1000, 'inspector replay done');
        replays.delete(oldest);
      }
      const linger = setTimeout(() => ws.close(1000, 'inspector replay done'), REPLAY_LINGER_MS);
      linger.unref?.();
      ws.on('close', () => {
        clearTimeout(linger);
        replays.delete(ws);
      });
      ws.on('error', () => {});
      // Behind Switchboard's protocol, a frame needs an authenticated connection: the captured
      // `connect` (its token as captured, never shown) goes first, and the frame once it is answered.
      const connect = connectFrameOf(store, id);
      const needsConnect =
        connect !== undefined &&
        describeText(typeof data === 'string' ? data : '', Number.POSITIVE_INFINITY)?.type !==
          'connect';
      return new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), connectTimeoutMs);
        timer.unref?.();
        const done = (value: string | undefined) => {
          clearTimeout(timer);
          resolve(value);
        };
        ws.once('error', () => done(undefined));
        ws.once('close', () => done(undefined));
        ws.once('open', () => {
          if (!needsConnect) {
            ws.send(data);
            return done(newId);
          }
          ws.send(connect.text);
          const onMessage = (raw: WebSocket.RawData) => {
            let frame: { type?: unknown; id?: unknown } | undefined;
            try {
              frame = JSON.parse(raw.toString());
            } catch {}
            if ((frame?.type === 'reply' || frame?.type === 'error') && frame.id === connect.id) {
              ws.off('message', onMessage);
              ws.send(data);
              done(newId);
            }
          };
          ws.on('message', onMessage);
        });
      });
    },
    close() {
      for (const ws of replays) ws.terminate();
    },
  };
}
