/**
 * One proxied WebSocket connection: relays the handshake and then every byte both ways between
 * the client's socket and the upstream's, reads a copy of each direction into the recording,
 * and writes the panel's injected frames (send, replay, close) between messages.
 */
import type { Socket } from 'node:net';
import { refuseUpgrade } from '../server/http.js';
import type { Recording } from './proxy-recording.js';
import { Relay } from './proxy-relay.js';
import { redactProtocol } from './redact.js';
import type { Direction } from './types.js';
import { closePayload, encodeFrame, FrameReader } from './ws-wire.js';

/** After one side has gone, how long the other gets to finish before it is cut off. */
const TEARDOWN_MS = 2_000;
const MAX_RESPONSE_HEAD = 64 * 1024;

/** One proxied connection: the client's socket, the upstream's, and a reader each way. */
export class Tunnel {
  /** The upstream answered 101: frames flow. */
  isOpen = false;
  private responded = false;
  private responseHead: Buffer | undefined = Buffer.alloc(0);
  private readonly readers: Record<Direction, FrameReader>;
  private readonly relays: Record<Direction, Relay>;
  /** A close frame went that way: no data frame may follow it. */
  private readonly closed: Record<Direction, boolean> = { in: false, out: false };
  private finished = false;
  private observing = true;

  constructor(
    readonly id: string,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly recording: Recording,
    private readonly timeoutMs: number,
    private readonly onFinished: () => void,
  ) {
    const { store } = recording;
    const keep = (binary: boolean) =>
      binary ? store.limits.hexPreviewBytes + 1 : store.limits.maxFrameBytes + 1;
    const reader = (direction: Direction) =>
      new FrameReader(
        {
          message: (binary, data, size, cut) =>
            this.recording.message(id, direction, binary, data, size, cut),
          control: (kind, payload) => {
            if (kind === 'close') this.closed[direction] = true;
            this.recording.control(id, direction, kind, payload);
          },
          stop: (reason) => store.noteError(id, `not inspected any further: ${reason}`),
        },
        { keep },
      );
    this.readers = { in: reader('in'), out: reader('out') };
    client.setNoDelay?.(true);
    this.relays = {
      in: new Relay(
        client,
        upstream,
        (chunk, onBoundary) => this.observe('in', chunk, onBoundary),
        () => this.isOpen && this.readers.in.atBoundary,
      ),
      out: new Relay(
        upstream,
        client,
        (chunk, onBoundary) => this.observe('out', chunk, onBoundary),
        () => this.isOpen && this.readers.out.atBoundary,
      ),
    };
  }

  /** Sends the handshake (and any bytes the client sent after it) and starts relaying. */
  start(requestHead: Buffer, head: Buffer): void {
    const { client, upstream } = this;
    upstream.setTimeout(this.timeoutMs, () => {
      if (this.responded) return;
      this.refuse(504, 'Gateway Timeout', 'upstream did not answer the handshake in time');
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.responded)
        this.refuse(502, 'Bad Gateway', `upstream unreachable: ${error.code ?? error.message}`);
    });
    client.on('error', () => upstream.destroy());
    // Each side's end is passed on; once one side has gone, the other has a moment to follow.
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => this.teardown(upstream));
    upstream.on('close', () => this.teardown(client));
    upstream.write(requestHead);
    if (head.length > 0) this.relays.in.receive(head);
  }

  private refuse(status: number, text: string, error: string): void {
    this.responded = true;
    this.recording.store.noteError(this.id, error);
    refuseUpgrade(this.client, status, text);
    this.upstream.destroy();
  }

  private teardown(other: Socket): void {
    other.end();
    setTimeout(() => other.destroy(), TEARDOWN_MS).unref?.();
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.relays.in.drop();
    this.relays.out.drop();
    const { store } = this.recording;
    const record = store.connection(this.id);
    if (record && record.status !== 'closed') {
      store.updateConnection(this.id, {
        status: 'closed',
        closedAt: Date.now(),
        closeCode: record.closeCode ?? 1006,
        closeReason: record.closeReason ?? '',
      });
    }
    this.onFinished();
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  /** Reads a copy of what was just forwarded. Never throws: capture must not break the relay. */
  private observe(
    direction: Direction,
    chunk: Buffer,
    onBoundary?: (offset: number) => void,
  ): void {
    if (!this.observing) return;
    try {
      if (direction === 'out' && this.responseHead !== undefined) {
        this.responded = true;
        const rest = this.readResponseHead(chunk);
        if (rest === undefined) return;
        chunk = rest;
        if (!this.isOpen || chunk.length === 0) return;
        // Frames in the same chunk as the handshake's answer: no injection point is needed there.
        onBoundary = undefined;
      }
      this.readers[direction].feed(chunk, onBoundary);
    } catch (error) {
      this.observing = false;
      this.recording.store.noteError(this.id, `inspection stopped: ${(error as Error).message}`);
    }
  }

  /** Gathers the upstream's answer to the handshake; returns the bytes after it once complete. */
  private readResponseHead(chunk: Buffer): Buffer | undefined {
    const gathered = Buffer.concat([this.responseHead!, chunk]);
    const end = gathered.indexOf('\r\n\r\n');
    if (end === -1) {
      if (gathered.length > MAX_RESPONSE_HEAD) {
        this.observing = false;
        this.responseHead = undefined;
      } else this.responseHead = gathered;
      return undefined;
    }
    this.responseHead = undefined;
    this.upstream.setTimeout(0);
    const lines = gathered.subarray(0, end).toString('latin1').split('\r\n');
    const [, status = '', ...words] = lines[0]!.split(' ');
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0)
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const { store } = this.recording;
    if (status !== '101') {
      this.observing = false;
      store.noteError(
        this.id,
        `upstream refused the upgrade: HTTP ${status} ${words.join(' ')}`.trim(),
      );
      store.updateConnection(this.id, {
        status: 'closed',
        closedAt: Date.now(),
        closeReason: `HTTP ${status} ${words.join(' ')}`.trim(),
      });
      return undefined;
    }
    this.isOpen = true;
    if (/permessage-deflate/i.test(headers.get('sec-websocket-extensions') ?? '')) {
      this.readers.in.enableDeflate();
      this.readers.out.enableDeflate();
    }
    const protocol = headers.get('sec-websocket-protocol');
    store.updateConnection(this.id, {
      status: 'open',
      ...(protocol !== undefined && { protocol: redactProtocol(protocol) }),
    });
    return gathered.subarray(end + 4);
  }

  /**
   * Writes a frame into the conversation: `in` as if the client had sent it (replay on the live
   * connection), `out` as if the server had (the panel's "send to client"). Only once open and
   * before a close frame went that way.
   */
  inject(direction: Direction, data: string | Uint8Array): boolean {
    if (!this.isOpen || this.closed[direction] || this.finished) return false;
    const binary = typeof data !== 'string';
    const payload = binary
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);
    this.relays[direction].inject(encodeFrame(binary ? 2 : 1, payload, direction === 'in'));
    const keep = binary
      ? this.recording.store.limits.hexPreviewBytes + 1
      : this.recording.store.limits.maxFrameBytes + 1;
    const cut = payload.length > keep;
    this.recording.message(
      this.id,
      direction,
      binary,
      cut ? payload.subarray(0, keep) : payload,
      payload.length,
      cut,
    );
    return true;
  }

  /**
   * Closes from the panel: a close frame to the client, as if from the server. The client
   * answers it, and its answer goes on to the upstream, which sees the client close.
   */
  closeFromPanel(code: number, reason: string): boolean {
    const valid =
      Number.isInteger(code) &&
      ((code >= 1000 && code <= 1003) ||
        (code >= 1007 && code <= 1014) ||
        (code >= 3000 && code <= 4999));
    if (!valid || Buffer.byteLength(reason) > 123) return false;
    if (!this.isOpen || this.closed.out || this.finished) return false;
    const payload = closePayload(code, reason);
    this.closed.out = true;
    this.relays.out.inject(encodeFrame(8, payload, false));
    this.recording.control(this.id, 'out', 'close', payload);
    setTimeout(() => this.destroy(), 5_000).unref?.();
    return true;
  }
}
