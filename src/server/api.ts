import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isReservedEvent } from '../protocol/frames.js';
import type { Server } from './server.js';

export interface ApiOptions {
  /**
   * Requests carry one of these as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Several
   * keys let you rotate one without downtime.
   */
  key: string | string[];
  /** URL prefix of the API. Default '/api'. */
  path?: string;
  /** Largest request body accepted (413 beyond). Default 1 MiB. */
  maxBodyBytes?: number;
  /** Publications in one batch request. Default 1000. */
  maxBatch?: number;
}

type JsonSchema = Record<string, unknown>;
type Body = Record<string, unknown>;

interface Operation {
  method: 'GET' | 'POST';
  path: string;
  operationId: string;
  summary: string;
  body?: JsonSchema;
  response: JsonSchema;
  handle(server: Server, body: Body, options: ResolvedApiOptions): Promise<unknown>;
}

type ResolvedApiOptions = Required<Omit<ApiOptions, 'key'>> & { keys: Buffer[] };

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_FRAME: 400,
  VALIDATION_FAILED: 400,
  UNKNOWN_EVENT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  LIMIT_EXCEEDED: 413,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

// ── schemas: the same objects validate nothing at runtime but document everything ──────────

const position = {
  type: 'object',
  required: ['offset', 'epoch'],
  properties: { offset: { type: 'integer', minimum: 0 }, epoch: { type: 'string' } },
} as const;

const publicationInput = {
  type: 'object',
  required: ['channel', 'event'],
  additionalProperties: false,
  properties: {
    channel: { type: 'string', description: 'A channel matching one of the configured patterns.' },
    event: { type: 'string', description: 'Event name; names starting with `$` are reserved.' },
    data: { description: 'Any JSON value.' },
    idempotencyKey: {
      type: 'string',
      description: 'A retry with the same key inside the broker window is not published twice.',
    },
  },
} as const;

const publishResult = {
  type: 'object',
  required: ['offset', 'epoch', 'duplicate'],
  properties: { ...position.properties, duplicate: { type: 'boolean' } },
} as const;

const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.values(ErrorCode) },
        message: { type: 'string' },
        details: {},
      },
    },
  },
} as const;

const presenceMember = {
  type: 'object',
  required: ['user', 'connection'],
  properties: { user: { type: 'string' }, connection: { type: 'string' }, info: {} },
} as const;

const publication = {
  type: 'object',
  required: ['channel', 'event', 'offset', 'epoch', 'time'],
  properties: {
    channel: { type: 'string' },
    event: { type: 'string' },
    data: {},
    offset: { type: 'integer' },
    epoch: { type: 'string' },
    time: { type: 'integer', description: 'Broker time, ms since the Unix epoch.' },
    user: { type: 'string' },
  },
} as const;

const channelOnly = {
  type: 'object',
  required: ['channel'],
  additionalProperties: false,
  properties: { channel: { type: 'string' } },
} as const;

// ── request checks ─────────────────────────────────────────────────────────────────────────

function invalid(message: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.VALIDATION_FAILED, message);
}

function text(body: Body, key: string, required: true): string;
function text(body: Body, key: string, required: false): string | undefined;
function text(body: Body, key: string, required: boolean): string | undefined {
  const value = body[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value === '')
    throw invalid(`"${key}" must be a non-empty string`);
  return value;
}

function integer(body: Body, key: string, min: number, max: number): number | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    throw invalid(`"${key}" must be an integer from ${min} to ${max}`);
  return value as number;
}

function knownChannel(server: Server, body: Body): string {
  const channel = text(body, 'channel', true);
  // A typo would otherwise publish into a channel no client can subscribe to.
  if (server.channelPattern(channel) === undefined)
    throw new SwitchboardError(ErrorCode.NOT_FOUND, `No channel pattern matches "${channel}"`);
  return channel;
}

async function publishOne(server: Server, input: unknown) {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid('a publication must be an object');
  const body = input as Body;
  const channel = knownChannel(server, body);
  const event = text(body, 'event', true);
  if (isReservedEvent(event)) throw invalid(`"${event}" is a reserved event name`);
  const idempotencyKey = text(body, 'idempotencyKey', false);
  const result = await server.publish(channel, event, body.data, {
    ...(idempotencyKey !== undefined && { idempotencyKey }),
  });
  return { offset: result.offset, epoch: result.epoch, duplicate: result.duplicate };
}

// ── operations ─────────────────────────────────────────────────────────────────────────────

const operations: Operation[] = [
  {
    method: 'POST',
    path: '/publish',
    operationId: 'publish',
    summary: 'Publish one message to a channel (kept in history when the channel keeps it).',
    body: publicationInput,
    response: publishResult,
    handle: (server, body) => publishOne(server, body),
  },
  {
    method: 'POST',
    path: '/batch',
    operationId: 'publishMany',
    summary:
      'Publish several messages in order. Each gets its own result; one failing does not stop the rest.',
    body: {
      type: 'object',
      required: ['publications'],
      additionalProperties: false,
      properties: { publications: { type: 'array', items: publicationInput } },
    },
    response: {
      type: 'object',
      required: ['results'],
      properties: {
        results: {
          type: 'array',
          items: { oneOf: [publishResult, { $ref: '#/components/schemas/Error' }] },
        },
      },
    },
    async handle(server, body, options) {
      const list = body.publications;
      if (!Array.isArray(list)) throw invalid('"publications" must be an array');
      if (list.length > options.maxBatch)
        throw new SwitchboardError(
          ErrorCode.LIMIT_EXCEEDED,
          `At most ${options.maxBatch} publications per batch`,
        );
      const results: unknown[] = [];
      // Sequential on purpose: publications to one channel keep the order they were sent in.
      for (const item of list) {
        try {
          results.push(await publishOne(server, item));
        } catch (error) {
          results.push(errorResponse(error).body);
        }
      }
      return { results };
    },
  },
  {
    method: 'POST',
    path: '/user/send',
    operationId: 'sendToUser',
    summary: 'Send an event to every connection of a user, on every node (not kept in history).',
    body: {
      type: 'object',
      required: ['user', 'event'],
      additionalProperties: false,
      properties: { user: { type: 'string' }, event: { type: 'string' }, data: {} },
    },
    response: { type: 'object', required: ['ok'], properties: { ok: { const: true } } },
    async handle(server, body) {
      const user = text(body, 'user', true);
      const event = text(body, 'event', true);
      if (isReservedEvent(event)) throw invalid(`"${event}" is a reserved event name`);
      await server.sendToUser(user, event, body.data);
      return { ok: true };
    },
  },
  {
    method: 'POST',
    path: '/user/disconnect',
    operationId: 'disconnectUser',
    summary:
      'Close every connection of a user on every node. The default close code 4010 tells clients not to reconnect.',
    body: {
      type: 'object',
      required: ['user'],
      additionalProperties: false,
      properties: {
        user: { type: 'string' },
        code: { type: 'integer', minimum: 4000, maximum: 4999, default: 4010 },
        reason: { type: 'string', maxLength: 120 },
      },
    },
    response: { type: 'object', required: ['ok'], properties: { ok: { const: true } } },
    async handle(server, body) {
      const user = text(body, 'user', true);
      const code = integer(body, 'code', 4000, 4999);
      const reason = text(body, 'reason', false);
      // Close reasons must fit a control frame (123 bytes).
      if (reason !== undefined && Buffer.byteLength(reason) > 120)
        throw invalid('"reason" is too long');
      await server.disconnectUserEverywhere(user, code, reason);
      return { ok: true };
    },
  },
  {
    method: 'POST',
    path: '/history',
    operationId: 'history',
    summary:
      'Publications kept for a channel: the newest `limit`, or those after a position (`recovered` says whether none are missing).',
    body: {
      type: 'object',
      required: ['channel'],
      additionalProperties: false,
      properties: {
        channel: { type: 'string' },
        limit: { type: 'integer', minimum: 1, maximum: 10000 },
        since: position,
      },
    },
    response: {
      type: 'object',
      required: ['publications', 'offset', 'epoch', 'recovered'],
      properties: {
        publications: { type: 'array', items: publication },
        ...position.properties,
        recovered: { type: 'boolean' },
      },
    },
    async handle(server, body) {
      const channel = knownChannel(server, body);
      const limit = integer(body, 'limit', 1, 10_000);
      const since = body.since as Body | undefined;
      if (since !== undefined) {
        if (typeof since !== 'object' || since === null) throw invalid('"since" must be an object');
        integer(since, 'offset', 0, Number.MAX_SAFE_INTEGER);
        text(since, 'epoch', true);
      }
      const result = await server.history(channel, {
        ...(limit !== undefined && { limit }),
        ...(since !== undefined && {
          since: { offset: since.offset as number, epoch: since.epoch as string },
        }),
      });
      // exceptConnection is an internal routing detail.
      const publications = result.publications.map(({ exceptConnection: _, ...rest }) => rest);
      return { ...result, publications };
    },
  },
  {
    method: 'POST',
    path: '/presence',
    operationId: 'presence',
    summary: 'Who is subscribed to a presence-enabled channel, across all nodes.',
    body: channelOnly,
    response: {
      type: 'object',
      required: ['members'],
      properties: { members: { type: 'array', items: presenceMember } },
    },
    async handle(server, body) {
      const channel = knownChannel(server, body);
      return { members: await server.presence(channel) };
    },
  },
  {
    method: 'GET',
    path: '/channels',
    operationId: 'channels',
    summary:
      "Channels with subscribers across the cluster, with counts, and the number of nodes and connections. Other nodes' counts are as of their last report (every 10 s).",
    response: {
      type: 'object',
      required: ['nodes', 'connections', 'channels'],
      properties: {
        nodes: { type: 'integer' },
        connections: { type: 'integer' },
        channels: {
          type: 'array',
          items: {
            type: 'object',
            required: ['channel', 'subscribers'],
            properties: { channel: { type: 'string' }, subscribers: { type: 'integer' } },
          },
        },
      },
    },
    handle: (server) => server.clusterChannels(),
  },
];

/** The API's OpenAPI 3.1 description, built from the same table that routes requests. */
export function openApiDocument(prefix = '/api'): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorResponse = { $ref: '#/components/responses/Error' };
  for (const operation of operations) {
    paths[prefix + operation.path] = {
      [operation.method.toLowerCase()]: {
        operationId: operation.operationId,
        summary: operation.summary,
        ...(operation.body && {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: operation.body } },
          },
        }),
        responses: {
          '200': {
            description: 'Done.',
            content: { 'application/json': { schema: operation.response } },
          },
          '400': errorResponse,
          '401': errorResponse,
          '404': errorResponse,
          '413': errorResponse,
          '503': errorResponse,
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
      responses: {
        Error: {
          description: 'The request failed; `error.code` says why.',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    },
  };
}

function errorResponse(error: unknown): { status: number; body: unknown } {
  if (error instanceof SwitchboardError) {
    return {
      status: STATUS[error.code] ?? 500,
      body: {
        error: {
          code: error.code,
          message: error.message,
          ...(error.details !== undefined && { details: error.details }),
        },
      },
    };
  }
  return { status: 500, body: { error: { code: ErrorCode.INTERNAL, message: 'Internal error' } } };
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** Compares digests so the time taken says nothing about how much of a guess was right. */
function authorized(request: IncomingMessage, keys: Buffer[]): boolean {
  const header = request.headers.authorization;
  const given = header?.startsWith('Bearer ')
    ? header.slice(7)
    : (request.headers['x-api-key'] as string | undefined);
  if (!given) return false;
  const candidate = digest(given);
  let match = false;
  for (const key of keys) match = timingSafeEqual(candidate, key) || match;
  return match;
}

function readBody(request: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new SwitchboardError(ErrorCode.TOO_LARGE, `Body larger than ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new SwitchboardError(ErrorCode.TOO_LARGE, `Body larger than ${limit} bytes`));
        // Read no further; the 413 goes out with `connection: close`, which ends the socket.
        request.removeAllListeners('data');
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('error', reject);
    request.on('end', () => {
      if (size === 0) return resolve({});
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reject(new SwitchboardError(ErrorCode.BAD_FRAME, 'Body is not valid JSON'));
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        return reject(new SwitchboardError(ErrorCode.BAD_FRAME, 'Body must be a JSON object'));
      resolve(parsed as Body);
    });
  });
}

function send(response: ServerResponse, status: number, body: unknown, close = false): void {
  if (response.headersSent) return;
  response.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...(close && { connection: 'close' }),
  });
  response.end(JSON.stringify(body));
}

/**
 * The server API: what a backend in any language needs to drive the gateway over HTTP. Routes
 * and the OpenAPI document come from one table, so the document cannot drift from the routes.
 */
export function apiHandler(server: Server, options: ApiOptions) {
  const keys = (Array.isArray(options.key) ? options.key : [options.key]).filter(Boolean);
  if (keys.length === 0) throw new TypeError('api.key must be a non-empty string');
  const resolved: ResolvedApiOptions = {
    path: (options.path ?? '/api').replace(/\/$/, ''),
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    maxBatch: options.maxBatch ?? 1000,
    keys: keys.map(digest),
  };
  const prefix = resolved.path;
  const document = JSON.stringify(openApiDocument(prefix));
  const routes = new Map(operations.map((op) => [`${op.method} ${prefix}${op.path}`, op]));

  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    if (path === `${prefix}/openapi.json` && request.method === 'GET') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(document);
      return true;
    }
    const operation = routes.get(`${request.method} ${path}`);
    try {
      if (!authorized(request, resolved.keys))
        throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'A valid API key is required');
      if (!operation) {
        const known = operations.some((op) => prefix + op.path === path);
        if (known) {
          send(response, 405, {
            error: { code: ErrorCode.NOT_FOUND, message: `${request.method} not allowed here` },
          });
          return true;
        }
        throw new SwitchboardError(ErrorCode.NOT_FOUND, `No API operation at ${path}`);
      }
      const body =
        operation.method === 'POST' ? await readBody(request, resolved.maxBodyBytes) : {};
      send(response, 200, await operation.handle(server, body, resolved));
    } catch (error) {
      const { status, body } = errorResponse(error);
      if (status === 500) server.logger.error({ err: error, path }, 'api request failed');
      // A body we stopped reading leaves the connection unusable for another request.
      send(response, status, body, status === 413);
    }
    return true;
  };
}
