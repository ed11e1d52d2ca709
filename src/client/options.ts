/**
 * Every default of the client, once: the constants below, and `resolveOptions`, which turns the
 * app's ClientOptions into the complete settings the other parts read, so that none of them
 * carries a `?? default` of its own.
 */
import { type Codec, jsonCodec } from '../protocol/codec.js';
import type { Backoff, ClientOptions, ClientTransport, WebSocketConstructor } from './types.js';

/** Silence longer than this many of the server's heartbeat intervals means a dead link. */
export const HEARTBEAT_FACTOR = 1.5;
/** Frames per WebSocket message the outbox sends at most (fewer if the server says so). */
export const MAX_BATCH = 50;
/** Until the server says otherwise in its connect reply (servers before it accepted 64 KiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
/**
 * A connection that lasted this long counts as a success: the next drop retries from the first
 * delay. Likewise a subscription that stayed in sync this long after a resubscribe.
 */
export const STABLE_MS = 5_000;

/** ClientOptions with every default applied (`url`, `token`, `reconnect`, `heartbeat`, `data` have none). */
export interface ResolvedOptions extends Omit<ClientOptions, 'outbox' | 'debug' | 'WebSocket'> {
  /** Undefined only when no transport is a WebSocket. */
  WebSocket: WebSocketConstructor | undefined;
  transports: ClientTransport[];
  codec: Codec;
  /** Failed connection attempts in a row before giving up (0 with `reconnect: false`). */
  maxAttempts: number;
  backoff: Backoff;
  requestTimeoutMs: number;
  outbox: { maxEntries: number; maxBytes: number; ttlMs: number };
  /** Logs with a prefix and a timestamp; undefined unless `debug` is set. */
  log: ((...args: unknown[]) => void) | undefined;
}

export function resolveOptions(options: ClientOptions): ResolvedOptions {
  const WebSocket =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const transports = options.transports ?? ['websocket', 'sse'];
  if (!WebSocket && transports.includes('websocket'))
    throw new TypeError('No WebSocket: pass the WebSocket option');
  const { reconnect, outbox = {}, debug } = options;
  const delays = reconnect || {};
  return {
    ...options,
    WebSocket,
    transports,
    codec: options.codec ?? jsonCodec,
    // Reconnects: forever, unless told otherwise.
    maxAttempts: reconnect === false ? 0 : (reconnect?.maxAttempts ?? Infinity),
    // Every retry's full-jitter bound: 500 ms for the first, doubling up to 10 s.
    backoff: {
      minDelayMs: delays.minDelayMs ?? 500,
      maxDelayMs: delays.maxDelayMs ?? 10_000,
    },
    // request(), ping(), subscribes, the connect handshake: how long each waits for its answer.
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    // What may wait while offline (entries, encoded bytes), and a publish's time to live.
    outbox: {
      maxEntries: outbox.maxEntries ?? 1000,
      maxBytes: outbox.maxBytes ?? 1024 * 1024,
      ttlMs: outbox.ttlMs ?? 30_000,
    },
    log: debug
      ? (...args) =>
          // console.debug is looked up at each call, so a test (or the app) may replace it later.
          (debug === true ? console.debug : debug)(
            '[switchboard]',
            new Date().toISOString(),
            ...args,
          )
      : undefined,
  };
}
