/**
 * `SwitchboardChatTransport`: the AI SDK's `ChatTransport` over an app's Switchboard client.
 * A reply is a Switchboard stream on the chat's channel, so the client's own guarantees carry
 * it: a network cut resumes the subscription from the last chunk seen (the Chat never notices),
 * a reload or a second tab joins the reply in progress from its start (`reconnectToStream`),
 * and `stop()` asks the server to abort the generation, which every viewer then sees end.
 */
import type { ChatTransport, UIMessage, UIMessageChunk } from 'ai';
import type { Client } from '../client/index.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { ChatWatch, ReplyReader } from './replies.js';
import {
  CHAT_DEFAULTS,
  type ChatChannel,
  type ChatSendReply,
  type ChatSendRequest,
  type ChatStopRequest,
  channelOf,
} from './types.js';

export interface SwitchboardChatTransportOptions {
  /** The app's client; the transport subscribes to each chat's channel on it. */
  client: Client;
  /** Where each chat lives: a prefix or a function of the chat id, as given to `serveChat`. Default 'ai:'. */
  channel?: ChatChannel;
  /** The RPC prefix given to `serveChat`. Default 'ai'. */
  method?: string;
  /** The event given to `serveChat`. Default 'ai'. */
  event?: string;
  /**
   * A reply from which nothing arrives for this long fails on this viewer (its server died
   * without ending it). Default 150 s, past the server's own 60 s stream timeout; 0: never.
   */
  idleTimeoutMs?: number;
  /**
   * Whether an aborted request (the Chat's `stop()`) aborts the generation on the server, for
   * every viewer. Default true. `useChat` also stops its Chat when its component unmounts: with
   * false, that (and `stop()`) only detaches this viewer, and `transport.stop(chatId)` stops.
   */
  stopOnAbort?: boolean;
}

type SendOptions<UI_MESSAGE extends UIMessage> = Parameters<
  ChatTransport<UI_MESSAGE>['sendMessages']
>[0];
type ReconnectOptions<UI_MESSAGE extends UIMessage> = Parameters<
  ChatTransport<UI_MESSAGE>['reconnectToStream']
>[0];

/**
 * How long an RPC whose connection dropped before its answer is asked again (both RPCs are safe
 * to repeat). Each attempt waits in the client's outbox for the next connection, so this bounds
 * time, not a spin.
 */
const RETRY_MS = 30_000;

export class SwitchboardChatTransport<UI_MESSAGE extends UIMessage = UIMessage>
  implements ChatTransport<UI_MESSAGE>
{
  /** A resumed reply is replayed from its start: the Chat rebuilds the message from it. */
  readonly resumeStreamIsReplay = true;
  readonly #client: Client;
  readonly #channel: ChatChannel;
  readonly #method: string;
  readonly #event: string;
  readonly #idleTimeoutMs: number;
  readonly #stopOnAbort: boolean;
  readonly #watches = new Map<string, ChatWatch>();

  constructor(options: SwitchboardChatTransportOptions) {
    this.#client = options.client;
    this.#channel = options.channel ?? CHAT_DEFAULTS.channel;
    this.#method = options.method ?? CHAT_DEFAULTS.method;
    this.#event = options.event ?? CHAT_DEFAULTS.event;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 150_000;
    this.#stopOnAbort = options.stopOnAbort ?? true;
  }

  async sendMessages(options: SendOptions<UI_MESSAGE>): Promise<ReadableStream<UIMessageChunk>> {
    const { chatId, abortSignal } = options;
    throwIfAborted(abortSignal);
    const watch = this.#watch(chatId);
    // Subscribed before asking: the reply's first chunk cannot be published before we listen.
    await untilAborted(watch.sub.ready(), abortSignal);
    const requestId = randomId();
    const reader = new ReplyReader(this.#idleTimeoutMs);
    watch.expect(requestId, reader);
    const request: ChatSendRequest<UI_MESSAGE> = {
      chatId,
      requestId,
      trigger: options.trigger,
      messages: options.messages,
    };
    if (options.messageId !== undefined) request.messageId = options.messageId;
    if (options.body !== undefined) request.body = options.body;
    if (options.metadata !== undefined) request.metadata = options.metadata;
    let sent: ChatSendReply;
    try {
      sent = await this.#call<ChatSendReply>('send', request);
    } catch (error) {
      reader.close();
      throw error;
    }
    watch.bind(reader, requestId, sent.stream);
    if (abortSignal?.aborted) {
      if (this.#stopOnAbort) this.#stop(chatId, sent.stream, reader);
      else reader.close();
      throw abortError();
    }
    this.#stopWhenAborted(abortSignal, chatId, sent.stream, reader);
    return reader.stream;
  }

  async reconnectToStream(
    options: ReconnectOptions<UI_MESSAGE>,
  ): Promise<ReadableStream<UIMessageChunk> | null> {
    const { chatId, abortSignal } = options;
    throwIfAborted(abortSignal);
    const watch = this.#watch(chatId);
    // Aborted before it was handed over (the Chat starts a newer resume): nothing to stop.
    await untilAborted(watch.ready(), abortSignal);
    const reply = watch.latestInProgress();
    if (!reply) return null;
    const reader = new ReplyReader(this.#idleTimeoutMs);
    reader.attach(reply);
    this.#stopWhenAborted(abortSignal, chatId, reply.id, reader);
    return reader.stream;
  }

  /** Aborts the chat's replies in progress on the server; every viewer sees them end. */
  async stop(chatId: string): Promise<void> {
    const request: ChatStopRequest = { chatId };
    await this.#call('stop', request);
  }

  /** Stops following every chat: their subscriptions end and open readers close. */
  close(): void {
    for (const watch of this.#watches.values()) {
      watch.close();
      watch.sub.unsubscribe();
    }
    this.#watches.clear();
  }

  #watch(chatId: string): ChatWatch {
    let watch = this.#watches.get(chatId);
    if (watch && watch.sub.state !== 'unsubscribed') return watch;
    watch?.close();
    const sub = this.#client.subscribe(channelOf(this.#channel, chatId));
    watch = new ChatWatch(sub, this.#event);
    this.#watches.set(chatId, watch);
    return watch;
  }

  /** `stop()` on the Chat aborts its signal: the server aborts the generation for every viewer. */
  #stopWhenAborted(
    signal: AbortSignal | undefined,
    chatId: string,
    stream: string,
    reader: ReplyReader,
  ): void {
    if (!signal) return;
    const onAbort = () => (this.#stopOnAbort ? this.#stop(chatId, stream, reader) : reader.close());
    signal.addEventListener('abort', onAbort, { once: true });
    reader.whenDone(() => signal.removeEventListener('abort', onAbort));
  }

  #stop(chatId: string, stream: string, reader: ReplyReader): void {
    reader.close();
    const request: ChatStopRequest = { chatId, stream };
    this.#call('stop', request).catch(() => {});
  }

  /** An RPC, asked again when the connection dropped before its answer (the server dedups). */
  async #call<T>(name: 'send' | 'stop', data: unknown): Promise<T> {
    const deadline = Date.now() + RETRY_MS;
    for (;;) {
      try {
        return await this.#client.request<T>(`${this.#method}.${name}`, data);
      } catch (error) {
        const retry =
          error instanceof SwitchboardError &&
          (error.code === ErrorCode.DISCONNECTED || error.code === ErrorCode.TIMEOUT);
        if (!retry || Date.now() >= deadline) throw error;
      }
    }
  }
}

/** Waits for `promise`, or rejects with an AbortError as soon as the signal fires. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) reject(abortError());
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

function abortError(): Error {
  const error = new Error('The chat request was aborted');
  error.name = 'AbortError';
  return error;
}

function randomId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
