/**
 * The client's view of a chat's channel: each reply stream assembled by sequence number from
 * whatever delivers it (live, the subscribe's catch-up, a history read), and the readers that
 * turn one reply into the AI SDK's `ReadableStream<UIMessageChunk>`, chunk by chunk in order,
 * each exactly once, however the pieces arrive.
 */
import type { UIMessageChunk } from 'ai';
import type { MessageMeta, Subscription } from '../client/index.js';
import type { MessageFrame, StreamMarker } from '../protocol/frames.js';
import type { ChatEndData, ChatOpenData } from './types.js';

/** Chunks one reply may hold on the client; past it the reply cannot be followed. */
const MAX_CHUNKS = 50_000;
/** Replies in progress one chat keeps without a reader (a channel with many concurrent replies). */
const MAX_UNREAD = 32;
/** Ended replies remembered, so a late copy of their chunks (a history read) does not revive them. */
const MAX_ENDED = 256;
/** Publications read from history to find the replies in progress (the most one request returns). */
const HISTORY_LIMIT = 1_000;

interface Piece {
  data: unknown;
  status: StreamMarker['status'];
}

/** One reply stream: its pieces by `seq` (0 is the opening marker, the last the end marker). */
export class Reply {
  readonly pieces = new Map<number, Piece>();
  readonly readers = new Set<ReplyReader>();
  /** The offset of the first piece seen: which reply is newer. */
  offset = Number.POSITIVE_INFINITY;
  requestId: string | undefined;
  ended = false;
  overflow = false;

  constructor(readonly id: string) {}

  get opened(): boolean {
    return this.pieces.has(0);
  }

  /** False when the piece was already there. */
  place(marker: StreamMarker, data: unknown, offset: number | undefined): boolean {
    if (this.pieces.has(marker.seq)) return false;
    if (this.pieces.size >= MAX_CHUNKS) {
      this.overflow = true;
      for (const reader of this.readers) reader.fail('The reply is too long to follow');
      return false;
    }
    this.pieces.set(marker.seq, { data, status: marker.status });
    if (offset !== undefined && offset < this.offset) this.offset = offset;
    if (marker.status === 'open') this.requestId = (data as ChatOpenData | null)?.requestId;
    if (marker.status === 'end' || marker.status === 'error') this.ended = true;
    for (const reader of this.readers) reader.pump();
    return true;
  }
}

/**
 * One consumer of a reply: a ReadableStream fed from `next` on, in sequence order. An idle
 * timer bounds the wait when the reply's writer vanished without an end (its node died).
 */
export class ReplyReader {
  readonly stream: ReadableStream<UIMessageChunk>;
  #controller!: ReadableStreamDefaultController<UIMessageChunk>;
  #reply: Reply | undefined;
  #next = 1;
  #done = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onDone: (() => void)[] = [];

  constructor(private readonly idleTimeoutMs: number) {
    this.stream = new ReadableStream<UIMessageChunk>({
      start: (controller) => {
        this.#controller = controller;
      },
      // The consumer stopped reading: this viewer detaches; the reply goes on for the others.
      cancel: () => this.#finish(),
    });
    this.#arm();
  }

  get done(): boolean {
    return this.#done;
  }

  /** Runs `callback` once the reader is finished, however it finishes. */
  whenDone(callback: () => void): void {
    if (this.#done) callback();
    else this.#onDone.push(callback);
  }

  attach(reply: Reply): void {
    if (this.#reply || this.#done) return;
    this.#reply = reply;
    reply.readers.add(this);
    this.pump();
  }

  /** Hands over every piece that is next in line. */
  pump(): void {
    const reply = this.#reply;
    if (!reply || this.#done) return;
    let moved = false;
    for (let piece = reply.pieces.get(this.#next); piece; piece = reply.pieces.get(this.#next)) {
      this.#next++;
      moved = true;
      if (piece.status === 'end') {
        if ((piece.data as ChatEndData | null)?.outcome === 'aborted')
          this.#controller.enqueue({ type: 'abort' });
        return this.close();
      }
      if (piece.status === 'error') {
        const error = (piece.data as { error?: unknown } | null)?.error;
        const errorText = typeof error === 'string' ? error : 'The reply failed';
        this.#controller.enqueue({ type: 'error', errorText });
        return this.close();
      }
      this.#controller.enqueue(piece.data as UIMessageChunk);
    }
    if (moved) this.#arm();
  }

  /** Ends the stream here (after a stop, or when the reply ended). */
  close(): void {
    if (this.#done) return;
    try {
      this.#controller.close();
    } catch {
      // Already cancelled by its consumer.
    }
    this.#finish();
  }

  fail(message: string): void {
    if (this.#done) return;
    this.#controller.error(new Error(message));
    this.#finish();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.idleTimeoutMs <= 0) return;
    this.#timer = setTimeout(
      () => this.fail(`No part of the reply arrived for ${this.idleTimeoutMs} ms`),
      this.idleTimeoutMs,
    );
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#reply?.readers.delete(this);
    for (const callback of this.#onDone.splice(0)) callback();
  }
}

/**
 * A chat's channel as the transport follows it: the replies seen on it and the readers waiting
 * for the reply their request starts (matched by the request id in its opening marker).
 */
export class ChatWatch {
  readonly #replies = new Map<string, Reply>();
  readonly #ended = new Set<string>();
  readonly #expected = new Map<string, ReplyReader>();
  readonly #offs: (() => void)[];
  #filled: Promise<void> | undefined;

  constructor(
    readonly sub: Subscription,
    event: string,
  ) {
    this.#offs = [
      sub.on(event, (data, meta: MessageMeta) => this.#apply(data, meta.stream, meta.offset)),
      // Publications were lost beyond history's reach: take what history still has.
      sub.on('gap', () => {
        this.#filled = this.#fill();
        this.#filled.catch(() => {});
      }),
    ];
  }

  /** Subscribed, and what history holds of the replies in progress is in. */
  ready(): Promise<void> {
    if (!this.#filled) {
      const filled = this.sub.ready().then(() => this.#fill());
      // A failed read (the connection dropped meanwhile) is read again by the next caller.
      filled.catch(() => {
        if (this.#filled === filled) this.#filled = undefined;
      });
      this.#filled = filled;
    }
    return this.#filled;
  }

  /** A reader for the reply that will answer `requestId`. */
  expect(requestId: string, reader: ReplyReader): void {
    for (const reply of this.#replies.values()) {
      if (reply.requestId === requestId) return reader.attach(reply);
    }
    this.#expected.set(requestId, reader);
    reader.whenDone(() => this.#expected.delete(requestId));
  }

  /** The server said which stream answers: attach if the opening marker has not done it. */
  bind(reader: ReplyReader, requestId: string, streamId: string): void {
    this.#expected.delete(requestId);
    reader.attach(this.#reply(streamId));
  }

  /** The newest reply in progress that can be replayed from its start. */
  latestInProgress(): Reply | undefined {
    let latest: Reply | undefined;
    for (const reply of this.#replies.values()) {
      if (reply.ended || !reply.opened || reply.overflow) continue;
      if (!latest || reply.offset > latest.offset) latest = reply;
    }
    return latest;
  }

  close(): void {
    for (const off of this.#offs) off();
    for (const reader of this.#expected.values()) reader.close();
    for (const reply of this.#replies.values()) for (const reader of reply.readers) reader.close();
    this.#replies.clear();
    this.#expected.clear();
  }

  async #fill(): Promise<void> {
    const { publications } = await this.sub.history({ limit: HISTORY_LIMIT });
    for (const publication of publications as MessageFrame[])
      this.#apply(publication.data, publication.stream, publication.offset);
  }

  #reply(id: string): Reply {
    let reply = this.#replies.get(id);
    if (!reply) {
      reply = new Reply(id);
      this.#replies.set(id, reply);
    }
    return reply;
  }

  #apply(data: unknown, marker: StreamMarker | undefined, offset: number | undefined): void {
    if (!marker || this.#ended.has(marker.id)) return;
    const reply = this.#reply(marker.id);
    // A rolled-up end holds every piece before it: a reader takes from it what it has not had
    // (placing by seq keeps each piece once), then the end.
    const rollup = marker.rollup ?? [];
    for (let seq = 0; seq < rollup.length && seq < marker.seq; seq++)
      reply.place(
        seq === 0 ? { id: marker.id, seq, status: 'open' } : { id: marker.id, seq },
        rollup[seq],
        offset,
      );
    reply.place(marker, data, offset);
    if (marker.status === 'open' || rollup.length > 0) {
      const reader =
        reply.requestId === undefined ? undefined : this.#expected.get(reply.requestId);
      if (reader) {
        this.#expected.delete(reply.requestId!);
        reader.attach(reply);
      }
    }
    this.#forget(reply);
  }

  /** Drops what no one will read: ended replies without readers, the oldest unread ones past the cap. */
  #forget(reply: Reply): void {
    if (reply.ended && reply.readers.size === 0) {
      this.#replies.delete(reply.id);
      this.#ended.add(reply.id);
      if (this.#ended.size > MAX_ENDED) this.#ended.delete(this.#ended.values().next().value!);
    }
    if (this.#replies.size <= MAX_UNREAD) return;
    let oldest: Reply | undefined;
    for (const candidate of this.#replies.values()) {
      if (candidate.readers.size > 0) continue;
      if (!oldest || candidate.offset < oldest.offset) oldest = candidate;
    }
    if (oldest) this.#replies.delete(oldest.id);
  }
}
