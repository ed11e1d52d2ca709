/**
 * Who may use the panel: same-origin pages only, and, when a credential is set, whoever presents
 * it (compared by digest in constant time, so neither its content nor its length leaks).
 */
import type { IncomingMessage } from 'node:http';
import { secretMatcher } from '../server/http.js';

/** Whether `given` is the credential; anything goes when none is set. */
export function credentialCheck(credential: string | undefined): (given: unknown) => boolean {
  if (credential === undefined) return () => true;
  const matches = secretMatcher([credential]);
  return (given) => typeof given === 'string' && matches(given);
}

/** The panel never answers another origin: a page elsewhere must not read or drive it. */
export function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true; // not a browser; the credential still applies
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}
