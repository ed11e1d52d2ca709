import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../server/limits.js';
import { Pacer } from './pacer.js';

const limits = { maxInFlight: 64, messagesPerSecond: 100, burst: 200, maxBatch: 100 };

describe('Pacer', () => {
  it('without announced limits, limits nothing but the batch size', () => {
    for (const announced of [undefined, null, 5, {}, { maxInFlight: -1, burst: 'x' }]) {
      const pacer = new Pacer(announced, 50, 0);
      expect(pacer.inFlight).toBe(Number.POSITIVE_INFINITY);
      expect(pacer.batch).toBe(50);
      expect(pacer.tokens(0)).toBe(Number.POSITIVE_INFINITY);
      pacer.spend(1000);
      expect(pacer.tokens(10)).toBe(Number.POSITIVE_INFINITY);
    }
  });

  it('keeps a request slot and a tenth of the bucket in reserve, and refills at the rate', () => {
    const pacer = new Pacer(limits, 50, 0);
    expect(pacer.inFlight).toBe(63);
    expect(pacer.batch).toBe(50);
    // 200 - 20 in reserve - 1 spent by connect.
    expect(pacer.tokens(0)).toBe(179);
    pacer.spend(179);
    expect(pacer.tokens(0)).toBe(0);
    expect(pacer.wait()).toBe(11);
    expect(pacer.tokens(505)).toBe(50);
    expect(pacer.tokens(60_000)).toBe(180);
    expect(new Pacer({ ...limits, maxBatch: 10 }, 50).batch).toBe(10);
    expect(new Pacer({ ...limits, maxInFlight: 1, burst: 1 }, 50, 0)).toMatchObject({
      inFlight: 1,
    });
  });

  it('never spends more than the server bucket holds, even when frames arrive late and bunched', () => {
    // The client sends whenever its mirror allows; the server reads each frame up to 150 ms
    // later, frames sent apart arriving together.
    let clock = 0;
    const realNow = Date.now;
    Date.now = () => clock;
    try {
      const server = new TokenBucket(limits.messagesPerSecond, limits.burst);
      const pacer = new Pacer(limits, 50, 0);
      expect(server.take()).toBe(true); // the connect
      const arrivals: number[] = [];
      for (let t = 0; t < 10_000; t += 7) {
        const n = pacer.tokens(t);
        pacer.spend(n);
        // In order (one TCP stream): a frame never overtakes the one sent before it.
        const at = Math.max(arrivals.at(-1) ?? 0, t + (t % 1000 < 500 ? 150 : 0));
        for (let i = 0; i < n; i++) arrivals.push(at);
      }
      for (const at of arrivals) {
        clock = at;
        expect(server.take()).toBe(true);
      }
      expect(arrivals.length).toBeGreaterThan(1000);
    } finally {
      Date.now = realNow;
    }
  });
});
