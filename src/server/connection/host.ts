import type { IncomingMessage } from 'node:http';
import type { HistoryQuery, HistoryResult, Publication } from '../../broker/types.js';
import type {
  ConnectLimits,
  MessageFrame,
  PresenceMember,
  ServerFrame,
} from '../../protocol/frames.js';
import type { ChannelPolicy } from '../channels/policy.js';
import type { Publisher } from '../channels/publisher.js';
import type { StreamTracker } from '../channels/streams.js';
import type { Limits } from '../limits.js';
import type { ConnectionState, Identity, Logger, ServerConnection, Tap } from '../types.js';
import type { Wire } from '../wire.js';

/**
 * The seam between a connection and its server, both ways. What a connection needs from the
 * server, as three small capabilities — its session (who it is, the registry's bookkeeping), the
 * channels it may use, and the server's settings — so the connection files name no concrete
 * server class; and what the server's parts use of a live connection, so they name no connection
 * class either.
 */

/**
 * The socket a connection reads from and writes to: the part of `ws`'s WebSocket it uses, so
 * an SSE session (sse-socket.ts) can stand in for one and the connection code stays the same.
 */
export interface ConnectionSocket {
  readonly readyState: number;
  readonly OPEN: number;
  /** Bytes written but not yet taken by the peer: the send queue the connection bounds. */
  readonly bufferedAmount: number;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'ping' | 'pong', listener: (payload: Buffer) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  send(data: Buffer, options: { binary: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** A connection as the server's parts (fan-out, users, the registry, requests) drive it. */
export interface Connection extends ServerConnection {
  readonly host: ConnectionHost;
  state: ConnectionState;
  identity: Identity | undefined;
  /**
   * channel → publications held back while its subscribe is answered; null once live. Made on
   * the first subscribe: most idle connections never make one.
   */
  channels: Map<string, Publication[] | null> | undefined;
  /** channel → this connection's presence entry, for channels that track presence. */
  presence: Map<string, PresenceMember> | undefined;
  /** Set by the heartbeat sweep, cleared by anything the client sends. */
  awaitingPong: boolean;
  /** The taps that watch this connection's frames; undefined when none does. */
  frameTaps: Tap[] | undefined;
  /** `connect` succeeded. */
  authenticated(identity: Identity, clientData: unknown): void;
  /** Closes the connection (4002) at `at`, when its credential expires; undefined: never. */
  setExpiry(at: number | undefined): void;
  /** Fan-out entry point: `raw` is the publication encoded once for every subscriber. */
  deliver(publication: Publication, raw: Buffer, frame?: MessageFrame): void;
  sendPublication(publication: Publication): void;
  sendRaw(raw: Buffer, frame: ServerFrame): boolean;
  reply(id: number, data: unknown): void;
  sendError(id: number | undefined, code: string, message: string, details?: unknown): void;
  /** The error reply for whatever a request threw. */
  fail(id: number, error: unknown): void;
  leave(channel: string): void;
  ping(): void;
  terminate(code: number, reason: string): void;
}

export interface Session {
  authenticate(token: string | undefined, request: IncomingMessage): Promise<Identity>;
  /** Counts the user's connection in, or returns false when the per-user limit is reached. */
  admit(connection: Connection, identity: Identity): boolean;
  authenticated(connection: Connection): void;
  closed(connection: Connection, code: number, reason: string): void;
  slowConsumer(connection: Connection): void;
  callRpc(connection: Connection, method: string, data: unknown): Promise<unknown>;
}

export interface ChannelAccess {
  readonly policy: Pick<ChannelPolicy, 'authorize' | 'planClientPublish'>;
  /** Resolves once the broker delivers the channel's publications to this node. */
  join(connection: Connection, channel: string): Promise<void>;
  leave(connection: Connection, channel: string): void;
  readonly publisher: Pick<Publisher, 'publish'>;
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
  /** The channel's latest value per event name, least recently updated first. */
  latest(channel: string): Promise<Publication[]>;
  members(channel: string): Promise<PresenceMember[]>;
  presenceJoin(channel: string, member: PresenceMember): Promise<void>;
  presenceLeave(channel: string, member: PresenceMember): void;
  readonly streams: Pick<StreamTracker, 'track' | 'countOwnedBy'>;
}

export interface ConnectionHost {
  readonly limits: Limits;
  /** The pacing limits the connect reply announces. */
  readonly announcedLimits: ConnectLimits;
  readonly heartbeatMs: number;
  readonly logger: Logger;
  readonly wire: Pick<Wire, 'codec' | 'encode' | 'publicationFrame' | 'encodePublication'>;
  readonly session: Session;
  readonly channels: ChannelAccess;
}
