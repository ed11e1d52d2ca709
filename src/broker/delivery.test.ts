import { describe, expect, it } from 'vitest';
import type { StreamPosition } from '../protocol/frames.js';
import { Delivery } from './delivery.js';
import type { Publication } from './types.js';

const pub = (offset: number, epoch = 'e', id = `${epoch}${offset}`): Publication => ({
  channel: 'c',
  event: 'm',
  data: offset,
  offset,
  epoch,
  time: Date.now(),
  id,
});

/** A store the test edits directly: what `read` answers and what `fence` did. */
function store(position: StreamPosition, kept: Publication[] = []) {
  const state = { position, kept, fenced: [] as StreamPosition[], reads: 0 };
  const delivery = new Delivery({
    read: async () => {
      state.reads++;
      return { position: { ...state.position }, kept: state.kept };
    },
    fence: async (_channel, seen) => {
      state.fenced.push(seen);
      state.position = { offset: 0, epoch: 'fenced' };
      state.kept = [];
    },
  });
  return { state, delivery };
}

async function subscribed(position: StreamPosition, kept: Publication[] = []) {
  const s = store(position, kept);
  const got: number[] = [];
  let resets = 0;
  await s.delivery.subscribe(
    'c',
    (p) => got.push(p.offset),
    () => resets++,
  );
  return { ...s, got, resets: () => resets };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('Delivery', () => {
  it('delivers contiguous publications and drops late copies of what the first read covered', async () => {
    const { delivery, got } = await subscribed({ offset: 2, epoch: 'e' }, [pub(1), pub(2)]);
    delivery.receive(pub(2)); // raced the read on the other link
    delivery.receive(pub(3));
    delivery.receive(pub(4));
    delivery.receive(pub(4));
    expect(got).toEqual([3, 4]);
  });

  it('fills a jump from history, holding live publications meanwhile', async () => {
    const { delivery, state, got, resets } = await subscribed({ offset: 1, epoch: 'e' }, [pub(1)]);
    state.position = { offset: 4, epoch: 'e' };
    state.kept = [pub(1), pub(2), pub(3), pub(4)];
    delivery.receive(pub(4)); // 2 and 3 were lost on the link
    delivery.receive(pub(5));
    await settle();
    expect(got).toEqual([2, 3, 4, 5]);
    expect(resets()).toBe(0);
  });

  it('resets subscribers when history no longer has what was missed', async () => {
    const { delivery, state, got, resets } = await subscribed({ offset: 1, epoch: 'e' }, [pub(1)]);
    state.position = { offset: 9, epoch: 'e' };
    state.kept = [pub(8), pub(9)];
    delivery.receive(pub(9));
    delivery.receive(pub(10));
    await settle();
    expect(resets()).toBe(1);
    expect(got).toEqual([10]);
  });

  it('fences and resets when a different publication comes with an offset already delivered', async () => {
    const { delivery, state, got, resets } = await subscribed({ offset: 0, epoch: 'e' });
    for (let n = 1; n <= 5; n++) delivery.receive(pub(n));
    // Restored from a snapshot taken at 3: offset 4 is handed out again, to another publication.
    delivery.receive(pub(4, 'e', 'other'));
    await settle();
    expect(state.fenced).toEqual([{ offset: 4, epoch: 'e' }]);
    expect(resets()).toBe(1);
    delivery.receive(pub(5, 'e', 'straggler')); // the abandoned epoch is the past
    delivery.receive(pub(1, 'fenced'));
    expect(got).toEqual([1, 2, 3, 4, 5, 1]);
  });

  it('finds a rollback when catching up: the store is behind what was delivered', async () => {
    const { delivery, state, resets } = await subscribed({ offset: 0, epoch: 'e' });
    for (let n = 1; n <= 5; n++) delivery.receive(pub(n));
    state.position = { offset: 3, epoch: 'e' };
    delivery.catchUp();
    await settle();
    expect(state.fenced).toEqual([{ offset: 5, epoch: 'e' }]);
    expect(resets()).toBe(1);
  });

  it('a check against a store that moved on catches up; a matching one reads nothing', async () => {
    const { delivery, state, got } = await subscribed({ offset: 0, epoch: 'e' });
    delivery.receive(pub(1));
    const reads = state.reads;
    delivery.check('c', { offset: 1, epoch: 'e' });
    expect(state.reads).toBe(reads);
    state.position = { offset: 3, epoch: 'e' };
    state.kept = [pub(1), pub(2), pub(3)];
    delivery.check('c', { offset: 3, epoch: 'e' });
    await settle();
    expect(got).toEqual([1, 2, 3]);
  });

  it('a new epoch resets subscribers and continues from it', async () => {
    const { delivery, got, resets } = await subscribed({ offset: 0, epoch: 'e' });
    delivery.receive(pub(1));
    delivery.receive(pub(1, 'f'));
    delivery.receive(pub(2, 'f'));
    expect(resets()).toBe(1);
    expect(got).toEqual([1, 1, 2]);
  });

  it('shares one ready promise per channel and listens once', async () => {
    let listens = 0;
    const delivery = new Delivery(
      { read: async () => ({ position: { offset: 0, epoch: 'e' }, kept: [] }) },
      { listen: async () => void listens++, unlisten: async () => {} },
    );
    const a = () => {};
    const b = () => {};
    await Promise.all([delivery.subscribe('c', a), delivery.subscribe('c', b)]);
    expect(listens).toBe(1);
    await delivery.unsubscribe('c', a);
    expect([...delivery.channels()]).toEqual(['c']);
    await delivery.unsubscribe('c', b);
    expect([...delivery.channels()]).toEqual([]);
  });
});
