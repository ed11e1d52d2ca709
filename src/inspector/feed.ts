/**
 * The store's live events for the panel, on the shared external store. It knows whether anyone
 * listens, so capture builds a frame's view only while a panel is open.
 */
import { createStore } from '../shared/store.js';
import type { StoreEvent } from './types.js';

export class LiveFeed {
  private readonly latest = createStore<StoreEvent | undefined>(undefined);
  private listeners = 0;

  get listened(): boolean {
    return this.listeners > 0;
  }

  /** Returns the function that stops listening. */
  listen(listener: (event: StoreEvent) => void): () => void {
    const unsubscribe = this.latest.subscribe((event) => {
      if (event) listener(event);
    });
    this.listeners++;
    let listening = true;
    return () => {
      if (!listening) return;
      listening = false;
      this.listeners--;
      unsubscribe();
    };
  }

  emit(event: StoreEvent): void {
    if (this.listeners > 0) this.latest.set(event);
  }
}
