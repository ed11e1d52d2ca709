import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { Liveness } from './liveness.js';
import { resolveOptions } from './options.js';
import type { ClientOptions } from './types.js';

function setup(options: Partial<ClientOptions> = {}) {
  const silent = vi.fn();
  const refresh = vi.fn();
  const o = resolveOptions({ url: 'ws://x', WebSocket, ...options });
  const liveness = new Liveness(o, silent, refresh);
  const link = { lastSeen: Date.now() };
  silent.mockImplementation(() => liveness.stop());
  return { liveness, link, silent, refresh };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('Liveness', () => {
  it('a link silent for 1.5 heartbeat intervals is dead; one that keeps hearing is not', async () => {
    const { liveness, link, silent } = setup();
    liveness.start(link, 1000);
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      link.lastSeen = Date.now();
    }
    expect(silent).not.toHaveBeenCalled();
    // Checked every 375 ms (a quarter of the timeout): found at the first tick past 1500 ms.
    await vi.advanceTimersByTimeAsync(1500);
    expect(silent).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(375);
    expect(silent).toHaveBeenCalledOnce();
  });

  it('judges by the wall clock: a late check (a throttled tab) sees the real silence', async () => {
    const { liveness, link, silent } = setup({ heartbeat: { timeoutMs: 100_000 } });
    liveness.start(link, 1000);
    // The clock moves on while no timer fires.
    vi.setSystemTime(Date.now() + 100_001);
    expect(silent).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(25_000);
    expect(silent).toHaveBeenCalledOnce();
  });

  it('checks at once when the page regains focus or the network comes back, while connected', () => {
    const listeners = new Map<string, () => void>();
    vi.stubGlobal('addEventListener', (type: string, fn: () => void) => listeners.set(type, fn));
    vi.stubGlobal('removeEventListener', (type: string) => listeners.delete(type));
    const { liveness, link, silent } = setup();
    liveness.start(link, 1000);
    expect([...listeners.keys()]).toEqual(['online', 'focus']);
    listeners.get('focus')!();
    expect(silent).not.toHaveBeenCalled();
    vi.setSystemTime(Date.now() + 1501);
    listeners.get('online')!();
    expect(silent).toHaveBeenCalledOnce();
    expect(listeners.size).toBe(0);
  });

  it('no check against a server that never pings, or with heartbeat: false', async () => {
    const never = setup();
    never.liveness.start(never.link, 0);
    const off = setup({ heartbeat: false });
    off.liveness.start(off.link, 1000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(never.silent).not.toHaveBeenCalled();
    expect(off.silent).not.toHaveBeenCalled();
  });

  it('refreshes a token from the provider at 80% of its remaining life, never a fixed one', async () => {
    const provided = setup({ token: () => 't' });
    provided.liveness.refreshAt(Date.now() + 10_000);
    await vi.advanceTimersByTimeAsync(7_999);
    expect(provided.refresh).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(provided.refresh).toHaveBeenCalledOnce();
    // A disconnect cancels the next one; no expiry, no refresh.
    provided.liveness.refreshAt(Date.now() + 10_000);
    provided.liveness.stop();
    provided.liveness.refreshAt(undefined);
    const fixed = setup({ token: 't' });
    fixed.liveness.refreshAt(Date.now() + 10_000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(provided.refresh).toHaveBeenCalledOnce();
    expect(fixed.refresh).not.toHaveBeenCalled();
  });
});
