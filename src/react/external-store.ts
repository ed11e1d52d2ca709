/**
 * The hooks' glue to the shared external store: read one with useSyncExternalStore, so no update
 * is lost however fast they come, and server rendering gets the empty snapshot.
 */
import { useSyncExternalStore } from 'react';
import type { ReadableStore } from '../shared/store.js';

/** The one empty list every hook hands out before anything arrives (and on the server). */
export const EMPTY: readonly never[] = [];

export function useStore<T>(store: ReadableStore<T>, serverSnapshot: NoInfer<T>): T {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, () => serverSnapshot);
}
