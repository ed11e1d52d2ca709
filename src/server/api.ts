import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { BodyReader } from './api-body.js';
import { type Body, checkShape, malformed } from './api-checks.js';
import { type ErrorAnswer, errorResponse } from './api-errors.js';
import {
  type ApiServer,
  type Operation,
  type OperationContext,
  operations,
  type StreamedBody,
} from './api-operations.js';
import { StreamKeys } from './api-stream-keys.js';
import { DEFAULTS } from './defaults.js';
import { bearerToken, pathOf, queryOf, readJsonBody, secretMatcher, sendJson } from './http.js';
import { openApiDocument } from './openapi.js';
import type { ApiOptions } from './types.js';

export type { ApiOptions };

/**
 * The HTTP server API's handler: what a backend in any language needs to drive the gateway over
 * HTTP. It routes a request to its operation (api-operations.ts), checks the API key, reads and
 * shape-checks the body, or hands a streamed one (NDJSON ingest, streams) to its reader, and
 * turns what the operation throws into a status (api-errors.ts).
 */

export { HTTP_STATUS } from './api-errors.js';
export type { ApiServer } from './api-operations.js';
export { openApiDocument } from './openapi.js';

/** The API key a request carries: `Authorization: Bearer <key>` (any case) or `X-API-Key`. */
function apiKeyOf(request: IncomingMessage): string | undefined {
  return bearerToken(request) ?? (request.headers['x-api-key'] as string | undefined);
}

/** An answer with its own headers (a status override's `Retry-After`, `Connection: close`). */
function send(response: ServerResponse, answer: ErrorAnswer | { status: number; body: unknown }) {
  if (response.headersSent) return;
  const headers = 'headers' in answer ? answer.headers : undefined;
  response.writeHead(answer.status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(JSON.stringify(answer.body));
}

/** The body reader an operation has for this request's Content-Type, if any. */
function streamedBody(
  bodies: readonly StreamedBody[],
  request: IncomingMessage,
): StreamedBody | undefined {
  for (const body of bodies) if (body.accepts(request)) return body;
  return undefined;
}

/**
 * The server API. Routes and the OpenAPI document come from one table, so the document cannot
 * drift from the routes.
 */
export function apiHandler(server: ApiServer, options: ApiOptions) {
  const keys = (Array.isArray(options.key) ? options.key : [options.key]).filter(Boolean);
  if (keys.length === 0) throw new TypeError('api.key must be a non-empty string');
  const authorized = secretMatcher(keys);
  const prefix = (options.path ?? DEFAULTS.api.path).replace(/\/$/, '');
  const under = `${prefix}/`;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULTS.api.maxBodyBytes;
  const context: OperationContext = {
    maxBatch: options.maxBatch ?? DEFAULTS.api.maxBatch,
    maxBodyBytes,
    streamKeys: new StreamKeys(DEFAULTS.broker.idempotencyWindowMs),
  };
  const document = JSON.stringify(openApiDocument(prefix));
  const documentPath = `${prefix}/openapi.json`;
  // Path first, then method: one lookup, and a known path with another method is a 405.
  const routes = new Map<string, Partial<Record<string, Operation>>>();
  for (const op of operations) {
    const methods = routes.get(prefix + op.path) ?? {};
    methods[op.method] = op;
    routes.set(prefix + op.path, methods);
  }

  /** Answers an error; a streamed body is then read and dropped within bounds, not left hanging. */
  const fail = (
    request: IncomingMessage,
    response: ServerResponse,
    error: unknown,
    path: string,
    streamed: { body: StreamedBody; reader: BodyReader | undefined } | undefined,
  ) => {
    const answer = errorResponse(error);
    if (answer.status === 500) server.logger.error({ err: error, path }, 'api request failed');
    if (response.headersSent) {
      // An NDJSON answer under way cannot turn into an error: cut it short.
      response.destroy();
      return;
    }
    if (!streamed) {
      // A body we stopped reading leaves the connection unusable for another request.
      sendJson(response, answer.status, answer.body, answer.status === 413);
      return;
    }
    send(response, answer);
    if (answer.headers?.['connection'] !== 'close')
      (streamed.reader ?? new BodyReader(request)).discard(maxBodyBytes, streamed.body.idleMs);
  };

  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const path = pathOf(request);
    if (path !== prefix && !path.startsWith(under)) return false;
    if (path === documentPath && request.method === 'GET') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(document);
      return true;
    }
    const methods = routes.get(path);
    const operation = methods?.[request.method ?? ''];
    const body = operation?.streamed && streamedBody(operation.streamed, request);
    const streamed = body && { body, reader: undefined as BodyReader | undefined };
    try {
      if (!authorized(apiKeyOf(request)))
        throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'A valid API key is required');
      if (!operation) {
        if (methods) {
          sendJson(response, 405, {
            error: { code: ErrorCode.NOT_FOUND, message: `${request.method} not allowed here` },
          });
          return true;
        }
        throw new SwitchboardError(ErrorCode.NOT_FOUND, `No API operation at ${path}`);
      }
      if (streamed) {
        streamed.reader = new BodyReader(request);
        const outcome = await streamed.body.handle(
          server,
          request,
          response,
          streamed.reader,
          context,
        );
        if (outcome) {
          send(response, outcome);
          // A retry answered from memory: its own body is not needed.
          if (!streamed.reader.ended) streamed.reader.discard(maxBodyBytes, streamed.body.idleMs);
        }
        return true;
      }
      if (!operation.handle)
        throw new SwitchboardError(ErrorCode.BAD_FRAME, 'Unsupported Content-Type');
      const json =
        operation.method === 'POST'
          ? await readJsonBody(request, maxBodyBytes)
          : queryBody(request, operation);
      if (operation.body) checkShape(json, operation.body);
      sendJson(response, 200, await operation.handle(server, json, context));
    } catch (error) {
      fail(request, response, error, path, streamed);
    }
    return true;
  };
}

/** A GET operation's query, as its body: only the parameters it documents, each at most once. */
function queryBody(request: IncomingMessage, operation: Operation): Body {
  const known = new Set(operation.parameters?.map((p) => p.in === 'query' && p.name));
  const body: Body = {};
  for (const [key, value] of queryOf(request)) {
    if (!known.has(key)) throw malformed(`Unknown query parameter "${key.slice(0, 64)}"`);
    if (Object.hasOwn(body, key)) throw malformed(`"${key}" is given more than once`);
    body[key] = value;
  }
  return body;
}
