import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isReservedEvent } from '../protocol/frames.js';
import { checkPublication, isPosition } from '../protocol/validate.js';
import { type BodyReader, isNdjson, NDJSON } from './api-body.js';
import { type Body, integer, malformed, name, orThrow } from './api-checks.js';
import { errorResponse } from './api-errors.js';
import { INGEST_IDLE_MS, ingest } from './api-ingest.js';
import {
  channelOnly,
  type JsonSchema,
  keySchema,
  latestPublication,
  nameSchema,
  okResult,
  position,
  presenceMember,
  publication,
  publicationInput,
  publishResult,
  streamResult,
} from './api-schemas.js';
import {
  type ApiServer,
  channelRule,
  type OperationContext,
  publishOne,
  publishShaped,
} from './api-server.js';
import { STREAM_PACE, type StreamOutcome, streamBody } from './api-streams.js';
import { latestSettings } from './channels/policy.js';
import { DEFAULTS } from './defaults.js';

/**
 * The HTTP API's operations table: for each operation its method, path, documentation, body and
 * answer schemas, and what it does. The handler (api.ts) routes by it and the OpenAPI document
 * (openapi.ts) is built from it, so neither can drift from the other.
 */

export type { ApiServer, OperationContext };

/** A body an operation reads itself, as it arrives, instead of a JSON object read whole. */
export interface StreamedBody {
  /** The media type the OpenAPI document gives it. */
  mediaType: string;
  /** Whether it takes this request's body (by its Content-Type). */
  accepts(request: IncomingMessage): boolean;
  /** The body as documented (for NDJSON, one line of it). */
  schema: JsonSchema;
  /** The 200 answer's media type and schema. */
  answer: { mediaType: string; schema: JsonSchema };
  /** How long the rest of a refused body may go quiet while it is read and dropped. */
  idleMs: number;
  /** Reads the body and answers it itself, or returns the outcome for the handler to send. */
  handle(
    server: ApiServer,
    request: IncomingMessage,
    response: ServerResponse,
    reader: BodyReader,
    context: OperationContext,
  ): Promise<StreamOutcome | undefined>;
}

/** A query or header parameter, for the OpenAPI document (the operation reads its own). */
export interface Parameter {
  name: string;
  in: 'query' | 'header';
  required?: boolean;
  description: string;
  schema: JsonSchema;
}

export interface Operation {
  method: 'GET' | 'POST';
  /** Below the API's prefix. */
  path: string;
  operationId: string;
  summary: string;
  /** More than the summary says, for the OpenAPI document. */
  description?: string;
  /** The JSON body: its `required` and `additionalProperties` are enforced before `handle`. */
  body?: JsonSchema;
  response: JsonSchema;
  /** Answers a JSON body (read whole, within `api.maxBodyBytes`). */
  handle?(server: ApiServer, body: Body, context: OperationContext): Promise<unknown>;
  /** Bodies read as they arrive, by Content-Type, tried in order before the JSON one. */
  streamed?: readonly StreamedBody[];
  parameters?: readonly Parameter[];
  /** Statuses this operation answers beyond those every one may (api-errors.ts). */
  errors?: Readonly<Record<number, string>>;
}

/** Most publications one history request returns. */
const MAX_HISTORY_LIMIT = 10_000;
/** Application close codes a disconnect may carry. */
const CLOSE_CODES = { minimum: 4000, maximum: 4999 } as const;
/** Close reasons must fit a control frame (123 bytes). */
const MAX_REASON_BYTES = 120;

/** The two bodies `POST /stream` takes; both answer `streamResult`. */
const streamBodies: readonly StreamedBody[] = [
  {
    mediaType: NDJSON,
    accepts: isNdjson,
    schema: {
      description:
        'One JSON value per line (LF or CRLF; blank lines skipped), each the data of one chunk, published as soon as its line is complete.',
    },
    answer: { mediaType: 'application/json', schema: streamResult },
    idleMs: DEFAULTS.streams.timeoutMs,
    handle: (server, request, _response, reader, context) =>
      streamBody(server, request, reader, context, true),
  },
  {
    mediaType: 'text/plain',
    accepts: () => true,
    schema: {
      type: 'string',
      description:
        'UTF-8 text (any media type but NDJSON): each piece as it arrives (with a chunked body, usually one HTTP chunk) is the string data of one chunk. Proxies may merge or split pieces; use NDJSON when chunk boundaries matter.',
    },
    answer: { mediaType: 'application/json', schema: streamResult },
    idleMs: DEFAULTS.streams.timeoutMs,
    handle: (server, request, _response, reader, context) =>
      streamBody(server, request, reader, context, false),
  },
];

export const operations: readonly Operation[] = [
  {
    method: 'POST',
    path: '/publish',
    operationId: 'publish',
    summary: 'Publish one message to a channel (kept in history when the channel keeps it).',
    description: `With \`Content-Type: application/x-ndjson\` the body is one publication per line, read as it streams in and applied in order (no bound on the whole; a line longer than \`limits.hardMaxMessageBytes\` is refused on its own). The answer, NDJSON too, has one line per publication (blank lines are skipped), its result or \`{ "error": … }\`, written as soon as it is known. Read the answer while you send: when it backs up, the gateway stops reading. An ingest that sends nothing, or reads nothing, for ${INGEST_IDLE_MS / 1000} s is closed.`,
    body: publicationInput,
    response: publishResult,
    // Its keys were checked against `body` already.
    handle: (server, body) => publishShaped(server, body),
    streamed: [
      {
        mediaType: NDJSON,
        accepts: isNdjson,
        schema: publicationInput,
        answer: {
          mediaType: NDJSON,
          schema: { oneOf: [publishResult, { $ref: '#/components/schemas/Error' }] },
        },
        idleMs: INGEST_IDLE_MS,
        handle: async (server, _request, response, reader) => {
          await ingest(server, reader, response);
          return undefined;
        },
      },
    ],
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
    method: 'GET',
    path: '/latest',
    operationId: 'latest',
    summary:
      "A `latest` channel's most recent publication of each event name (or of one), least recently updated first: what a subscriber gets first, e.g. an agent's current status.",
    parameters: [
      {
        name: 'channel',
        in: 'query',
        required: true,
        description: 'The channel.',
        schema: nameSchema,
      },
      { name: 'event', in: 'query', description: 'Only this event.', schema: nameSchema },
    ],
    response: {
      type: 'object',
      required: ['publications'],
      properties: { publications: { type: 'array', items: latestPublication } },
    },
    async handle(server, query) {
      const channel = name(query, 'channel');
      if (!latestSettings(channelRule(server, channel).options))
        throw new SwitchboardError(ErrorCode.FORBIDDEN, 'The channel keeps no latest values');
      const event = query.event === undefined ? undefined : name(query, 'event');
      const kept = await server.latest(channel);
      return { publications: event === undefined ? kept : kept.filter((p) => p.event === event) };
    },
    errors: { 403: "FORBIDDEN: the channel's pattern does not enable `latest`." },
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
  {
    method: 'POST',
    path: '/stream',
    operationId: 'stream',
    summary:
      'Send the request body, as it is produced (chunked), as a stream on a channel whose pattern enables streams: the open marker now, each piece of text (or each NDJSON line) as the next chunk as soon as it arrives, the end marker at the end of the body.',
    description: `A request dropped before its end, a body quiet for the channel's \`streams.timeoutMs\` (408), or a chunk refused (400, 413) ends the stream with an error marker; the error's \`details.stream\` says where it stands. Each chunk is held to \`limits.maxMessageBytes\` and to the channel's schema for the event, the whole body to \`api.maxBodyBytes\`; chunks are published at most ${STREAM_PACE.chunksPerSecond} a second (a faster body is read more slowly). With an idempotency key, a retry gets the first stream's answer (\`duplicate: true\`) instead of a second stream, for ${DEFAULTS.broker.idempotencyWindowMs / 1000} s after it ended, on the node that took it; 409 while it still runs. A stream that failed releases its key.`,
    parameters: [
      {
        name: 'channel',
        in: 'query',
        required: true,
        description: 'A channel whose pattern enables `streams`.',
        schema: nameSchema,
      },
      {
        name: 'event',
        in: 'query',
        description:
          "The event every chunk carries; reserved names are refused, the channel's `events` list applies.",
        schema: { ...nameSchema, default: 'stream' },
      },
      {
        name: 'key',
        in: 'query',
        description: 'Idempotency key, for clients that cannot set the header.',
        schema: keySchema,
      },
      {
        name: 'id',
        in: 'query',
        description:
          "The stream's id (default a random one): name it to refer to the stream before it ends, e.g. in status updates about the reply. 403 FORBIDDEN while a stream with this id is in progress on the channel.",
        schema: keySchema,
      },
      {
        name: 'data',
        in: 'query',
        description:
          "The open marker's data, as JSON text (e.g. who is answering); held to `limits.maxMessageBytes`.",
        schema: { type: 'string' },
      },
      {
        name: 'Idempotency-Key',
        in: 'header',
        description: 'Idempotency key: a retry with it gets the first answer, not a second stream.',
        schema: keySchema,
      },
    ],
    response: streamResult,
    streamed: streamBodies,
    errors: {
      403: "FORBIDDEN: the channel's pattern does not enable streams, or a stream with the given `id` is in progress on it.",
      408: "TIMEOUT: the body sent nothing for the channel's `streams.timeoutMs`: the stream was ended with an error marker, and the connection is closed.",
      409: 'UNAVAILABLE: a stream with this idempotency key is still in progress; nothing was done: retry after `Retry-After` seconds.',
    },
  },
];
