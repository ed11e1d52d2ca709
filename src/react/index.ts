/**
 * `switchboard/react`: hooks over the client. Every piece of state is a small external store
 * (src/shared/store.ts) read with useSyncExternalStore, so no message is dropped however fast
 * they arrive, and nothing touches a socket during render (server rendering gets the empty
 * snapshots). Connections and subscriptions are reference-counted with a deferred release, so
 * StrictMode's mount, unmount, mount opens one socket and subscribes once. This file only
 * re-exports.
 */

export { type ChannelMessage, type UseChannelOptions, useChannel } from './channel.js';
export { useConnectionState, useRequest } from './connection.js';
export { useLatest } from './latest.js';
export { usePresence } from './presence.js';
export { SwitchboardProvider, type SwitchboardProviderProps, useClient } from './provider.js';
export { type StreamState, useStreams } from './streams.js';
export { type EventMap, useEvent, useSubscription } from './subscription.js';
export { type UseTypingOptions, useTyping } from './typing.js';
