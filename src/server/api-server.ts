import type { PublishResult } from '../broker/types.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isReservedEvent } from '../protocol/frames.js';
import { checkPublication } from '../protocol/validate.js';
import { type Body, checkShape, isBody, malformed, orThrow } from './api-checks.js';
import { publicationInput } from './api-schemas.js';
import type { StreamKeys } from './api-stream-keys.js';
import type { ChannelRule } from './channels/rules.js';
import type { Limits } from './limits.js';
import type { Server } from './types.js';

/**
 * What the HTTP API's operations share: the server they drive, the handler's settings, and one
 * publication checked and published exactly as a client's `publish` frame would be, for
 * `/publish`, `/batch` and NDJSON ingest alike.
 */

/**
 * What the API uses of the server: the public methods its operations call, and the checks a
 * client's `publish` meets (the limits and the channel policy), so a publication over HTTP is
 * held to exactly the same.
 */
export type ApiServer = Pick<
  Server,
  | 'publish'
  | 'stream'
  | 'history'
  | 'latest'
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
  /** Largest JSON body, and largest stream body. */
  maxBodyBytes: number;
  /** Idempotency keys of streams in progress or recently ended. */
  streamKeys: StreamKeys;
}

/** The rule of a channel the API may publish on; NOT_FOUND when no pattern matches. */
export function channelRule(server: ApiServer, channel: string): ChannelRule {
  const rule = server.channelRule(channel);
  // A typo would otherwise publish into a channel no client can subscribe to.
  if (!rule)
    throw new SwitchboardError(ErrorCode.NOT_FOUND, `No channel pattern matches "${channel}"`);
  return rule;
}

export interface PublishAnswer {
  offset: number;
  epoch: string;
  duplicate: boolean;
}

const FIELD_NAMES = { key: 'idempotencyKey' } as const;

/**
 * One publication, checked as a client's `publish` frame is: its keys against the schema, the
 * shared field rules and size limit (checkPublication), the channel (NOT_FOUND), then the
 * gateway's own event check (reserved name BAD_FRAME, UNKNOWN_EVENT, VALIDATION_FAILED).
 * Authorization and `clientPublish` are the exceptions: the API key stands for the backend,
 * which may always publish.
 */
export function publishOne(server: ApiServer, input: unknown): Promise<PublishAnswer> {
  if (!isBody(input)) return Promise.reject(malformed('A publication must be an object'));
  try {
    checkShape(input, publicationInput);
  } catch (error) {
    return Promise.reject(error);
  }
  return publishShaped(server, input);
}

/** publishOne for a body whose keys were checked against publicationInput already. */
export async function publishShaped(server: ApiServer, input: Body): Promise<PublishAnswer> {
  const { channel, event, data, idempotencyKey } = input;
  orThrow(
    checkPublication(
      { channel, event, data, key: idempotencyKey },
      { maxBytes: server.limits.maxMessageBytes, names: FIELD_NAMES },
    ),
  );
  const rule = channelRule(server, channel as string);
  // Without an event list there is nothing to wait for: only the name's own rule applies.
  const checked =
    rule.options.events === undefined && !isReservedEvent(event as string)
      ? data
      : await server.validateEvent(rule, event as string, data);
  const result: PublishResult = await server.publish(
    channel as string,
    event as string,
    checked,
    idempotencyKey === undefined ? undefined : { idempotencyKey: idempotencyKey as string },
  );
  return { offset: result.offset, epoch: result.epoch, duplicate: result.duplicate };
}
