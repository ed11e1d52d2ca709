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
const SECRET_PARAMS =
  /^(token|access_token|id_token|jwt|auth|authorization|key|api_key|apikey|password|secret|credential)$/i;
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

const TOKEN_FIELD = /"(token|password|secret|credential)"\s*:\s*"(?:[^"\\]|\\.)*"/g;

/** Tokens in frames (`connect`, `refresh`) never reach the panel, an export or a log. */
export function redactText(text: string): string {
  return text.includes('"token"') ||
    text.includes('"password"') ||
    text.includes('"secret"') ||
    text.includes('"credential"')
    ? text.replace(TOKEN_FIELD, `"$1":"${REDACTED}"`)
    : text;
}
