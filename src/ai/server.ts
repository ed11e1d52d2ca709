/**
 * `serveChat(server, { channel, handler })`: the server half of the AI SDK transport. Two RPCs:
 * `<method>.send` checks the caller may publish on the chat's channel, runs the app's handler
 * and publishes the UI message stream it returns as a Switchboard stream on that channel (so
 * every viewer sees it live and a reconnect resumes it); `<method>.stop` aborts a reply, on
 * whichever node runs it (the stop travels through the broker), and its stream ends with an
 * `aborted` end marker that every viewer receives.
 */
import type { UIMessage, UIMessageChunk } from 'ai';
import type { PublicationHandler } from '../broker/types.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { Identity, RpcContext, Server, ServerStream } from '../server/types.js';
import { type StatusReporter, statusReporter } from './status.js';
import {
  CHAT_DEFAULTS,
  type ChatChannel,
  type ChatEndData,
  type ChatOpenData,
  type ChatSendReply,
  type ChatStopRequest,
  type ChatTrigger,
  channelOf,
  parseSend,
  parseStop,
} from './types.js';

export interface ChatHandlerContext<UI_MESSAGE extends UIMessage = UIMessage> {
  chatId: string;
  /** The conversation as the client holds it (validate it as you would any client input). */
  messages: UI_MESSAGE[];
  trigger: ChatTrigger;
  /** The message to regenerate, for `regenerate-message`. */
  messageId: string | undefined;
  /** Aborted when a viewer stops the reply (or the service closes): pass it to `streamText`. */
  signal: AbortSignal;
  /** Who asked for the reply. */
  identity: Identity;
  /** What the client passed as `body` to `sendMessage`. */
  body: object | undefined;
  metadata: unknown;
}

/** A UI message stream: `streamText(…).toUIMessageStream()`, `createUIMessageStream(…)`. */
export type UIMessageSource = ReadableStream<UIMessageChunk> | AsyncIterable<UIMessageChunk>;

export type ChatHandler<UI_MESSAGE extends UIMessage = UIMessage> = (
  context: ChatHandlerContext<UI_MESSAGE>,
) => UIMessageSource | Promise<UIMessageSource>;

export interface ServeChatOptions<UI_MESSAGE extends UIMessage = UIMessage> {
  /** Where each chat lives (a prefix or a function of the chat id); its pattern must enable `streams`. */
  channel: ChatChannel;
  handler: ChatHandler<UI_MESSAGE>;
  /** RPC names are `<method>.send` and `<method>.stop`. Default 'ai'. */
  method?: string;
  /** The event of the reply streams' publications. Default 'ai'. */
  event?: string;
  /** Replies running at once on this node; one more is refused with LIMIT_EXCEEDED. Default 100. */
  maxReplies?: number;
  /**
   * The agent's status beside its text (status.ts): an ephemeral publication of this event on
   * the chat's channel at each change, kept for late joiners where the pattern sets `latest`.
   * Default 'status'; false: none.
   */
  status?: string | false;
}

/** The running service: `close()` aborts its replies and stops listening for stops. */
export interface ChatService {
  /** Replies running on this node. */
  readonly active: number;
  close(): Promise<void>;
}

interface Reply {
  chatId: string;
  stream: ServerStream;
  controller: AbortController;
  status: StatusReporter | undefined;
}

/** Sends remembered so a resend after a cut (same caller, same request id) starts nothing new. */
const REMEMBERED_SENDS = 1_000;
/** Chunks read ahead of the publishes in flight before the reader waits for them. */
const MAX_QUEUED = 256;

export function serveChat<UI_MESSAGE extends UIMessage = UIMessage>(
  server: Server,
  options: ServeChatOptions<UI_MESSAGE>,
): ChatService {
  const method = options.method ?? CHAT_DEFAULTS.method;
  const event = options.event ?? CHAT_DEFAULTS.event;
  const maxReplies = options.maxReplies ?? 100;
  const control = `$${method}:stop`;
  const replies = new Map<string, Reply>();
  const sends = new Map<string, Promise<ChatSendReply>>();
  let closed = false;

  const stopHere = ({ chatId, stream }: ChatStopRequest): number => {
    let stopped = 0;
    for (const [id, reply] of replies) {
      if (reply.chatId !== chatId || (stream !== undefined && stream !== id)) continue;
      reply.controller.abort();
      stopped++;
    }
    return stopped;
  };
  const onControl: PublicationHandler = (publication) => {
    if (publication.event !== 'stop') return;
    try {
      stopHere(parseStop(publication.data));
    } catch {
      // Only this service publishes here; anything else is not a stop.
    }
  };
  const listening = server.broker.subscribe(control, onControl).catch((error: unknown) => {
    server.logger.error({ err: error, channel: control }, 'serveChat cannot receive stops');
  });

  const start = async (
    request: ReturnType<typeof parseSend>,
    channel: string,
    identity: Identity,
  ): Promise<ChatSendReply> => {
    const open: ChatOpenData = {
      chatId: request.chatId,
      requestId: request.requestId,
      trigger: request.trigger,
    };
    if (request.messageId !== undefined) open.messageId = request.messageId;
    const stream = await server.stream(channel, { event, data: open });
    const statusEvent = options.status ?? 'status';
    const reply: Reply = {
      chatId: request.chatId,
      stream,
      controller: new AbortController(),
      status:
        statusEvent === false ? undefined : statusReporter(server, channel, statusEvent, stream.id),
    };
    replies.set(stream.id, reply);
    const context: ChatHandlerContext<UI_MESSAGE> = {
      chatId: request.chatId,
      messages: request.messages as UI_MESSAGE[],
      trigger: request.trigger,
      messageId: request.messageId,
      signal: reply.controller.signal,
      identity,
      body: request.body,
      metadata: request.metadata,
    };
    void pump(reply, () => options.handler(context), server).finally(() =>
      replies.delete(stream.id),
    );
    return { stream: stream.id };
  };

  server.rpc(`${method}.send`, async (data: unknown, { identity }: RpcContext) => {
    if (closed) throw new SwitchboardError(ErrorCode.UNAVAILABLE, 'The chat service is closed');
    const request = parseSend(data);
    const channel = channelOf(options.channel, request.chatId);
    await server.authorize(identity, channel, 'publish');
    const key = `${identity.userId}\u0000${request.requestId}`;
    const known = sends.get(key);
    if (known) return known;
    if (replies.size >= maxReplies)
      throw new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Too many replies in progress');
    const started = start(request, channel, identity);
    sends.set(key, started);
    // A send that failed may be sent again; one that started is answered from here.
    started.catch(() => sends.delete(key));
    if (sends.size > REMEMBERED_SENDS) sends.delete(sends.keys().next().value!);
    return started;
  });

  server.rpc(`${method}.stop`, async (data: unknown, { identity }: RpcContext) => {
    const request = parseStop(data);
    await server.authorize(identity, channelOf(options.channel, request.chatId), 'publish');
    // Here when the reply runs on this node; through the broker for the others.
    if (stopHere(request) > 0) return {};
    await listening;
    await server.broker.publish(control, { event: 'stop', data: request }, { ephemeral: true });
    return {};
  });

  return {
    get active() {
      return replies.size;
    },
    async close() {
      closed = true;
      for (const reply of replies.values()) reply.controller.abort();
      await listening;
      await server.broker.unsubscribe(control, onControl).catch(() => {});
    },
  };
}

/**
 * Publishes the handler's chunks in order, one publish in flight at a time; what the handler
 * produces meanwhile waits, text deltas merged, so a fast model makes fewer, larger chunks
 * rather than a backlog. Ends the stream as finished, aborted (the signal fired) or failed.
 */
async function pump(
  reply: Reply,
  run: () => UIMessageSource | Promise<UIMessageSource>,
  server: Server,
): Promise<void> {
  const { stream, controller } = reply;
  const { signal } = controller;
  const queue: UIMessageChunk[] = [];
  let writing: Promise<void> | undefined;
  let writeError: unknown;
  const flush = async () => {
    try {
      while (queue.length > 0 && !signal.aborted) await stream.write(queue.shift());
    } catch (error) {
      writeError = error;
      controller.abort();
    } finally {
      writing = undefined;
    }
  };
  let failure: string | undefined;
  try {
    const source = await run();
    const iterator = iterate(source, signal);
    try {
      for (;;) {
        if (signal.aborted) break;
        const next = await iterator.next();
        if (next.done || signal.aborted) break;
        reply.status?.chunk(next.value);
        enqueue(queue, next.value);
        writing ??= flush();
        if (queue.length >= MAX_QUEUED) await writing;
      }
    } finally {
      void iterator.return?.()?.catch(() => {});
    }
    await writing;
  } catch (error) {
    if (!signal.aborted) {
      server.logger.error({ err: error, stream: stream.id }, 'chat handler failed');
      failure = error instanceof SwitchboardError ? error.message : 'The reply failed';
    }
  }
  await writing;
  if (writeError !== undefined) {
    server.logger.error(
      { err: writeError, stream: stream.id },
      'chat reply could not be published',
    );
    failure = 'The reply could not be published';
  }
  const end: ChatEndData = { outcome: signal.aborted ? 'aborted' : 'finished' };
  await (failure !== undefined ? stream.fail(failure) : stream.end(end)).catch((error: unknown) =>
    server.logger.error({ err: error, stream: stream.id }, 'chat reply could not be ended'),
  );
  await reply.status?.end(failure !== undefined ? 'failed' : end.outcome);
}

/** Adds a chunk to what waits, merged into the last one when both are deltas of the same part. */
function enqueue(queue: UIMessageChunk[], chunk: UIMessageChunk): void {
  const last = queue.at(-1);
  if (
    last &&
    (last.type === 'text-delta' || last.type === 'reasoning-delta') &&
    chunk.type === last.type &&
    chunk.id === last.id &&
    chunk.providerMetadata === undefined &&
    last.providerMetadata === undefined
  ) {
    queue[queue.length - 1] = { ...last, delta: last.delta + chunk.delta };
    return;
  }
  queue.push(chunk);
}

/**
 * The source's chunks; an abort ends the wait for the next one at once, whether or not the
 * source listens to the signal. A stream's reader is cancelled (which ends a read in progress,
 * where an async iterator's `return()` would wait for it); another iterable is raced.
 */
function iterate(source: UIMessageSource, signal: AbortSignal): AsyncIterator<UIMessageChunk> {
  const done: IteratorResult<UIMessageChunk> = { done: true, value: undefined };
  let onAbort: () => void;
  let next: () => Promise<IteratorResult<UIMessageChunk>>;
  if ('getReader' in source) {
    const reader = source.getReader();
    onAbort = () => void reader.cancel().catch(() => {});
    next = () => reader.read() as Promise<IteratorResult<UIMessageChunk>>;
  } else {
    const iterator = source[Symbol.asyncIterator]();
    let stop = () => {};
    const aborted = new Promise<IteratorResult<UIMessageChunk>>((resolve) => {
      stop = () => resolve(done);
    });
    onAbort = () => {
      stop();
      void iterator.return?.()?.catch(() => {});
    };
    next = () => Promise.race([iterator.next(), aborted]);
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    next,
    return: async () => {
      signal.removeEventListener('abort', onAbort);
      return done;
    },
  };
}
