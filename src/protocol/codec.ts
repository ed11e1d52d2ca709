import type { Frame } from './frames.js';

/**
 * How frames become WebSocket messages and back. Two methods so that a MessagePack codec is a
 * dozen lines; `binary` tells the transport which WebSocket message type to use.
 */
export interface Codec {
  readonly name: string;
  readonly binary: boolean;
  /** A batch (array) travels as one WebSocket message. */
  encode(frames: Frame | readonly Frame[]): string | Uint8Array;
  /** Throws on anything it cannot read; the caller turns that into BAD_FRAME. */
  decode(data: string | Uint8Array): unknown;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const jsonCodec: Codec = {
  name: 'json',
  binary: false,
  encode: (frames) => JSON.stringify(frames),
  decode: (data) => JSON.parse(typeof data === 'string' ? data : utf8.decode(data)),
};
