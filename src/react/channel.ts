/**
 * A channel's messages as a list (the newest `limit`, ordered by offset), filled from history
 * when asked and refilled after a gap, plus `publish`.
 */
import { useCallback, useEffect, useMemo } from 'react';
import type { MessageMeta, PublishCallOptions, PublishReply } from '../client/index.js';
import { createStore } from '../shared/store.js';
import { EMPTY, useStore } from './external-store.js';
import { useClient } from './provider.js';
import { noop } from './runtime.js';
import { type EventMap, metaOf, useSubscription } from './subscription.js';

export interface ChannelMessage<Events extends EventMap = EventMap> {
  event: keyof Events & string;
  data: Events[keyof Events];
  meta: MessageMeta;
}

export interface UseChannelOptions {
  /** Messages kept in the list (the newest). Default 200. */
  limit?: number;
  /** Fetch this many kept messages from history when first subscribed. Default 0. */
  history?: number;
}

/** A list of at most `limit` items, the newest kept; one immutable snapshot per change. */
export function listStore<T>(limit: number) {
  const store = createStore<readonly T[]>(EMPTY);
  return {
    subscribe: store.subscribe,
    getSnapshot: store.getSnapshot,
    push(item: T) {
      store.set((items) => {
        const next = [...items, item];
        if (next.length > limit) next.splice(0, next.length - limit);
        return next;
      });
    },
    replace(items: readonly T[]) {
      store.set(items.slice(-limit));
    },
  };
}

/** A key and a position for a channel message: its offset, unique within its epoch. */
const keyOf = (m: { meta: MessageMeta }) => `${m.meta.epoch}:${m.meta.offset}`;
const orderOf = (m: { meta: MessageMeta }) => m.meta.offset ?? Number.POSITIVE_INFINITY;

/** The messages list of useChannel: also merges a history page in, ordered by offset. */
export function messageStore<Events extends EventMap>(limit: number) {
  const list = listStore<ChannelMessage<Events>>(limit);
  return {
    ...list,
    /** Adds what it does not hold yet, everything ordered by offset (the newest `limit` kept). */
    merge(items: readonly ChannelMessage<Events>[]) {
      const current = list.getSnapshot();
      const seen = new Set(current.map(keyOf));
      const added = items.filter((m) => !seen.has(keyOf(m)));
      if (added.length === 0) return;
      list.replace([...current, ...added].sort((a, b) => orderOf(a) - orderOf(b)));
    },
  };
}

/**
 * Every message of a channel, in publication order (by offset), as a list (the newest `limit`),
 * plus `publish`. Filled from history on first subscribe when asked; after a gap, refilled from
 * history.
 */
export function useChannel<Events extends EventMap = EventMap>(
  channel: string,
  options: UseChannelOptions = {},
) {
  const limit = options.limit ?? 200;
  const historySize = options.history ?? 0;
  const sub = useSubscription(channel);
  const store = useMemo(() => messageStore<Events>(limit), [limit]);
  useEffect(() => {
    if (!sub) return;
    const fill = async () => {
      if (historySize <= 0) return;
      const { publications } = await sub.history({ limit: historySize });
      store.merge(
        publications
          .filter((p) => p.event[0] !== '$')
          .map((p) => ({
            event: p.event as keyof Events & string,
            data: p.data as Events[keyof Events],
            meta: metaOf(channel, p),
          })),
      );
    };
    const offMessage = sub.on('*', (data, meta) => {
      // Latest values are a snapshot out of the channel's order (useLatest shows them).
      if (meta.ephemeral || meta.latest) return;
      store.push({ event: meta.event as keyof Events & string, data, meta });
    });
    let first = true;
    const offSubscribed = sub.on('subscribed', () => {
      if (first) {
        first = false;
        void fill().catch(noop);
      }
    });
    const offGap = sub.on('gap', () => {
      store.replace([]);
      void fill().catch(noop);
    });
    if (sub.state === 'subscribed' && first) {
      first = false;
      void fill().catch(noop);
    }
    return () => {
      offMessage();
      offSubscribed();
      offGap();
    };
  }, [sub, store, channel, historySize]);
  const messages = useStore(store, EMPTY);
  const client = useClient();
  const publish = useCallback(
    <K extends keyof Events & string>(
      event: K,
      data: Events[K],
      publishOptions?: PublishCallOptions,
    ): Promise<PublishReply> =>
      client
        ? client.publish(channel, event, data, publishOptions)
        : Promise.reject(new Error('No Switchboard client')),
    [client, channel],
  );
  return { messages, publish, subscription: sub };
}
