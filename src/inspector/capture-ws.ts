/**
 * Capture on a plain `ws` server: raw frames, no protocol decoding, for the same panel; this
 * server's own sockets only (their `send` is wrapped, since ws has no outbound event).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { openRecord, type Target } from './capture.js';
import type { InspectorStore } from './store.js';
import type { Direction } from './types.js';

export function wsCapture(
  store: InspectorStore,
  wss: WebSocketServer,
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
    sockets.set(id, ws);
    openRecord(store, id, request, 'open');
    ws.on('message', (data, isBinary) => record(id, 'in', data, isBinary));
    // ws has no outbound event: wrap this socket's send, and only this socket's.
    const send = ws.send.bind(ws) as (...args: unknown[]) => void;
    ws.send = ((data: unknown, ...rest: unknown[]) => {
      const options =
        typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { binary?: boolean }) : {};
      record(id, 'out', data, options.binary ?? typeof data !== 'string');
      send(data, ...rest);
    }) as WebSocket['send'];
    ws.on('close', (code, reason) => {
      sockets.delete(id);
      store.updateConnection(id, {
        status: 'closed',
        closedAt: Date.now(),
        closeCode: code,
        closeReason: reason.toString(),
      });
    });
  };
  wss.on('connection', onConnection);
  const target: Target = {
    replay: (id, text) => {
      const ws = sockets.get(id);
      ws?.emit('message', Buffer.from(text), false);
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
