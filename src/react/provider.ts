/**
 * The client in React's tree: SwitchboardProvider (which may create and own one, in the browser
 * only, and connects while it is mounted) and useClient to read it.
 */
import {
  createContext,
  createElement,
  type ReactNode,
  useContext,
  useEffect,
  useState,
} from 'react';
import { type Client, type ClientOptions, createClient } from '../client/index.js';
import { acquire } from './lease.js';
import { isBrowser, noop } from './runtime.js';

const ClientContext = createContext<Client | null>(null);

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
