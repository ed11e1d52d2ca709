import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ServerFrame } from '../protocol/frames.js';
import type { ServerConnection } from '../server/connection.js';
import type { Server } from '../server/server.js';
import type { Tap } from '../server/tap.js';
import { redactHeaders, splitUrl } from './redact.js';
import type { Direction, InspectorStore } from './store.js';

/** What the panel's actions do, whatever is being inspected. */
export interface Target {
  replay(connection: string, text: string): boolean;
  send(connection: string, text: string): boolean;
  close(connection: string, code: number, reason: string): boolean;
  publish?(channel: string, event: string, data: unknown): Promise<unknown>;
}

function describe(value: unknown): { type: string; channel?: string; event?: string; id?: number } {
  if (typeof value !== 'object' || value === null) return { type: 'invalid' };
  const frame = value as Record<string, unknown>;
  const out: { type: string; channel?: string; event?: string; id?: number } = {
    type: typeof frame['type'] === 'string' ? (frame['type'] as string).slice(0, 32) : 'invalid',
  };
  if (typeof frame['channel'] === 'string') out.channel = frame['channel'];
  if (typeof frame['event'] === 'string') out.event = frame['event'];
  else if (typeof frame['method'] === 'string') out.event = frame['method'];
  if (Number.isSafeInteger(frame['id'])) out.id = frame['id'] as number;
  return out;
}

/**
 * A frame of a batch, as text for display. The tap runs before the gateway validates anything,
 * so the frame may be nested too deep for JSON.stringify: a throw here would escape ws's read
 * loop and crash the process.
 */
function reencode(frame: unknown): string {
  try {
    return JSON.stringify(frame) ?? String(frame);
  } catch {
    return '[frame too deeply nested to display]';
  }
}

function openRecord(
  store: InspectorStore,
  id: string,
  request: IncomingMessage,
  status: 'connecting' | 'open',
) {
  const { path, query } = splitUrl(request);
  const record = {
    id,
    status,
    path,
    query,
    headers: redactHeaders(request),
    connectedAt: Date.now(),
  } as const;
  const address = request.socket.remoteAddress;
  return store.openConnection(
    address === undefined ? record : { ...record, remoteAddress: address },
  );
}

/** The gateway's side: a Tap that decodes nothing twice and costs nothing for untracked connections. */
export function gatewayCapture(
  store: InspectorStore,
  server: Server,
): { tap: Tap; target: Target } {
  const channelsOf = (connection: ServerConnection) => [...connection.subscriptions];
  /*
   * Frames are kept as text, not as the Buffers the gateway wrote or read. A kept Buffer pins
   * memory it does not own: an inbound message is a slice of the socket's 64 KiB read chunk, an
   * outbound one shares Node's 8 KiB allocation pool with ws's frame headers, and holding those
   * pool slabs made the fan-out path allocate and collect far more (fan-out ran at 0.6-0.9x with
   * the inspector on). A publication's frame is the same Buffer for every subscriber, so it is
   * decoded once, not once per tracked subscriber.
   */
  let lastRaw: Uint8Array | undefined;
  let lastText = '';
  const textOf = (raw: Uint8Array): string => {
    if (raw !== lastRaw) {
      lastRaw = raw;
      lastText = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString();
    }
    return lastText;
  };
  const tap: Tap = {
    open(connection, request) {
      openRecord(store, connection.id, request, 'connecting');
    },
    // Only tracked connections: beyond the store's bound the others pay nothing per frame.
    watches: (connection) => store.has(connection.id),
    authenticated(connection) {
      store.updateConnection(connection.id, {
        status: 'open',
        ...(connection.userId !== undefined && { user: connection.userId }),
      });
    },
    close(connection, code, reason) {
      store.updateConnection(connection.id, {
        status: 'closed',
        closedAt: Date.now(),
        closeCode: code,
        closeReason: reason,
        channels: [],
      });
    },
    inbound(connection, raw, frames) {
      if (!store.has(connection.id)) return;
      if (!frames) {
        store.record(
          connection.id,
          'in',
          raw.length,
          'undecodable',
          undefined,
          undefined,
          undefined,
          // A copy, cut just past what the store keeps (so it still flags the cut).
          Uint8Array.prototype.slice.call(raw, 0, store.limits.maxFrameBytes + 1),
          false,
          true,
        );
        return;
      }
      for (const frame of frames) {
        const { type, channel, event, id } = describe(frame);
        // One frame per message is the rule: keep the received text. A batch is split for display.
        const content = frames.length === 1 ? textOf(raw) : reencode(frame);
        const size = frames.length === 1 ? raw.length : Buffer.byteLength(content);
        store.record(connection.id, 'in', size, type, channel, event, id, content, false, true);
      }
    },
    outbound(connection, raw, frame: ServerFrame) {
      if (!store.has(connection.id)) return;
      const fields = frame as { channel?: string; event?: string; id?: number };
      store.record(
        connection.id,
        'out',
        raw.length,
        frame.type,
        fields.channel,
        fields.event,
        fields.id,
        textOf(raw),
      );
      if (frame.type === 'reply') {
        store.updateConnection(connection.id, { channels: channelsOf(connection) });
      } else if (frame.type === 'error') {
        store.noteError(connection.id, `${frame.code}: ${frame.message}`);
      }
    },
  };
  const find = (id: string) => server.connections.get(id);
  const target: Target = {
    replay: (id, text) => {
      const connection = find(id);
      if (!connection) return false;
      connection.inject(text);
      return true;
    },
    send: (id, text) => {
      const connection = find(id);
      return connection ? connection.sendFrame(JSON.parse(text) as ServerFrame) : false;
    },
    close: (id, code, reason) => {
      const connection = find(id);
      connection?.close(code, reason);
      return connection !== undefined;
    },
    publish: (channel, event, data) => server.publish(channel, event, data),
  };
  return { tap, target };
}

/** A plain `ws` server: raw frames, no protocol decoding, the same panel. */
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
