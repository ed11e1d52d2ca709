import { STATUS_MEANING } from './api-errors.js';
import { operations } from './api-operations.js';
import { errorBody } from './api-schemas.js';
import { DEFAULTS } from './defaults.js';

/**
 * The HTTP API's OpenAPI 3.1 document, built from the operations table that also routes
 * requests, so the document cannot describe a route the API does not serve or miss one it does.
 */

/** The API's OpenAPI 3.1 description, built from the same table that routes requests. */
export function openApiDocument(prefix: string = DEFAULTS.api.path): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorResponses = Object.fromEntries(
    Object.entries(STATUS_MEANING).map(([status, description]) => [
      status,
      {
        description,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    ]),
  );
  for (const operation of operations) {
    const requestBodies: Record<string, unknown> = {};
    if (operation.body) requestBodies['application/json'] = { schema: operation.body };
    const answers: Record<string, unknown> = {
      'application/json': { schema: operation.response },
    };
    for (const body of operation.streamed ?? []) {
      requestBodies[body.mediaType] = { schema: body.schema };
      answers[body.answer.mediaType] = { schema: body.answer.schema };
    }
    const ownErrors = Object.entries(operation.errors ?? {}).map(([status, description]) => [
      status,
      {
        description,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    ]);
    paths[prefix + operation.path] = {
      [operation.method.toLowerCase()]: {
        operationId: operation.operationId,
        summary: operation.summary,
        ...(operation.description && { description: operation.description }),
        ...(operation.parameters && { parameters: operation.parameters }),
        ...(Object.keys(requestBodies).length > 0 && {
          requestBody: { required: true, content: requestBodies },
        }),
        responses: {
          '200': { description: 'Done.', content: answers },
          ...errorResponses,
          ...Object.fromEntries(ownErrors),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard server API',
      version: '1',
      description:
        'Publish and manage a Switchboard gateway from any language. Every operation needs the API key, as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Errors carry a stable code from the protocol error table.',
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: { Error: errorBody },
    },
  };
}
