import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isReservedEvent } from '../protocol/frames.js';
import { checkPublication, isPosition } from '../protocol/validate.js';
import { type Body, checkShape, integer, isBody, malformed, name, orThrow } from './api-checks.js';
import { errorResponse } from './api-errors.js';
import {
  channelOnly,
  type JsonSchema,
  nameSchema,
  okResult,
  position,
  presenceMember,
  publication,
  publicationInput,
  publishResult,
} from './api-schemas.js';
import type { ChannelRule } from './channels/rules.js';
import { DEFAULTS } from './defaults.js';
import type { Limits } from './limits.js';
import type { Server } from './types.js';

/**
 * The HTTP API's operations table: for each operation its method, path, documentation, body and
 * answer schemas, and what it does. The handler (api.ts) routes by it and the OpenAPI document
 * (openapi.ts) is built from it, so neither can drift from the other.
 */

/**
 * What the API uses of the server: the public methods its operations call, and the checks a
 * client's `publish` meets (the limits and the channel policy), so a publication over HTTP is
 * held to exactly the same.
 */
export type ApiServer = Pick<
  Server,
  | 'publish'
  | 'history'
  | 'presence'
  | 'sendToUser'
  | 'disconnectUserEverywhere'
  | 'clusterChannels'
  | 'logger'
> & {
  readonly limits: Limits;
  validateEvent(rule: ChannelRule, event: string, data: unknown): Promise<unknown>;
  /** The rule of a channel clients may use, for its event list and schemas. */
  channelRule(channel: string): ChannelRule | undefined;
};

/** The handler's settings an operation may need. */
export interface OperationContext {
  /** Publications in one batch request. */
  maxBatch: number;
}

export interface Operation {
  method: 'GET' | 'POST';
  /** Below the API's prefix. */
  path: string;
  operationId: string;
  summary: string;
  body?: JsonSchema;
  response: JsonSchema;
  handle(server: ApiServer, body: Body, context: OperationContext): Promise<unknown>;
}

/** Most publications one history request returns. */
const MAX_HISTORY_LIMIT = 10_000;
/** Application close codes a disconnect may carry. */
const CLOSE_CODES = { minimum: 4000, maximum: 4999 } as const;
/** Close reasons must fit a control frame (123 bytes). */
const MAX_REASON_BYTES = 120;

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

export const operations: readonly Operation[] = [
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
    async handle(server, body, context) {
      const list = body.publications;
      if (!Array.isArray(list)) throw malformed('"publications" must be an array');
      if (list.length > context.maxBatch)
        throw new SwitchboardError(
          ErrorCode.LIMIT_EXCEEDED,
          `At most ${context.maxBatch} publications per batch`,
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
    response: okResult,
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
    summary: `Close every connection of a user on every node. The default close code ${DEFAULTS.api.disconnectCode} tells clients not to reconnect.`,
    body: {
      type: 'object',
      required: ['user'],
      additionalProperties: false,
      properties: {
        user: nameSchema,
        code: { type: 'integer', ...CLOSE_CODES, default: DEFAULTS.api.disconnectCode },
        reason: { type: 'string', maxLength: MAX_REASON_BYTES },
      },
    },
    response: okResult,
    async handle(server, body) {
      const user = name(body, 'user');
      const code =
        integer(body, 'code', CLOSE_CODES.minimum, CLOSE_CODES.maximum) ??
        DEFAULTS.api.disconnectCode;
      const reason = body.reason;
      if (
        reason !== undefined &&
        (typeof reason !== 'string' || Buffer.byteLength(reason) > MAX_REASON_BYTES)
      )
        throw malformed(`"reason" must be a string of at most ${MAX_REASON_BYTES} bytes`);
      await server.disconnectUserEverywhere(user, code, reason);
      return { ok: true };
    },
  },
  {
    method: 'POST',
    path: '/history',
    operationId: 'history',
    summary:
      'Publications kept for a channel: the newest `limit`, or those after a position (`recovered` says whether none are missing; `more` that `limit` cut the page).',
    body: {
      type: 'object',
      required: ['channel'],
      additionalProperties: false,
      properties: {
        channel: nameSchema,
        limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_LIMIT },
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
        more: {
          type: 'boolean',
          const: true,
          description: '`limit` cut the page short: ask again with `since` at the last one.',
        },
      },
    },
    async handle(server, body) {
      const channel = name(body, 'channel');
      channelRule(server, channel);
      const limit = integer(body, 'limit', 1, MAX_HISTORY_LIMIT);
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
    summary: `Channels with subscribers across the cluster, with counts, and the number of nodes and connections. Other nodes' counts are as of their last report (every ${DEFAULTS.server.nodeReportMs / 1000} s).`,
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
