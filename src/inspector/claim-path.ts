/**
 * Takes one path on an HTTP server that already has listeners, without disturbing the app's
 * other routes or upgrades, and gives it back on close.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';

/**
 * Takes the panel's path on a server that already has listeners (a `ws` server attached to it
 * would otherwise answer the panel's upgrade with 400): the existing listeners keep every other
 * request. Returns the function that puts them back.
 */
export function claimPath<A extends unknown[]>(
  http: HttpServer,
  event: 'request' | 'upgrade',
  isPanel: (request: IncomingMessage) => boolean,
  handler: (...args: A) => void,
): () => void {
  const existing = http.listeners(event) as ((...args: unknown[]) => void)[];
  const wrapped = existing.map((listener) => (...args: unknown[]) => {
    if (!isPanel(args[0] as IncomingMessage)) listener.apply(http, args);
  });
  const own = (...args: unknown[]) => {
    if (isPanel(args[0] as IncomingMessage)) handler(...(args as A));
  };
  http.removeAllListeners(event);
  http.on(event, own);
  for (const listener of wrapped) http.on(event, listener);
  return () => {
    http.removeAllListeners(event);
    for (const listener of existing) http.on(event, listener);
  };
}
