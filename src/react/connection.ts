/**
 * The connection as components see it: its state, re-rendered on every change, and a stable
 * function for requests to the server.
 */
import { useCallback, useSyncExternalStore } from 'react';
import type { ClientState, RequestOptions } from '../client/index.js';
import { useClient } from './provider.js';
import { noop } from './runtime.js';

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
