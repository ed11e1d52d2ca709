/**
 * What both kinds of capture share: the Target the panel's actions go through, and the record a
 * connection opens with, taken (redacted) from its upgrade request.
 */
import type { IncomingMessage } from 'node:http';
import { redactHeaders, splitUrl } from './redact.js';
import type { InspectorStore } from './store.js';
import type { TrackingPolicy } from './tracking.js';

/** What the panel's actions do, whatever is being inspected. */
export interface Target {
  /** Hands `data` to the server as if the client had sent it again (on its live connection). */
  replay(connection: string, data: string | Uint8Array): boolean;
  /**
   * Sends `data` to the server on a new connection opened like the captured one (the proxy only).
   * Resolves with the new connection's id, or undefined when it could not be opened.
   */
  replayNew?(connection: string, data: string | Uint8Array): Promise<string | undefined>;
  send(connection: string, text: string): boolean;
  close(connection: string, code: number, reason: string): boolean;
  publish?(channel: string, event: string, data: unknown): Promise<unknown>;
}

/**
 * Opens the store's record of a connection; false when the tracking policy leaves it out or the
 * store has no room for it.
 */
export function openRecord(
  store: InspectorStore,
  id: string,
  request: IncomingMessage,
  status: 'connecting' | 'open',
  policy: TrackingPolicy = () => true,
) {
  if (!policy(request)) {
    store.noteUntracked();
    return false;
  }
  const { path, query } = splitUrl(request);
  const record = {
    id,
    status,
    path,
    query,
    headers: redactHeaders(request),
    connectedAt: Date.now(),
  } as const;
  const address = request.socket.remoteAddress;
  return store.openConnection(
    address === undefined ? record : { ...record, remoteAddress: address },
  );
}
