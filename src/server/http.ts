import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';

/**
 * The HTTP toolkit every endpoint on the gateway's port shares (the API, health, metrics, the
 * inspector): path parsing, refusing an upgrade, reading a JSON body within a limit, credentials
 * from headers, and comparing secrets without telling anything by the time it takes.
 */

/** The request's path without its query string. */
export function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The request's query parameters. */
export function queryOf(request: IncomingMessage): URLSearchParams {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return new URLSearchParams(query === -1 ? '' : url.slice(query + 1));
}

/** Answers an upgrade request with a plain HTTP status and closes the socket once it is sent. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${message}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** A JSON answer that no cache keeps; `close` ends the connection (after a body left unread). */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  close = false,
): void {
  if (response.headersSent) return;
  response.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...(close && { connection: 'close' }),
  });
  response.end(JSON.stringify(body));
}

/** The token of an `Authorization: Bearer …` header; the scheme is case-insensitive (RFC 9110). */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || header.length < 7) return undefined;
  return header.slice(0, 7).toLowerCase() === 'bearer ' ? header.slice(7).trim() : undefined;
}

/**
 * Checks a given secret against the accepted ones by their SHA-256 digests, compared in constant
 * time: neither how much of a guess was right nor the secret's length shows in the time taken.
 */
export function secretMatcher(secrets: readonly string[]): (given: string | undefined) => boolean {
  const digests = secrets.map(digest);
  return (given) => {
    if (given === undefined) return false;
    const candidate = digest(given);
    let match = false;
    for (const expected of digests) match = timingSafeEqual(candidate, expected) || match;
    return match;
  };
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Reads a body of at most `limit` bytes: TOO_LARGE past it (declared or streamed). */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () =>
      new SwitchboardError(ErrorCode.TOO_LARGE, `Body larger than ${limit} bytes`);
    if (Number(request.headers['content-length'] ?? 0) > limit) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(tooLarge());
        // Read no further; the 413 goes out with `connection: close`, which ends the socket.
        request.removeAllListeners('data');
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('error', reject);
    request.on('end', () => resolve(Buffer.concat(chunks)));
    // Cut off before the end (a no-op once it ended): the wait ends too.
    request.once('close', () =>
      reject(new SwitchboardError(ErrorCode.BAD_FRAME, 'Body not received in full')),
    );
  });
}

/**
 * Reads a JSON object body of at most `limit` bytes: TOO_LARGE past it (declared or streamed),
 * BAD_FRAME when it is not JSON or not an object. An empty body is `{}`.
 */
export async function readJsonBody(
  request: IncomingMessage,
  limit: number,
): Promise<Record<string, unknown>> {
  const body = await readBody(request, limit);
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new SwitchboardError(ErrorCode.BAD_FRAME, 'Body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new SwitchboardError(ErrorCode.BAD_FRAME, 'Body must be a JSON object');
  return parsed as Record<string, unknown>;
}
