import type { Connection, ConnectionSocket } from './host.js';

/**
 * A socket's events other than messages, as its connection sees them: pings and pongs from the
 * peer are signs of life (the protocol counts them), the taps that watch the connection (the
 * inspector's timeline) are told of every control frame and of each side's close, and the
 * socket's close and errors reach the connection.
 */

type Kind = 'ping' | 'pong' | 'close';

/** Tells the connection's watching taps of one control frame; free when none watches. */
export function tellControl(
  connection: Connection,
  direction: 'in' | 'out',
  kind: Kind,
  payload?: Uint8Array,
  code?: number,
  reason?: string,
): void {
  const taps = connection.frameTaps;
  if (taps)
    for (const tap of taps) tap.control?.(connection, direction, kind, payload, code, reason);
}

interface Watched extends Connection {
  /** The socket closed (after a closing handshake or not). */
  socketClosed(code: number, reason: string): void;
}

/**
 * The connection of each socket, for the listeners below. They are shared by every socket (an
 * emitter calls them with `this` set to itself): a closure per socket and event cost about a
 * hundred bytes on every idle connection, for events that rarely come.
 */
const owners = new WeakMap<ConnectionSocket, Watched>();

function alive(socket: ConnectionSocket, kind: Kind, payload: Buffer): void {
  const connection = owners.get(socket);
  if (!connection) return;
  connection.awaitingPong = false;
  tellControl(connection, 'in', kind, payload);
}

function onPing(this: ConnectionSocket, payload: Buffer): void {
  alive(this, 'ping', payload);
}

function onPong(this: ConnectionSocket, payload: Buffer): void {
  alive(this, 'pong', payload);
}

function onClose(this: ConnectionSocket, code: number, reason: Buffer): void {
  owners.get(this)?.socketClosed(code, reason.toString());
}

function onError(this: ConnectionSocket, error: Error): void {
  const connection = owners.get(this);
  connection?.host.logger.debug({ err: error, connection: connection.id }, 'socket error');
}

/** Hands the socket's close, errors, pings and pongs to `connection`. */
export function watchSocket(connection: Watched, ws: ConnectionSocket): void {
  owners.set(ws, connection);
  ws.on('close', onClose);
  ws.on('ping', onPing);
  ws.on('pong', onPong);
  ws.on('error', onError);
}
