/**
 * Capture on a Switchboard gateway: a Tap that records the connections the store tracks and their
 * frames as text, decodes nothing twice, and costs nothing for connections it does not track.
 */
import type { ServerFrame } from '../protocol/frames.js';
import type { Server, ServerConnection, Tap } from '../server/types.js';
import { openRecord, type Target } from './capture.js';
import type { InspectorStore } from './store.js';

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
