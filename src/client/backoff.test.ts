import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, scaled by full jitter', () => {
    const top = () => 0.999999;
    expect(backoffDelay(0, { minDelayMs: 100, maxDelayMs: 1000 }, top)).toBe(99);
    expect(backoffDelay(2, { minDelayMs: 100, maxDelayMs: 1000 }, top)).toBe(399);
    expect(backoffDelay(10, { minDelayMs: 100, maxDelayMs: 1000 }, top)).toBe(999);
    expect(backoffDelay(5000, { minDelayMs: 100, maxDelayMs: 1000 }, top)).toBe(999);
  });

  it('spreads clients over the whole window (full jitter, not ±10%)', () => {
    const delays = Array.from({ length: 2000 }, () =>
      backoffDelay(3, { minDelayMs: 100, maxDelayMs: 10_000 }),
    );
    expect(Math.min(...delays)).toBeLessThan(100);
    expect(Math.max(...delays)).toBeGreaterThan(700);
    expect(delays.every((d) => d >= 0 && d < 800)).toBe(true);
  });
});
