/** Who is on a channel now (channels with presence enabled), kept live from `$join`/`$leave`. */
import { useEffect, useMemo } from 'react';
import type { PresenceMember } from '../client/index.js';
import { createStore } from '../shared/store.js';
import { EMPTY, useStore } from './external-store.js';
import { noop } from './runtime.js';
import { useSubscription } from './subscription.js';

/** The members by connection, in the order they joined; one snapshot per change. */
export function presenceStore() {
  let members = new Map<string, PresenceMember>();
  const store = createStore<readonly PresenceMember[]>(EMPTY);
  const changed = () => store.set([...members.values()]);
  return {
    subscribe: store.subscribe,
    getSnapshot: store.getSnapshot,
    reset(list: readonly PresenceMember[]) {
      members = new Map(list.map((m) => [m.connection, m]));
      changed();
    },
    join(member: PresenceMember) {
      members.set(member.connection, member);
      changed();
    },
    leave(member: PresenceMember) {
      members.delete(member.connection);
      changed();
    },
  };
}

export function usePresence(channel: string): readonly PresenceMember[] {
  const sub = useSubscription(channel);
  const store = useMemo(presenceStore, []);
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
  return useStore(store, EMPTY);
}
