import { describe, expect, it, vi } from 'vitest';
import type { MessageMeta, PresenceMember } from '../client/index.js';
import { listStore } from './channel.js';
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

/** A chunk's marker has no status. */
const meta = (id: string, status?: 'open' | 'end' | 'error') =>
  ({ stream: { id, seq: 0, ...(status && { status }) } }) as unknown as MessageMeta;

describe('streamsStore (useStreams)', () => {
  it('opens streams, appends chunks in order, joins text and ends or fails them', () => {
    const store = streamsStore();
    store.apply({ model: 'x' }, meta('s1', 'open'));
    store.apply('Hel', meta('s1'));
    store.apply('lo', meta('s1'));
    store.apply({ n: 1 }, meta('s1'));
    store.apply(undefined, meta('s1', 'end'));
    store.apply('boom', meta('s2', 'error'));
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
    store.apply('late', meta('s'));
    expect(store.getSnapshot()).toEqual([
      { id: 's', data: undefined, chunks: ['late'], text: 'late', status: 'open' },
    ]);
    const before = store.getSnapshot()[0];
    store.apply('!', meta('s'));
    expect(before?.chunks).toEqual(['late']);
  });
});
