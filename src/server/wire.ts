import type { Publication } from '../broker/types.js';
import type { Codec } from '../protocol/codec.js';
import type { MessageFrame, ServerFrame } from '../protocol/frames.js';
import { USER_CHANNEL_PREFIX } from './channels/rules.js';

/**
 * How the gateway's frames are made: a publication becomes a `message` frame, a frame becomes
 * bytes with the server's codec. Fan-out encodes a publication once for all its recipients.
 */
export class Wire {
  constructor(readonly codec: Codec) {}

  publicationFrame(publication: Publication): MessageFrame {
    // A user's own channel carries direct messages: no channel, no position.
    if (publication.channel.startsWith(USER_CHANNEL_PREFIX)) {
      return { type: 'message', event: publication.event, data: publication.data };
    }
    const frame: MessageFrame = {
      type: 'message',
      channel: publication.channel,
      event: publication.event,
      data: publication.data,
    };
    if (publication.ephemeral) frame.ephemeral = true;
    else {
      frame.offset = publication.offset;
      frame.epoch = publication.epoch;
    }
    if (publication.user !== undefined) frame.user = publication.user;
    if (publication.stream !== undefined) frame.stream = publication.stream;
    if (publication.covers !== undefined) frame.covers = publication.covers;
    return frame;
  }

  encodePublication(publication: Publication): Buffer {
    return this.encode(this.publicationFrame(publication));
  }

  encode(frame: ServerFrame): Buffer {
    const out = this.codec.encode(frame);
    return typeof out === 'string'
      ? Buffer.from(out)
      : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}
