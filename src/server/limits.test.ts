import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULTS } from './defaults.js';
import { resolveLimits, TokenBucket } from './limits.js';

describe('TokenBucket', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('allows a burst, then the rate', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const bucket = new TokenBucket(10, 3);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    vi.setSystemTime(Date.now() + 100);
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    vi.setSystemTime(Date.now() + 10_000);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});

describe('resolveLimits', () => {
  it('never lets the hard cap fall below the soft limit', () => {
    expect(
      resolveLimits({ maxMessageBytes: 1000, hardMaxMessageBytes: 10 }).hardMaxMessageBytes,
    ).toBe(1000);
    expect(resolveLimits().hardMaxMessageBytes).toBe(4 * 64 * 1024);
  });
});

describe('resolveLimits defaults', () => {
  it('fills every unset limit from DEFAULTS.limits', () => {
    const { hardMaxMessageFactor, burstFactor, ...plain } = DEFAULTS.limits;
    expect(resolveLimits()).toEqual({
      ...plain,
      hardMaxMessageBytes: plain.maxMessageBytes * hardMaxMessageFactor,
      burst: plain.messagesPerSecond * burstFactor,
      allowedOrigins: undefined,
    });
    expect(resolveLimits({ messagesPerSecond: 10 }).burst).toBe(10 * burstFactor);
  });
});
