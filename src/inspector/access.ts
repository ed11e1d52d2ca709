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

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A Host header's name without its port (`[::1]:9000` → `[::1]`), lower-cased. */
export function hostName(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.lastIndexOf(':');
  return colon !== -1 && /^\d*$/.test(lower.slice(colon + 1)) ? lower.slice(0, colon) : lower;
}

/**
 * DNS rebinding: a page on evil.example whose name is made to resolve to 127.0.0.1 is
 * same-origin with itself, so the Origin check passes, but its requests still say
 * `Host: evil.example`. Without a credential (the development default) the panel, its exports
 * and its socket answer only loopback names (`localhost`, `*.localhost`, `127.0.0.1`, `[::1]`,
 * any port) and the `allowedHosts` configured (a name for any port, or an exact `name:port`).
 * With a credential, the credential guards them and any Host goes.
 */
export function hostCheck(
  credential: string | undefined,
  allowedHosts: readonly string[] = [],
): (request: IncomingMessage) => boolean {
  if (credential !== undefined) return () => true;
  const allowed = new Set(allowedHosts.map((h) => h.trim().toLowerCase()));
  return (request) => {
    const host = request.headers.host;
    if (host === undefined || host === '') return false;
    if (allowed.has(host.trim().toLowerCase())) return true;
    const name = hostName(host);
    return LOOPBACK_NAMES.has(name) || name.endsWith('.localhost') || allowed.has(name);
  };
}
