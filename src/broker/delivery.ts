import type { StreamPosition } from '../protocol/frames.js';
import { step } from '../protocol/position.js';
import { answerHistory } from './history.js';
import type { Publication, PublicationHandler } from './types.js';

/**
 * The delivery core every broker shares: a node's side of each channel it listens to. A broker
 * feeds it what its link carries (`receive`); the core hands handlers a channel's publications
 * exactly once, in offset order, or tells them (`onReset`) that it could not.
 *
 * It trusts no link to be perfect. Within an epoch offsets are contiguous, so:
 *   next      → deliver
 *   jump      → hold live publications, read the missed ones from history, deliver in order
 *   seen      → a repeat if it is the publication delivered at that offset, dropped; otherwise
 *               the store rolled back (restored from an older snapshot, a lagging replica
 *               promoted): fence it with a new epoch and reset the subscribers
 *   new epoch → the store lost the channel: reset the subscribers
 * A reset makes the gateway resync its subscribers, and each is told of its gap when its own
 * position cannot be recovered.
 */

/** What the core needs from a broker's store. */
export interface DeliverySource {
  /** The channel's position and what it keeps, oldest first, without anything past its age. */
  read(channel: string): Promise<{ position: StreamPosition; kept: readonly Publication[] }>;
  /**
   * Starts a new epoch if the channel is still in `seen.epoch` (a rolled-back store must not
   * hand out offsets its subscribers already hold). Optional: a store that cannot roll back
   * needs none.
   */
  fence?(channel: string, seen: StreamPosition): Promise<void>;
}

/** How a broker's link learns to carry a channel, or stop. */
export interface DeliveryLink {
  listen(channel: string): Promise<void>;
  unlisten(channel: string): Promise<void>;
}

/** Live publications held during one catch-up at most; a channel busier than that is reset. */
const MAX_HELD = 100_000;

/**
 * Handler lists are arrays replaced on change, never changed in place: a dispatch walks the list
 * it started with, whoever subscribes or leaves meanwhile. Far smaller than a Set for the one
 * handler most channels have (every user's own channel is an entry), and channels without reset
 * handlers share one empty list.
 */
const NO_RESETS: readonly (() => void)[] = Object.freeze([]);
/** A catch-up that read nothing from history: every entry may share it, nothing writes to it. */
const NO_IDS: ReadonlyMap<number, string | undefined> = new Map();

interface Entry {
  channel: string;
  handlers: readonly PublicationHandler[];
  resets: readonly (() => void)[];
  /** The last publication delivered (offset, epoch and, where the store gives one, its id). */
  last: (StreamPosition & { id?: string | undefined }) | undefined;
  /** Live publications waiting while the entry catches up; undefined when live. */
  held: Publication[] | undefined;
  /**
   * After a catch-up read the store at `upTo`: copies of publications up to there may still come
   * in on the live link (it races the history read over another connection). Until the first
   * live publication past `upTo` arrives (the link is FIFO), those are repeats — checked against
   * the ids read when history kept them, so a rollback still shows.
   */
  settle: { upTo: number; ids: ReadonlyMap<number, string | undefined> } | undefined;
  /** Settles when the node first listens and knows the channel's position. */
  ready: Promise<void>;
  /** A catch-up (or a fence) is running. */
  catching: boolean;
  /** The epoch this node fenced after a rollback: its stragglers are the past, dropped. */
  abandoned: string | undefined;
  /** A publication arrived since the last `quiet()`. */
  active: boolean;
}

export class Delivery {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly source: DeliverySource,
    private readonly link: DeliveryLink = { listen: async () => {}, unlisten: async () => {} },
    private readonly onError: (error: unknown, channel: string) => void = () => {},
  ) {}

  /** Channels this node listens to. */
  channels(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** Whether this node listens to the channel. */
  has(channel: string): boolean {
    return this.#entries.has(channel);
  }

  /** Resolves once the node receives the channel's publications and knows where it stands. */
  subscribe(channel: string, handler: PublicationHandler, onReset?: () => void): Promise<void> {
    const existing = this.#entries.get(channel);
    if (existing) {
      if (!existing.handlers.includes(handler)) existing.handlers = [...existing.handlers, handler];
      if (onReset && !existing.resets.includes(onReset))
        existing.resets = [...existing.resets, onReset];
      return existing.ready;
    }
    const entry: Entry = {
      channel,
      handlers: [handler],
      resets: onReset ? [onReset] : NO_RESETS,
      last: undefined,
      held: [],
      settle: undefined,
      ready: Promise.resolve(),
      catching: true,
      abandoned: undefined,
      active: false,
    };
    this.#entries.set(channel, entry);
    entry.ready = (async () => {
      try {
        await this.link.listen(channel);
        await this.#catchUp(entry);
      } catch (error) {
        if (this.#entries.get(channel) === entry) this.#entries.delete(channel);
        throw error;
      }
    })();
    return entry.ready;
  }

  /** Removes the handler; the link stops carrying the channel when none is left. */
  async unsubscribe(channel: string, handler: PublicationHandler): Promise<void> {
    const entry = this.#entries.get(channel);
    if (!entry) return;
    if (entry.handlers.includes(handler))
      entry.handlers = entry.handlers.filter((h) => h !== handler);
    if (entry.handlers.length > 0) return;
    this.#entries.delete(channel);
    await entry.ready.catch(() => {});
    // Subscribed again meanwhile: the new entry owns the link's subscription.
    if (this.#entries.has(channel)) return;
    await this.link.unlisten(channel);
  }

  /** A publication the broker's link carried to this node. */
  receive(publication: Publication): void {
    const entry = this.#entries.get(publication.channel);
    if (entry) this.#take(entry, publication);
  }

  /**
   * Brings every channel (or one) up to date from history: after the broker's link was replaced,
   * or when the broker suspects a loss.
   */
  catchUp(channel?: string): void {
    const entries =
      channel === undefined ? [...this.#entries.values()] : [this.#entries.get(channel)];
    for (const entry of entries) if (entry && !entry.catching) this.#startCatchUp(entry);
  }

  /**
   * Compares a position the broker read on its own with where this node stands, to find losses
   * no later publication would reveal (the last ones before a quiet spell). A mismatch may only
   * be a publication still on its way; the catch-up it starts costs a read and loses nothing.
   */
  check(channel: string, position: StreamPosition | undefined): void {
    const entry = this.#entries.get(channel);
    if (!entry || entry.catching) return;
    const last = entry.last;
    if (position?.epoch !== last?.epoch || position?.offset !== last?.offset)
      this.#startCatchUp(entry);
  }

  /**
   * Channels no publication reached since the last call: the ones where a loss would go unseen
   * until the next publication, worth a `check`.
   */
  *quiet(): IterableIterator<string> {
    for (const entry of this.#entries.values()) {
      if (!entry.active && !entry.catching) yield entry.channel;
      entry.active = false;
    }
  }

  /** Every channel's subscribers resync (the broker cannot say what its link missed). */
  resetAll(): void {
    for (const entry of this.#entries.values()) this.#reset(entry);
  }

  clear(): void {
    this.#entries.clear();
  }

  #take(entry: Entry, publication: Publication): void {
    entry.active = true;
    if (publication.epoch === entry.abandoned) return;
    const held = entry.held;
    if (held === undefined) return this.#accept(entry, publication);
    // Past the bound the catch-up gives up on what was held and resets the channel instead.
    if (held.length <= MAX_HELD) held.push(publication);
  }

  #accept(entry: Entry, publication: Publication): void {
    if (publication.ephemeral) return this.#dispatch(entry, publication);
    const last = entry.last;
    switch (step(last, publication.offset, publication.epoch, publication.covers)) {
      case 'next':
        break;
      case 'seen':
        if (this.#isRepeat(entry, publication)) return;
        // Same offset, another publication: the store handed out offsets a second time.
        return this.#rollback(entry, publication);
      case 'jump':
        entry.held = [publication];
        return this.#startCatchUp(entry);
      case 'epoch':
        // The store lost the channel (restarted empty, fenced, expired): what came before is
        // gone for everyone, so subscribers resync and learn of it from their own positions.
        this.#reset(entry);
        break;
    }
    if (entry.settle && publication.offset > entry.settle.upTo) entry.settle = undefined;
    entry.last = { offset: publication.offset, epoch: publication.epoch, id: publication.id };
    this.#dispatch(entry, publication);
  }

  #isRepeat(entry: Entry, publication: Publication): boolean {
    const { settle, last } = entry;
    if (settle && publication.offset <= settle.upTo) {
      const ids = settle.ids;
      return !ids.has(publication.offset) || ids.get(publication.offset) === publication.id;
    }
    return publication.offset === last?.offset && publication.id === last.id;
  }

  #dispatch(entry: Entry, publication: Publication): void {
    for (const handler of entry.handlers) {
      try {
        handler(publication);
      } catch {
        // One subscriber's failure is its own; the others still get the publication.
      }
    }
  }

  #reset(entry: Entry): void {
    for (const onReset of entry.resets) {
      try {
        onReset();
      } catch {
        // The gateway logs its own failures.
      }
    }
  }

  /**
   * The store handed out an offset twice. Fence it, so nobody recovers against the reused
   * offsets; subscribers resync and are told of the gap; the node starts over from the new epoch.
   */
  #rollback(entry: Entry, seen: StreamPosition): void {
    this.onError(
      new Error(`offsets rolled back (offset ${seen.offset} seen twice in epoch ${seen.epoch})`),
      entry.channel,
    );
    entry.last = undefined;
    entry.settle = undefined;
    entry.abandoned = seen.epoch;
    entry.held = (entry.held ?? []).filter((p) => p.epoch !== seen.epoch);
    entry.catching = true;
    const fenced = this.source.fence?.(entry.channel, { offset: seen.offset, epoch: seen.epoch });
    void Promise.resolve(fenced)
      .catch((error) => this.onError(error, entry.channel))
      .then(() => {
        this.#reset(entry);
        return this.#catchUp(entry);
      })
      .catch((error) => this.#catchUpFailed(entry, error));
  }

  #startCatchUp(entry: Entry): void {
    entry.held ??= [];
    entry.catching = true;
    this.#catchUp(entry).catch((error) => this.#catchUpFailed(entry, error));
  }

  #catchUpFailed(entry: Entry, error: unknown): void {
    this.onError(error, entry.channel);
    if (this.#entries.get(entry.channel) !== entry) return;
    // The store is out of reach: nobody can say what was missed, so subscribers resync, and the
    // next catch-up (the broker's link coming back, its periodic check) sets a fresh baseline.
    entry.held = undefined;
    entry.catching = false;
    entry.last = undefined;
    entry.settle = undefined;
    this.#reset(entry);
  }

  /**
   * Reads where the store stands, delivers what this node missed since `last`, then what was held
   * meanwhile. With no `last` (first subscribe, after a reset) it only takes the store's position.
   */
  async #catchUp(entry: Entry): Promise<void> {
    entry.catching = true;
    const { position, kept } = await this.source.read(entry.channel);
    if (this.#entries.get(entry.channel) !== entry) return;
    const last = entry.last;
    const held = entry.held ?? [];
    entry.held = undefined;
    entry.catching = false;
    entry.settle = { upTo: position.offset, ids: idsOf(kept, position.epoch) };
    if (held.length > MAX_HELD) {
      entry.last = position;
      this.#reset(entry);
      return;
    }
    if (last !== undefined && last.epoch === position.epoch && rolledBack(last, position, kept))
      return this.#rollback(entry, last);
    const result = last === undefined ? undefined : answerHistory(position, kept, { since: last });
    if (result?.recovered) {
      for (const publication of result.publications) this.#accept(entry, publication);
    } else {
      entry.last = position;
      if (result) this.#reset(entry);
    }
    // A jump among them starts another catch-up, which holds the rest again.
    for (const publication of held) this.#take(entry, publication);
  }
}

/**
 * The store is behind what this node delivered, or holds another publication at its offset.
 * What it cannot see: a store that keeps no history, rolled back and refilled to exactly the
 * offset this node last delivered while the live link was down. With history kept, the id at
 * that offset tells; with a live link, the reused offsets arrive and tell.
 */
function rolledBack(
  last: StreamPosition & { id?: string | undefined },
  position: StreamPosition,
  kept: readonly Publication[],
): boolean {
  if (position.offset < last.offset) return true;
  const there = kept.find((p) => p.offset === last.offset && p.epoch === last.epoch);
  return there !== undefined && last.id !== undefined && there.id !== last.id;
}

/** Offsets and ids a catch-up read, so the late live copies of those can be verified. */
function idsOf(
  kept: readonly Publication[],
  epoch: string,
): ReadonlyMap<number, string | undefined> {
  if (kept.length === 0) return NO_IDS;
  const ids = new Map<number, string | undefined>();
  for (const publication of kept)
    if (publication.epoch === epoch) ids.set(publication.offset, publication.id);
  return ids;
}
