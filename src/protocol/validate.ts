import { ErrorCode } from './errors.js';
import type { ClientFrame, ServerFrame, StreamPosition } from './frames.js';

/** Bounds on names, so a hostile client cannot make the server keep megabyte-long map keys. */
export const MAX_NAME_LENGTH = 256;
export const MAX_TOKEN_LENGTH = 16_384;
export const MAX_KEY_LENGTH = 128;
/**
 * Nesting of app data (`data` fields). Deep enough for any real document; shallow enough that
 * encoding it again for subscribers (JSON.stringify recurses) can never exhaust the stack, which
 * otherwise lets one 40 KB message of `[[[[…]]]]` poison a channel's history for everyone.
 */
export const MAX_DATA_DEPTH = 64;

export type Parsed<T> =
  | { ok: true; frame: T }
  | { ok: false; code: ErrorCode; message: string; id?: number };

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
/** A request id: a non-negative safe integer. */
export const isRequestId = isId;
const isName = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;
const isPosition = (v: unknown): v is StreamPosition =>
  isObject(v) && isId(v['offset']) && typeof v['epoch'] === 'string' && v['epoch'].length <= 64;
const isStreamMarker = (v: unknown): boolean =>
  isObject(v) &&
  typeof v['id'] === 'string' &&
  v['id'].length > 0 &&
  v['id'].length <= MAX_KEY_LENGTH &&
  isId(v['seq']) &&
  (v['status'] === undefined ||
    v['status'] === 'open' ||
    v['status'] === 'end' ||
    v['status'] === 'error');
const isBoolean = (v: unknown) => typeof v === 'boolean';

/** Stops at the limit, so the walk itself recurses at most MAX_DATA_DEPTH deep. */
function withinDepth(value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (depth >= MAX_DATA_DEPTH) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!withinDepth(item, depth + 1)) return false;
    return true;
  }
  for (const key in value) if (!withinDepth((value as Obj)[key], depth + 1)) return false;
  return true;
}
/** An optional field the sender may omit, but not fill with the wrong type. */
const optional =
  (check: (v: unknown) => boolean) =>
  (v: unknown): boolean =>
    v === undefined || check(v);

function bad(message: string, id?: unknown): Parsed<never> {
  return isId(id)
    ? { ok: false, code: ErrorCode.BAD_FRAME, message, id }
    : { ok: false, code: ErrorCode.BAD_FRAME, message };
}

/**
 * Every field a frame type may carry, with its check. Unknown extra fields are ignored so that a
 * newer client can talk to an older server; missing or mistyped known fields are BAD_FRAME.
 */
const clientFields: Record<
  string,
  Record<string, [required: boolean, check: (v: unknown) => boolean]>
> = {
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
    channel: [true, isName],
    event: [true, isName],
    data: [false, withinDepth],
    key: [false, (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_KEY_LENGTH],
    exceptSelf: [false, isBoolean],
    ephemeral: [false, isBoolean],
    stream: [false, isStreamMarker],
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

/**
 * The client's view: lighter than the server's because the server is trusted to be well-formed,
 * but still strict enough that a broken or hostile server cannot make the client throw.
 */
export function parseServerFrame(value: unknown): ServerFrame | undefined {
  if (!isObject(value)) return undefined;
  switch (value['type']) {
    case 'reply':
      return isId(value['id']) ? (value as unknown as ServerFrame) : undefined;
    case 'error':
      return typeof value['code'] === 'string' && typeof value['message'] === 'string'
        ? (value as unknown as ServerFrame)
        : undefined;
    case 'message':
      // Offsets and epochs become the client's recovery position: a mistyped one would be sent
      // back in `since` and get the subscription refused, so such a frame is dropped instead.
      return typeof value['event'] === 'string' &&
        optional((v) => typeof v === 'string')(value['channel']) &&
        optional(isId)(value['offset']) &&
        optional((v) => typeof v === 'string')(value['epoch']) &&
        optional((v) => typeof v === 'string')(value['user']) &&
        optional(isStreamMarker)(value['stream'])
        ? (value as unknown as ServerFrame)
        : undefined;
    case 'ping':
      return value as unknown as ServerFrame;
    default:
      return undefined;
  }
}
