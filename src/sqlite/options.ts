/** The settings of an SQLite broker: what `sqliteBroker` accepts. */

export interface SqliteBrokerOptions {
  /**
   * The database file, created if missing (its directory must exist). One process, and one
   * broker in it, uses a file at a time: a second opener is refused.
   */
  file: string;
  /**
   * When a publish is acknowledged. 'full' (default): once its commit is on disk (the WAL is
   * fsynced): it survives the process being killed and the machine losing power. 'normal': once
   * committed to the WAL in the OS's cache: it survives the process being killed, not a machine
   * crash, which can lose the last publications and hand their offsets out again.
   */
  synchronous?: 'full' | 'normal';
  /** How long an idempotency key is remembered. Default 2 min. */
  idempotencyWindowMs?: number;
  /**
   * How long a channel with no publications, subscribers, presence or history left keeps its
   * offset and epoch. Default 5 min.
   */
  idleChannelTtlMs?: number;
  /**
   * How often background upkeep runs one bounded step: expired idempotency keys, history aged
   * out of idle channels, idle channels forgotten. Default 1 s.
   */
  sweepIntervalMs?: number;
  /**
   * A hard cap on the database file: past it, publishes fail with UNAVAILABLE (and `healthy()`
   * is false) until trimming frees room. Default: none (the history settings bound the file).
   */
  maxBytes?: number;
  /**
   * Runs SQLite's `quick_check` over the whole file at startup, so a damaged file fails startup
   * instead of failing publishes later. Default true; it reads the whole file once.
   */
  integrityCheck?: boolean;
  /** How long to wait for another process to let go of the file before refusing. Default 0. */
  lockTimeoutMs?: number;
  /** Told of failures in background upkeep (trimming, expiry). */
  onError?: (error: unknown) => void;
}
