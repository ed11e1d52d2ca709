/**
 * Capture on a Switchboard gateway: a Tap that records the connections the store tracks and their
 * frames (text; long text as bytes), decodes nothing twice, and costs nothing for connections it
 * does not track.
 */
import { isUtf8 } from 'node:buffer';
import type { ServerFrame } from '../protocol/frames.js';
import type { Server, ServerConnection, Tap } from '../server/types.js';
import { openRecord, type Target } from './capture.js';
import { describe } from './decode.js';
import type { InspectorStore } from './store.js';
import type { TrackingPolicy } from './tracking.js';

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

/** Text this long or longer is kept as bytes (see textOf). */
const TEXT_AS_BYTES_FROM = 1024;

const isCredentialFrame = (frame: unknown) => {
  const type = (frame as { type?: unknown } | null)?.type;
  return type === 'connect' || type === 'refresh';
};

export function gatewayCapture(
  store: InspectorStore,
  server: Server,
  policy?: TrackingPolicy,
): { tap: Tap; target: Target } {
  const channelsOf = (connection: ServerConnection) => [...connection.subscriptions];
  /*
   * Frames are kept as text or a copy of their bytes, never as the Buffers the gateway wrote or
   * read. A kept Buffer pins
   * memory it does not own: an inbound message is a slice of the socket's 64 KiB read chunk, an
   * outbound one shares Node's 8 KiB allocation pool with ws's frame headers, and holding those
   * pool slabs made the fan-out path allocate and collect far more (fan-out ran at 0.6-0.9x with
   * the inspector on). A publication's frame is the same Buffer for every subscriber, so it is
   * decoded (or copied) once, not once per tracked subscriber, and counted once (frames.ts).
   */
  let lastRaw: Uint8Array | undefined;
  let lastText: string | Uint8Array | undefined;
  /**
   * The frame's text as kept, or undefined for a binary one (a binary codec's, or bytes that are
   * not UTF-8): those are kept as bytes for the hex preview (off unless `showBinaryPreview`),
   * since as text they would show as garbage. A long text is kept as a copy of its bytes, decoded
   * only when the panel reads it: kept as strings, 4 KiB replies filled the old generation with
   * text that the byte budget soon dropped, and collecting it cost several times the traffic.
   */
  const textOf = (raw: Uint8Array): string | Uint8Array | undefined => {
    if (raw !== lastRaw) {
      lastRaw = raw;
      const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      // JSON (the default codec's every frame) is text: only other bytes are checked.
      const json = bytes[0] === 0x7b || bytes[0] === 0x5b;
      lastText =
        !json && !isUtf8(bytes)
          ? undefined
          : bytes.length >= TEXT_AS_BYTES_FROM
            ? Uint8Array.prototype.slice.call(bytes)
            : bytes.toString();
    }
    return lastText;
  };
  /** A binary frame's bytes as kept: a copy of its preview, never the gateway's Buffer. */
  const previewOf = (raw: Uint8Array): Uint8Array | undefined =>
    store.limits.hexPreviewBytes > 0
      ? Uint8Array.prototype.slice.call(raw, 0, store.limits.hexPreviewBytes + 1)
      : undefined;
  const tap: Tap = {
    open(connection, request) {
      openRecord(store, connection.id, request, 'connecting', policy);
    },
    // Only tracked connections: beyond the store's bound the others pay nothing per frame.
    watches: (connection) => store.has(connection.id),
    authenticated(connection) {
      store.updateConnection(connection.id, {
        status: 'open',
        ...(connection.userId !== undefined && { user: connection.userId }),
      });
    },
    // The timeline's control frames, and the `closing` state a close frame starts.
    control(connection, direction, kind, payload, code, reason) {
      store.recordControl(connection.id, direction, kind, payload, code, reason);
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
      const text = textOf(raw);
      if (!frames) {
        if (text === undefined) {
          store.record(
            connection.id,
            'in',
            raw.length,
            'undecodable',
            undefined,
            undefined,
            undefined,
            previewOf(raw),
            true,
            false,
          );
          return;
        }
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
      if (text === undefined) {
        // A binary codec's message: shown as binary, described by its (first) decoded frame.
        const { type, channel, event, id } = describe(frames[0]);
        store.record(
          connection.id,
          'in',
          raw.length,
          frames.length === 1 ? type : 'batch',
          channel,
          event,
          id,
          // A connect or refresh frame carries a token, which bytes cannot be redacted of.
          frames.some((f) => isCredentialFrame(f)) ? undefined : previewOf(raw),
          true,
          false,
        );
        return;
      }
      for (const frame of frames) {
        const { type, channel, event, id } = describe(frame);
        // One frame per message is the rule: keep the received text. A batch is split for display.
        const content = frames.length === 1 ? text : reencode(frame);
        const size = frames.length === 1 ? raw.length : Buffer.byteLength(content);
        store.record(connection.id, 'in', size, type, channel, event, id, content, false, true);
      }
    },
    outbound(connection, raw, frame: ServerFrame) {
      if (!store.has(connection.id)) return;
      const fields = frame as { channel?: string; event?: string; id?: number };
      const text = textOf(raw);
      store.record(
        connection.id,
        'out',
        raw.length,
        frame.type,
        fields.channel,
        fields.event,
        fields.id,
        text ?? previewOf(raw),
        text === undefined,
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
    replay: (id, data) => {
      const connection = find(id);
      if (!connection) return false;
      connection.inject(data);
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
