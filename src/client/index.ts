/** switchboard/client: the public names, and only those. */
export { CloseCode, shouldReconnect } from '../protocol/close-codes.js';
export { type Codec, jsonCodec } from '../protocol/codec.js';
export { ErrorCode, SwitchboardError } from '../protocol/errors.js';
export type {
  HistoryReply,
  MessageFrame,
  PresenceMember,
  PublishReply,
  StreamMarker,
  StreamPosition,
} from '../protocol/frames.js';
export { Client, createClient } from './client.js';
export {
  type ClientStream,
  type HistoryOptions,
  type MessageMeta,
  type PublishCallOptions,
  type SubscribedEvent,
  Subscription,
  type SubscriptionState,
} from './subscription.js';
export type {
  ClientEvents,
  ClientMetrics,
  ClientOptions,
  ClientState,
  ClientTransport,
  ReconnectOptions,
  RequestOptions,
  StateChange,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
