/**
 * The write path: operations queued in one event-loop tick are committed as one group, the WAL
 * is synced off the event loop, and only then are the group's publishers answered and its
 * publications fanned out, in order.
 */

import type { Delivery } from '../broker/delivery.js';
import type { CompactRun } from '../broker/types.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { Channels } from './channels.js';
import { type CommitContext, commit } from './commit.js';
import { messageOf, unavailable } from './errors.js';
import type { Batch, ChannelState, Op } from './state.js';
import type { WalSync } from './wal.js';

/** Operations in one transaction at most: a huge tick is committed in several, not one long pause. */
const MAX_OPS_PER_COMMIT = 5_000;
/** WAL syncs running at once on libuv's thread pool (4 threads by default, shared with fs and dns). */
const MAX_SYNCS = 2;

export interface WriterOptions extends Omit<CommitContext, 'unsaved'> {
  file: string;
  /** Acknowledge only once the WAL is fsynced ('full'), or once committed ('normal'). */
  fsyncs: boolean;
  channels: Channels;
  delivery: Delivery;
  wal: WalSync;
}

export class Writer {
  private queue: Op[] = [];
  private flushScheduled = false;
  /** Committed, no sync started since. */
  private unsynced: Batch[] = [];
  /** Committed, a sync started since: delivered in order as syncs complete. */
  private readonly syncing: Batch[] = [];
  private syncsInFlight = 0;
  private drainWaiters: (() => void)[] = [];
  /** The last commit failed (disk full, I/O error): unhealthy until one succeeds. */
  writeFailure: Error | undefined;
  /** An fsync failed: what is on disk is unknown, so the broker takes no more publishes. */
  broken: Error | undefined;
  private readonly context: CommitContext;

  constructor(private readonly options: WriterOptions) {
    const { db, sql, backlog, windowMs, channels } = options;
    this.context = { db, sql, unsaved: channels.unsaved, backlog, windowMs };
  }

  /** The channel's state once its row is on disk. */
  ensure(channel: string): ChannelState | Promise<ChannelState> {
    const s = this.options.channels.stateOf(channel);
    if (s.saved) return s;
    return new Promise((resolve, reject) =>
      this.enqueue({ kind: 'create', state: s, resolve: () => resolve(s), reject }),
    );
  }

  enqueue(op: Op): void {
    op.state.pending++;
    this.queue.push(op);
    this.schedule();
  }

  /** Has the queue (and any channels made in memory) committed on the next tick. */
  schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Nothing queued, committing or syncing: an ephemeral publication can go out at once. */
  idle(): boolean {
    return this.queue.length === 0 && this.unsynced.length === 0 && this.syncing.length === 0;
  }

  /** Commits what this tick queued, as one transaction. */
  private flush(): void {
    this.flushScheduled = false;
    const { db, file, channels } = this.options;
    if (!db.open) return;
    const queue = this.queue;
    const ops = queue.length > MAX_OPS_PER_COMMIT ? queue.splice(0, MAX_OPS_PER_COMMIT) : queue;
    this.queue = queue === ops ? [] : queue;
    if (this.queue.length > 0) this.schedule();
    if (ops.length === 0 && channels.unsaved.size === 0) return;
    if (this.broken) {
      fail(ops, unavailable(`SQLite file ${file} could not be synced; restart the process`));
      return;
    }
    let batch: Batch;
    try {
      batch = commit(this.context, ops);
    } catch (error) {
      this.writeFailure = error instanceof Error ? error : new Error(String(error));
      fail(ops, unavailable(`SQLite write to ${file} failed (${messageOf(error)})`));
      this.settleDrain();
      return;
    }
    this.writeFailure = undefined;
    this.unsynced.push(batch);
    if (this.syncsInFlight < MAX_SYNCS) this.sync();
  }

  /** Commits everything queued (a failed commit is settled, not retried), then waits for it. */
  flushAll(): Promise<void> {
    const unsaved = this.options.channels.unsaved;
    while (this.queue.length > 0 || unsaved.size > 0) {
      const before = this.queue.length + unsaved.size;
      this.flush();
      if (this.queue.length + unsaved.size >= before) break; // a failed commit: settled, not retried
    }
    return this.drained();
  }

  /**
   * Makes committed groups durable. Each group's sync starts as soon as it is committed (up to
   * MAX_SYNCS at once on the thread pool), so none waits for a sync that began before its commit
   * to end and then for its own. A sync that completes makes durable every group committed
   * before it started, so those are delivered, in order, whichever sync finishes first.
   */
  private sync(): void {
    if (this.unsynced.length === 0) return;
    const covered = this.unsynced;
    this.unsynced = [];
    if (!this.options.fsyncs) {
      this.deliver(covered);
      this.settleDrain();
      return;
    }
    const last = covered[covered.length - 1]!;
    this.syncing.push(...covered);
    this.syncsInFlight++;
    this.options.wal.sync((error) => {
      this.syncsInFlight--;
      if (this.broken) return this.settleDrain();
      if (error) {
        this.broken = error;
        const uncertain = new SwitchboardError(
          ErrorCode.UNCERTAIN,
          `SQLite file ${this.options.file} could not be synced (${error.message}); the publication may or may not be kept`,
        );
        for (const batch of [...this.syncing.splice(0), ...this.unsynced.splice(0)])
          fail(batch.ops, uncertain);
        this.settleDrain();
        return;
      }
      const upTo = this.syncing.indexOf(last);
      if (upTo >= 0) this.deliver(this.syncing.splice(0, upTo + 1));
      if (this.syncsInFlight < MAX_SYNCS) this.sync();
      this.settleDrain();
    });
  }

  private deliver(batches: Batch[]): void {
    for (const batch of batches) {
      for (const s of batch.created) s.saved = true;
      for (const op of batch.ops) {
        op.state.pending--;
        if (op.kind === 'create') {
          op.resolve();
          continue;
        }
        const publication = op.publication;
        if (publication) {
          if (!publication.ephemeral) op.state.durable = publication.offset;
          if (op.compacted) this.dropRun(op.state, op.compacted);
          this.options.delivery.receive(publication);
        }
        op.resolve(op.result!);
      }
    }
  }

  /**
   * A rolled-up stream's chunks, deleted once its end is on disk. Should this fail, or the
   * process die first, they stay beside the end that covers them, which no reader minds.
   */
  private dropRun(s: ChannelState, run: CompactRun): void {
    try {
      if (s.id > 0) this.options.sql.deleteRange.run(s.id, run.from, run.to + 1);
    } catch {
      // Left for nothing: history counts them as a hole already.
    }
  }

  private settleDrain(): void {
    if (!this.idle() || this.syncsInFlight > 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once everything queued is committed and on disk (or failed), no sync running. */
  private drained(): Promise<void> {
    if (this.idle() && this.syncsInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }
}

/** Settles operations that will not be published. */
function fail(ops: Op[], error: unknown): void {
  for (const op of ops) {
    op.state.pending--;
    op.reject(error);
  }
}
