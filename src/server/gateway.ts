import type { IncomingMessage } from 'node:http';
import type { Broker, Publication, PublishResult } from '../broker/types.js';
import type { Codec } from '../protocol/codec.js';
import type {
  ConnectLimits,
  MessageFrame,
  PresenceMember,
  ServerFrame,
  StreamMarker,
} from '../protocol/frames.js';
import type { Identity } from './auth.js';
import type { ChannelAction, ChannelRule } from './channels.js';
import type { Connection } from './connection.js';
import type { Limits } from './limits.js';
import type { Logger } from './logger.js';
import type { StreamTracker } from './streams.js';
import type { Tap } from './tap.js';

export interface InternalPublishOptions {
  user?: string;
  exceptConnection?: string;
  idempotencyKey?: string;
  ephemeral?: boolean;
  stream?: StreamMarker;
}

/**
 * What a connection needs from the server it belongs to. Kept as an interface so the connection
 * file does not import the server and the server's public type does not expose these.
 */
export interface Gateway {
  readonly codec: Codec;
  readonly limits: Limits;
  /** The pacing limits the connect reply announces. */
  readonly announcedLimits: ConnectLimits;
  readonly taps: readonly Tap[];
  readonly logger: Logger;
  readonly broker: Broker;
  readonly heartbeatMs: number;
  readonly streams: StreamTracker;
  nextConnectionId(): string;
  authenticate(token: string | undefined, request: IncomingMessage): Promise<Identity>;
  /** Counts the user's connection in, or returns false when the per-user limit is reached. */
  admitUser(connection: Connection, identity: Identity): boolean;
  connectionAuthenticated(connection: Connection): void;
  connectionClosed(connection: Connection, code: number, reason: string): void;
  /** The channel's rule if `action` is allowed; throws NOT_FOUND or FORBIDDEN otherwise. */
  authorize(connection: Connection, channel: string, action: ChannelAction): Promise<ChannelRule>;
  /** Checks the event against the channel's event list and schema; returns the (parsed) data. */
  validateEvent(rule: ChannelRule, event: string, data: unknown): Promise<unknown>;
  /** Resolves once the broker delivers the channel's publications to this node. */
  joinChannel(connection: Connection, channel: string): Promise<void>;
  leaveChannel(connection: Connection, channel: string): void;
  publishToBroker(
    channel: string,
    event: string,
    data: unknown,
    options: InternalPublishOptions,
  ): Promise<PublishResult>;
  callRpc(connection: Connection, method: string, data: unknown): Promise<unknown>;
  encode(frame: ServerFrame): Buffer;
  publicationFrame(publication: Publication): MessageFrame;
  encodePublication(publication: Publication): Buffer;
  slowConsumer(connection: Connection): void;
  presenceJoin(channel: string, member: PresenceMember): Promise<void>;
  presenceLeave(channel: string, member: PresenceMember): void;
}
