import type { ErrorCode } from './errors.js';
import type { StreamPosition } from './frames.js';

/**
 * The checks every frame field is held to, on both sides: the server's parse of client frames
 * (validate.ts) and the client's of server frames (server-frame.ts) share these, and nothing else.
 */

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

export type Obj = Record<string, unknown>;

export const isObject = (v: unknown): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
export const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
/** A request id: a non-negative safe integer. */
export const isRequestId = isId;
/** A channel, event or method name: a string of 1 to MAX_NAME_LENGTH characters. */
export const isName = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;
/** A stream position as `since` carries it. */
export const isPosition = (v: unknown): v is StreamPosition =>
  isObject(v) && isId(v['offset']) && typeof v['epoch'] === 'string' && v['epoch'].length <= 64;
export const isStreamMarker = (v: unknown): boolean =>
  isObject(v) &&
  typeof v['id'] === 'string' &&
  v['id'].length > 0 &&
  v['id'].length <= MAX_KEY_LENGTH &&
  isId(v['seq']) &&
  (v['status'] === undefined ||
    v['status'] === 'open' ||
    v['status'] === 'end' ||
    v['status'] === 'error');
export const isBoolean = (v: unknown) => typeof v === 'boolean';

/** Stops at the limit, so the walk itself recurses at most MAX_DATA_DEPTH deep. */
export function withinDepth(value: unknown, depth = 0): boolean {
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
export const optional =
  (check: (v: unknown) => boolean) =>
  (v: unknown): boolean =>
    v === undefined || check(v);
