/**
 * What the chat transport and `serveChat` agree on: the RPC requests and replies, the payloads
 * of a reply's stream markers, the channel a chat lives on, and the validation of what a client
 * sends. Both sides import it; it imports nothing that runs (`ai` is only a source of types).
 */
import type { UIMessage } from 'ai';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';

/**
 * The chat's channel: a prefix (`'ai:'` puts chat `42` on `ai:42`) or a function of the chat id.
 * The transport and `serveChat` must map a chat to the same channel, and the server must enable
 * `streams` on its pattern.
 */
export type ChatChannel = string | ((chatId: string) => string);

/** Defaults both sides share: the RPC prefix (`ai.send`, `ai.stop`), the event and the channel prefix. */
export const CHAT_DEFAULTS = { method: 'ai', event: 'ai', channel: 'ai:' } as const;

/** A chat id longer than this is refused: with a prefix it must still fit a channel name (256). */
export const MAX_CHAT_ID = 128;

export function channelOf(channel: ChatChannel, chatId: string): string {
  return typeof channel === 'function' ? channel(chatId) : `${channel}${chatId}`;
}

export type ChatTrigger = 'submit-message' | 'regenerate-message';

/** `<method>.send`: start a reply. `requestId` makes a resend after a cut start it once. */
export interface ChatSendRequest<UI_MESSAGE extends UIMessage = UIMessage> {
  chatId: string;
  requestId: string;
  trigger: ChatTrigger;
  messageId?: string;
  messages: UI_MESSAGE[];
  /** The `body` the app passed to `sendMessage(…, { body })`, for the handler. */
  body?: object;
  metadata?: unknown;
}

/** The reply to `<method>.send`: the id of the Switchboard stream that carries the reply. */
export interface ChatSendReply {
  stream: string;
}

/** `<method>.stop`: abort the reply `stream` of the chat (every reply of the chat without it). */
export interface ChatStopRequest {
  chatId: string;
  stream?: string;
}

/** Data of a reply stream's opening marker: whose request it answers. */
export interface ChatOpenData {
  chatId: string;
  requestId: string;
  trigger: ChatTrigger;
  messageId?: string;
}

/**
 * Data of a reply stream's end marker. The chunks between opening and end are the handler's UI
 * message chunks, one per publication (consecutive text deltas written while the previous
 * publish was in flight are merged). A failed reply ends with the stream's `error` status and
 * `{ error: text }` instead.
 */
export interface ChatEndData {
  outcome: 'finished' | 'aborted';
}

// ── validation of what clients send ───────────────────────────────────────────────────────────

const TRIGGERS: readonly string[] = ['submit-message', 'regenerate-message'];

function invalid(message: string, path: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.VALIDATION_FAILED, message, {
    issues: [{ message, path: [path] }],
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function chatIdOf(data: Record<string, unknown>): string {
  const { chatId } = data;
  if (typeof chatId !== 'string' || chatId.length === 0 || chatId.length > MAX_CHAT_ID)
    throw invalid(`chatId must be a string of 1-${MAX_CHAT_ID} characters`, 'chatId');
  return chatId;
}

/** Checks the shape of a send request; message contents are the handler's to validate. */
export function parseSend(data: unknown): ChatSendRequest {
  if (!isRecord(data)) throw invalid('Expected an object', '');
  const chatId = chatIdOf(data);
  const { requestId, trigger, messageId, messages, body, metadata } = data;
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > 128)
    throw invalid('requestId must be a string of 1-128 characters', 'requestId');
  if (typeof trigger !== 'string' || !TRIGGERS.includes(trigger))
    throw invalid(`trigger must be one of ${TRIGGERS.join(', ')}`, 'trigger');
  if (messageId !== undefined && typeof messageId !== 'string')
    throw invalid('messageId must be a string', 'messageId');
  if (!Array.isArray(messages) || !messages.every(isRecord))
    throw invalid('messages must be an array of UI messages', 'messages');
  if (body !== undefined && !isRecord(body)) throw invalid('body must be an object', 'body');
  const request: ChatSendRequest = {
    chatId,
    requestId,
    trigger: trigger as ChatTrigger,
    messages: messages as unknown as UIMessage[],
  };
  if (messageId !== undefined) request.messageId = messageId;
  if (body !== undefined) request.body = body;
  if (metadata !== undefined) request.metadata = metadata;
  return request;
}

export function parseStop(data: unknown): ChatStopRequest {
  if (!isRecord(data)) throw invalid('Expected an object', '');
  const chatId = chatIdOf(data);
  const { stream } = data;
  if (stream !== undefined && (typeof stream !== 'string' || stream.length > 128))
    throw invalid('stream must be a stream id', 'stream');
  return stream === undefined ? { chatId } : { chatId, stream };
}
