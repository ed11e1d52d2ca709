import type { IncomingMessage } from 'node:http';
import { CloseCode } from '../protocol/close-codes.js';
import type { Authenticator } from './auth.js';
import type { Presence } from './channels/presence.js';
import type { Users } from './channels/users.js';
import type { Connection, Session } from './connection/host.js';
import type { Rpcs } from './rpc.js';
import type { Identity, Logger, ServerEvents, Tap } from './types.js';

/**
 * The node's connections: their ids, which taps watch each, the session events they raise
 * (authenticated, closed, too slow), the heartbeat sweep that finds dead peers, and the drain
 * that closes them all at shutdown.
 */
export class Registry implements Session {
  readonly connections = new Map<string, Connection>();
  #counter = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #drained: (() => void) | undefined;

  constructor(
    private readonly nodeId: string,
    private readonly taps: Tap[],
    private readonly logger: Logger,
    /** Raises the server's own events (`connection`, `disconnect`) to the app. */
    private readonly emit: <K extends keyof ServerEvents>(
      event: K,
      ...args: Parameters<ServerEvents[K]>
    ) => void,
    private readonly authenticator: Authenticator,
    private readonly users: Users,
    private readonly presence: Presence,
    private readonly rpcs: Rpcs,
    heartbeatMs: number,
  ) {
    if (heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => this.#sweep(), heartbeatMs);
      this.#heartbeat.unref?.();
    }
  }

  nextId(): string {
    return `${this.nodeId}-${(++this.#counter).toString(36)}`;
  }

  /** A socket was accepted: the connection is registered and its observers told. */
  add(connection: Connection, request: IncomingMessage): void {
    this.connections.set(connection.id, connection);
    for (const tap of this.taps) tap.open?.(connection, request);
    this.watch(connection);
  }

  /** Settles which taps see this connection's frames (see Tap.watches). */
  watch(connection: Connection): void {
    const taps = this.taps.filter(
      (tap) => (tap.inbound || tap.outbound || tap.control) && (tap.watches?.(connection) ?? true),
    );
    connection.frameTaps = taps.length > 0 ? taps : undefined;
  }

  // ── the session a connection reports to ───────────────────────────────────────────────────

  authenticate(token: string | undefined, request: IncomingMessage): Promise<Identity> {
    return this.authenticator(token, request);
  }

  admit(connection: Connection, identity: Identity): boolean {
    return this.users.admit(connection, identity);
  }

  authenticated(connection: Connection): void {
    for (const tap of this.taps) tap.authenticated?.(connection);
    this.emit('connection', connection);
  }

  closed(connection: Connection, code: number, reason: string): void {
    this.connections.delete(connection.id);
    this.users.release(connection);
    for (const tap of this.taps) tap.close?.(connection, code, reason);
    if (connection.identity) this.emit('disconnect', connection, code, reason);
    if (this.#drained && this.connections.size === 0) this.#drained();
  }

  slowConsumer(connection: Connection): void {
    this.logger.warn(
      { connection: connection.id, user: connection.userId },
      'slow consumer disconnected',
    );
  }

  callRpc(connection: Connection, method: string, data: unknown): Promise<unknown> {
    return this.rpcs.call(connection, method, data);
  }

  // ── liveness and shutdown ─────────────────────────────────────────────────────────────────

  /**
   * One timer for all connections: each tick pings every open connection and drops those that
   * stayed silent since the previous tick's ping, so a dead peer goes within two intervals.
   */
  #sweep(): void {
    for (const connection of this.connections.values()) {
      if (connection.state !== 'open') continue;
      if (connection.awaitingPong) {
        // A dead peer cannot take part in a closing handshake.
        connection.terminate(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
        continue;
      }
      connection.ping();
      // Live connections renew their presence; a crashed node's entries lapse.
      if (connection.presence) this.presence.refresh(connection.presence);
    }
  }

  /** Every client gets 1001; resolves once all are gone (each close is bounded by its timer). */
  async drain(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    if (this.connections.size === 0) return;
    const drained = new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
    for (const connection of this.connections.values()) {
      if (connection.state === 'closing') continue;
      connection.close(CloseCode.GOING_AWAY, 'server shutting down');
    }
    await drained;
  }
}
