/**
 * Reference counting with a deferred release, so StrictMode's mount, unmount, mount opens one
 * socket and subscribes once: a client or subscription is held while any component needs it and
 * let go a tick after the last one does.
 */

interface Lease {
  count: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}
const leases = new WeakMap<object, Lease>();

/** Holds `target` while any component needs it; releases a tick after the last one lets go. */
export function acquire(target: object, start: () => void, stop: () => void): () => void {
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
