import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Broker } from '../broker/types.js';
import { LOG_COLLAPSE_KEYS, type LogStream, logStream } from './log-stream.js';

/** Collapsing by content within the window (log-stream.ts), on fake timers: windows end on demand. */

/** A published record: the fields the tests read, and any others. */
type Published = Record<string, unknown> & { msg?: string; repeated?: number };

/** A broker that only records what the stream publishes: the collapsing is the unit here. */
function recordingBroker() {
  const published: Published[] = [];
  const broker = {
    publish: async (_channel: string, publication: { data: unknown }) => {
      published.push(publication.data as Published);
      return { offset: published.length, epoch: 'e', duplicate: false };
    },
  } as unknown as Broker;
  return { broker, published };
}

const WINDOW = 1_000;
let stream: LogStream | undefined;

describe('logStream collapsing', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    stream?.close();
    stream = undefined;
    vi.useRealTimers();
  });

  const open = (options: { maxPerSecond?: number; collapseMs?: number } = {}) => {
    const { broker, published } = recordingBroker();
    stream = logStream(broker, {
      channel: 'admin:logs',
      collapseMs: WINDOW,
      maxPerSecond: 10_000,
      ...options,
    });
    return { stream, published };
  };

  it('counts repeats with other records between them, and summarises each once at the window end', () => {
    const { stream, published } = open();
    const a = { level: 30, msg: 'connection refused', code: 4001 };
    const b = { level: 40, msg: 'slow consumer cut off' };
    for (const record of [a, b, a, { level: 30, msg: 'other' }, a, b])
      stream.write({ ...record, time: Date.now() });
    expect(published.map((r) => r.msg)).toEqual([
      'connection refused',
      'slow consumer cut off',
      'other',
    ]);
    vi.advanceTimersByTime(WINDOW);
    expect(published.slice(3)).toEqual([
      expect.objectContaining({ ...a, repeated: 2 }),
      expect.objectContaining({ ...b, repeated: 1 }),
    ]);
  });

  it('turns a storm into the first record plus one summary per window, and forgets a quiet record', () => {
    const { stream, published } = open();
    const storm = { level: 30, msg: 'bad token' };
    for (let window = 0; window < 3; window++) {
      for (let i = 0; i < 5; i++) stream.write(storm);
      vi.advanceTimersByTime(WINDOW);
    }
    expect(published.map((r) => r.repeated)).toEqual([undefined, 4, 5, 5]);
    // Quiet for a whole window: no summary, and then no longer tracked.
    vi.advanceTimersByTime(WINDOW);
    expect(published).toHaveLength(4);
    expect(vi.getTimerCount()).toBe(0);
    stream.write(storm);
    expect(published).toHaveLength(5);
    expect(published[4]!.repeated).toBeUndefined();
  });

  it(`tracks at most ${LOG_COLLAPSE_KEYS} distinct records per window; past that, records publish as they come`, () => {
    const { stream, published } = open();
    for (let i = 0; i < LOG_COLLAPSE_KEYS; i++) stream.write({ msg: `distinct ${i}` });
    stream.write({ msg: 'untracked' });
    stream.write({ msg: 'untracked' });
    stream.write({ msg: 'distinct 0' });
    expect(published).toHaveLength(LOG_COLLAPSE_KEYS + 2);
    expect(published.slice(-2).map((r) => r.msg)).toEqual(['untracked', 'untracked']);
    vi.advanceTimersByTime(WINDOW);
    expect(published.at(-1)).toEqual({ msg: 'distinct 0', time: expect.any(Number), repeated: 1 });
    // The window's end freed the keys that did not repeat: a new record is tracked again.
    vi.advanceTimersByTime(WINDOW);
    stream.write({ msg: 'untracked' });
    stream.write({ msg: 'untracked' });
    expect(published.filter((r) => r.msg === 'untracked')).toHaveLength(3);
  });

  it('publishes pending counts on close, clears its timer, and ignores records after it', () => {
    const { stream, published } = open();
    stream.write({ msg: 'a' });
    stream.write({ msg: 'a' });
    expect(vi.getTimerCount()).toBe(1);
    stream.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(published.map((r) => r.repeated)).toEqual([undefined, 1]);
    stream.write({ msg: 'b' });
    expect(published).toHaveLength(2);
  });

  it('with collapseMs 0 publishes every record and starts no timer', () => {
    const { stream, published } = open({ collapseMs: 0 });
    for (let i = 0; i < 3; i++) stream.write({ msg: 'same' });
    expect(published).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts records beyond maxPerSecond and reports them on the next one that fits', () => {
    const { stream, published } = open({ maxPerSecond: 2 });
    for (let i = 0; i < 5; i++) stream.write({ msg: `r${i}` });
    expect(published.map((r) => r.msg)).toEqual(['r0', 'r1']);
    vi.advanceTimersByTime(1_000);
    stream.write({ msg: 'after' });
    expect(published.at(-1)).toEqual({ msg: 'after', droppedBefore: 3 });
  });
});
