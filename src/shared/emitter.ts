/**
 * The smallest typed event emitter that works in every runtime. `on` returns the function that
 * removes the listener, so callers never have to keep a reference to the handler itself.
 */
// biome-ignore lint/suspicious/noExplicitAny: listener argument lists are per event
export type EventMap = Record<string, (...args: any[]) => void>;

export class Emitter<Events extends EventMap> {
  #listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    const set = this.#listeners.get(event);
    if (set?.delete(listener) && set.size === 0) this.#listeners.delete(event);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        listener(...args);
      } catch (error) {
        // One app handler's bug must not stop the others or break the connection's read loop.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
