/**
 * Credentials never reach the panel, an export or a log: headers and query parameters are
 * redacted when a connection is captured, tokens in frames whenever a frame's text is read.
 */
import type { IncomingMessage } from 'node:http';
import { pathOf, queryOf } from '../server/http.js';

const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'sec-websocket-protocol',
]);
/** Query parameters that look like credentials: any name mentioning a token, key, secret… */
const SECRET_PARAMS =
  /token|jwt|auth|^key$|api[-_]?key|passw|secret|credential|session|^sid$|signature|^sig$|ticket/i;

/** Whether a query parameter's name looks like it carries a credential. */
export const isSecretParam = (name: string): boolean => SECRET_PARAMS.test(name);
export const REDACTED = '[redacted]';

export function redactHeaders(request: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    out[name] = SECRET_HEADERS.has(name)
      ? REDACTED
      : Array.isArray(value)
        ? value.join(', ')
        : value;
  }
  return out;
}

export function splitUrl(request: IncomingMessage): {
  path: string;
  query: Record<string, string>;
} {
  const query: Record<string, string> = {};
  for (const [name, value] of queryOf(request))
    query[name] = SECRET_PARAMS.test(name) ? REDACTED : value;
  return { path: pathOf(request), query };
}

const FIELDS =
  'token|access_token|refresh_token|id_token|password|secret|credential|authorization|api_key|apikey';
const TOKEN_FIELD = new RegExp(`"(${FIELDS})"\\s*:\\s*"(?:[^"\\\\]|\\\\.)*"`, 'g');
const HAS_FIELD = new RegExp(`"(?:${FIELDS})"`);

/** Tokens in frames (`connect`, `refresh`, a login reply) never reach the panel, an export or a log. */
export function redactText(text: string): string {
  return HAS_FIELD.test(text) ? text.replace(TOKEN_FIELD, `"$1":"${REDACTED}"`) : text;
}

const OPEN_FIELD = new RegExp(`"(${FIELDS})"\\s*:\\s*"(?:[^"\\\\]|\\\\.)*$`);

/**
 * Text about to be cut (or already cut short by capture): every credential field redacted, and
 * one left open at the end (its closing quote past the cut) redacted to the end, so no part of a
 * token longer than the cut is ever kept.
 */
export function redactCut(text: string): string {
  return redactText(text).replace(OPEN_FIELD, `"$1":"${REDACTED}`);
}

/**
 * A negotiated subprotocol, unless it looks like a credential (some apps smuggle a token through
 * Sec-WebSocket-Protocol): long, or shaped like a JWT.
 */
export function redactProtocol(protocol: string): string {
  return protocol.length > 64 || /^[\w-]+\.[\w-]+\.[\w-]+$/.test(protocol) ? REDACTED : protocol;
}
