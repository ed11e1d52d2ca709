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
export type { ReconnectOptions } from './backoff.js';
export {
  Client,
  type ClientEvents,
  type ClientMetrics,
  type ClientOptions,
  type ClientState,
  createClient,
  type RequestOptions,
  type StateChange,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.js';
export {
  type ClientStream,
  type HistoryOptions,
  type MessageMeta,
  type PublishCallOptions,
  type SubscribedEvent,
  Subscription,
  type SubscriptionState,
} from './subscription.js';
