/**
 * A channel's subscription held while a component is mounted, and its events delivered to a
 * handler kept in a ref: a new handler on every render never resubscribes nor misses a message.
 */
import { useEffect, useRef, useState } from 'react';
import type { MessageFrame, MessageMeta, Subscription } from '../client/index.js';
import { acquire } from './lease.js';
import { useClient } from './provider.js';
import { noop, useIsomorphicLayoutEffect } from './runtime.js';

/** The app's channel events: `{ message: { text: string }, typing: {} }`. */
export type EventMap = Record<string, unknown>;

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

/** The meta a live handler would have been given for a publication read from history. */
export function metaOf(channel: string, p: MessageFrame): MessageMeta {
  const meta: MessageMeta = { channel, event: p.event };
  if (p.offset !== undefined) meta.offset = p.offset;
  if (p.epoch !== undefined) meta.epoch = p.epoch;
  if (p.user !== undefined) meta.user = p.user;
  if (p.stream !== undefined) meta.stream = p.stream;
  return meta;
}
