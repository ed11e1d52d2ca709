import type { IncomingMessage } from 'node:http';
import type { Publication } from '../broker/types.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { ServerConnection } from './connection.js';

/**
 * An observer of the gateway's traffic: the inspector, metrics and tracing all plug in here.
 * Each connection keeps the list of taps that watch its frames (undefined when none does), so a
 * connection no tap watches pays one field read per frame.
 */
export interface Tap {
  /**
   * Whether `inbound` and `outbound` should see this connection's frames; asked once, after
   * `open` (or when the tap is added). Default: every connection. The inspector watches only the
   * connections it tracks, so the thousands it does not cost nothing.
   */
  watches?(connection: ServerConnection): boolean;
  /** The socket was accepted; the connection has not authenticated yet. */
  open?(connection: ServerConnection, request: IncomingMessage): void;
  /** `connect` succeeded: `connection.identity` is set. */
  authenticated?(connection: ServerConnection): void;
  close?(connection: ServerConnection, code: number, reason: string): void;
  /** One WebSocket message in; `frames` is undefined when it could not be decoded. */
  inbound?(
    connection: ServerConnection,
    raw: Uint8Array,
    frames: readonly unknown[] | undefined,
  ): void;
  /** One frame out, as encoded (a broadcast shares `raw` between recipients). */
  outbound?(connection: ServerConnection, raw: Uint8Array, frame: ServerFrame): void;
  /** A publication reached this node and was handed to `recipients` local subscribers. */
  publication?(publication: Publication, recipients: number): void;
  /** One broker publish finished (or failed) after `seconds`. */
  brokerPublish?(channel: string, seconds: number, ok: boolean): void;
}
