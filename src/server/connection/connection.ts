import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Publication } from '../broker/types.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode, SwitchboardError, toSwitchboardError } from '../protocol/errors.js';
import {
  type ClientFrame,
  type ConnectFrame,
  type ConnectReply,
  type HistoryFrame,
  type HistoryReply,
  type MessageFrame,
  type PresenceFrame,
  type PresenceMember,
  type PresenceReply,
  type PublishFrame,
  type RefreshFrame,
  type RpcFrame,
  type ServerFrame,
  SUPPORTED_VERSIONS,
  type SubscribeFrame,
  type SubscribeReply,
  type UnsubscribeFrame,
} from '../protocol/frames.js';
import { isRequestId, parseClientFrame } from '../protocol/validate.js';
import type { Identity } from './auth.js';
import type { ChannelRule } from './channels.js';
import type { Gateway } from './gateway.js';
import { TokenBucket } from './limits.js';
import { mergeRecovery } from './recovery.js';
import { streamSettings, streamsInProgress } from './streams.js';
import type { Tap } from './tap.js';

export type ConnectionState = 'connecting' | 'open' | 'closing' | 'closed';

export interface ConnectionStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

/** What the app sees of a connection: in hooks, RPC handlers and server events. */
export interface ServerConnection {
  readonly id: string;
  readonly state: ConnectionState;
  /** Set once `connect` succeeded. */
  readonly identity: Identity | undefined;
  readonly userId: string | undefined;
  readonly subscriptions: ReadonlySet<string>;
  readonly remoteAddress: string | undefined;
  /** The HTTP upgrade request: URL, headers (for cookies, tenant headers…). */
  readonly request: IncomingMessage;
  readonly connectedAt: number;
  readonly stats: Readonly<ConnectionStats>;
  /** App data the client sent with `connect`. */
  readonly clientData: unknown;
  /** Bytes written to the socket but not yet sent: the connection's send queue. */
  readonly bufferedAmount: number;
  /** Send an event to this connection alone (a `message` frame without a channel). */
  send(event: string, data?: unknown): boolean;
  /** Send any server frame as is (the inspector's "send to client"). */
  sendFrame(frame: ServerFrame): boolean;
  /** Process a message as if the client had sent it (the inspector's replay). */
  inject(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A history request returns at most this many publications; page with `since` for more. */
const MAX_HISTORY_REPLY = 1000;
/** Publications that arrive while a subscribe is being answered wait here, then follow the reply. */
const MAX_PENDING_PUBLICATIONS = 10_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Which close follows a refused `connect`: it tells the client whether trying again can help. */
function connectRefusalCode(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.TOKEN_EXPIRED:
      return CloseCode.TOKEN_EXPIRED;
    case ErrorCode.FORBIDDEN:
      return CloseCode.FORBIDDEN;
    // A backend the server asks (`proxy.connect`) or the broker is down: the token may be fine.
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.UNCERTAIN:
      return CloseCode.TRY_AGAIN_LATER;
    default:
      return CloseCode.UNAUTHORIZED;
  }
}

/** RFC 6455 allows 123 bytes of reason; cut on a character boundary so the UTF-8 stays valid. */
function closeReason(reason: string): string {
  const bytes = Buffer.from(reason);
  if (bytes.length <= 123) return reason;
  let end = 123;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}

/**
 * Connections whose socket is corked until the current tick ends. `ws` hands every message to the
 * kernel in its own writev; a fan-out, or the replies to a batch of requests, would make one
 * syscall per frame per connection. Corked, everything a connection is sent in one tick leaves in
 * one writev, in the same order. One nextTick for all of them, not one closure per message.
 */
let corked: Connection[] = [];
let uncorkScheduled = false;
function uncorkAll(): void {
  const list = corked;
  corked = [];
  uncorkScheduled = false;
  for (const connection of list) connection.flushWrites();
}

/**
 * One client socket: reads frames in, enforces limits, answers every request exactly once.
 *
 * Frames that touch channels or identity run through an ordered chain, so a client's subscribe
 * then publish reach the broker in that order even when an authorize hook is async. Work that
 * may take long (RPC handlers, broker round trips) is started in order but not awaited by the
 * chain, so one slow RPC does not hold up the connection.
 */
export class Connection implements ServerConnection {
  readonly id: string;
  state: ConnectionState = 'connecting';
  identity: Identity | undefined;
  clientData: unknown;
  readonly remoteAddress: string | undefined;
  readonly connectedAt = Date.now();
  readonly stats: ConnectionStats = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
  /** channel → publications held back while its subscribe is answered; null once live. */
  readonly channels = new Map<string, Publication[] | null>();
  /** Set by the heartbeat sweep, cleared by anything the client sends. */
  awaitingPong = false;
  /** The taps that watch this connection's frames; undefined when none does. */
  frameTaps: Tap[] | undefined;
  /** channel → this connection's presence entry, for channels that track presence. */
  presence: Map<string, PresenceMember> | undefined;

  private readonly bucket: TokenBucket;
  private rateLimitedInARow = 0;
  private inFlight = 0;
  private chain: Promise<void> | undefined;
  private authTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bounds the closing handshake: a peer that never answers is cut off. */
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** The code we closed with when the socket is cut without a handshake (reported as ours, not 1006). */
  private closeCode: { code: number; reason: string } | undefined;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The socket `ws` writes to (the upgrade request's), corked while this tick's frames gather. */
  private readonly socket: IncomingMessage['socket'];
  private corked = false;

  constructor(
    private readonly gateway: Gateway,
    private readonly ws: WebSocket,
    readonly request: IncomingMessage,
  ) {
    this.id = gateway.nextConnectionId();
    this.socket = request.socket;
    this.remoteAddress = request.socket.remoteAddress;
    const { limits } = gateway;
    this.bucket = new TokenBucket(limits.messagesPerSecond, limits.burst);
    this.authTimer = setTimeout(
      () => this.close(CloseCode.AUTH_TIMEOUT, 'connect frame not received in time'),
      limits.authTimeoutMs,
    );
    ws.on('message', (data: Buffer, isBinary) => this.handleMessage(data, isBinary));
    ws.on('close', (code, reason) => this.handleClose(code, reason.toString()));
    ws.on('error', (error) =>
      gateway.logger.debug({ err: error, connection: this.id }, 'socket error'),
    );
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get userId(): string | undefined {
    return this.identity?.userId;
  }

  get subscriptions(): ReadonlySet<string> {
    return new Set(this.channels.keys());
  }

  // ── inbound ──────────────────────────────────────────────────────────────────────────────

  inject(data: string | Uint8Array): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const buffer =
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.handleMessage(buffer, typeof data !== 'string');
  }

  private handleMessage(data: Buffer, isBinary: boolean): void {
    const { gateway } = this;
    const { limits } = gateway;
    this.awaitingPong = false;
    this.stats.messagesIn++;
    this.stats.bytesIn += data.length;

    let decoded: unknown;
    let decodeFailed = false;
    try {
      decoded = gateway.codec.decode(gateway.codec.binary || isBinary ? data : data.toString());
    } catch {
      decodeFailed = true;
    }
    const frames = decodeFailed ? undefined : Array.isArray(decoded) ? decoded : [decoded];
    const taps = this.frameTaps;
    if (taps) for (const tap of taps) tap.inbound?.(this, data, frames);

    // Garbage costs the server as much as a valid frame: it spends the same tokens.
    if (
      (data.length > limits.maxMessageBytes ||
        !frames ||
        frames.length === 0 ||
        frames.length > limits.maxBatch) &&
      !this.spend(undefined)
    )
      return;
    if (data.length > limits.maxMessageBytes) {
      // Answer each request in it by id, so the sender's promises settle instead of timing out.
      const message = `Message of ${data.length} bytes exceeds the limit of ${limits.maxMessageBytes}`;
      return this.refuseAll(frames, ErrorCode.TOO_LARGE, message);
    }
    if (!frames) {
      this.sendError(undefined, ErrorCode.BAD_FRAME, 'Message could not be decoded');
      return;
    }
    if (frames.length > limits.maxBatch || frames.length === 0) {
      return this.refuseAll(
        frames,
        ErrorCode.BAD_FRAME,
        `A batch holds 1 to ${limits.maxBatch} frames`,
      );
    }
    for (const value of frames) {
      if (this.state === 'closing' || this.state === 'closed') return;
      const parsed = parseClientFrame(value);
      if (!parsed.ok) {
        if (this.spend(parsed.id)) this.sendError(parsed.id, parsed.code, parsed.message);
        continue;
      }
      const frame = parsed.frame;
      if (frame.type === 'pong') continue;
      if (this.spend(frame.id)) this.dispatch(frame);
    }
  }

  /** Takes a rate-limit token; without one the frame is refused, and a client that keeps going is closed. */
  private spend(id: number | undefined): boolean {
    if (this.bucket.take()) {
      this.rateLimitedInARow = 0;
      return true;
    }
    this.sendError(id, ErrorCode.RATE_LIMITED, 'Too many messages; slow down');
    if (++this.rateLimitedInARow >= this.gateway.limits.maxRateLimited)
      this.close(CloseCode.RATE_LIMITED, 'rate limit exceeded');
    return false;
  }

  /** One error for every request in a message that is refused whole, so none waits for a reply. */
  private refuseAll(
    frames: readonly unknown[] | undefined,
    code: ErrorCode,
    message: string,
  ): void {
    const ids = (frames ?? []).map((f) => (f as { id?: unknown } | null)?.id).filter(isRequestId);
    if (ids.length === 0) this.sendError(undefined, code, message);
    for (const id of ids) this.sendError(id, code, message);
  }

  private dispatch(frame: Exclude<ClientFrame, { type: 'pong' }>): void {
    if (frame.type !== 'connect' && this.identity === undefined && this.chain === undefined) {
      // First-message auth: nothing but `connect` may come first.
      this.sendError(frame.id, ErrorCode.UNAUTHORIZED, 'Send "connect" first');
      this.close(CloseCode.BAD_PROTOCOL, 'frame before connect');
      return;
    }
    if (frame.type === 'ping' && this.identity !== undefined) {
      this.reply(frame.id, {});
      return;
    }
    if (this.inFlight >= this.gateway.limits.maxInFlight) {
      this.sendError(frame.id, ErrorCode.LIMIT_EXCEEDED, 'Too many requests in flight');
      return;
    }
    this.inFlight++;
    // Nothing queued ahead: an RPC can start now. It would only be started by the chain, never
    // awaited, so skipping the chain's closure and promises changes no order.
    if (frame.type === 'rpc' && this.chain === undefined && this.identity !== undefined) {
      this.onRpc(frame).then(this.requestDone, this.requestDone);
      return;
    }
    this.ordered(async () => {
      // Publish and RPC hand back the work they started but the chain must not wait for.
      let started: Promise<void> | undefined;
      try {
        // `connect` may still be running when a pipelined frame is queued behind it.
        if (frame.type !== 'connect' && this.identity === undefined) return;
        switch (frame.type) {
          case 'connect':
            await this.onConnect(frame);
            break;
          case 'refresh':
            await this.onRefresh(frame);
            break;
          case 'subscribe':
            await this.onSubscribe(frame);
            break;
          case 'unsubscribe':
            this.onUnsubscribe(frame);
            break;
          case 'publish':
            started = (await this.onPublish(frame)).done;
            break;
          case 'rpc':
            started = this.onRpc(frame);
            break;
          case 'presence':
            await this.onPresence(frame);
            break;
          case 'history':
            await this.onHistory(frame);
            break;
          case 'ping':
            this.reply(frame.id, {});
            break;
        }
      } catch (error) {
        this.fail(frame.id, error);
      } finally {
        if (started) void started.finally(() => this.inFlight--);
        else this.inFlight--;
      }
    });
  }

  /** Runs `step` after every earlier step; a step that never awaits runs synchronously. */
  private readonly requestDone = (): void => {
    this.inFlight--;
  };

  private ordered(step: () => Promise<void>): void {
    const run = this.chain ? this.chain.then(step) : step();
    const tail = run.then(
      () => {
        if (this.chain === tail) this.chain = undefined;
      },
      () => {
        if (this.chain === tail) this.chain = undefined;
      },
    );
    this.chain = tail;
  }

  private async onConnect(frame: ConnectFrame): Promise<void> {
    const { gateway } = this;
    if (this.identity) {
      this.sendError(frame.id, ErrorCode.BAD_FRAME, 'Already connected');
      return;
    }
    const version = Math.min(frame.version, Math.max(...SUPPORTED_VERSIONS));
    if (!SUPPORTED_VERSIONS.includes(version)) {
      this.sendError(
        frame.id,
        ErrorCode.UNSUPPORTED_VERSION,
        `Supported versions: ${SUPPORTED_VERSIONS.join(', ')}`,
      );
      this.close(CloseCode.UNSUPPORTED_VERSION, 'unsupported protocol version');
      return;
    }
    let identity: Identity;
    try {
      identity = await gateway.authenticate(frame.token, this.request);
    } catch (error) {
      const err = toSwitchboardError(error);
      this.sendError(frame.id, err.code, err.message);
      this.close(connectRefusalCode(err.code), err.message);
      return;
    }
    if (this.state !== 'connecting') return; // closed while the token was being checked
    if (!gateway.admitUser(this, identity)) {
      this.sendError(frame.id, ErrorCode.LIMIT_EXCEEDED, 'Too many connections for this user');
      this.close(CloseCode.TOO_MANY_CONNECTIONS, 'too many connections for this user');
      return;
    }
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.identity = identity;
    this.clientData = frame.data;
    this.state = 'open';
    this.scheduleExpiry();
    const reply: ConnectReply = {
      version,
      connection: this.id,
      user: identity.userId,
      heartbeatMs: gateway.heartbeatMs,
      maxMessageBytes: gateway.limits.maxMessageBytes,
      limits: gateway.announcedLimits,
    };
    if (identity.expiresAt !== undefined) reply.expiresAt = identity.expiresAt;
    this.reply(frame.id, reply);
    gateway.connectionAuthenticated(this);
  }

  private async onRefresh(frame: RefreshFrame): Promise<void> {
    const identity = await this.gateway.authenticate(frame.token, this.request);
    if (identity.userId !== this.identity?.userId) {
      throw new SwitchboardError(
        ErrorCode.FORBIDDEN,
        'A refreshed token must be for the same user',
      );
    }
    this.identity = identity;
    this.scheduleExpiry();
    this.reply(frame.id, identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt });
  }

  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const expiresAt = this.identity?.expiresAt;
    if (expiresAt === undefined) return;
    const close = () => this.close(CloseCode.TOKEN_EXPIRED, 'token expired');
    // Tokens may live longer than setTimeout can count; re-arm in steps until the real moment.
    const arm = () => {
      const wait = expiresAt - Date.now();
      if (wait <= 0) return close();
      this.expiryTimer = setTimeout(
        wait > MAX_TIMER_MS ? arm : close,
        Math.min(wait, MAX_TIMER_MS),
      );
      this.expiryTimer.unref?.();
    };
    arm();
  }

  private async onSubscribe(frame: SubscribeFrame): Promise<void> {
    const { gateway } = this;
    const { channel, since } = frame;
    if (this.channels.has(channel)) {
      throw new SwitchboardError(ErrorCode.BAD_FRAME, `Already subscribed to "${channel}"`);
    }
    if (this.channels.size >= gateway.limits.maxSubscriptions) {
      throw new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Too many subscriptions');
    }
    const rule = await gateway.authorize(this, channel, 'subscribe');
    if (this.state !== 'open') return;
    const streams = streamSettings(rule.options) !== undefined;
    // Join before asking the broker for the position, holding back what arrives meanwhile, so
    // nothing published between the two is missed or delivered ahead of the reply.
    this.channels.set(channel, []);
    let reply: SubscribeReply;
    let replay: Publication[] = [];
    let inProgress: Publication[] = [];
    try {
      await gateway.joinChannel(this, channel);
      const history = await gateway.broker.history(
        channel,
        since ? { since } : streams ? {} : { limit: 0 },
      );
      reply = { offset: history.offset, epoch: history.epoch };
      if (since) {
        reply.recovered = history.recovered;
        replay = history.publications;
      }
      // Without a full replay, a subscriber still gets the streams in progress from their start.
      if (streams && !reply.recovered) {
        const all = since ? await gateway.broker.history(channel) : history;
        if (all.epoch === reply.epoch) {
          inProgress = streamsInProgress(all.publications).filter((p) => p.offset <= reply.offset);
        }
      }
    } catch (error) {
      this.leave(channel);
      throw error;
    }
    const held = this.channels.get(channel);
    if (!held) return; // unsubscribed while we waited
    this.channels.set(channel, null);
    // Before the reply: the client takes these as already-seen history, then its position moves
    // to the reply's offset.
    for (const publication of inProgress) this.sendPublication(publication);
    this.reply(frame.id, reply);
    const start = since && reply.recovered ? since : reply;
    const { send, gap } = mergeRecovery(start, replay, held);
    for (const publication of send) this.sendPublication(publication);
    if (gap) {
      // The node's live feed broke while this subscribe was answered: start over from the
      // position the client now holds, which its resubscribe recovers or reports.
      this.close(CloseCode.RESYNC, 'channel resync');
      return;
    }
    if (rule.options.presence) await this.joinPresence(channel, rule);
  }

  private async joinPresence(channel: string, rule: ChannelRule): Promise<void> {
    const presence = rule.options.presence;
    const member: PresenceMember = { user: this.identity!.userId, connection: this.id };
    if (typeof presence === 'object' && presence.info)
      member.info = await presence.info(this.identity!, this);
    if (!this.channels.has(channel)) return;
    (this.presence ??= new Map()).set(channel, member);
    await this.gateway.presenceJoin(channel, member);
  }

  private sendPublication(publication: Publication): void {
    if (publication.exceptConnection === this.id) return this.sendOwn(publication);
    this.sendRaw(
      this.gateway.encodePublication(publication),
      this.gateway.publicationFrame(publication),
    );
  }

  private onUnsubscribe(frame: UnsubscribeFrame): void {
    if (!this.channels.has(frame.channel)) {
      throw new SwitchboardError(ErrorCode.NOT_FOUND, `Not subscribed to "${frame.channel}"`);
    }
    this.leave(frame.channel);
    this.reply(frame.id, {});
  }

  private leave(channel: string): void {
    if (!this.channels.delete(channel)) return;
    this.gateway.leaveChannel(this, channel);
    const member = this.presence?.get(channel);
    if (member) {
      this.presence!.delete(channel);
      this.gateway.presenceLeave(channel, member);
    }
  }

  /** Resolves once checks pass; `done` settles when the broker answered (async functions would flatten it). */
  private async onPublish(frame: PublishFrame): Promise<{ done: Promise<void> }> {
    const { gateway } = this;
    const rule = await gateway.authorize(this, frame.channel, 'publish');
    if (rule.options.clientPublish === false) {
      throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Clients may not publish on this channel');
    }
    const data = await gateway.validateEvent(rule, frame.event, frame.data);
    const ephemeral =
      frame.ephemeral === true || rule.options.ephemeral?.includes(frame.event) === true;
    const user = this.identity!.userId;
    if (frame.stream) {
      const settings = streamSettings(rule.options);
      if (!settings)
        throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Streams are not enabled on this channel');
      if (ephemeral)
        throw new SwitchboardError(ErrorCode.BAD_FRAME, 'A stream chunk cannot be ephemeral');
      if (
        frame.stream.status === 'open' &&
        gateway.streams.countOwnedBy(user) >= gateway.limits.maxStreams
      ) {
        throw new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Too many open streams');
      }
      if (
        !gateway.streams.track(frame.channel, frame.event, frame.stream, settings.timeoutMs, user)
      ) {
        throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Stream belongs to another user');
      }
    }
    // Not awaited by the chain: the broker call is issued in order, its reply comes when it comes.
    const done = gateway
      .publishToBroker(frame.channel, frame.event, data, {
        user,
        ...(frame.exceptSelf && { exceptConnection: this.id }),
        ...(frame.key !== undefined && { idempotencyKey: `${user}\u0000${frame.key}` }),
        ...(ephemeral && { ephemeral }),
        ...(frame.stream && { stream: frame.stream }),
      })
      .then(
        (result) => this.reply(frame.id, { offset: result.offset, epoch: result.epoch }),
        (error) => this.fail(frame.id, error),
      );
    return { done };
  }

  private async onPresence(frame: PresenceFrame): Promise<void> {
    const rule = await this.gateway.authorize(this, frame.channel, 'presence');
    if (!rule.options.presence)
      throw new SwitchboardError(ErrorCode.NOT_FOUND, 'Presence is not enabled on this channel');
    const reply: PresenceReply = { members: await this.gateway.broker.presence(frame.channel) };
    this.reply(frame.id, reply);
  }

  private async onHistory(frame: HistoryFrame): Promise<void> {
    const { gateway } = this;
    await gateway.authorize(this, frame.channel, 'history');
    const limit = Math.min(frame.limit ?? MAX_HISTORY_REPLY, MAX_HISTORY_REPLY);
    const history = await gateway.broker.history(frame.channel, {
      limit,
      ...(frame.since && { since: frame.since }),
    });
    const reply: HistoryReply = {
      offset: history.offset,
      epoch: history.epoch,
      recovered: history.recovered,
      publications: history.publications.map((p) => gateway.publicationFrame(p)),
    };
    this.reply(frame.id, reply);
  }

  private onRpc(frame: RpcFrame): Promise<void> {
    return this.gateway.callRpc(this, frame.method, frame.data).then(
      (result) => {
        // A result the codec cannot encode (a BigInt, a cycle) is the handler's bug: the client
        // still gets its one reply, as INTERNAL.
        try {
          this.reply(frame.id, result);
        } catch (error) {
          this.fail(frame.id, error);
        }
      },
      (error) => this.fail(frame.id, error),
    );
  }

  // ── outbound ─────────────────────────────────────────────────────────────────────────────

  /** Fan-out entry point: `raw` is the publication encoded once for every subscriber. */
  deliver(publication: Publication, raw: Buffer, frame?: MessageFrame): void {
    const held = this.channels.get(publication.channel);
    if (held) {
      if (held.length >= MAX_PENDING_PUBLICATIONS) {
        this.close(CloseCode.SLOW_CONSUMER, 'too many publications while subscribing');
        return;
      }
      held.push(publication);
      return;
    }
    if (publication.exceptConnection === this.id) this.sendOwn(publication);
    else this.sendRaw(raw, frame ?? this.gateway.publicationFrame(publication));
  }

  /**
   * The sender of an `exceptSelf` publication gets its position without its data, so the offset
   * it skips is not mistaken for a gap (ephemeral ones have no offset to skip).
   */
  private sendOwn(publication: Publication): void {
    if (publication.ephemeral) return;
    const { channel, event, offset, epoch } = publication;
    this.sendFrame({ type: 'message', channel, event, offset, epoch, own: true });
  }

  send(event: string, data?: unknown): boolean {
    const frame: MessageFrame = { type: 'message', event };
    if (data !== undefined) frame.data = data;
    return this.sendFrame(frame);
  }

  sendFrame(frame: ServerFrame): boolean {
    return this.sendRaw(this.gateway.encode(frame), frame);
  }

  /**
   * The per-connection send queue is the socket's own buffer: measuring it costs nothing and it
   * is where bytes pile up when a reader stalls. Past the limit the connection is closed rather
   * than buffering without bound.
   */
  sendRaw(raw: Buffer, frame: ServerFrame): boolean {
    const { ws } = this;
    if (ws.readyState !== ws.OPEN) return false;
    const max = this.gateway.limits.maxQueueBytes;
    // Bytes held by our cork would have reached the kernel uncorked: hand them over before
    // judging, so only bytes the reader has not taken count, as without corking.
    if (this.corked && ws.bufferedAmount + raw.length > max) this.flushWrites();
    if (ws.bufferedAmount + raw.length > max) {
      this.gateway.slowConsumer(this);
      // Nothing more is queued once closing; the close frame tells a merely slow reader why, and
      // the close timer cuts off one that never reads.
      this.close(CloseCode.SLOW_CONSUMER, 'send queue full');
      return false;
    }
    this.stats.messagesOut++;
    this.stats.bytesOut += raw.length;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      corked.push(this);
      if (!uncorkScheduled) {
        uncorkScheduled = true;
        process.nextTick(uncorkAll);
      }
    }
    ws.send(raw, { binary: this.gateway.codec.binary });
    const taps = this.frameTaps;
    if (taps) for (const tap of taps) tap.outbound?.(this, raw, frame);
    return true;
  }

  /** Hands what this tick queued on the socket to the kernel, in one writev. */
  flushWrites(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  reply(id: number, data: unknown): void {
    this.sendFrame(data === undefined ? { type: 'reply', id } : { type: 'reply', id, data });
  }

  sendError(id: number | undefined, code: string, message: string, details?: unknown): void {
    const frame: ServerFrame = { type: 'error', code, message };
    if (id !== undefined) frame.id = id;
    if (details !== undefined) frame.details = details;
    this.sendFrame(frame);
  }

  private fail(id: number, error: unknown): void {
    const err = toSwitchboardError(error);
    if (err.code === ErrorCode.INTERNAL && !(error instanceof SwitchboardError)) {
      this.gateway.logger.error({ err: error, connection: this.id }, 'request failed');
    }
    this.sendError(id, err.code, err.message, err.details);
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────────────────

  ping(): void {
    this.awaitingPong = true;
    this.sendFrame({ type: 'ping' });
  }

  close(code: number = CloseCode.DISCONNECTED_BY_SERVER, reason = ''): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.closeCode = { code, reason };
    this.closeTimer = setTimeout(() => this.ws.terminate(), this.gateway.limits.closeTimeoutMs);
    try {
      this.ws.close(code, closeReason(reason));
    } catch (error) {
      // An invalid code (from an app or the inspector's close action) must not leave it open.
      this.gateway.logger.warn({ err: error, connection: this.id, code }, 'close failed');
      this.ws.terminate();
    }
  }

  /** For peers that cannot take part in a closing handshake (dead, or not reading). */
  terminate(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.closeCode = { code, reason };
    // Frames queued this tick leave first, as they would have without the cork.
    this.flushWrites();
    this.ws.terminate();
  }

  private handleClose(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    clearTimeout(this.closeTimer);
    this.authTimer = this.expiryTimer = this.closeTimer = undefined;
    if (code === 1006 && this.closeCode) ({ code, reason } = this.closeCode);
    for (const channel of [...this.channels.keys()]) this.leave(channel);
    this.gateway.connectionClosed(this, code, reason);
  }
}
