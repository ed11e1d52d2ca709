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
export type { AuthenticateResult, AuthOptions, Identity, JwtOptions } from './auth.js';
export type { ChannelAction, ChannelOptions } from './channels.js';
export type { ConnectionState, ConnectionStats, ServerConnection } from './connection.js';
export type { HealthOptions } from './health.js';
export type { LimitOptions } from './limits.js';
export { LOG_EVENT, type LogStream, type LogStreamOptions, logStream } from './log-stream.js';
export type { Logger } from './logger.js';
export type { MetricsOptions } from './metrics.js';
export { type ProxyEndpoint, proxyAuthorize, proxyConnect, proxyRpc } from './proxy.js';
export {
  type ChannelCount,
  type ClusterChannels,
  createServer,
  type HeartbeatOptions,
  type HttpHandler,
  type ListenAddress,
  type PublishOptions,
  type RpcContext,
  type RpcHandler,
  type RpcOptions,
  type Server,
  type ServerEvents,
  type ServerOptions,
  type StreamOptions,
  type UpgradeHandler,
} from './server.js';
export type { ServerStream } from './streams.js';
export type { Tap } from './tap.js';
