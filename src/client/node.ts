/**
 * switchboard/client as Node resolves it (the `node` export condition): the names of index.ts,
 * with a `createClient` that falls back to `ws` when the app passes no `WebSocket` and Node has
 * no global one (Node 20 and 21). Browsers, workers and bundles for them get index.ts, which
 * never imports `ws` or a Node built-in. The same declarations (index.d.ts) describe both.
 */
import WebSocket from 'ws';
import { type Client, createClient as createWithOptions } from './client.js';
import type { ClientOptions } from './types.js';

export * from './index.js';

/** A client for `options.url`; see ClientOptions (the `WebSocket` default is the only change). */
export function createClient(options: ClientOptions): Client {
  if (options.WebSocket || (globalThis as { WebSocket?: unknown }).WebSocket)
    return createWithOptions(options);
  return createWithOptions({ ...options, WebSocket });
}
