import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isReservedEvent } from '../protocol/frames.js';
import {
  type Checked,
  checkPublication,
  isName,
  isPosition,
  MAX_DATA_DEPTH,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
} from '../protocol/validate.js';
import type { ChannelRule } from './channels.js';
import type { Gateway } from './gateway.js';
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

/**
 * What the API needs of the server beyond its public face: the gateway's own limits and event
 * check, so a publication over HTTP is held to exactly what a client's `publish` is.
 */
export type ApiServer = Server &
  Pick<Gateway, 'limits' | 'validateEvent'> & {
    /** The rule of a channel clients may use, for its event list and schemas. */
    channelRule(channel: string): ChannelRule | undefined;
  };

interface Operation {
  method: 'GET' | 'POST';
  path: string;
  operationId: string;
  summary: string;
  body?: JsonSchema;
  response: JsonSchema;
  handle(server: ApiServer, body: Body, options: ResolvedApiOptions): Promise<unknown>;
}

type ResolvedApiOptions = Required<Omit<ApiOptions, 'key'>> & { keys: Buffer[] };

/**
 * The HTTP status of every error code, so the same refusal reads the same on both paths: the
 * code is the WebSocket reply's, the status only groups it. 503 is a refusal (nothing was done;
 * retry later); 504 is UNCERTAIN (the broker stopped answering, the publication may exist: retry
 * with the same idempotencyKey, which publishes at most once). Client-side codes never come
 * from the server; should one, it is a bug (500).
 */
export const HTTP_STATUS = {
  BAD_FRAME: 400,
  UNKNOWN_TYPE: 400,
  UNKNOWN_EVENT: 400,
  VALIDATION_FAILED: 400,
  UNSUPPORTED_VERSION: 400,
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  LIMIT_EXCEEDED: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  UNCERTAIN: 504,
  TIMEOUT: 500,
  DISCONNECTED: 500,
  CLOSED: 500,
} as const satisfies Record<ErrorCode, number>;

/** What each status an operation can answer means, for the OpenAPI document. */
const STATUS_MEANING: Record<number, string> = {
  400: 'Bad input, nothing done: BAD_FRAME (malformed body, missing, unknown or mistyped field, empty or over-long name or key, data nested too deep, reserved event), UNKNOWN_EVENT, VALIDATION_FAILED.',
  401: 'UNAUTHORIZED: no valid API key.',
  404: 'NOT_FOUND: no channel pattern matches the channel, or no such operation.',
  413: 'TOO_LARGE (body over `maxBodyBytes`, or a publication over the gateway message limit) or LIMIT_EXCEEDED (too many publications in a batch); nothing done.',
  500: 'INTERNAL: a bug, logged on the server.',
  503: 'UNAVAILABLE: the broker refused and nothing was done; safe to retry.',
  504: 'UNCERTAIN: the broker stopped answering and the publication may or may not exist; retry with the same idempotencyKey to publish at most once.',
};

// ── schemas: they document every body, and their `required` and `additionalProperties` are
// enforced on every request (checkShape); field values are checked by the handlers ─────────

const position = {
  type: 'object',
  required: ['offset', 'epoch'],
  properties: { offset: { type: 'integer', minimum: 0 }, epoch: { type: 'string' } },
} as const;

/** A name as the protocol bounds it (isName). */
const nameSchema = { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH } as const;

const publicationInput = {
  type: 'object',
  required: ['channel', 'event'],
  additionalProperties: false,
  properties: {
    channel: {
      ...nameSchema,
      description: 'A channel matching one of the configured patterns.',
    },
    event: {
      ...nameSchema,
      description:
        "Event name; reserved names are refused, and the channel's `events` list applies.",
    },
    data: {
      description: `Any JSON value nested at most ${MAX_DATA_DEPTH} levels deep; the publication must fit the gateway's \`limits.maxMessageBytes\`.`,
    },
    idempotencyKey: {
      type: 'string',
      minLength: 1,
      maxLength: MAX_KEY_LENGTH,
      description:
        'A retry with the same key inside the broker window is not published twice: use one whenever a 504 (UNCERTAIN) may be retried.',
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
  properties: { channel: nameSchema },
} as const;

// ── request checks ─────────────────────────────────────────────────────────────────────────
// Malformed input is BAD_FRAME, as on the WebSocket path; VALIDATION_FAILED is kept for what
// it means there: the payload failed the channel's schema.

function malformed(message: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.BAD_FRAME, message);
}

function isBody(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Enforces what the schema declares of an object's keys: `required` and `additionalProperties`. */
function checkShape(body: Body, schema: JsonSchema): void {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  if (schema.additionalProperties === false) {
    for (const key of Object.keys(body))
      if (!Object.hasOwn(properties, key)) throw malformed(`Unknown field "${key}"`);
  }
  for (const key of (schema.required ?? []) as string[])
    if (body[key] === undefined) throw malformed(`"${key}" is required`);
}

function orThrow(checked: Checked): void {
  if (!checked.ok) throw new SwitchboardError(checked.code, checked.message);
}

function name(body: Body, key: string): string {
  const value = body[key];
  if (!isName(value))
    throw malformed(`"${key}" must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  return value;
}

function integer(body: Body, key: string, min: number, max: number): number | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    throw malformed(`"${key}" must be an integer from ${min} to ${max}`);
  return value as number;
}

function channelRule(server: ApiServer, channel: string): ChannelRule {
  const rule = server.channelRule(channel);
  // A typo would otherwise publish into a channel no client can subscribe to.
  if (!rule)
    throw new SwitchboardError(ErrorCode.NOT_FOUND, `No channel pattern matches "${channel}"`);
  return rule;
}

/**
 * One publication, checked as a client's `publish` frame is: the shared field rules and size
 * limit (checkPublication), the channel (NOT_FOUND), then the gateway's own event check
 * (reserved name BAD_FRAME, UNKNOWN_EVENT, VALIDATION_FAILED). Authorization and `clientPublish`
 * are the exceptions: the API key stands for the backend, which may always publish.
 */
async function publishOne(server: ApiServer, input: unknown) {
  if (!isBody(input)) throw malformed('A publication must be an object');
  checkShape(input, publicationInput);
  const { channel, event, data, idempotencyKey } = input;
  orThrow(
    checkPublication(
      { channel, event, data, key: idempotencyKey },
      { maxBytes: server.limits.maxMessageBytes, names: { key: 'idempotencyKey' } },
    ),
  );
  const rule = channelRule(server, channel as string);
  const checked = await server.validateEvent(rule, event as string, data);
  const result = await server.publish(channel as string, event as string, checked, {
    ...(idempotencyKey !== undefined && { idempotencyKey: idempotencyKey as string }),
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
      if (!Array.isArray(list)) throw malformed('"publications" must be an array');
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
      properties: { user: nameSchema, event: nameSchema, data: {} },
    },
    response: { type: 'object', required: ['ok'], properties: { ok: { const: true } } },
    async handle(server, body) {
      const { user, event, data } = body;
      // The same rules as a publication: it travels on the user's own channel.
      orThrow(
        checkPublication(
          { channel: user, event, data },
          { maxBytes: server.limits.maxMessageBytes, names: { channel: 'user' } },
        ),
      );
      if (isReservedEvent(event as string))
        throw malformed(`"${event as string}" is a reserved event name`);
      await server.sendToUser(user as string, event as string, data);
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
        user: nameSchema,
        code: { type: 'integer', minimum: 4000, maximum: 4999, default: 4010 },
        reason: { type: 'string', maxLength: 120 },
      },
    },
    response: { type: 'object', required: ['ok'], properties: { ok: { const: true } } },
    async handle(server, body) {
      const user = name(body, 'user');
      const code = integer(body, 'code', 4000, 4999);
      const reason = body.reason;
      // Close reasons must fit a control frame (123 bytes).
      if (reason !== undefined && (typeof reason !== 'string' || Buffer.byteLength(reason) > 120))
        throw malformed('"reason" must be a string of at most 120 bytes');
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
        channel: nameSchema,
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
      const channel = name(body, 'channel');
      channelRule(server, channel);
      const limit = integer(body, 'limit', 1, 10_000);
      const since = body.since;
      if (since !== undefined && !isPosition(since))
        throw malformed('"since" must be { offset, epoch } as a publication carries them');
      const result = await server.history(channel, {
        ...(limit !== undefined && { limit }),
        ...(since !== undefined && { since: { offset: since.offset, epoch: since.epoch } }),
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
      const channel = name(body, 'channel');
      channelRule(server, channel);
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
          ...errorResponses,
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

function errorResponse(error: unknown): { status: number; body: unknown } {
  if (error instanceof SwitchboardError) {
    return {
      status: HTTP_STATUS[error.code] ?? 500,
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
export function apiHandler(server: ApiServer, options: ApiOptions) {
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
      if (operation.body) checkShape(body, operation.body);
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
