import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { jsonCodec } from '../protocol/codec.js';
import { resolveOptions } from './options.js';

describe('resolveOptions', () => {
  it('applies every default once', () => {
    const o = resolveOptions({ url: 'ws://x', WebSocket });
    expect(o).toMatchObject({
      url: 'ws://x',
      WebSocket,
      codec: jsonCodec,
      transports: ['websocket', 'sse'],
      maxAttempts: Number.POSITIVE_INFINITY,
      backoff: { minDelayMs: 500, maxDelayMs: 10_000 },
      requestTimeoutMs: 10_000,
      outbox: { maxEntries: 1000, maxBytes: 1024 * 1024, ttlMs: 30_000 },
      log: undefined,
    });
    expect(o.reconnect).toBeUndefined();
    expect(o.heartbeat).toBeUndefined();
  });

  it('needs a WebSocket only when a transport is one', () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      expect(() => resolveOptions({ url: 'ws://x' })).toThrow(TypeError);
      expect(resolveOptions({ url: 'ws://x', transports: ['sse'] }).WebSocket).toBeUndefined();
    } finally {
      if (saved) global.WebSocket = saved;
    }
  });

  it("keeps the app's values, and takes an explicit undefined for the default", () => {
    const o = resolveOptions({
      url: 'ws://x',
      WebSocket,
      token: 't',
      data: { app: 1 },
      reconnect: { minDelayMs: 10, maxDelayMs: undefined as unknown as number, maxAttempts: 3 },
      heartbeat: { timeoutMs: 99 },
      requestTimeoutMs: 5,
      outbox: { maxEntries: 2, ttlMs: 7 },
    });
    expect(o).toMatchObject({
      token: 't',
      data: { app: 1 },
      maxAttempts: 3,
      backoff: { minDelayMs: 10, maxDelayMs: 10_000 },
      heartbeat: { timeoutMs: 99 },
      requestTimeoutMs: 5,
      outbox: { maxEntries: 2, maxBytes: 1024 * 1024, ttlMs: 7 },
    });
  });

  it('reconnect: false means no attempts, and the default delays for the retries that remain', () => {
    const o = resolveOptions({ url: 'ws://x', WebSocket, reconnect: false });
    expect(o.reconnect).toBe(false);
    expect(o.maxAttempts).toBe(0);
    expect(o.backoff).toEqual({ minDelayMs: 500, maxDelayMs: 10_000 });
  });

  it('needs a WebSocket: the option, or the global one', () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    try {
      delete global.WebSocket;
      expect(() => resolveOptions({ url: 'ws://x' })).toThrow(TypeError);
      global.WebSocket = WebSocket;
      expect(resolveOptions({ url: 'ws://x' }).WebSocket).toBe(WebSocket);
    } finally {
      global.WebSocket = saved;
    }
  });

  it('debug logs with a prefix and a timestamp, to a function or to console.debug at call time', () => {
    const logger = vi.fn();
    resolveOptions({ url: 'ws://x', WebSocket, debug: logger }).log?.('→', 1);
    expect(logger).toHaveBeenCalledWith('[switchboard]', expect.stringMatching(/^\d{4}-/), '→', 1);

    const log = resolveOptions({ url: 'ws://x', WebSocket, debug: true }).log;
    const spy = vi.spyOn(console, 'debug').mockImplementation(() => {});
    try {
      log?.('state');
      expect(spy).toHaveBeenCalledWith('[switchboard]', expect.any(String), 'state');
    } finally {
      spy.mockRestore();
    }
  });
});
