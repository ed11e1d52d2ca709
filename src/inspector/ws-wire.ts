/**
 * WebSocket frames (RFC 6455) as the proxy sees them: read off a byte stream it forwards without
 * taking part in it (it forwards every chunk first and reads a copy), and written for the few
 * frames the inspector injects. Reading keeps only what the store will keep: a message's first
 * bytes, a control frame's payload, and, for permessage-deflate (RFC 7692), the compressed
 * message it has to inflate to show.
 */
import { randomBytes } from 'node:crypto';
import { constants, inflateRawSync } from 'node:zlib';

export interface WireEvents {
  /**
   * A whole message. `data` holds its first `keep` bytes (or all of it) unmasked and inflated,
   * `size` its full size; `cut` when `data` is not all of it. `data` is undefined for a
   * compressed message that could not be inflated.
   */
  message(binary: boolean, data: Buffer | undefined, size: number, cut: boolean): void;
  /** A ping, pong or close frame and its (unmasked) payload. */
  control(kind: 'ping' | 'pong' | 'close', payload: Buffer): void;
  /** The stream is not WebSocket as this reader understands it: nothing more is reported. */
  stop(reason: string): void;
}

export interface ReaderLimits {
  /** Bytes of a message to keep (the store's per-frame bound, plus one to flag the cut). */
  keep(binary: boolean): number;
}

const OP_CONTINUATION = 0;
const OP_TEXT = 1;
const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PING = 9;
const OP_PONG = 10;
const CONTROL_KINDS = { [OP_CLOSE]: 'close', [OP_PING]: 'ping', [OP_PONG]: 'pong' } as const;

/** A compressed message larger than this is not inflated (nor are any after it that way). */
const MAX_COMPRESSED = 16 * 1024 * 1024;
const MAX_INFLATED = 64 * 1024 * 1024;
const WINDOW = 32 * 1024;
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * permessage-deflate, one direction: each message is inflated on its own, with the last 32 KiB
 * of what came before as the dictionary, which is exactly the context a sender that keeps its
 * context (the default) compresses against, and harmless for one that does not. Synchronous, so
 * frames stay in order; the proxy has already forwarded the bytes, so it delays no one.
 */
class Inflater {
  private window: Buffer = Buffer.alloc(0);
  broken = false;

  inflate(compressed: Buffer): Buffer | undefined {
    if (this.broken) return undefined;
    try {
      const out = inflateRawSync(Buffer.concat([compressed, TRAILER]), {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: MAX_INFLATED,
        ...(this.window.length > 0 && { dictionary: this.window }),
      });
      this.window =
        out.length >= WINDOW
          ? Buffer.from(out.subarray(out.length - WINDOW))
          : Buffer.concat([this.window, out]).subarray(-WINDOW);
      return out;
    } catch {
      // The context is lost: no later message can be inflated either.
      this.broken = true;
      return undefined;
    }
  }
}

export class FrameReader {
  /** A frame header being gathered across chunks (at most 14 bytes). */
  private readonly head = Buffer.alloc(14);
  private headLength = 0;
  private headNeed = 2;
  /** The frame whose payload is being read. */
  private inFrame = false;
  private opcode = 0;
  private fin = false;
  private remaining = 0;
  private masked = false;
  private readonly mask = Buffer.alloc(4);
  private maskOffset = 0;
  /** The message being read (its data frames), or 0 between messages. */
  private messageOpcode = 0;
  private compressed = false;
  private size = 0;
  private kept: Buffer[] = [];
  private keptLength = 0;
  private keepMax = 0;
  private control: Buffer[] = [];
  private inflater: Inflater | undefined;
  stopped = false;

  constructor(
    private readonly events: WireEvents,
    private readonly limits: ReaderLimits,
  ) {}

  /** permessage-deflate was negotiated: messages flagged RSV1 are compressed. */
  enableDeflate(): void {
    this.inflater ??= new Inflater();
  }

  /** Between two messages: a whole frame can be written into the stream here. */
  get atBoundary(): boolean {
    return !this.stopped && this.headLength === 0 && !this.inFrame && this.messageOpcode === 0;
  }

  /**
   * Reads one chunk. `onBoundary(offset)` hears of every point in it where a message ends
   * (the stream is between messages after `offset` bytes of this chunk).
   */
  feed(chunk: Buffer, onBoundary?: (offset: number) => void): void {
    let at = 0;
    while (at < chunk.length && !this.stopped) {
      if (!this.inFrame) {
        const take = Math.min(this.headNeed - this.headLength, chunk.length - at);
        chunk.copy(this.head, this.headLength, at, at + take);
        this.headLength += take;
        at += take;
        if (this.headLength < this.headNeed) return;
        if (!this.parseHead()) return;
        if (!this.inFrame) continue; // the header grew: read the rest of it
        if (this.remaining > 0) continue;
      } else {
        const take = Math.min(this.remaining, chunk.length - at);
        this.payload(chunk, at, take);
        at += take;
        this.remaining -= take;
        if (this.remaining > 0) return;
      }
      this.endFrame();
      if (this.atBoundary) onBoundary?.(at);
    }
  }

  /** Parses the gathered header; false when the stream is not WebSocket. */
  private parseHead(): boolean {
    const head = this.head;
    if (this.headNeed === 2) {
      const length = head[1]! & 0x7f;
      this.headNeed = 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (head[1]! & 0x80 ? 4 : 0);
      if (this.headNeed > 2) return true;
    }
    const fin = (head[0]! & 0x80) !== 0;
    const rsv1 = (head[0]! & 0x40) !== 0;
    const opcode = head[0]! & 0x0f;
    const masked = (head[1]! & 0x80) !== 0;
    let length = head[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      length = head.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      const high = head.readUInt32BE(2);
      if (high > 0x1fffff) return this.stop('frame longer than 2^53 bytes');
      length = high * 2 ** 32 + head.readUInt32BE(6);
      offset = 10;
    }
    if (head[0]! & 0x30) return this.stop('RSV2/RSV3 set: an extension this reader does not know');
    const control = opcode >= 8;
    if (control) {
      if (!(opcode in CONTROL_KINDS)) return this.stop(`unknown opcode ${opcode}`);
      if (!fin || length > 125) return this.stop('fragmented or long control frame');
      if (rsv1) return this.stop('RSV1 on a control frame');
    } else if (opcode === OP_CONTINUATION) {
      if (this.messageOpcode === 0) return this.stop('continuation outside a message');
      if (rsv1) return this.stop('RSV1 on a continuation frame');
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.messageOpcode !== 0) return this.stop('new message inside a fragmented one');
      if (rsv1 && !this.inflater) return this.stop('RSV1 without permessage-deflate');
      this.messageOpcode = opcode;
      this.compressed = rsv1;
      this.size = 0;
      this.kept = [];
      this.keptLength = 0;
      this.keepMax = rsv1 ? MAX_COMPRESSED : this.limits.keep(opcode === OP_BINARY);
    } else {
      return this.stop(`unknown opcode ${opcode}`);
    }
    this.opcode = opcode;
    this.fin = fin;
    this.masked = masked;
    if (masked) head.copy(this.mask, 0, offset, offset + 4);
    this.maskOffset = 0;
    this.remaining = length;
    this.inFrame = true;
    this.headLength = 0;
    this.headNeed = 2;
    this.control = [];
    return true;
  }

  private payload(chunk: Buffer, at: number, take: number): void {
    if (take === 0) return;
    const control = this.opcode >= 8;
    if (!control) {
      this.size += take;
      if (this.keptLength >= this.keepMax) {
        this.maskOffset += take;
        return;
      }
    }
    const want = control ? take : Math.min(take, this.keepMax - this.keptLength);
    const copy = Buffer.from(chunk.subarray(at, at + want));
    if (this.masked) unmask(copy, this.mask, this.maskOffset);
    this.maskOffset += take;
    if (control) this.control.push(copy);
    else {
      this.kept.push(copy);
      this.keptLength += copy.length;
    }
  }

  private endFrame(): void {
    this.inFrame = false;
    if (this.opcode >= 8) {
      const kind = CONTROL_KINDS[this.opcode as 8 | 9 | 10];
      this.events.control(
        kind,
        this.control.length === 1 ? this.control[0]! : Buffer.concat(this.control),
      );
      this.control = [];
      return;
    }
    if (!this.fin) return;
    const binary = this.messageOpcode === OP_BINARY;
    const data = this.kept.length === 1 ? this.kept[0]! : Buffer.concat(this.kept);
    this.messageOpcode = 0;
    this.kept = [];
    if (this.compressed) {
      const whole = this.size <= MAX_COMPRESSED;
      if (!whole && this.inflater) this.inflater.broken = true;
      const out = whole ? this.inflater?.inflate(data) : undefined;
      if (out === undefined) {
        this.events.message(binary, undefined, this.size, true);
        return;
      }
      const keep = this.limits.keep(binary);
      const cut = out.length > keep;
      this.events.message(binary, cut ? Buffer.from(out.subarray(0, keep)) : out, out.length, cut);
      return;
    }
    this.events.message(binary, data, this.size, this.size > data.length);
  }

  private stop(reason: string): false {
    this.stopped = true;
    this.kept = [];
    this.control = [];
    this.events.stop(reason);
    return false;
  }
}

/** One whole frame (FIN set, no RSV bits): masked as a client's must be, unmasked as a server's. */
export function encodeFrame(opcode: 1 | 2 | 8 | 9 | 10, payload: Buffer, mask: boolean): Buffer {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const frame = Buffer.alloc(2 + extended + (mask ? 4 : 0) + length);
  frame[0] = 0x80 | opcode;
  frame[1] = (mask ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) frame.writeUInt16BE(length, 2);
  else if (extended === 8) frame.writeBigUInt64BE(BigInt(length), 2);
  let at = 2 + extended;
  if (mask) {
    const key = randomBytes(4);
    key.copy(frame, at);
    at += 4;
    for (let i = 0; i < length; i++) frame[at + i] = payload[i]! ^ key[i & 3]!;
  } else {
    payload.copy(frame, at);
  }
  return frame;
}

/** A close frame's payload: its code (none: empty) and reason. */
export function closePayload(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const text = Buffer.from(reason);
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

/** A close frame's code and reason (code undefined when it carries none). */
export function parseClose(payload: Buffer): { code: number | undefined; reason: string } {
  if (payload.length < 2) return { code: undefined, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString() };
}

/**
 * XORs `bytes` with the 4-byte `mask` from mask position `offset` (RFC 6455 §5.3), a 32-bit word
 * at a time where the memory is aligned: byte by byte, a 4 KiB message cost the proxy more than
 * relaying it.
 */
export function unmask(bytes: Buffer, mask: Buffer, offset: number): void {
  const length = bytes.length;
  let i = 0;
  for (; i < length && ((bytes.byteOffset + i) & 3) !== 0; i++)
    bytes[i]! ^= mask[(offset + i) & 3]!;
  const words = (length - i) >> 2;
  if (words > 0) {
    // The mask as it lines up from here, read in the platform's byte order like the words are.
    const rotated = new Uint8Array(4);
    for (let k = 0; k < 4; k++) rotated[k] = mask[(offset + i + k) & 3]!;
    const word = new Uint32Array(rotated.buffer)[0]!;
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= word;
    i += words * 4;
  }
  for (; i < length; i++) bytes[i]! ^= mask[(offset + i) & 3]!;
}
