/**
 * Streams on a channel (an agent's replies), each with its chunks in order and its status, filled
 * from the channel's history on mount (and after a gap), so a reloaded page shows the replies it
 * had, in publication order.
 */
import { useEffect, useMemo } from 'react';
import type { MessageMeta } from '../client/index.js';
import { createStore } from '../shared/store.js';
import { EMPTY, useStore } from './external-store.js';
import { noop } from './runtime.js';
import { metaOf, useSubscription } from './subscription.js';

export interface StreamState {
  id: string;
  /** Payload of the opening marker. */
  data: unknown;
  chunks: readonly unknown[];
  /** The string chunks joined. */
  text: string;
  status: 'open' | 'end' | 'error';
  error?: unknown;
  /** Where the stream sits in its channel: the offset of its first publication seen (its opening). */
  offset?: number;
  epoch?: string;
}

export interface UseStreamsOptions {
  /**
   * Publications of the channel read from history on mount and after a gap, so a reload shows
   * the streams the page had. Default 1000 (the most one history request returns); 0: live only.
   */
  history?: number;
}

/** One stream as it is assembled: chunks by sequence number, whatever order they come in. */
interface Assembly {
  id: string;
  data: unknown;
  opened: boolean;
  seqs: number[];
  chunks: unknown[];
  text: string;
  /** The stream's end or error marker, once seen. */
  ended?: { status: 'end' | 'error'; data: unknown };
  offset?: number;
  epoch?: string;
  /** Arrival order, for streams without offsets. */
  arrival: number;
  snapshot?: StreamState | undefined;
}

/**
 * The streams by id, ordered by their position in the channel (the offset of their opening), one
 * snapshot per change. Chunks are placed by their sequence number and a chunk seen twice (live
 * and again from history) is kept once, so live and history may arrive in any order.
 */
export function streamsStore() {
  let streams = new Map<string, Assembly>();
  let arrivals = 0;
  const store = createStore<readonly StreamState[]>(EMPTY);
  const changed = () => {
    const list = [...streams.values()].sort(
      (a, b) => (a.offset ?? Infinity) - (b.offset ?? Infinity) || a.arrival - b.arrival,
    );
    store.set(list.map(view));
  };
  return {
    subscribe: store.subscribe,
    getSnapshot: store.getSnapshot,
    /** Whether a stream is known (its opening or any chunk seen). */
    has: (id: string) => streams.has(id),
    /** Applies one stream publication (ignores anything without a stream marker). */
    apply(data: unknown, meta: MessageMeta) {
      if (place(data, meta)) changed();
    },
    /** Applies many (a history page) with one snapshot. */
    applyAll(items: readonly { data: unknown; meta: MessageMeta }[]) {
      let any = false;
      for (const { data, meta } of items) any = place(data, meta) || any;
      if (any) changed();
    },
    /** Forgets every stream (after a gap, before history fills it again). */
    reset() {
      streams = new Map();
      store.set(EMPTY);
    },
  };

  /** Puts one publication into its stream; false when it changed nothing. */
  function place(data: unknown, meta: MessageMeta): boolean {
    const marker = meta.stream;
    if (!marker) return false;
    let stream = streams.get(marker.id);
    if (!stream) {
      stream = {
        id: marker.id,
        data: undefined,
        opened: false,
        seqs: [],
        chunks: [],
        text: '',
        arrival: arrivals++,
      };
      streams.set(marker.id, stream);
    }
    if (meta.offset !== undefined && (stream.offset === undefined || meta.offset < stream.offset)) {
      stream.offset = meta.offset;
      if (meta.epoch !== undefined) stream.epoch = meta.epoch;
    }
    if (marker.status === 'open') {
      if (stream.opened) return false;
      stream.opened = true;
      stream.data = data;
    } else if (marker.status === 'end' || marker.status === 'error') {
      if (stream.ended) return false;
      stream.ended = { status: marker.status, data };
      // A rolled-up end holds every piece before it: those not seen yet are taken from it.
      const rollup = marker.rollup;
      if (rollup && rollup.length > 0) {
        if (!stream.opened) {
          stream.opened = true;
          stream.data = rollup[0];
        }
        for (let seq = 1; seq < rollup.length; seq++) insertChunk(stream, seq, rollup[seq]);
      }
    } else if (!insertChunk(stream, marker.seq, data)) return false;
    stream.snapshot = undefined;
    return true;
  }
}

/** Inserts a chunk at its sequence number; false when that number is already there. */
function insertChunk(stream: Assembly, seq: number, data: unknown): boolean {
  let at = stream.seqs.length;
  while (at > 0 && stream.seqs[at - 1]! > seq) at--;
  if (at > 0 && stream.seqs[at - 1] === seq) return false;
  stream.seqs.splice(at, 0, seq);
  stream.chunks.splice(at, 0, data);
  if (at === stream.seqs.length - 1) {
    if (typeof data === 'string') stream.text += data;
  } else {
    stream.text = stream.chunks.filter((c): c is string => typeof c === 'string').join('');
  }
  return true;
}

/** The stream's immutable snapshot, made again only when it changed. */
function view(stream: Assembly): StreamState {
  if (stream.snapshot) return stream.snapshot;
  const state: StreamState = {
    id: stream.id,
    data: stream.data,
    chunks: [...stream.chunks],
    text: stream.text,
    status: stream.ended?.status ?? 'open',
  };
  if (stream.ended?.status === 'error') state.error = stream.ended.data;
  if (stream.offset !== undefined) state.offset = stream.offset;
  if (stream.epoch !== undefined) state.epoch = stream.epoch;
  return (stream.snapshot = state);
}

/**
 * The channel's streams of `event`, in publication order: live as chunks arrive, and filled from
 * history when first subscribed (and again after a gap), so a reload shows them as they were.
 * A stream whose opening is older than what history returns is left out of the fill (it could
 * only be shown cut); one already streaming live is completed from it.
 */
export function useStreams(
  channel: string,
  event = 'stream',
  options: UseStreamsOptions = {},
): readonly StreamState[] {
  const historySize = options.history ?? 1000;
  const sub = useSubscription(channel);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new channel starts a new store
  const store = useMemo(streamsStore, [channel]);
  useEffect(() => {
    if (!sub) return;
    let current = true;
    const fill = async () => {
      if (historySize <= 0) return;
      const { publications } = await sub.history({ limit: historySize });
      if (!current) return;
      const ours = publications.filter((p) => p.event === event && p.stream);
      // A rolled-up end holds its opening too.
      const opened = new Set(
        ours
          .filter((p) => p.stream!.status === 'open' || p.stream!.rollup)
          .map((p) => p.stream!.id),
      );
      store.applyAll(
        ours
          .filter((p) => opened.has(p.stream!.id) || store.has(p.stream!.id))
          .map((p) => ({ data: p.data, meta: metaOf(channel, p) })),
      );
    };
    const offs = [
      sub.on(event, (data, meta) => store.apply(data, meta)),
      sub.on('gap', () => {
        store.reset();
        void fill().catch(noop);
      }),
    ];
    let first = true;
    const once = () => {
      if (!first) return;
      first = false;
      void fill().catch(noop);
    };
    offs.push(sub.on('subscribed', once));
    if (sub.state === 'subscribed') once();
    return () => {
      current = false;
      for (const off of offs) off();
    };
  }, [sub, store, channel, event, historySize]);
  return useStore(store, EMPTY);
}
