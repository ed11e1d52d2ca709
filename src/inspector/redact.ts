import type { IncomingMessage } from 'node:http';

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
  const url = new URL(request.url ?? '/', 'http://inspector');
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = SECRET_PARAMS.test(name) ? REDACTED : value;
  return { path: url.pathname, query };
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
