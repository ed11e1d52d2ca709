/** Who else is typing on a channel (from ephemeral notices that time out), and `notify()` to say you are. */
import { useCallback, useEffect, useRef, useState } from 'react';
import { EMPTY } from './external-store.js';
import { useClient } from './provider.js';
import { noop } from './runtime.js';
import { useEvent } from './subscription.js';

export interface UseTypingOptions {
  /** The ephemeral event carrying typing notices. Default 'typing'. */
  event?: string;
  /** A user stops "typing" this long after their last notice. Default 3 s. */
  timeoutMs?: number;
}

/**
 * Who else is typing, and `notify()` to say you are (throttled, ephemeral). A user stops typing
 * `timeoutMs` after their last notice, or as soon as a message of theirs (any kept publication)
 * arrives on the channel.
 */
export function useTyping(channel: string, options: UseTypingOptions = {}) {
  const event = options.event ?? 'typing';
  const timeoutMs = options.timeoutMs ?? 3_000;
  const client = useClient();
  const [typing, setTyping] = useState<readonly string[]>(EMPTY);
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  const stop = (user: string) => {
    clearTimeout(timers.current.get(user));
    timers.current.delete(user);
    setTyping((list) => (list.includes(user) ? list.filter((u) => u !== user) : list));
  };
  useEvent(channel, event, (_data, meta) => {
    const user = meta.user;
    // A kept notice from before this subscribe (a `latest` channel) says nothing about now.
    if (!user || meta.latest || user === client?.userId) return;
    clearTimeout(timers.current.get(user));
    timers.current.set(
      user,
      setTimeout(() => stop(user), timeoutMs),
    );
    setTyping((list) => (list.includes(user) ? list : [...list, user]));
  });
  // Their message arrived: they are done typing it, whatever the timer says.
  useEvent(channel, '*', (_data, meta) => {
    if (meta.user && !meta.ephemeral && meta.event !== event && timers.current.has(meta.user))
      stop(meta.user);
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
