export {
  type Broker,
  type HistoryQuery,
  type HistoryResult,
  type MemoryBrokerOptions,
  memoryBroker,
  type PresenceMember,
  type Publication,
} from '../broker/index.js';
export {
  CloseCode,
  type Codec,
  ErrorCode,
  jsonCodec,
  SwitchboardError,
} from '../protocol/index.js';
export type { StandardSchemaV1 } from '../shared/standard-schema.js';
export { type ApiOptions, openApiDocument } from './api.js';
export type { HealthOptions } from './health.js';
export type { LimitOptions } from './limits.js';
export { LOG_EVENT, type LogStream, type LogStreamOptions, logStream } from './log-stream.js';
export type { MetricsOptions } from './metrics.js';
export { type ProxyEndpoint, proxyAuthorize, proxyConnect, proxyRpc } from './proxy.js';
export { createServer } from './server.js';
export type {
  AuthenticateResult,
  AuthOptions,
  ChannelAction,
  ChannelCount,
  ChannelHistoryOptions,
  ChannelOptions,
  ClusterChannels,
  ConnectionState,
  ConnectionStats,
  HeartbeatOptions,
  HttpHandler,
  Identity,
  JwksOptions,
  JwtOptions,
  ListenAddress,
  Logger,
  PublishOptions,
  RpcContext,
  RpcHandler,
  RpcOptions,
  Server,
  ServerConnection,
  ServerEvents,
  ServerOptions,
  ServerStream,
  StreamOptions,
  Tap,
  UpgradeHandler,
} from './types.js';
