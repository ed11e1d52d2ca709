/**
 * A framework-free external store (zustand's shape): `subscribe`, `getSnapshot`, `set`. React
 * reads it with useSyncExternalStore; anything else subscribes. Each listener is called with the
 * state of the `set` that called it, so one that sets again cannot make another miss a change.
 */

export type Listener<T> = (state: T, previous: T) => void;

export interface Store<T> {
  /** Returns the function that unsubscribes. */
  subscribe(listener: Listener<T>): () => void;
  getSnapshot(): T;
  /** Replaces the state (or derives it from the current one); listeners hear of real changes only. */
  set(next: T | ((current: T) => T)): void;
}

/** What a reader needs: exactly what useSyncExternalStore takes. */
export type ReadableStore<T> = Pick<Store<T>, 'subscribe' | 'getSnapshot'>;

/** A state that is itself a function must be set through an updater: `set(() => fn)`. */
export function createStore<T>(initial: T): Store<T> {
  let state = initial;
  const listeners = new Set<Listener<T>>();
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    getSnapshot: () => state,
    set(next) {
      const value = typeof next === 'function' ? (next as (current: T) => T)(state) : next;
      if (Object.is(value, state)) return;
      const previous = state;
      state = value;
      for (const listener of listeners) listener(value, previous);
    },
  };
}
