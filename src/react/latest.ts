/** A channel event's latest value (channels with `latest`): what a late joiner sees first, kept live. */
import { useEffect, useMemo } from 'react';
import { createStore } from '../shared/store.js';
import { useStore } from './external-store.js';
import { type EventMap, useSubscription } from './subscription.js';

/**
 * The latest data of `event` on `channel`: the value the subscribe delivered (the channel's most
 * recent publication of the event, however long ago), then each live one. Undefined until one is
 * known, and on the server. Reads `sub.latest(event)` when the subscription is shared with
 * another component that subscribed first.
 */
export function useLatest<
  Events extends EventMap = EventMap,
  K extends keyof Events & string = keyof Events & string,
>(channel: string, event: K): Events[K] | undefined {
  const sub = useSubscription(channel);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new channel or event starts a new store, empty, rather than show the previous one's value
  const store = useMemo(
    () => createStore<{ data: Events[K] | undefined }>({ data: undefined }),
    [channel, event],
  );
  useEffect(() => {
    if (!sub) return;
    // Boxed: the value may itself be a function, or repeat an equal one the store would skip.
    const known = () => store.set({ data: sub.latest<Events[K]>(event) });
    known();
    const offs = [
      sub.on(event, (data: Events[K]) => store.set({ data })),
      sub.on('subscribed', known),
    ];
    return () => {
      for (const off of offs) off();
    };
  }, [sub, store, event]);
  return useStore(store, store.getSnapshot()).data;
}
