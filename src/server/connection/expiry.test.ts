import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Expiring, expireAt, queuedExpiries } from './expiry.js';

/** A stand-in connection that records when it was told its credential expired. */
function item(name: string, log: string[]): Expiring {
  return {
    expiryAt: 0,
    expiryIndex: -1,
    expire: () => log.push(name),
  };
}

describe('the shared expiry queue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires each item at its moment, earliest first, whatever the order queued', () => {
    vi.useFakeTimers();
    const log: string[] = [];
    const now = Date.now();
    const items = ['c', 'a', 'e', 'b', 'd'].map((name) => item(name, log));
    const at = { a: 100, b: 200, c: 300, d: 400, e: 500 } as Record<string, number>;
    for (const [i, name] of ['c', 'a', 'e', 'b', 'd'].entries())
      expireAt(items[i]!, now + at[name]!);
    expect(queuedExpiries()).toBe(5);
    vi.advanceTimersByTime(99);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['a']);
    vi.advanceTimersByTime(250);
    expect(log).toEqual(['a', 'b', 'c']);
    vi.advanceTimersByTime(1_000);
    expect(log).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(queuedExpiries()).toBe(0);
    expect(items.every((i) => i.expiryIndex === -1)).toBe(true);
  });

  it('moves an item queued again (a refreshed token) and drops one taken out (a close)', () => {
    vi.useFakeTimers();
    const log: string[] = [];
    const now = Date.now();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => item(name, log)) as [
      Expiring,
      Expiring,
      Expiring,
    ];
    expireAt(a, now + 100);
    expireAt(b, now + 200);
    expireAt(c, now + 300);
    expireAt(a, now + 1_000); // refreshed: later
    expireAt(b, undefined); // closed: never
    expect(queuedExpiries()).toBe(2);
    vi.advanceTimersByTime(500);
    expect(log).toEqual(['c']);
    vi.advanceTimersByTime(500);
    expect(log).toEqual(['c', 'a']);
    expect(queuedExpiries()).toBe(0);
  });

  it('waits out moments further away than one timer can count', () => {
    vi.useFakeTimers();
    const log: string[] = [];
    const far = item('far', log);
    const days = 30 * 24 * 3_600_000; // past setTimeout's 2^31 - 1 ms
    expireAt(far, Date.now() + days);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(days - (2 ** 31 - 1));
    expect(log).toEqual(['far']);
  });

  it('keeps the heap ordered through many moves and removals', () => {
    vi.useFakeTimers();
    const log: string[] = [];
    const now = Date.now();
    const items = Array.from({ length: 200 }, (_, i) => item(String(i), log));
    // A scrambled order of moments, then every third item moved and every fifth removed.
    for (const [i, x] of items.entries()) expireAt(x, now + ((i * 7919) % 1000) + 1);
    for (const [i, x] of items.entries()) if (i % 3 === 0) expireAt(x, now + 2_000 + i);
    for (const [i, x] of items.entries()) if (i % 5 === 0) expireAt(x, undefined);
    const expected = items
      .map((_, i) => ({
        i,
        at: i % 5 === 0 ? -1 : i % 3 === 0 ? 2_000 + i : ((i * 7919) % 1000) + 1,
      }))
      .filter((e) => e.at >= 0)
      .sort((x, y) => x.at - y.at || x.i - y.i);
    vi.advanceTimersByTime(5_000);
    // Items due at the same moment may come in any order: compare moments, and the set.
    const moment = new Map(expected.map((e) => [String(e.i), e.at]));
    expect(log.map((name) => moment.get(name))).toEqual(expected.map((e) => e.at));
    expect(new Set(log)).toEqual(new Set(expected.map((e) => String(e.i))));
    expect(queuedExpiries()).toBe(0);
  });
});
