import { ErrorCode } from '../protocol/errors.js';
import { MAX_DATA_DEPTH, MAX_KEY_LENGTH, MAX_NAME_LENGTH } from '../protocol/validate.js';

/**
 * The JSON Schemas of the HTTP API's bodies and answers. They document every operation in the
 * OpenAPI document, and their `required` and `additionalProperties` are enforced on every
 * request (api-checks.ts, checkShape); field values are checked by the operations.
 */

export type JsonSchema = Record<string, unknown>;

export const position = {
  type: 'object',
  required: ['offset', 'epoch'],
  properties: { offset: { type: 'integer', minimum: 0 }, epoch: { type: 'string' } },
} as const;

/** A name as the protocol bounds it (isName). */
export const nameSchema = { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH } as const;

export const publicationInput = {
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

export const publishResult = {
  type: 'object',
  required: ['offset', 'epoch', 'duplicate'],
  properties: { ...position.properties, duplicate: { type: 'boolean' } },
} as const;

export const errorBody = {
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

export const presenceMember = {
  type: 'object',
  required: ['user', 'connection'],
  properties: { user: { type: 'string' }, connection: { type: 'string' }, info: {} },
} as const;

export const publication = {
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

/** A latest value (`GET /latest`): a publication as the channel keeps it for late joiners. */
export const latestPublication = {
  ...publication,
  properties: {
    ...publication.properties,
    ephemeral: {
      const: true,
      description:
        "Published as ephemeral: `offset` is then the channel's position when it went out, not its own.",
    },
  },
} as const;

export const channelOnly = {
  type: 'object',
  required: ['channel'],
  additionalProperties: false,
  properties: { channel: nameSchema },
} as const;

/** `{ ok: true }`, the answer of operations that return nothing else. */
export const okResult = {
  type: 'object',
  required: ['ok'],
  properties: { ok: { const: true } },
} as const;

/** An idempotency key, as the protocol bounds it. */
export const keySchema = { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH } as const;

/** The answer of `POST /stream`. */
export const streamResult = {
  type: 'object',
  required: ['id', 'first', 'last', 'count', 'duplicate'],
  properties: {
    id: { type: 'string', description: "The stream's id: subscribers see it as `stream.id`." },
    first: {
      ...position,
      description:
        'The first publication the body made: its first chunk (seq 1), or the end marker when the body was empty. The open marker (seq 0) went out when the request arrived, with no data.',
    },
    last: { ...position, description: "The end marker's position." },
    count: {
      type: 'integer',
      minimum: 1,
      description:
        'Publications the body made: its chunks and the end marker, whose seq is `count`. Other publications on the channel may come between them.',
    },
    duplicate: {
      type: 'boolean',
      description:
        'true: a retry with the idempotency key of a stream that ended; this is its answer, and nothing was published.',
    },
  },
} as const;
