import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { acquire } from './lease.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('acquire', () => {
  it('starts on the first hold and stops a tick after the last release', () => {
    const target = {};
    const start = vi.fn();
    const stop = vi.fn();
    const releaseA = acquire(target, start, stop);
    const releaseB = acquire(target, start, stop);
    expect(start).toHaveBeenCalledOnce();
    releaseA();
    releaseB();
    expect(stop).not.toHaveBeenCalled();
    vi.runAllTimers();
    expect(stop).toHaveBeenCalledOnce();
  });

  it("survives StrictMode's mount, unmount, mount: never stops in between", () => {
    const target = {};
    const start = vi.fn();
    const stop = vi.fn();
    const release = acquire(target, start, stop);
    release();
    const again = acquire(target, start, stop);
    vi.runAllTimers();
    // The re-acquire starts again (client.connect() is idempotent), but nothing was stopped.
    expect(stop).not.toHaveBeenCalled();
    again();
    vi.runAllTimers();
    expect(stop).toHaveBeenCalledOnce();
  });

  it('starts again after a completed release', () => {
    const target = {};
    const start = vi.fn();
    acquire(target, start, () => {})();
    vi.runAllTimers();
    acquire(target, start, () => {});
    expect(start).toHaveBeenCalledTimes(2);
  });
});
