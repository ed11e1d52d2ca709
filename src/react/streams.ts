/** Streams on a channel (an agent's replies), each with its chunks in order and its status. */
import { useMemo } from 'react';
import type { MessageMeta } from '../client/index.js';
import { createStore } from '../shared/store.js';
import { EMPTY, useStore } from './external-store.js';
import { useEvent } from './subscription.js';

export interface StreamState {
  id: string;
  /** Payload of the opening marker. */
  data: unknown;
  chunks: readonly unknown[];
  /** The string chunks joined. */
  text: string;
  status: 'open' | 'end' | 'error';
  error?: unknown;
}

/** The streams by id, in the order they opened; one snapshot per change. */
export function streamsStore() {
  const streams = new Map<string, StreamState>();
  const store = createStore<readonly StreamState[]>(EMPTY);
  const changed = () => store.set([...streams.values()]);
  return {
    subscribe: store.subscribe,
    getSnapshot: store.getSnapshot,
    /** Applies one stream publication (ignores anything without a stream marker). */
    apply(data: unknown, meta: MessageMeta) {
      const marker = meta.stream;
      if (!marker) return;
      const current = streams.get(marker.id);
      if (marker.status === 'open' || !current) {
        streams.set(marker.id, {
          id: marker.id,
          data: marker.status === 'open' ? data : undefined,
          chunks: [],
          text: '',
          status: 'open',
        });
        if (marker.status === 'open') return changed();
      }
      const stream = streams.get(marker.id)!;
      if (marker.status === 'end') streams.set(marker.id, { ...stream, status: 'end' });
      else if (marker.status === 'error')
        streams.set(marker.id, { ...stream, status: 'error', error: data });
      else {
        streams.set(marker.id, {
          ...stream,
          chunks: [...stream.chunks, data],
          text: typeof data === 'string' ? stream.text + data : stream.text,
        });
      }
      changed();
    },
  };
}

export function useStreams(channel: string, event = 'stream'): readonly StreamState[] {
  const store = useMemo(streamsStore, []);
  useEvent(channel, event, (data, meta) => store.apply(data, meta));
  return useStore(store, EMPTY);
}
