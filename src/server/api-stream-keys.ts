/**
 * Idempotency keys of streams sent over HTTP (`POST /api/stream` with `Idempotency-Key`): a key
 * is held while its stream runs and, once the stream ended well, remembered with its answer for
 * the broker's idempotency window, so a retry gets that answer instead of a second stream. A
 * stream that failed (its request dropped, its body quiet or refused) releases its key: the
 * subscribers saw it end with an error marker, and a retry is the client's way to send it again.
 *
 * Kept on the node that took the stream: a retry behind a load balancer must reach the same node
 * to be recognized (the stream's chunks carry keys of their own, but its id is new each time).
 */

/** What a successful stream answered: the `streamResult` of api-schemas.ts. */
export type StreamAnswer = Record<string, unknown>;

interface Held {
  /** The running stream's id, once it is open. */
  id?: string;
  /** Set when the stream ended well. */
  answer?: StreamAnswer;
  expiresAt: number;
}

/** Keys remembered at most; past it the oldest finished ones are forgotten first. */
const MAX_KEYS = 10_000;

export class StreamKeys {
  readonly #held = new Map<string, Held>();

  constructor(private readonly windowMs: number) {}

  /**
   * Takes the key for a new stream, or answers what holds it: a running stream (`id`, no
   * `answer`) or one that ended well within the window (`answer`).
   */
  claim(channel: string, key: string): Held | undefined {
    const now = Date.now();
    this.#sweep(now);
    const name = keyOf(channel, key);
    const held = this.#held.get(name);
    if (held && (held.answer === undefined || held.expiresAt > now)) return held;
    this.#held.delete(name);
    this.#held.set(name, { expiresAt: Number.POSITIVE_INFINITY });
    return undefined;
  }

  opened(channel: string, key: string, id: string): void {
    const held = this.#held.get(keyOf(channel, key));
    if (held) held.id = id;
  }

  /** The stream ended well: its answer is what a retry gets, for the window. */
  done(channel: string, key: string, answer: StreamAnswer): void {
    const name = keyOf(channel, key);
    this.#held.delete(name);
    this.#held.set(name, { answer, expiresAt: Date.now() + this.windowMs });
    if (this.#held.size > MAX_KEYS) this.#forgetOldest();
  }

  /** The stream failed, or never opened: a retry may send it again. */
  release(channel: string, key: string): void {
    this.#held.delete(keyOf(channel, key));
  }

  /** Finished entries are kept in the order they finished, so the expired ones come first. */
  #sweep(now: number): void {
    for (const [name, held] of this.#held) {
      if (held.answer === undefined) continue;
      if (held.expiresAt > now) return;
      this.#held.delete(name);
    }
  }

  #forgetOldest(): void {
    for (const [name, held] of this.#held) {
      if (held.answer === undefined) continue;
      this.#held.delete(name);
      return;
    }
  }
}

function keyOf(channel: string, key: string): string {
  return `${channel}\u0000${key}`;
}
