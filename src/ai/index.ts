/**
 * `switchboard/ai`: AI SDK replies over Switchboard. `SwitchboardChatTransport` is the
 * `ChatTransport` for `useChat` (browsers, Node); `serveChat` publishes a handler's UI message
 * stream on the chat's channel (Node). `ai` is an optional peer: only its types are used here.
 * This file only re-exports.
 */
export {
  type ChatHandler,
  type ChatHandlerContext,
  type ChatService,
  type ServeChatOptions,
  serveChat,
  type UIMessageSource,
} from './server.js';
export type { ChatState, ChatStatus } from './status.js';
export { SwitchboardChatTransport, type SwitchboardChatTransportOptions } from './transport.js';
export {
  CHAT_DEFAULTS,
  type ChatChannel,
  type ChatEndData,
  type ChatOpenData,
  type ChatSendReply,
  type ChatSendRequest,
  type ChatStopRequest,
  type ChatTrigger,
  channelOf,
} from './types.js';
