import { describe, expect, it } from 'vitest';
import { Ring } from './ring.js';

describe('Ring', () => {
  it('keeps the newest items up to its capacity, handing back the one pushed out', () => {
    const ring = new Ring<number>(3);
    expect([1, 2, 3].map((n) => ring.push(n))).toEqual([undefined, undefined, undefined]);
    expect(ring.push(4)).toBe(1);
    expect(ring.push(5)).toBe(2);
    expect([...ring]).toEqual([3, 4, 5]);
    expect(ring.length).toBe(3);
  });

  it('shifts the oldest out, and grows past its first 16 slots while keeping order', () => {
    const ring = new Ring<number>(100);
    for (let i = 0; i < 40; i++) ring.push(i);
    expect(ring.shift()).toBe(0);
    expect(ring.shift()).toBe(1);
    for (let i = 40; i < 50; i++) ring.push(i);
    expect([...ring]).toEqual(Array.from({ length: 48 }, (_, i) => i + 2));
    const empty = new Ring<number>(2);
    expect(empty.shift()).toBeUndefined();
    expect([...empty]).toEqual([]);
  });
});
