/**
 * Capture on a plain `ws` server: raw frames, no protocol decoding, for the same panel; this
 * server's own sockets only (their `send`, `ping`, `pong` and `close` are wrapped, since ws has
 * no outbound events).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { openRecord, type Target } from './capture.js';
import { redactProtocol } from './redact.js';
import type { InspectorStore } from './store.js';
import type { TrackingPolicy } from './tracking.js';
import type { Direction } from './types.js';

const toBytes = (data: unknown): Buffer =>
  Buffer.isBuffer(data)
    ? data
    : Array.isArray(data)
      ? Buffer.concat(data)
      : typeof data === 'string'
        ? Buffer.from(data)
        : data instanceof ArrayBuffer
          ? Buffer.from(data)
          : ArrayBuffer.isView(data)
            ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
            : Buffer.from(String(data ?? ''));

export function wsCapture(
  store: InspectorStore,
  wss: WebSocketServer,
  policy?: TrackingPolicy,
): { target: Target; detach: () => void } {
  const sockets = new Map<string, WebSocket>();
  const record = (id: string, direction: Direction, data: unknown, isBinary: boolean) => {
    if (!store.has(id)) return;
    const bytes =
      typeof data === 'string'
        ? data
        : Buffer.isBuffer(data)
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.from(data as ArrayBuffer);
    const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    store.record(
      id,
      direction,
      size,
      'raw',
      undefined,
      undefined,
      undefined,
      bytes,
      isBinary,
      !isBinary,
    );
  };
  const onConnection = (ws: WebSocket, request: IncomingMessage) => {
    const id = randomBytes(6).toString('hex');
    if (!openRecord(store, id, request, 'open', policy)) return;
    sockets.set(id, ws);
    if (ws.protocol) store.updateConnection(id, { protocol: redactProtocol(ws.protocol) });
    // First in line, so a frame is recorded before the app's handlers answer it.
    ws.prependListener('message', (data, isBinary) => record(id, 'in', data, isBinary));
    ws.prependListener('pong', (data) => store.recordControl(id, 'in', 'pong', data));
    /*
     * ws answers a ping before it emits it: the pong waits until the ping is recorded (or, sent
     * by the app on its own, until the end of the tick).
     */
    let pendingPong: Buffer | undefined;
    const flushPong = () => {
      if (pendingPong === undefined) return;
      const payload = pendingPong;
      pendingPong = undefined;
      store.recordControl(id, 'out', 'pong', payload);
    };
    ws.prependListener('ping', (data) => {
      store.recordControl(id, 'in', 'ping', data);
      flushPong();
    });
    // ws has no outbound events: wrap this socket's methods, and only this socket's.
    const send = ws.send.bind(ws) as (...args: unknown[]) => void;
    ws.send = ((data: unknown, ...rest: unknown[]) => {
      const options =
        typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { binary?: boolean }) : {};
      record(id, 'out', data, options.binary ?? typeof data !== 'string');
      send(data, ...rest);
    }) as WebSocket['send'];
    const ping = ws.ping.bind(ws) as (...args: unknown[]) => void;
    ws.ping = ((data?: unknown, ...rest: unknown[]) => {
      if (ws.readyState === ws.OPEN) store.recordControl(id, 'out', 'ping', toBytes(data));
      ping(data, ...rest);
    }) as WebSocket['ping'];
    const pong = ws.pong.bind(ws) as (...args: unknown[]) => void;
    ws.pong = ((data?: unknown, ...rest: unknown[]) => {
      if (ws.readyState === ws.OPEN) {
        flushPong();
        pendingPong = toBytes(data);
        queueMicrotask(flushPong);
      }
      pong(data, ...rest);
    }) as WebSocket['pong'];
    /*
     * Both close frames pass through `close`: the server's own, and the client's, which ws
     * answers by calling `close` with its code once it has read it (`_closeFrameReceived`).
     */
    let closeIn = false;
    const close = ws.close.bind(ws) as (...args: unknown[]) => void;
    ws.close = ((code?: number, reason?: string | Buffer) => {
      const received =
        (ws as unknown as { _closeFrameReceived?: boolean })._closeFrameReceived === true;
      // ws sends its close frame only from the open state.
      const sends = ws.readyState === ws.OPEN;
      close(code, reason);
      const text = reason === undefined ? '' : reason.toString();
      if (received && !closeIn) {
        closeIn = true;
        store.recordControl(id, 'in', 'close', undefined, code, text);
      }
      if (sends) store.recordControl(id, 'out', 'close', undefined, code, text);
    }) as WebSocket['close'];
    ws.on('close', (code, reason) => {
      sockets.delete(id);
      store.updateConnection(id, {
        status: 'closed',
        closedAt: Date.now(),
        closeCode: store.connection(id)?.closeCode ?? code,
        closeReason: store.connection(id)?.closeReason ?? reason.toString(),
      });
    });
  };
  wss.on('connection', onConnection);
  const target: Target = {
    replay: (id, data) => {
      const ws = sockets.get(id);
      ws?.emit(
        'message',
        typeof data === 'string'
          ? Buffer.from(data)
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        typeof data !== 'string',
      );
      return ws !== undefined;
    },
    send: (id, text) => {
      const ws = sockets.get(id);
      ws?.send(text);
      return ws !== undefined;
    },
    close: (id, code, reason) => {
      const ws = sockets.get(id);
      ws?.close(code, reason);
      return ws !== undefined;
    },
  };
  return { target, detach: () => wss.off('connection', onConnection) };
}
