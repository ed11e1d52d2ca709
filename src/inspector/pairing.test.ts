import { describe, expect, it } from 'vitest';
import type { Tracked } from './connections.js';
import { blankFrame, type KeptFrame } from './kept-frame.js';
import { pair } from './pairing.js';
import { Ring } from './ring.js';

const tracked = (): Tracked => ({
  record: {
    id: 'a',
    status: 'open',
    path: '/',
    query: {},
    headers: {},
    connectedAt: 0,
    channels: [],
    errors: [],
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    droppedFrames: 0,
  },
  frames: new Ring(10),
  pending: new Map(),
  gone: false,
});
const frame = (fields: Partial<KeptFrame>): KeptFrame => ({ ...blankFrame(), ...fields });

describe('pair', () => {
  it('gives a reply or an error the latency of the request it answers, once', () => {
    const t = tracked();
    pair(t, frame({ direction: 'in', type: 'rpc', id: 1, time: 100 }), 10);
    pair(t, frame({ direction: 'in', type: 'publish', id: 2, time: 110 }), 10);
    const reply = frame({ direction: 'out', type: 'reply', id: 1, time: 150 });
    const error = frame({ direction: 'out', type: 'error', id: 2, time: 111 });
    const again = frame({ direction: 'out', type: 'reply', id: 1, time: 300 });
    for (const f of [reply, error, again]) pair(t, f, 10);
    expect([reply.latencyMs, error.latencyMs, again.latencyMs]).toEqual([50, 1, undefined]);
    expect(t.pending.size).toBe(0);
  });

  it('does not pair raw frames, and keeps at most maxPending open requests', () => {
    const t = tracked();
    pair(t, frame({ direction: 'in', type: 'raw', id: 1, time: 1 }), 2);
    expect(t.pending.size).toBe(0);
    for (let id = 1; id <= 3; id++)
      pair(t, frame({ direction: 'in', type: 'rpc', id, time: id }), 2);
    expect([...t.pending.keys()]).toEqual([2, 3]);
  });

  it('takes the round-trip time from a ping to the next pong', () => {
    const t = tracked();
    pair(t, frame({ direction: 'in', type: 'pong', time: 5 }), 10);
    expect(t.record.rttMs).toBeUndefined();
    pair(t, frame({ direction: 'out', type: 'ping', time: 1000 }), 10);
    pair(t, frame({ direction: 'in', type: 'pong', time: 1021 }), 10);
    pair(t, frame({ direction: 'in', type: 'pong', time: 5000 }), 10);
    expect(t.record.rttMs).toBe(21);
  });
});
