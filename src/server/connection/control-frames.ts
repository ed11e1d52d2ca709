import type { Connection, ConnectionSocket } from './host.js';

/**
 * WebSocket control frames as a connection sees them: pings and pongs from the peer are signs of
 * life (the protocol counts them), and the taps that watch the connection (the inspector's
 * timeline) are told of every control frame and of each side's close.
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

export function watchControlFrames(connection: Connection, ws: ConnectionSocket): void {
  const alive = (kind: Kind) => (payload: Buffer) => {
    connection.awaitingPong = false;
    tellControl(connection, 'in', kind, payload);
  };
  ws.on('ping', alive('ping'));
  ws.on('pong', alive('pong'));
}
