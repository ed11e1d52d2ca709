/**
 * One link to the server: opens it, decodes what arrives into server frames (answering pings on
 * the spot), and writes frames, a batch per message split to fit the server's message size limit.
 * The link is a WebSocket, or the SSE transport's stand-in for one (transport-sse.ts): both fit
 * WebSocketLike. A new Transport per connection attempt; close() detaches it, so a replaced
 * socket is silent.
 */
import type { ClientRequestFrame, ServerFrame, ServerPingFrame } from '../protocol/frames.js';
import { parseServerFrame } from '../protocol/server-frame.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type ResolvedOptions } from './options.js';
import type { Counters, WebSocketConstructor, WebSocketLike } from './types.js';

/** What a transport reports to its client. */
export interface TransportEvents {
  /** The socket is open: time for the connect handshake. */
  open(): void;
  /** A frame from the server (pings are answered here and not reported). */
  frame(frame: Exclude<ServerFrame, ServerPingFrame>): void;
  /** The socket closed, by either side (not after close(): that detaches it first). */
  close(code: number, reason: string): void;
}

const OPEN = 1;
const PONG = { type: 'pong' } as const;
const utf8Encoder = new TextEncoder();

/** Whether encoded data fits in `limit` bytes; a string's UTF-8 size is counted only when its length cannot tell. */
function fits(data: string | Uint8Array, limit: number): boolean {
  if (typeof data !== 'string') return data.byteLength <= limit;
  if (data.length * 3 <= limit) return true;
  return data.length <= limit && utf8Encoder.encode(data).byteLength <= limit;
}

export class Transport {
  /** When anything last arrived (or the socket opened): the liveness check reads it. */
  lastSeen = 0;
  /** The largest message the server accepts, from its connect reply. */
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  #ws: WebSocketLike;
  #o: ResolvedOptions;
  #counters: Counters;
  #on: TransportEvents;
  /** Gives up on a socket that does not open in time (a proxy holding the request). */
  #openTimer: ReturnType<typeof setTimeout>;

  /** Throws if the socket cannot be created (an invalid URL). */
  constructor(
    options: ResolvedOptions,
    counters: Counters,
    on: TransportEvents,
    Socket: WebSocketConstructor = options.WebSocket!,
  ) {
    this.#o = options;
    this.#counters = counters;
    this.#on = on;
    const ws = new Socket(options.url);
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => this.#receive(e.data as string | ArrayBuffer);
    ws.onclose = (e) => {
      clearTimeout(this.#openTimer);
      on.close(e.code, e.reason);
    };
    ws.onerror = () => {}; // a close event always follows with the code
    this.#openTimer = setTimeout(() => {
      this.close();
      on.close(1006, 'open timed out');
    }, options.requestTimeoutMs);
    ws.onopen = () => {
      clearTimeout(this.#openTimer);
      this.lastSeen = Date.now();
      on.open();
    };
  }

  get open(): boolean {
    return this.#ws.readyState === OPEN;
  }

  /** Closes the socket without reporting it: the caller already knows why it is gone. */
  close(code?: number): void {
    clearTimeout(this.#openTimer);
    const ws = this.#ws;
    ws.onclose = ws.onmessage = ws.onopen = null;
    ws.close(code);
  }

  /**
   * One message per batch, split in halves while it is larger than the server accepts: eight
   * 16 KiB publishes in one tick must not all fail TOO_LARGE together. A single frame too large
   * goes as is and gets its own TOO_LARGE.
   */
  send(frames: ClientRequestFrame[]): void {
    if (frames.length === 1) return this.#write(frames[0]!);
    const data = this.#o.codec.encode(frames);
    if (!fits(data, this.maxMessageBytes)) {
      const half = frames.length >> 1;
      this.send(frames.slice(0, half));
      this.send(frames.slice(half));
      return;
    }
    this.#write(frames, data);
  }

  #write(
    frames: ClientRequestFrame | ClientRequestFrame[] | typeof PONG,
    data = this.#o.codec.encode(frames),
  ) {
    const counters = this.#counters;
    counters.messagesOut++;
    counters.bytesOut += typeof data === 'string' ? data.length : data.byteLength;
    this.#o.log?.('→', frames);
    this.#ws.send(data);
  }

  #receive(data: string | ArrayBuffer): void {
    this.lastSeen = Date.now();
    const counters = this.#counters;
    counters.messagesIn++;
    counters.bytesIn += typeof data === 'string' ? data.length : data.byteLength;
    const { codec, log } = this.#o;
    let decoded: unknown;
    try {
      decoded = codec.decode(typeof data === 'string' ? data : new Uint8Array(data));
    } catch {
      return log?.('undecodable message dropped');
    }
    for (const value of Array.isArray(decoded) ? decoded : [decoded]) {
      const frame = parseServerFrame(value);
      log?.('←', value);
      if (!frame) continue;
      if (frame.type === 'ping') this.#write(PONG);
      else this.#on.frame(frame);
    }
  }
}
