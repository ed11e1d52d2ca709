import { describe, expect, it, vi } from 'vitest';
import type { ClientRequestFrame } from '../protocol/frames.js';
import { resolveOptions } from './options.js';
import { Transport, type TransportEvents } from './transport.js';
import type { Counters, WebSocketLike } from './types.js';

class FakeSocket implements WebSocketLike {
  static last: FakeSocket;
  readyState = 0;
  binaryType = 'blob';
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  sent: (string | Uint8Array)[] = [];
  closedWith: number | undefined;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closedWith = code;
  }
}

function setup() {
  const counters: Counters = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    rttMs: undefined,
    reconnects: 0,
  };
  const on = { open: vi.fn(), frame: vi.fn(), close: vi.fn() } satisfies TransportEvents;
  const options = resolveOptions({
    url: 'ws://x',
    WebSocket: FakeSocket,
  });
  const transport = new Transport(options, counters, on);
  const ws = FakeSocket.last;
  ws.readyState = 1;
  ws.onopen?.({});
  return { transport, ws, on, counters };
}

const publish = (i: number, data: unknown = null): ClientRequestFrame => ({
  type: 'publish',
  id: i,
  channel: 'c',
  event: 'e',
  key: `k.${i}`,
  data,
});

describe('Transport', () => {
  it('opens one socket for binary data and reports it open', () => {
    const { transport, ws, on } = setup();
    expect(ws.url).toBe('ws://x');
    expect(ws.binaryType).toBe('arraybuffer');
    expect(transport.open).toBe(true);
    expect(on.open).toHaveBeenCalledOnce();
    expect(transport.lastSeen).toBeGreaterThan(0);
  });

  it('decodes batches into frames, answers pings itself, drops what it cannot read, counts it all', () => {
    const { ws, on, counters } = setup();
    const batch = JSON.stringify([
      { type: 'ping' },
      { type: 'reply', id: 1, data: {} },
      { type: 'nonsense' },
    ]);
    ws.onmessage?.({ data: batch });
    ws.onmessage?.({ data: '{not json' });
    expect(on.frame.mock.calls.map(([frame]) => frame.type)).toEqual(['reply']);
    expect(ws.sent).toEqual([JSON.stringify({ type: 'pong' })]);
    expect(counters).toMatchObject({
      messagesIn: 2,
      bytesIn: batch.length + 9,
      messagesOut: 1,
      bytesOut: 15,
    });
  });

  it('sends a batch as one message, split in halves while larger than the server accepts', () => {
    const { transport, ws } = setup();
    transport.send([publish(1), publish(2), publish(3)]);
    expect(ws.sent).toHaveLength(1);
    transport.maxMessageBytes = 300;
    const big = 'x'.repeat(100);
    transport.send([1, 2, 3, 4].map((i) => publish(i, big)));
    const messages = ws.sent.slice(1).map((data) => JSON.parse(data as string));
    expect(messages.map((m) => (Array.isArray(m) ? m.length : 1))).toEqual([1, 1, 1, 1]);
    // A frame too large on its own still goes, to get its own TOO_LARGE.
    transport.maxMessageBytes = 10;
    transport.send([publish(5)]);
    expect(ws.sent).toHaveLength(6);
  });

  it('close() detaches the socket first: its close event reaches no one', () => {
    const { transport, ws, on } = setup();
    transport.close(4006);
    expect(ws.closedWith).toBe(4006);
    expect(ws.onclose).toBeNull();
    expect(ws.onmessage).toBeNull();
    expect(on.close).not.toHaveBeenCalled();
  });

  it('a socket that does not open within the request timeout is given up as 1006', () => {
    vi.useFakeTimers();
    try {
      const on = { open: vi.fn(), frame: vi.fn(), close: vi.fn() } satisfies TransportEvents;
      const options = resolveOptions({
        url: 'ws://x',
        WebSocket: FakeSocket,
        requestTimeoutMs: 500,
      });
      new Transport(options, setup().counters, on);
      const held = FakeSocket.last;
      vi.advanceTimersByTime(499);
      expect(on.close).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(on.close).toHaveBeenCalledWith(1006, 'open timed out');
      expect(held.closedWith).toBeUndefined();
      expect(held.onclose).toBeNull();
      // One that opened in time is not cut later.
      const { on: opened } = setup();
      vi.advanceTimersByTime(20_000);
      expect(opened.close).not.toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a close by the peer is reported with its code and reason', () => {
    const { ws, on } = setup();
    ws.onclose?.({ code: 1001, reason: 'going away' });
    expect(on.close).toHaveBeenCalledWith(1001, 'going away');
  });
});
