import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { MessageFrame } from '../protocol/frames.js';
import { Subscription, type SubscriptionHost } from './subscription.js';
import type { Entry } from './types.js';

function setup() {
  const queued: { entries: Entry[]; first: boolean }[] = [];
  const unsubscribe = vi.fn((sub: Subscription) => void sub);
  const host: SubscriptionHost = {
    client: { publish: vi.fn(), unsubscribe, call: vi.fn() },
    outbox: { queue: (entries, first) => void queued.push({ entries, first }) },
    backoff: { minDelayMs: 100, maxDelayMs: 1000 },
  };
  const sub = new Subscription('chat:a', host);
  const got: unknown[] = [];
  sub.on('*', (data) => got.push(data));
  return { sub, queued, unsubscribe, got };
}

const refusal = (code: ErrorCode) => new SwitchboardError(code, code);
const message = (offset: number, epoch = 'e'): MessageFrame => ({
  type: 'message',
  channel: 'chat:a',
  event: 'n',
  data: offset,
  offset,
  epoch,
});
const types = (entries: Entry[]) => entries.map((e) => e.frame.type);

beforeEach(() => {
  vi.useFakeTimers();
  vi.spyOn(Math, 'random').mockReturnValue(0.999);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('Subscription retries', () => {
  it('a subscribe left unanswered is asked again after a backoff, behind an unsubscribe; publications wait for it', async () => {
    const { sub, queued, got } = setup();
    sub.request().reject(refusal(ErrorCode.TIMEOUT));
    // Whatever the unanswered subscribe may have started delivering is replayed by the next one.
    expect(sub.deliver(message(1))).toBe(true);
    expect(got).toEqual([]);
    // Full jitter below 100 ms × 2^1 (Math.random is 0.999 here).
    await vi.advanceTimersByTimeAsync(198);
    expect(queued).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(queued).toHaveLength(1);
    const { entries, first } = queued[0]!;
    expect(types(entries)).toEqual(['unsubscribe', 'subscribe']);
    expect(first).toBe(false);
    entries[0]!.reject(refusal(ErrorCode.NOT_FOUND));
    entries[1]!.resolve({ offset: 3, epoch: 'e' } as never);
    expect(sub.state).toBe('subscribed');
    await expect(sub.ready()).resolves.toBeUndefined();
    sub.deliver(message(4));
    expect(got).toEqual([4]);
  });

  it('UNAVAILABLE is asked again without an unsubscribe, each time later; an answer resets the delay', async () => {
    const { sub, queued } = setup();
    sub.request().reject(refusal(ErrorCode.UNAVAILABLE));
    await vi.advanceTimersByTimeAsync(200);
    expect(types(queued[0]!.entries)).toEqual(['subscribe']);
    queued[0]!.entries[0]!.reject(refusal(ErrorCode.UNAVAILABLE));
    await vi.advanceTimersByTimeAsync(398);
    expect(queued).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(queued).toHaveLength(2);
    queued[1]!.entries[0]!.resolve({ offset: 0, epoch: 'e' } as never);
    sub.reset();
    sub.request().reject(refusal(ErrorCode.UNAVAILABLE));
    await vi.advanceTimersByTimeAsync(200);
    expect(queued).toHaveLength(3);
  });

  it('a refusal ends it: it leaves the client before its handlers and waiters hear why', async () => {
    const { sub, unsubscribe } = setup();
    const ready = sub.ready();
    const order: string[] = [];
    unsubscribe.mockImplementation(() => void order.push('left'));
    sub.on('error', () => order.push('error'));
    sub.request().reject(refusal(ErrorCode.FORBIDDEN));
    expect(order).toEqual(['left', 'error']);
    expect(sub.state).toBe('unsubscribed');
    await expect(ready).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
  });

  it('a malformed subscribe reply is a refusal', () => {
    const { sub, unsubscribe } = setup();
    sub.request().resolve({ offset: -1 } as never);
    expect(sub.state).toBe('unsubscribed');
    expect(unsubscribe).toHaveBeenCalledWith(sub);
  });

  it('the connection going away stops a pending retry; so does unsubscribing', async () => {
    const { sub, queued } = setup();
    sub.request().reject(refusal(ErrorCode.UNAVAILABLE));
    sub.reset();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(queued).toEqual([]);
    sub.request().reject(refusal(ErrorCode.UNAVAILABLE));
    sub.ended();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(queued).toEqual([]);
  });
});

describe('Subscription resync', () => {
  it('a jump resubscribes from its position at once, ahead of what waits; the next ones back off', async () => {
    const { sub, queued, got } = setup();
    sub.request().resolve({ offset: 0, epoch: 'e' } as never);
    sub.deliver(message(1));
    expect(sub.deliver(message(3))).toBe(false);
    // Meanwhile nothing is delivered: the resubscribe replays it in order.
    sub.deliver(message(4));
    expect(got).toEqual([1]);
    await vi.advanceTimersByTimeAsync(0);
    const { entries, first } = queued[0]!;
    expect(types(entries)).toEqual(['unsubscribe', 'subscribe']);
    expect(entries[1]!.frame).toMatchObject({ since: { offset: 1, epoch: 'e' } });
    expect(first).toBe(true);
    entries[0]!.resolve(undefined as never);
    entries[1]!.resolve({ offset: 4, epoch: 'e', recovered: true } as never);
    sub.deliver(message(2));
    sub.deliver(message(3));
    sub.deliver(message(4));
    expect(got).toEqual([1, 2, 3, 4]);
    // Another jump soon after: this time after a delay.
    sub.deliver(message(9));
    await vi.advanceTimersByTimeAsync(0);
    expect(queued).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(queued).toHaveLength(2);
  });
});

describe('Subscription latest values', () => {
  const latest = (event: string, data: unknown, offset?: number): MessageFrame => ({
    type: 'message',
    channel: 'chat:a',
    event,
    data,
    ...(offset === undefined ? { ephemeral: true } : { offset, epoch: 'e' }),
    latest: true,
  });

  it('takes marked values outside its position, then keeps each event live', async () => {
    const { sub, queued, got } = setup();
    const marked: unknown[] = [];
    sub.on('*', (_data, meta) => marked.push(meta.latest ?? false));
    const answer = sub.request();
    // Old offsets, before the reply: a snapshot, not a position.
    expect(sub.deliver(latest('status', 'thinking', 3))).toBe(true);
    expect(sub.deliver(latest('progress', 80))).toBe(true);
    answer.resolve({ offset: 9, epoch: 'e', latest: 2 } as never);
    expect(sub.position).toEqual({ offset: 9, epoch: 'e' });
    expect([sub.latest('status'), sub.latest('progress')]).toEqual(['thinking', 80]);
    // Once subscribed, an old offset marked latest is still no rollback and no reason to resync.
    expect(sub.deliver(latest('status', 'again', 2))).toBe(true);
    expect(sub.deliver(message(10))).toBe(true);
    expect(sub.position).toEqual({ offset: 10, epoch: 'e' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(queued).toHaveLength(0);
    expect(got).toEqual(['thinking', 80, 'again', 10]);
    expect(marked).toEqual([true, true, true, false]);
    expect([sub.latest('n'), sub.latest('status'), sub.latest('progress')]).toEqual([
      10,
      'again',
      80,
    ]);
  });

  it('keeps at most 256 event names, dropping the least recently updated; no stream chunks or $ events', () => {
    const { sub } = setup();
    sub.request().resolve({ offset: 0, epoch: 'e' } as never);
    const live = (event: string, data: unknown, extra = {}) =>
      sub.deliver({ type: 'message', channel: 'chat:a', event, data, ephemeral: true, ...extra });
    for (let i = 0; i < 256; i++) live(`e${i}`, i);
    live('e0', 'again'); // now the most recent: e1 goes next
    live('e256', 256);
    expect([sub.latest('e0'), sub.latest('e1'), sub.latest('e2'), sub.latest('e256')]).toEqual([
      'again',
      undefined,
      2,
      256,
    ]);
    live('$join', { user: 'bob' });
    live('reply', 'tok', { stream: { id: 's', seq: 1 } });
    expect([sub.latest('$join'), sub.latest('reply'), sub.latest('e2')]).toEqual([
      undefined,
      undefined,
      2,
    ]);
  });
});
