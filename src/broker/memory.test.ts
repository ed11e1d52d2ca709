import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryBroker } from './memory.js';
import type { Publication } from './types.js';

const history = { size: 3, ttlMs: 60_000 };

describe('memoryBroker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('assigns increasing offsets in one epoch and fans out to node subscribers', async () => {
    const broker = memoryBroker();
    const got: Publication[] = [];
    await broker.subscribe('c', (p) => got.push(p));
    const a = await broker.publish('c', { event: 'e', data: 1 });
    const b = await broker.publish('c', { event: 'e', data: 2 });
    expect([a.offset, b.offset]).toEqual([1, 2]);
    expect(a.epoch).toBe(b.epoch);
    expect(got.map((p) => p.data)).toEqual([1, 2]);
    await broker.close();
  });

  it('recovers exactly the missed publications while they are kept', async () => {
    const broker = memoryBroker();
    const first = await broker.publish('c', { event: 'e', data: 1 }, { history });
    await broker.publish('c', { event: 'e', data: 2 }, { history });
    await broker.publish('c', { event: 'e', data: 3 }, { history });
    const result = await broker.history('c', {
      since: { offset: first.offset, epoch: first.epoch },
    });
    expect(result).toMatchObject({ recovered: true, offset: 3 });
    expect(result.publications.map((p) => p.data)).toEqual([2, 3]);
    await broker.close();
  });

  it('says recovered: false when the first missed one was pushed out or the epoch differs', async () => {
    const broker = memoryBroker();
    const first = await broker.publish('c', { event: 'e', data: 1 }, { history });
    for (let i = 2; i <= 5; i++) await broker.publish('c', { event: 'e', data: i }, { history });
    expect(
      await broker.history('c', { since: { offset: first.offset, epoch: first.epoch } }),
    ).toMatchObject({
      recovered: false,
      publications: [],
    });
    // Offset 2 was pushed out too (kept: 3, 4, 5); from offset 2 on nothing is missing.
    expect(
      (await broker.history('c', { since: { offset: 2, epoch: first.epoch } })).recovered,
    ).toBe(true);
    expect((await broker.history('c', { since: { offset: 5, epoch: 'other' } })).recovered).toBe(
      false,
    );
    await broker.close();
  });

  it('ages history out by ttl', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const broker = memoryBroker();
    const first = await broker.publish(
      'c',
      { event: 'e', data: 1 },
      { history: { size: 10, ttlMs: 1000 } },
    );
    await broker.publish('c', { event: 'e', data: 2 }, { history: { size: 10, ttlMs: 1000 } });
    vi.setSystemTime(Date.now() + 1500);
    const result = await broker.history('c', {
      since: { offset: first.offset, epoch: first.epoch },
    });
    expect(result.recovered).toBe(false);
    await broker.close();
  });

  it('returns the first result for a repeated idempotency key without publishing again', async () => {
    const broker = memoryBroker();
    const got: unknown[] = [];
    await broker.subscribe('c', (p) => got.push(p.data));
    const once = await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'k' });
    const again = await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'k' });
    expect(again).toEqual({ ...once, duplicate: true });
    expect(got).toEqual([1]);
    await broker.close();
  });

  it('forgets idempotency keys beyond its bound, oldest first', async () => {
    const broker = memoryBroker({ maxIdempotencyKeys: 2 });
    await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'a' });
    await broker.publish('c', { event: 'e', data: 2 }, { idempotencyKey: 'b' });
    await broker.publish('c', { event: 'e', data: 3 }, { idempotencyKey: 'c' });
    expect(
      (await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'a' })).duplicate,
    ).toBe(false);
    expect(
      (await broker.publish('c', { event: 'e', data: 3 }, { idempotencyKey: 'c' })).duplicate,
    ).toBe(true);
    await broker.close();
  });

  it('a throwing subscriber does not stop the others', async () => {
    const broker = memoryBroker();
    const got: number[] = [];
    await broker.subscribe('c', () => {
      throw new Error('bad handler');
    });
    await broker.subscribe('c', (p) => got.push(p.offset));
    await broker.publish('c', { event: 'e', data: 1 });
    expect(got).toEqual([1]);
    await broker.close();
  });

  it("keeps an idle channel's epoch for a while, then forgets it", async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval'] });
    const broker = memoryBroker({ idleChannelTtlMs: 1000, sweepIntervalMs: 100 });
    const handler = () => {};
    await broker.subscribe('c', handler);
    const { epoch } = await broker.history('c');
    await broker.unsubscribe('c', handler);
    vi.advanceTimersByTime(500);
    // A subscriber back within the window: same epoch, nothing missed.
    expect(await broker.history('c', { since: { offset: 0, epoch } })).toMatchObject({
      epoch,
      recovered: true,
    });
    vi.advanceTimersByTime(2000);
    const later = await broker.history('c', { since: { offset: 0, epoch } });
    expect(later.epoch).not.toBe(epoch);
    expect(later.recovered).toBe(false);
    await broker.close();
  });

  it('keeps an idle channel while its latest values last, then forgets both', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval'] });
    const broker = memoryBroker({ idleChannelTtlMs: 1000, sweepIntervalMs: 100 });
    const latest = { maxEvents: 4, ttlMs: 5_000 };
    const { epoch } = await broker.publish('c', { event: 'status', data: 'idle' }, { latest });
    vi.advanceTimersByTime(3_000);
    // Idle past its window, but a late joiner still needs the status: kept, epoch and all.
    expect((await broker.latest('c')).map((p) => p.data)).toEqual(['idle']);
    expect((await broker.history('c', { limit: 0 })).epoch).toBe(epoch);
    vi.advanceTimersByTime(8_000);
    expect(await broker.latest('c')).toEqual([]);
    expect((await broker.history('c', { limit: 0 })).epoch).not.toBe(epoch);
    await broker.close();
  });

  it('ephemeral publications take no offset and are not kept', async () => {
    const broker = memoryBroker();
    const got: unknown[] = [];
    await broker.subscribe('c', (p) => got.push([p.event, p.ephemeral, p.offset]));
    await broker.publish('c', { event: 'm', data: 1 }, { history });
    await broker.publish('c', { event: 'typing', data: 1 }, { history, ephemeral: true });
    await broker.publish('c', { event: 'm', data: 2 }, { history });
    expect(got).toEqual([
      ['m', undefined, 1],
      ['typing', true, 1],
      ['m', undefined, 2],
    ]);
    expect((await broker.history('c')).publications.map((p) => p.offset)).toEqual([1, 2]);
    await broker.close();
  });

  it('an ephemeral publish to a channel nobody listens to keeps nothing of it', async () => {
    const broker = memoryBroker();
    const { epoch } = await broker.publish('nobody', { event: 'e', data: 1 }, { ephemeral: true });
    // Nothing was kept to be swept later: the channel's first real use starts its own epoch.
    expect((await broker.history('nobody', { limit: 0 })).epoch).not.toBe(epoch);
    await broker.close();
  });

  it('presence entries lapse unless refreshed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const broker = memoryBroker();
    await broker.presenceAdd('c', { user: 'a', connection: 'c1' }, 1000);
    await broker.presenceAdd('c', { user: 'b', connection: 'c2' }, 1000);
    vi.setSystemTime(Date.now() + 800);
    await broker.presenceAdd('c', { user: 'a', connection: 'c1' }, 1000);
    vi.setSystemTime(Date.now() + 500);
    expect((await broker.presence('c')).map((m) => m.user)).toEqual(['a']);
    await broker.presenceRemove('c', 'c1');
    expect(await broker.presence('c')).toEqual([]);
    await broker.close();
  });
});
