import type { IncomingMessage } from 'node:http';
import type { Publication } from '../../broker/types.js';
import { CloseCode, closeReason } from '../../protocol/close-codes.js';
import { ErrorCode, SwitchboardError, toSwitchboardError } from '../../protocol/errors.js';
import type {
  ClientFrame,
  MessageFrame,
  PresenceMember,
  ServerFrame,
} from '../../protocol/frames.js';
import { isRequestId, parseClientFrame } from '../../protocol/validate.js';
import { TokenBucket } from '../limits.js';
import type { ConnectionState, ConnectionStats, Identity, Tap } from '../types.js';
import { tellControl, watchSocket } from './control-frames.js';
import { uncorkAtTickEnd } from './cork.js';
import { expireAt } from './expiry.js';
import type { ConnectionHost, ConnectionSocket, Connection as LiveConnection } from './host.js';
import { onConnect, onHistory, onPresence, onPublish, onRefresh, onRpc } from './requests.js';
import { onSubscribe, onUnsubscribe } from './subscribe.js';

/**
 * One client socket: reads frames in, enforces the per-connection limits, hands each request to
 * its handler (requests.ts, subscribe.ts) and answers every one exactly once; writes frames out
 * through a bounded, corked send queue; closes with the code that says why.
 *
 * Frames that touch channels or identity run through an ordered chain, so a client's subscribe
 * then publish reach the broker in that order even when an authorize hook is async. Work that
 * may take long (RPC handlers, broker round trips) is started in order but not awaited by the
 * chain, so one slow RPC does not hold up the connection.
 */

/** Publications that arrive while a subscribe is being answered wait here, then follow the reply. */
const MAX_PENDING_PUBLICATIONS = 10_000;

export class Connection implements LiveConnection {
  readonly id: string;
  state: ConnectionState = 'connecting';
  identity: Identity | undefined;
  clientData: unknown;
  readonly remoteAddress: string | undefined;
  readonly connectedAt = Date.now();
  readonly stats: ConnectionStats = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
  /** channel → publications held back while its subscribe is answered; null once live. */
  channels: Map<string, Publication[] | null> | undefined;
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
  private requestDone: (() => void) | undefined;
  private authTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bounds the closing handshake: a peer that never answers is cut off. */
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** The code we closed with when the socket is cut without a handshake (reported as ours, not 1006). */
  private closeCode: { code: number; reason: string } | undefined;
  /** When the credential expires, and the connection's place in the expiry queue (expiry.ts). */
  expiryAt = 0;
  expiryIndex = -1;
  /** The socket `ws` writes to (the upgrade request's), corked while this tick's frames gather. */
  private readonly socket: IncomingMessage['socket'];
  private corked = false;

  constructor(
    readonly host: ConnectionHost,
    id: string,
    private readonly ws: ConnectionSocket,
    readonly request: IncomingMessage,
  ) {
    this.id = id;
    this.socket = request.socket;
    this.remoteAddress = request.socket.remoteAddress;
    const { limits } = host;
    this.bucket = new TokenBucket(limits.messagesPerSecond, limits.burst);
    this.authTimer = setTimeout(
      () => this.close(CloseCode.AUTH_TIMEOUT, 'connect frame not received in time'),
      limits.authTimeoutMs,
    );
    ws.on('message', (data: Buffer, isBinary) => this.handleMessage(data, isBinary));
    watchSocket(this, ws);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get userId(): string | undefined {
    return this.identity?.userId;
  }

  get subscriptions(): ReadonlySet<string> {
    return new Set(this.channels?.keys());
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
    const { host } = this;
    const { limits } = host;
    const { codec } = host.wire;
    this.awaitingPong = false;
    this.stats.messagesIn++;
    this.stats.bytesIn += data.length;

    let decoded: unknown;
    let decodeFailed = false;
    try {
      decoded = codec.decode(codec.binary || isBinary ? data : data.toString());
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
    if (++this.rateLimitedInARow >= this.host.limits.maxRateLimited)
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
    if (this.inFlight >= this.host.limits.maxInFlight) {
      this.sendError(frame.id, ErrorCode.LIMIT_EXCEEDED, 'Too many requests in flight');
      return;
    }
    this.inFlight++;
    // Nothing queued ahead: an RPC can start now. It would only be started by the chain, never
    // awaited, so skipping the chain's closure and promises changes no order.
    if (frame.type === 'rpc' && this.chain === undefined && this.identity !== undefined) {
      // Made on the first RPC: a connection that makes none does not carry it.
      const done = (this.requestDone ??= () => void this.inFlight--);
      onRpc(this, frame).then(done, done);
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
            await onConnect(this, frame);
            break;
          case 'refresh':
            await onRefresh(this, frame);
            break;
          case 'subscribe':
            await onSubscribe(this, frame);
            break;
          case 'unsubscribe':
            onUnsubscribe(this, frame);
            break;
          case 'publish':
            started = (await onPublish(this, frame)).done;
            break;
          case 'rpc':
            started = onRpc(this, frame);
            break;
          case 'presence':
            await onPresence(this, frame);
            break;
          case 'history':
            await onHistory(this, frame);
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

  authenticated(identity: Identity, clientData: unknown): void {
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.identity = identity;
    this.clientData = clientData;
    this.state = 'open';
  }

  setExpiry(at: number | undefined): void {
    expireAt(this, at);
  }

  expire(): void {
    this.close(CloseCode.TOKEN_EXPIRED, 'token expired');
  }

  leave(channel: string): void {
    if (!this.channels?.delete(channel)) return;
    const { channels } = this.host;
    channels.leave(this, channel);
    const member = this.presence?.get(channel);
    if (member) {
      this.presence!.delete(channel);
      channels.presenceLeave(channel, member);
    }
  }

  // ── outbound ─────────────────────────────────────────────────────────────────────────────

  /** Fan-out entry point: `raw` is the publication encoded once for every subscriber. */
  deliver(publication: Publication, raw: Buffer, frame?: MessageFrame): void {
    const held = this.channels?.get(publication.channel);
    if (held) {
      if (held.length >= MAX_PENDING_PUBLICATIONS) {
        this.close(CloseCode.SLOW_CONSUMER, 'too many publications while subscribing');
        return;
      }
      held.push(publication);
      return;
    }
    if (publication.exceptConnection === this.id) this.sendOwn(publication);
    else this.sendRaw(raw, frame ?? this.host.wire.publicationFrame(publication));
  }

  /** A publication encoded for this connection alone (a replay, a held one). */
  sendPublication(publication: Publication): void {
    if (publication.exceptConnection === this.id) return this.sendOwn(publication);
    const { wire } = this.host;
    this.sendRaw(wire.encodePublication(publication), wire.publicationFrame(publication));
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
    return this.sendRaw(this.host.wire.encode(frame), frame);
  }

  /**
   * The per-connection send queue is the socket's own buffer: measuring it costs nothing and it
   * is where bytes pile up when a reader stalls. Past the limit the connection is closed rather
   * than buffering without bound.
   */
  sendRaw(raw: Buffer, frame: ServerFrame): boolean {
    const { ws } = this;
    if (ws.readyState !== ws.OPEN) return false;
    const max = this.host.limits.maxQueueBytes;
    // Bytes held by our cork would have reached the kernel uncorked: hand them over before
    // judging, so only bytes the reader has not taken count, as without corking.
    if (this.corked && ws.bufferedAmount + raw.length > max) this.flushWrites();
    if (ws.bufferedAmount + raw.length > max) {
      this.host.session.slowConsumer(this);
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
      uncorkAtTickEnd(this);
    }
    ws.send(raw, { binary: this.host.wire.codec.binary });
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

  fail(id: number, error: unknown): void {
    const err = toSwitchboardError(error);
    if (err.code === ErrorCode.INTERNAL && !(error instanceof SwitchboardError)) {
      this.host.logger.error({ err: error, connection: this.id }, 'request failed');
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
    tellControl(this, 'out', 'close', undefined, code, reason);
    this.closeTimer = setTimeout(() => this.ws.terminate(), this.host.limits.closeTimeoutMs);
    try {
      this.ws.close(code, closeReason(reason));
    } catch (error) {
      // An invalid code (from an app or the inspector's close action) must not leave it open.
      this.host.logger.warn({ err: error, connection: this.id, code }, 'close failed');
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

  socketClosed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    // The peer closed first: its close frame (1005/1006: none came) is the connection's last.
    if (this.state !== 'closing') tellControl(this, 'in', 'close', undefined, code, reason);
    this.state = 'closed';
    clearTimeout(this.authTimer);
    clearTimeout(this.closeTimer);
    this.authTimer = this.closeTimer = undefined;
    expireAt(this, undefined);
    if (code === 1006 && this.closeCode) ({ code, reason } = this.closeCode);
    for (const channel of [...(this.channels?.keys() ?? [])]) this.leave(channel);
    this.host.session.closed(this, code, reason);
  }
}
