/**
 * Wire frames of protocol version 1. docs/protocol.md lists each with an example, and a test
 * decodes those examples with the validators in validate.ts, so the two cannot drift apart.
 */
export const PROTOCOL_VERSION = 1;
/** Versions this build can speak; the server answers `connect` with the highest both know. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];

/** Where a subscriber left off: resubscribing with it asks the server to replay what was missed. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/**
 * Marks a publication as part of a stream (an AI reply token by token): chunks of one stream
 * share `id` and carry consecutive `seq` numbers; the first has status 'open', the last 'end' or
 * 'error'. Streams are ordinary channel publications, so history, recovery and dedup apply.
 */
export interface StreamMarker {
  id: string;
  seq: number;
  status?: 'open' | 'end' | 'error';
  /**
   * On a server stream's end marker: the data of every publication before it (`rollup[i]` is
   * seq `i`'s, the opening's first), so the end can stand for the whole stream in history.
   */
  rollup?: unknown[];
}

/** One connection present on a channel. */
export interface PresenceMember {
  user: string;
  connection: string;
  /** What the server's `presence.info` hook returned for this connection. */
  info?: unknown;
}

// ── client → server ────────────────────────────────────────────────────────────────────────
export interface ConnectFrame {
  type: 'connect';
  id: number;
  version: number;
  token?: string;
  /** App data about the client (name, build); shown in the inspector, never trusted for auth. */
  data?: unknown;
}
export interface RefreshFrame {
  type: 'refresh';
  id: number;
  token: string;
}
export interface SubscribeFrame {
  type: 'subscribe';
  id: number;
  channel: string;
  since?: StreamPosition;
}
export interface UnsubscribeFrame {
  type: 'unsubscribe';
  id: number;
  channel: string;
}
export interface PublishFrame {
  type: 'publish';
  id: number;
  channel: string;
  event: string;
  data?: unknown;
  /** Idempotency key: a resend with the same key inside the server's window is not published again. */
  key?: string;
  /** Do not deliver this publication back to the connection that sent it. */
  exceptSelf?: boolean;
  /** Deliver to current subscribers only: no offset, not kept in history, never replayed. */
  ephemeral?: boolean;
  stream?: StreamMarker;
}
export interface RpcFrame {
  type: 'rpc';
  id: number;
  method: string;
  data?: unknown;
}
export interface PresenceFrame {
  type: 'presence';
  id: number;
  channel: string;
}
export interface HistoryFrame {
  type: 'history';
  id: number;
  channel: string;
  /** The newest `limit` publications (or, with `since`, the first `limit` after it). */
  limit?: number;
  since?: StreamPosition;
}
/** A client-initiated ping is a request: the server replies, which gives the client its RTT. */
export interface ClientPingFrame {
  type: 'ping';
  id: number;
}
/** The answer to a server ping. */
export interface PongFrame {
  type: 'pong';
}

export type ClientRequestFrame =
  | ConnectFrame
  | RefreshFrame
  | SubscribeFrame
  | UnsubscribeFrame
  | PublishFrame
  | RpcFrame
  | PresenceFrame
  | HistoryFrame
  | ClientPingFrame;
export type ClientFrame = ClientRequestFrame | PongFrame;

// ── server → client ────────────────────────────────────────────────────────────────────────
export interface ReplyFrame {
  type: 'reply';
  id: number;
  data?: unknown;
}
export interface ErrorFrame {
  type: 'error';
  /** Absent when the error answers no request (e.g. the frame was too broken to read its id). */
  id?: number;
  code: string;
  message: string;
  details?: unknown;
}
export interface MessageFrame {
  type: 'message';
  /** Absent for messages sent to a user or a connection rather than a channel. */
  channel?: string;
  event: string;
  data?: unknown;
  offset?: number;
  epoch?: string;
  /** The publishing user, when a client published it. */
  user?: string;
  /** Set on ephemeral publications, which carry no offset. */
  ephemeral?: true;
  stream?: StreamMarker;
  /**
   * A finished stream rolled up: this publication replaced offsets `covers`…`offset - 1` (the
   * stream's chunks) in history. A receiver whose next offset is in `covers`…`offset` takes it as
   * the next publication (see position.ts).
   */
  covers?: number;
  /**
   * The receiver's own publication, sent with `exceptSelf`: it carries `channel`, `event`,
   * `offset` and `epoch` but no data, so the receiver's position moves past it and the next
   * offset is not mistaken for a gap. Not shown to handlers.
   */
  own?: true;
  /**
   * A latest value of a `latest` channel, sent on subscribe before the reply: the channel's most
   * recent publication of this event, with the offset and epoch it was published with. A
   * snapshot, not part of the channel's sequence: receivers keep it out of their position,
   * dedup and gap checks.
   */
  latest?: true;
}
export interface ServerPingFrame {
  type: 'ping';
}
/**
 * The server ended a subscription (the identity lost the right to it, after a token refresh or
 * the app's `reauthorize`): the connection stays up, the channel is no longer delivered.
 */
export interface UnsubscribedFrame {
  type: 'unsubscribed';
  channel: string;
  code: string;
  message: string;
}

export type ServerFrame =
  | ReplyFrame
  | ErrorFrame
  | MessageFrame
  | ServerPingFrame
  | UnsubscribedFrame;
export type Frame = ClientFrame | ServerFrame;

// ── replies' payloads ──────────────────────────────────────────────────────────────────────
export interface ConnectReply {
  version: number;
  /** The connection's id on the server: shown by the inspector, used for targeted sends. */
  connection: string;
  user: string;
  /** The server sends something at least this often; silence for two intervals means a dead link. */
  heartbeatMs: number;
  /** When the token expires (ms since epoch); the client refreshes before then. */
  expiresAt?: number;
  /** The largest message the server accepts: the client keeps its batches under it. */
  maxMessageBytes?: number;
  /** The server's per-connection pacing limits: a client that stays within them is never refused by them. */
  limits?: ConnectLimits;
}
export interface ConnectLimits {
  /** Requests awaiting their reply at once. */
  maxInFlight: number;
  /** Frames per second, sustained (a token bucket)… */
  messagesPerSecond: number;
  /** …with this many allowed at once above the rate. */
  burst: number;
  /** Frames in one batched message. */
  maxBatch: number;
}
export interface SubscribeReply {
  /** The channel's current position (also the epoch new publications will carry). */
  offset: number;
  epoch: string;
  /** Set when the subscribe carried `since`: whether every missed publication follows. */
  recovered?: boolean;
  /**
   * Present on `latest` channels: how many event names' latest values the channel keeps (they
   * came ahead of this reply, marked `latest`).
   */
  latest?: number;
}
export interface PublishReply {
  offset: number;
  epoch: string;
  /** An ephemeral publication has no offset: `offset` is the channel's position when it went out. */
  ephemeral?: true;
}
export interface PresenceReply {
  members: PresenceMember[];
}
export interface HistoryReply extends StreamPosition {
  /** Publications as `message` frames, oldest first. */
  publications: MessageFrame[];
  recovered: boolean;
  /** `limit` cut the page short of the channel's position; page on with `since`. */
  more?: true;
}

/**
 * Names a subscription uses for its own lifecycle (`sub.on('subscribed', …)`), so no channel
 * event may carry them: the server refuses to publish them. Events starting with `$` are the
 * server's own (presence `$join` and `$leave`).
 */
export const RESERVED_EVENTS: readonly string[] = [
  'subscribed',
  'unsubscribed',
  'error',
  'state',
  'recovered',
  'gap',
];

export const PRESENCE_JOIN = '$join';
export const PRESENCE_LEAVE = '$leave';

export function isReservedEvent(event: string): boolean {
  return event.startsWith('$') || RESERVED_EVENTS.includes(event);
}
