/**
 * The outbox: every request from its creation until it settles. It waits (bounded in entries
 * and bytes) while there is no connection, goes out in batches as fast as the server's announced
 * limits allow, is matched with its answer by id, expires on its time to live, and is resent
 * after a reconnect when that is safe (publishes, by their idempotency key) — or retried with the
 * same key when the server could not tell whether it published (UNCERTAIN).
 */
import { ErrorCode, isErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { ClientRequestFrame, ErrorFrame, ReplyFrame } from '../protocol/frames.js';
import { backoffDelay } from './backoff.js';
import { MAX_BATCH, type ResolvedOptions } from './options.js';
import { Pacer } from './pacer.js';
import type { Transport } from './transport.js';
import type { Counters, Entry } from './types.js';

type Timer = ReturnType<typeof setTimeout>;

export class Outbox {
  #o: ResolvedOptions;
  #counters: Counters;
  /** Request ids: the outbox numbers every request it takes, and matches answers by them. */
  #nextId = 1;
  /** The current connection, once its handshake is done; undefined while requests must wait. */
  #link: Transport | undefined;
  /** Waiting for a connection, for the server's limits, or for the current microtask's batch. */
  #waiting: Entry[] = [];
  /** Sent on the current connection, awaiting their answer, by request id. */
  #inflight = new Map<number, Entry>();
  /**
   * Ids of requests given up on (expired) while sent on this connection: the server still counts
   * them in flight until it answers, so the outbox does too.
   */
  #abandoned = new Set<number>();
  /** Publishes answered UNCERTAIN, each with the timer of its retry. */
  #uncertain = new Map<Entry, Timer>();
  #flushScheduled = false;
  /** The current connection's pacing (the limits its connect reply announced). */
  #pacer = new Pacer(undefined, MAX_BATCH);
  /** Waiting for a pacing token: the outbox sends again when it fires. */
  #paceTimer: Timer | undefined;
  /** The outbox could not send everything at its last flush: what is queued now will wait. */
  #blocked = false;

  constructor(options: ResolvedOptions, counters: Counters) {
    this.#o = options;
    this.#counters = counters;
  }

  /** Requests waiting to be sent, awaiting an answer, or waiting for a retry. */
  get depth(): number {
    return this.#waiting.length + this.#inflight.size + this.#uncertain.size;
  }

  /**
   * A request of the app's: settles exactly once (answer, error answer, time to live, disconnect
   * or close). It waits within the bounds, unless `via` is given: then it is written at once on
   * that socket, outside the bounds (the connect handshake, which the outbox itself waits for).
   */
  request<T>(
    frame: ClientRequestFrame,
    timeoutMs = this.#o.requestTimeoutMs,
    via?: Transport,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { maxEntries, maxBytes } = this.#o.outbox;
      if (!via && this.#waiting.length >= maxEntries)
        return reject(new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Outbox is full'));
      // Only what waits (for a connection, or for the server's limits) can pile up.
      const bytes = !via && (!this.#link || this.#blocked) ? this.#size(frame) : 0;
      if (bytes > 0 && this.#waitingBytes() + bytes > maxBytes)
        return reject(new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Outbox is full (bytes)'));
      const entry: Entry = {
        frame,
        resolve: resolve as (data: never) => void,
        reject,
        ttlTimer: undefined,
        sentAt: 0,
        bytes,
      };
      this.#take(entry, timeoutMs);
      if (via) this.#send([entry], via);
      else {
        this.#waiting.push(entry);
        this.#flush();
      }
    });
  }

  /**
   * Requests of the client's own (subscribes and the unsubscribes before them): outside the
   * bounds, ahead of what waits when `first`, and only while connected: a disconnect drops them
   * rather than resend them (the next connection asks afresh). Each expires after the request
   * timeout.
   */
  queue(entries: Entry[], first: boolean): void {
    if (!this.#link) return;
    for (const entry of entries) this.#take(entry, this.#o.requestTimeoutMs);
    if (first) this.#waiting.unshift(...entries);
    else this.#waiting.push(...entries);
    this.#flush();
  }

  /**
   * The connection is ready: `first` (the resubscribes) go ahead of what waited, so publishes
   * queued meanwhile land after the client is listening; then everything goes, at the pace the
   * server's `limits` allow.
   */
  resume(link: Transport, limits: unknown, first: Entry[]): void {
    this.#link = link;
    this.#pacer = new Pacer(limits, MAX_BATCH);
    this.queue(first, true);
  }

  /**
   * The connection is lost. Publishes in flight carry idempotency keys: they are resent first,
   * ahead of what waits, so a publisher's order survives the reconnect. Subscribes (and their
   * unsubscribes) are dropped: the next connection rebuilds them from the subscriptions. Anything
   * else in flight (an RPC) may have run, so it fails DISCONNECTED and its caller decides.
   */
  suspend(code: number): void {
    this.#stop();
    const resend: Entry[] = [];
    for (const entry of this.#inflight.values()) {
      const { frame } = entry;
      if (frame.type === 'publish') {
        entry.bytes = this.#size(frame);
        resend.push(entry);
        continue;
      }
      clearTimeout(entry.ttlTimer);
      if (frame.type !== 'subscribe')
        entry.reject(new SwitchboardError(ErrorCode.DISCONNECTED, `Connection lost (${code})`));
    }
    this.#inflight.clear();
    for (const entry of this.#waiting) {
      const { type } = entry.frame;
      if (type === 'subscribe' || type === 'unsubscribe') clearTimeout(entry.ttlTimer);
      else resend.push(entry);
    }
    this.#waiting = resend;
  }

  /** The client closed: everything still here rejects with `error`. */
  fail(error: SwitchboardError): void {
    this.#stop();
    for (const timer of this.#uncertain.values()) clearTimeout(timer);
    const all = [...this.#inflight.values(), ...this.#waiting, ...this.#uncertain.keys()];
    this.#inflight.clear();
    this.#uncertain.clear();
    this.#waiting = [];
    for (const entry of all) {
      clearTimeout(entry.ttlTimer);
      entry.reject(error);
    }
  }

  /**
   * Settles the request a reply or error frame answers. An error that answers no request (a
   * late answer to an abandoned one aside) is returned, for the client to report.
   */
  answer(frame: ReplyFrame | ErrorFrame): SwitchboardError | undefined {
    const { id } = frame;
    const entry = id === undefined ? undefined : this.#inflight.get(id);
    // Each answer frees a request slot: what waits for one goes now.
    if (this.#waiting.length > 0) this.#flush();
    if (!entry) {
      // A late answer to a request given up on is no news to anyone.
      if (id !== undefined && this.#abandoned.delete(id)) return;
      return frame.type === 'error' ? toError(frame) : undefined;
    }
    this.#inflight.delete(id!);
    this.#counters.rttMs = Date.now() - entry.sentAt;
    if (frame.type === 'reply') {
      clearTimeout(entry.ttlTimer);
      entry.resolve(frame.data as never);
      return;
    }
    const error = toError(frame);
    // Once an attempt's outcome was unknown, a later refusal of a retry says nothing of it:
    // the publish stays uncertain and keeps being asked until its time to live runs out.
    const unknown =
      error.code === ErrorCode.UNCERTAIN ||
      (entry.uncertain !== undefined && error.code === ErrorCode.UNAVAILABLE);
    if (!unknown || entry.frame.type !== 'publish') {
      clearTimeout(entry.ttlTimer);
      entry.reject(error);
      return;
    }
    // The server could not tell whether it published: asked again with the same idempotency
    // key (applied at most once), after a growing delay, until its time to live runs out.
    if (error.code === ErrorCode.UNCERTAIN) entry.uncertain = error;
    const timer = setTimeout(
      () => {
        this.#uncertain.delete(entry);
        this.#waiting.unshift(entry);
        this.#flush();
      },
      backoffDelay((entry.retries = (entry.retries ?? -1) + 1), this.#o.backoff),
    );
    this.#uncertain.set(entry, timer);
  }

  /** Numbers the request and starts its time to live. */
  #take(entry: Entry, timeoutMs: number): void {
    entry.frame.id = this.#nextId++;
    entry.ttlTimer = setTimeout(() => this.#expire(entry, timeoutMs), timeoutMs);
  }

  /** Expired: never sent afterwards, whether it was waiting, in flight or about to be retried. */
  #expire(entry: Entry, timeoutMs: number): void {
    const { frame } = entry;
    if (this.#inflight.get(frame.id) === entry) {
      this.#inflight.delete(frame.id);
      // The server answers it some day and counts it until then.
      this.#abandoned.add(frame.id);
    }
    const index = this.#waiting.indexOf(entry);
    if (index >= 0) this.#waiting.splice(index, 1);
    clearTimeout(this.#uncertain.get(entry));
    this.#uncertain.delete(entry);
    entry.reject(
      entry.uncertain ??
        new SwitchboardError(
          ErrorCode.TIMEOUT,
          `No reply to "${frame.type}" within ${timeoutMs} ms`,
        ),
    );
  }

  #size(frame: ClientRequestFrame): number {
    const data = this.#o.codec.encode(frame);
    return typeof data === 'string' ? data.length : data.byteLength;
  }

  #waitingBytes(): number {
    let total = 0;
    for (const entry of this.#waiting) total += entry.bytes;
    return total;
  }

  /** Sends what waits, batched per microtask, once connected. */
  #flush(): void {
    if (this.#flushScheduled || !this.#link) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#drain();
    });
  }

  /**
   * Sends as much as the server's limits allow: no more requests awaiting replies than
   * `maxInFlight`, no more frames than its token bucket holds, batches of at most `maxBatch`.
   * The rest waits, in order, for replies (each one flushes again) or for the next token (a
   * timer); nothing is dropped and nothing is sent to be refused.
   */
  #drain(): void {
    clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    const pacer = this.#pacer;
    while (this.#link && this.#waiting.length > 0) {
      const room = pacer.inFlight - this.#inflight.size - this.#abandoned.size;
      const count = Math.min(this.#waiting.length, pacer.batch, room, pacer.tokens());
      if (count <= 0) {
        this.#blocked = true;
        if (room > 0) this.#paceTimer = setTimeout(() => this.#drain(), pacer.wait());
        return;
      }
      if (!this.#send(this.#waiting.splice(0, count), this.#link)) break;
      pacer.spend(count);
    }
    this.#blocked = false;
  }

  #send(batch: Entry[], link: Transport): boolean {
    if (!link.open) {
      // Closing: the close event requeues what is in flight; this waits with the rest.
      this.#waiting.unshift(...batch);
      return false;
    }
    const now = Date.now();
    const frames = batch.map((entry) => {
      entry.sentAt = now;
      this.#inflight.set(entry.frame.id, entry);
      return entry.frame;
    });
    link.send(frames);
    return true;
  }

  /** Off the connection: no pacing, nothing to send on, nothing abandoned on it any more. */
  #stop(): void {
    this.#link = undefined;
    this.#pacer = new Pacer(undefined, MAX_BATCH);
    clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    this.#blocked = false;
    this.#abandoned.clear();
  }
}

function toError(frame: ErrorFrame): SwitchboardError {
  return new SwitchboardError(
    isErrorCode(frame.code) ? frame.code : ErrorCode.INTERNAL,
    frame.message,
    frame.details,
  );
}
