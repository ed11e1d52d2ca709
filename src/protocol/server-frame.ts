import { isId, isObject, isStreamMarker, optional } from './fields.js';
import type { ServerFrame } from './frames.js';

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
      // `covers` is left unchecked for size (the bundle's budget): it never becomes a position,
      // and a mistyped one can only mis-step the one message, never throw.
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
    case 'unsubscribed':
      return typeof value['channel'] === 'string' ? (value as unknown as ServerFrame) : undefined;
    default:
      return undefined;
  }
}
