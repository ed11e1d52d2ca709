import { describe, expect, it, vi } from 'vitest';
import type { MessageMeta, PresenceMember } from '../client/index.js';
import { listStore, messageStore } from './channel.js';
import { EMPTY } from './external-store.js';
import { presenceStore } from './presence.js';
import { streamsStore } from './streams.js';

describe('listStore (useChannel)', () => {
  it('keeps the newest `limit` items, one new immutable snapshot per change', () => {
    const store = listStore<number>(3);
    const listener = vi.fn();
    store.subscribe(listener);
    expect(store.getSnapshot()).toBe(EMPTY);
    const snapshots = [1, 2, 3, 4].map((n) => {
      store.push(n);
      return store.getSnapshot();
    });
    expect(snapshots.map((s) => [...s])).toEqual([[1], [1, 2], [1, 2, 3], [2, 3, 4]]);
    expect(new Set(snapshots).size).toBe(4);
    expect(listener).toHaveBeenCalledTimes(4);
    store.replace([9, 8, 7, 6, 5]);
    expect(store.getSnapshot()).toEqual([7, 6, 5]);
    store.replace([]);
    expect(store.getSnapshot()).toEqual([]);
    expect(listener).toHaveBeenCalledTimes(6);
  });
});

const message = (offset: number, epoch = 'e') => ({
  event: 'message',
  data: offset,
  meta: { channel: 'c', event: 'message', offset, epoch } as MessageMeta,
});

describe('messageStore (useChannel)', () => {
  it('merges a history page in by offset, once each, keeping the newest `limit`', () => {
    const store = messageStore(4);
    store.push(message(7));
    store.push(message(8));
    store.merge([message(4), message(5), message(6), message(7)]);
    expect(store.getSnapshot().map((m) => m.meta.offset)).toEqual([5, 6, 7, 8]);
    const snapshot = store.getSnapshot();
    store.merge([message(6), message(8)]);
    expect(store.getSnapshot()).toBe(snapshot);
  });
});

const member = (connection: string, user = connection): PresenceMember =>
  ({ connection, user }) as PresenceMember;

describe('presenceStore (usePresence)', () => {
  it('keeps members by connection in join order', () => {
    const store = presenceStore();
    store.reset([member('a'), member('b')]);
    store.join(member('c'));
    store.join(member('a', 'ada'));
    store.leave(member('b'));
    expect(store.getSnapshot()).toEqual([member('a', 'ada'), member('c')]);
    store.reset([]);
    expect(store.getSnapshot()).toEqual([]);
  });
});

/** A chunk's marker has no status; offsets are optional (ephemeral or unit-built metas). */
const meta = (id: string, seq: number, status?: 'open' | 'end' | 'error', offset?: number) =>
  ({
    stream: { id, seq, ...(status && { status }) },
    ...(offset !== undefined && { offset, epoch: 'e' }),
  }) as unknown as MessageMeta;

describe('streamsStore (useStreams)', () => {
  it('opens streams, appends chunks in order, joins text and ends or fails them', () => {
    const store = streamsStore();
    store.apply({ model: 'x' }, meta('s1', 0, 'open'));
    store.apply('Hel', meta('s1', 1));
    store.apply('lo', meta('s1', 2));
    store.apply({ n: 1 }, meta('s1', 3));
    store.apply(undefined, meta('s1', 4, 'end'));
    store.apply('boom', meta('s2', 0, 'error'));
    expect(store.getSnapshot()).toEqual([
      {
        id: 's1',
        data: { model: 'x' },
        chunks: ['Hel', 'lo', { n: 1 }],
        text: 'Hello',
        status: 'end',
      },
      { id: 's2', data: undefined, chunks: [], text: '', status: 'error', error: 'boom' },
    ]);
  });

  it('takes a stream joined late from its first chunk, and ignores publications without a marker', () => {
    const store = streamsStore();
    const listener = vi.fn();
    store.subscribe(listener);
    store.apply('plain', {} as MessageMeta);
    expect(listener).not.toHaveBeenCalled();
    store.apply('late', meta('s', 5));
    expect(store.getSnapshot()).toEqual([
      { id: 's', data: undefined, chunks: ['late'], text: 'late', status: 'open' },
    ]);
    const before = store.getSnapshot()[0];
    store.apply('!', meta('s', 6));
    expect(before?.chunks).toEqual(['late']);
  });

  it('places chunks by sequence number and keeps each once, whether live or history came first', () => {
    const store = streamsStore();
    // Live chunks 3 and 4 arrive before history brings 0 (open) to 3.
    store.apply('c', meta('s', 3, undefined, 13));
    store.apply(undefined, meta('s', 4, 'end', 14));
    store.applyAll(
      [
        ['open', meta('s', 0, 'open', 10)],
        ['a', meta('s', 1, undefined, 11)],
        ['b', meta('s', 2, undefined, 12)],
        ['c', meta('s', 3, undefined, 13)],
      ].map(([data, m]) => ({ data, meta: m as MessageMeta })),
    );
    expect(store.getSnapshot()).toEqual([
      {
        id: 's',
        data: 'open',
        chunks: ['a', 'b', 'c'],
        text: 'abc',
        status: 'end',
        offset: 10,
        epoch: 'e',
      },
    ]);
    const snapshot = store.getSnapshot();
    store.apply('b', meta('s', 2, undefined, 12));
    expect(store.getSnapshot()).toBe(snapshot);
  });

  it('orders streams by the offset of their opening, not by arrival; reset forgets them', () => {
    const store = streamsStore();
    store.apply('x', meta('late', 0, 'open', 30));
    store.apply('y', meta('early', 1, undefined, 21));
    store.apply('y', meta('early', 0, 'open', 20));
    store.apply('z', meta('unplaced', 1));
    expect(store.getSnapshot().map((s) => [s.id, s.offset])).toEqual([
      ['early', 20],
      ['late', 30],
      ['unplaced', undefined],
    ]);
    const unchanged = store.getSnapshot()[1];
    store.apply('more', meta('early', 2, undefined, 31));
    expect(store.getSnapshot()[1]).toBe(unchanged);
    store.reset();
    expect(store.getSnapshot()).toBe(EMPTY);
    expect(store.has('early')).toBe(false);
  });
});
