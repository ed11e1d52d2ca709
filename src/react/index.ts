import {
  createContext,
  createElement,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import {
  type Client,
  type ClientOptions,
  type ClientState,
  createClient,
  type MessageMeta,
  type PresenceMember,
  type PublishCallOptions,
  type PublishReply,
  type RequestOptions,
  type Subscription,
} from '../client/index.js';

/**
 * React bindings. Every piece of state is a small external store read with
 * useSyncExternalStore, so no message is dropped however fast they arrive, and nothing touches a
 * socket during render (server rendering gets the empty snapshots). Connections and
 * subscriptions are reference-counted with a deferred release, so StrictMode's mount, unmount,
 * mount opens one socket and subscribes once.
 */

/** The app's channel events: `{ message: { text: string }, typing: {} }`. */
export type EventMap = Record<string, unknown>;

const ClientContext = createContext<Client | null>(null);
const isBrowser = typeof window !== 'undefined';
const noop = () => {};
const useIsomorphicLayoutEffect = isBrowser ? useLayoutEffect : useEffect;

// ── reference counting with a deferred release ───────────────────────────────────────────────

interface Lease {
  count: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}
const leases = new WeakMap<object, Lease>();

/** Holds `target` while any component needs it; releases a tick after the last one lets go. */
function acquire(target: object, start: () => void, stop: () => void): () => void {
  let lease = leases.get(target);
  if (!lease) leases.set(target, (lease = { count: 0, timer: undefined }));
  clearTimeout(lease.timer);
  lease.timer = undefined;
  if (lease.count++ === 0) start();
  const held = lease;
  return () => {
    if (--held.count > 0) return;
    held.timer = setTimeout(() => {
      if (held.count === 0) stop();
    }, 0);
  };
}

// ── provider and client ──────────────────────────────────────────────────────────────────────

export interface SwitchboardProviderProps {
  /** A client you created; or `options` to let the provider create (and own) one. */
  client?: Client;
  options?: ClientOptions;
  children?: ReactNode;
}

export function SwitchboardProvider({ client, options, children }: SwitchboardProviderProps) {
  // Created once per provider and only in the browser: server rendering never opens a socket.
  const [own] = useState(() =>
    client || !isBrowser || !options ? undefined : createClient(options),
  );
  const value = client ?? own ?? null;
  useEffect(() => {
    if (!value) return;
    return acquire(
      value,
      () => void value.connect().catch(noop),
      () => {
        if (value === own) value.close();
      },
    );
  }, [value, own]);
  return createElement(ClientContext.Provider, { value }, children);
}

/** The client from the nearest provider (null while server rendering). */
export function useClient(): Client | null {
  return useContext(ClientContext);
}

export function useConnectionState(): ClientState {
  const client = useClient();
  const subscribe = useCallback(
    (onChange: () => void) => client?.on('state', onChange) ?? noop,
    [client],
  );
  return useSyncExternalStore(
    subscribe,
    () => client?.state ?? 'idle',
    () => 'idle',
  );
}

/** Stable functions to call the server; their identity never changes with the client's state. */
export function useRequest() {
  const client = useClient();
  return useCallback(
    <T = unknown>(method: string, data?: unknown, options?: RequestOptions) =>
      client
        ? client.request<T>(method, data, options)
        : Promise.reject(new Error('No Switchboard client')),
    [client],
  );
}

// ── subscriptions ────────────────────────────────────────────────────────────────────────────

/** The channel's subscription, held while the component is mounted (undefined on the server). */
export function useSubscription(channel: string): Subscription | undefined {
  const client = useClient();
  const [subscription, setSubscription] = useState<Subscription | undefined>(undefined);
  useEffect(() => {
    if (!client) return;
    const sub = client.subscribe(channel);
    setSubscription(sub);
    return acquire(sub, noop, () => sub.unsubscribe());
  }, [client, channel]);
  return subscription?.channel === channel && subscription.state !== 'unsubscribed'
    ? subscription
    : undefined;
}

/**
 * Calls `handler` for every `event` on the channel. The handler may change on every render:
 * it is read from a ref, so a new function never resubscribes and never misses a message.
 */
export function useEvent<
  Events extends EventMap = EventMap,
  K extends keyof Events & string = keyof Events & string,
>(channel: string, event: K | '*', handler: (data: Events[K], meta: MessageMeta) => void): void {
  const sub = useSubscription(channel);
  const latest = useRef(handler);
  useIsomorphicLayoutEffect(() => {
    latest.current = handler;
  });
  useEffect(
    () => sub?.on(event, (data, meta) => latest.current(data as Events[K], meta)),
    [sub, event],
  );
}

/** A store that collects into a list and hands out one immutable snapshot per change. */
function listStore<T>(limit: number) {
  let items: T[] = [];
  let snapshot: readonly T[] = items;
  const listeners = new Set<() => void>();
  return {
    push(item: T) {
      items.push(item);
      if (items.length > limit) items.splice(0, items.length - limit);
      snapshot = items.slice();
      for (const listener of listeners) listener();
    },
    replace(next: T[]) {
      items = next.slice(-limit);
      snapshot = items.slice();
      for (const listener of listeners) listener();
    },
    subscribe(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get: () => snapshot,
  };
}

const EMPTY: readonly never[] = [];

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

/**
 * Every message of a channel, in order, as a list (the newest `limit`), plus `publish`. Filled
 * from history on first subscribe when asked; after a gap, refilled from history.
 */
export function useChannel<Events extends EventMap = EventMap>(
  channel: string,
  options: UseChannelOptions = {},
) {
  const limit = options.limit ?? 200;
  const historySize = options.history ?? 0;
  const sub = useSubscription(channel);
  const store = useMemo(() => listStore<ChannelMessage<Events>>(limit), [limit]);
  useEffect(() => {
    if (!sub) return;
    const fill = async () => {
      if (historySize <= 0) return;
      const { publications } = await sub.history({ limit: historySize });
      const seen = new Set(store.get().map((m) => `${m.meta.epoch}:${m.meta.offset}`));
      const earlier = publications
        .filter((p) => p.event[0] !== '$' && !seen.has(`${p.epoch}:${p.offset}`))
        .map((p) => ({
          event: p.event as keyof Events & string,
          data: p.data as Events[keyof Events],
          meta: {
            channel,
            event: p.event,
            offset: p.offset ?? 0,
            epoch: p.epoch ?? '',
            ...(p.user !== undefined && { user: p.user }),
          } as MessageMeta,
        }));
      store.replace([...earlier, ...store.get()]);
    };
    const offMessage = sub.on('*', (data, meta) => {
      if (meta.ephemeral) return;
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
  const messages = useSyncExternalStore(
    store.subscribe,
    store.get,
    () => EMPTY as readonly ChannelMessage<Events>[],
  );
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

/** Who is on the channel now (channels with presence enabled), kept live from `$join`/`$leave`. */
export function usePresence(channel: string): readonly PresenceMember[] {
  const sub = useSubscription(channel);
  const store = useMemo(() => {
    let members = new Map<string, PresenceMember>();
    let snapshot: readonly PresenceMember[] = [];
    const listeners = new Set<() => void>();
    const changed = () => {
      snapshot = [...members.values()];
      for (const listener of listeners) listener();
    };
    return {
      reset(list: PresenceMember[]) {
        members = new Map(list.map((m) => [m.connection, m]));
        changed();
      },
      join(m: PresenceMember) {
        members.set(m.connection, m);
        changed();
      },
      leave(m: PresenceMember) {
        members.delete(m.connection);
        changed();
      },
      subscribe(listener: () => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      get: () => snapshot,
    };
  }, []);
  useEffect(() => {
    if (!sub) return;
    const load = () => void sub.presence().then((list) => store.reset(list), noop);
    if (sub.state === 'subscribed') load();
    const offs = [
      sub.on('subscribed', load),
      sub.on('$join', (m: PresenceMember) => store.join(m)),
      sub.on('$leave', (m: PresenceMember) => store.leave(m)),
    ];
    return () => {
      for (const off of offs) off();
    };
  }, [sub, store]);
  return useSyncExternalStore(store.subscribe, store.get, () => EMPTY);
}

export interface UseTypingOptions {
  /** The ephemeral event carrying typing notices. Default 'typing'. */
  event?: string;
  /** A user stops "typing" this long after their last notice. Default 3 s. */
  timeoutMs?: number;
}

/** Who else is typing, and `notify()` to say you are (throttled, ephemeral). */
export function useTyping(channel: string, options: UseTypingOptions = {}) {
  const event = options.event ?? 'typing';
  const timeoutMs = options.timeoutMs ?? 3_000;
  const client = useClient();
  const [typing, setTyping] = useState<readonly string[]>(EMPTY);
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  useEvent(channel, event, (_data, meta) => {
    const user = meta.user;
    if (!user || user === client?.userId) return;
    clearTimeout(timers.current.get(user));
    timers.current.set(
      user,
      setTimeout(() => {
        timers.current.delete(user);
        setTyping((list) => list.filter((u) => u !== user));
      }, timeoutMs),
    );
    setTyping((list) => (list.includes(user) ? list : [...list, user]));
  });
  useEffect(() => {
    const pending = timers.current;
    return () => {
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
    };
  }, []);
  const last = useRef(0);
  const notify = useCallback(() => {
    if (!client || Date.now() - last.current < timeoutMs / 3) return;
    last.current = Date.now();
    void client.publish(channel, event, {}, { ephemeral: true }).catch(noop);
  }, [client, channel, event, timeoutMs]);
  return { typing, notify };
}

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

/** Streams on a channel (an agent's replies), each with its chunks in order and its status. */
export function useStreams(channel: string, event = 'stream'): readonly StreamState[] {
  const store = useMemo(() => {
    const streams = new Map<string, StreamState>();
    let snapshot: readonly StreamState[] = [];
    const listeners = new Set<() => void>();
    return {
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
          if (marker.status === 'open') return this.changed();
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
        this.changed();
      },
      changed() {
        snapshot = [...streams.values()];
        for (const listener of listeners) listener();
      },
      subscribe(listener: () => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      get: () => snapshot,
    };
  }, []);
  useEvent(channel, event, (data, meta) => store.apply(data, meta));
  return useSyncExternalStore(store.subscribe, store.get, () => EMPTY);
}
