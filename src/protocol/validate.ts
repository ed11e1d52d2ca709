import { ErrorCode } from './errors.js';
import {
  isBoolean,
  isId,
  isName,
  isObject,
  isPosition,
  isStreamMarker,
  MAX_DATA_DEPTH,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
  MAX_TOKEN_LENGTH,
  type Parsed,
  withinDepth,
} from './fields.js';
import type { ClientFrame } from './frames.js';

export {
  isName,
  isPosition,
  isRequestId,
  MAX_DATA_DEPTH,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
  MAX_TOKEN_LENGTH,
  type Parsed,
  withinDepth,
} from './fields.js';
export { parseServerFrame } from './server-frame.js';

function bad(message: string, id?: unknown): Parsed<never> {
  return isId(id)
    ? { ok: false, code: ErrorCode.BAD_FRAME, message, id }
    : { ok: false, code: ErrorCode.BAD_FRAME, message };
}

type FieldCheck = [required: boolean, check: (v: unknown) => boolean];

/**
 * The fields of a publication and their rules: one table for the `publish` frame and for
 * publications that arrive another way (the HTTP API, through checkPublication).
 */
const publicationFields = {
  channel: [true, isName],
  event: [true, isName],
  data: [false, withinDepth],
  key: [false, (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_KEY_LENGTH],
  stream: [false, isStreamMarker],
} satisfies Record<string, FieldCheck>;

/** What a field that fails its check must be, for messages that say so. */
const publicationRules: Record<keyof typeof publicationFields, string> = {
  channel: `a string of 1 to ${MAX_NAME_LENGTH} characters`,
  event: `a string of 1 to ${MAX_NAME_LENGTH} characters`,
  data: `JSON nested at most ${MAX_DATA_DEPTH} levels deep`,
  key: `a string of 1 to ${MAX_KEY_LENGTH} characters`,
  stream: 'a stream marker { id, seq, status? }',
};

/**
 * Every field a frame type may carry, with its check. Unknown extra fields are ignored so that a
 * newer client can talk to an older server; missing or mistyped known fields are BAD_FRAME.
 */
const clientFields: Record<string, Record<string, FieldCheck>> = {
  connect: {
    id: [true, isId],
    version: [true, isId],
    token: [false, (v) => typeof v === 'string' && v.length <= MAX_TOKEN_LENGTH],
    data: [false, withinDepth],
  },
  refresh: {
    id: [true, isId],
    token: [true, (v) => typeof v === 'string' && v.length <= MAX_TOKEN_LENGTH],
  },
  subscribe: { id: [true, isId], channel: [true, isName], since: [false, isPosition] },
  unsubscribe: { id: [true, isId], channel: [true, isName] },
  publish: {
    id: [true, isId],
    ...publicationFields,
    exceptSelf: [false, isBoolean],
    ephemeral: [false, isBoolean],
  },
  presence: { id: [true, isId], channel: [true, isName] },
  history: {
    id: [true, isId],
    channel: [true, isName],
    limit: [false, (v) => isId(v) && (v as number) > 0],
    since: [false, isPosition],
  },
  rpc: { id: [true, isId], method: [true, isName], data: [false, withinDepth] },
  ping: { id: [true, isId] },
  pong: {},
};

/** Checks one decoded value against the client frame shapes. */
export function parseClientFrame(value: unknown): Parsed<ClientFrame> {
  if (!isObject(value)) return bad('A frame must be a JSON object');
  const type = value['type'];
  if (typeof type !== 'string') return bad('Frame has no string "type"', value['id']);
  const fields = Object.hasOwn(clientFields, type) ? clientFields[type] : undefined;
  if (!fields) {
    const message = `Unknown frame type "${type.slice(0, 32)}"`;
    return isId(value['id'])
      ? { ok: false, code: ErrorCode.UNKNOWN_TYPE, message, id: value['id'] }
      : { ok: false, code: ErrorCode.UNKNOWN_TYPE, message };
  }
  for (const name in fields) {
    const [required, check] = fields[name]!;
    const field = value[name];
    if (field === undefined) {
      if (required) return bad(`"${type}" frame needs "${name}"`, value['id']);
    } else if (!check(field)) {
      return bad(`"${type}" frame has an invalid "${name}"`, value['id']);
    }
  }
  return { ok: true, frame: value as unknown as ClientFrame };
}

/** A publication's fields under the names the `publish` frame gives them. */
export interface PublicationFields {
  channel: unknown;
  event: unknown;
  data?: unknown;
  key?: unknown;
  stream?: unknown;
}

export type Checked = { ok: true } | { ok: false; code: ErrorCode; message: string };

const utf8 = new TextEncoder();

/** The TOO_LARGE message, the same for a WebSocket message and an HTTP API publication. */
export function tooLargeMessage(bytes: number, limit: number): string {
  return `Message of ${bytes} bytes exceeds the limit of ${limit}`;
}

/**
 * The checks a `publish` frame's publication gets, for one that arrives another way (the HTTP
 * API): the same table, so the same input gets the same code on both paths. BAD_FRAME for a
 * missing or malformed field (an empty or over-long name or key, data nested deeper than
 * MAX_DATA_DEPTH); then, with `maxBytes`, TOO_LARGE when the publication encoded as the JSON
 * `publish` frame a client would send for it is larger. `names` renames fields in messages.
 */
export function checkPublication(
  publication: PublicationFields,
  options: { maxBytes?: number; names?: Partial<Record<keyof PublicationFields, string>> } = {},
): Checked {
  for (const name of Object.keys(publicationFields) as (keyof PublicationFields)[]) {
    const [required, check] = publicationFields[name];
    const field = publication[name];
    const label = options.names?.[name] ?? name;
    if (field === undefined) {
      if (required)
        return { ok: false, code: ErrorCode.BAD_FRAME, message: `"${label}" is required` };
    } else if (!check(field)) {
      const message = `"${label}" must be ${publicationRules[name]}`;
      return { ok: false, code: ErrorCode.BAD_FRAME, message };
    }
  }
  if (options.maxBytes !== undefined) {
    // Measured only once the depth is known to be bounded: stringify recurses.
    const { channel, event, data, key, stream } = publication;
    const frame = { type: 'publish', id: 0, channel, event, data, key, stream };
    const bytes = utf8.encode(JSON.stringify(frame)).byteLength;
    if (bytes > options.maxBytes)
      return {
        ok: false,
        code: ErrorCode.TOO_LARGE,
        message: tooLargeMessage(bytes, options.maxBytes),
      };
  }
  return { ok: true };
}
