import { describe, expect, it, vi } from 'vitest';
import { createStore } from './store.js';

describe('createStore', () => {
  it('hands out the current snapshot and keeps it stable until set', () => {
    const store = createStore({ n: 1 });
    const first = store.getSnapshot();
    expect(store.getSnapshot()).toBe(first);
    store.set({ n: 2 });
    expect(store.getSnapshot()).toEqual({ n: 2 });
    expect(store.getSnapshot()).not.toBe(first);
  });

  it('derives the next state from an updater', () => {
    const store = createStore<readonly number[]>([]);
    store.set((list) => [...list, 1]);
    store.set((list) => [...list, 2]);
    expect(store.getSnapshot()).toEqual([1, 2]);
  });

  it('notifies listeners with the new and previous state, only on a real change', () => {
    const store = createStore(0);
    const listener = vi.fn();
    store.subscribe(listener);
    store.set(1);
    store.set(1);
    store.set((n) => n);
    expect(listener).toHaveBeenCalledTimes(1);
    expect(listener).toHaveBeenCalledWith(1, 0);
    store.set(Number.NaN);
    store.set(Number.NaN);
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it('stops notifying after unsubscribe, and unsubscribing twice is harmless', () => {
    const store = createStore('a');
    const listener = vi.fn();
    const unsubscribe = store.subscribe(listener);
    unsubscribe();
    unsubscribe();
    store.set('b');
    expect(listener).not.toHaveBeenCalled();
  });

  it('lets every listener hear every change, each with its own state, when one sets again', () => {
    const store = createStore(0);
    const seen: [string, number][] = [];
    store.subscribe((n) => {
      seen.push(['first', n]);
      if (n === 1) store.set(2);
    });
    store.subscribe((n) => seen.push(['second', n]));
    store.set(1);
    // The nested set runs its round inside the first: nobody misses a state, nobody gets a wrong one.
    expect(seen).toEqual([
      ['first', 1],
      ['first', 2],
      ['second', 2],
      ['second', 1],
    ]);
    expect(store.getSnapshot()).toBe(2);
  });

  it('works as a useSyncExternalStore source: subscribe takes a no-argument callback', () => {
    const store = createStore(1);
    const onStoreChange: () => void = vi.fn();
    const unsubscribe: () => void = store.subscribe(onStoreChange);
    store.set(2);
    expect(onStoreChange).toHaveBeenCalledOnce();
    unsubscribe();
  });

  it('keeps a function as state when set through an updater', () => {
    const a = () => 'a';
    const b = () => 'b';
    const store = createStore<() => string>(a);
    store.set(() => b);
    expect(store.getSnapshot()).toBe(b);
  });
});
