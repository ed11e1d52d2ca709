import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { checkShape } from './api-checks.js';
import { errorResponse } from './api-errors.js';
import { type ApiServer, type OperationContext, operations } from './api-operations.js';
import { DEFAULTS } from './defaults.js';
import { bearerToken, pathOf, readJsonBody, secretMatcher, sendJson } from './http.js';
import { openApiDocument } from './openapi.js';
import type { ApiOptions } from './types.js';

export type { ApiOptions };

/**
 * The HTTP server API's handler: what a backend in any language needs to drive the gateway over
 * HTTP. It routes a request to its operation (api-operations.ts), checks the API key, reads and
 * shape-checks the body, and turns what the operation throws into a status (api-errors.ts).
 */

export { HTTP_STATUS } from './api-errors.js';
export type { ApiServer } from './api-operations.js';
export { openApiDocument } from './openapi.js';

/** The API key a request carries: `Authorization: Bearer <key>` (any case) or `X-API-Key`. */
function apiKeyOf(request: IncomingMessage): string | undefined {
  return bearerToken(request) ?? (request.headers['x-api-key'] as string | undefined);
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
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULTS.api.maxBodyBytes;
  const context: OperationContext = { maxBatch: options.maxBatch ?? DEFAULTS.api.maxBatch };
  const document = JSON.stringify(openApiDocument(prefix));
  const routes = new Map(operations.map((op) => [`${op.method} ${prefix}${op.path}`, op]));

  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const path = pathOf(request);
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    if (path === `${prefix}/openapi.json` && request.method === 'GET') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(document);
      return true;
    }
    const operation = routes.get(`${request.method} ${path}`);
    try {
      if (!authorized(apiKeyOf(request)))
        throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'A valid API key is required');
      if (!operation) {
        const known = operations.some((op) => prefix + op.path === path);
        if (known) {
          sendJson(response, 405, {
            error: { code: ErrorCode.NOT_FOUND, message: `${request.method} not allowed here` },
          });
          return true;
        }
        throw new SwitchboardError(ErrorCode.NOT_FOUND, `No API operation at ${path}`);
      }
      const body = operation.method === 'POST' ? await readJsonBody(request, maxBodyBytes) : {};
      if (operation.body) checkShape(body, operation.body);
      sendJson(response, 200, await operation.handle(server, body, context));
    } catch (error) {
      const { status, body } = errorResponse(error);
      if (status === 500) server.logger.error({ err: error, path }, 'api request failed');
      // A body we stopped reading leaves the connection unusable for another request.
      sendJson(response, status, body, status === 413);
    }
    return true;
  };
}
