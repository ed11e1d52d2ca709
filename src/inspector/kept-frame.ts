/**
 * How one captured frame is kept: a reusable slot, its content cut to the per-frame bound at
 * capture, and what it costs against the total byte budget.
 */
import { redactCut } from './redact.js';
import type { Direction } from './types.js';

/**
 * A frame as kept. Capture hands over text (the gateway's frames are decoded once per message,
 * and no Buffer the gateway wrote or read is kept: see capture-gateway.ts); bytes only for binary
 * frames, for input that would not decode (a copy), and for a plain ws server's messages. Text is
 * decoded, redacted and previewed only when the panel or an export reads it (view.ts).
 */
export interface KeptFrame {
  seq: number;
  direction: Direction;
  time: number;
  size: number;
  type: string;
  channel: string | undefined;
  event: string | undefined;
  id: number | undefined;
  latencyMs: number | undefined;
  binary: boolean;
  /** Cut to maxFrameBytes (hexPreviewBytes for binary) at capture: a huge message is never kept whole. */
  content: string | Uint8Array | undefined;
  cut: boolean;
  /** Inbound text may hold credentials: redacted when read (and before any cut, see fillFrame). */
  sensitive: boolean;
  /** A WebSocket control frame (ping, pong, close by `type`), not a message. */
  control: boolean;
  /** A close frame's code. */
  code: number | undefined;
  /**
   * Set when other slots hold the same content (one publication fanned out to several tracked
   * connections): the content counts against the byte budget once, until its last slot leaves.
   */
  share: Share | undefined;
}

/** The slots that hold one content string. */
export interface Share {
  refs: number;
}

/** Every field present from the start keeps records compact (in-object) for V8. */
export const blankFrame = (): KeptFrame => ({
  seq: 0,
  direction: 'in',
  time: 0,
  size: 0,
  type: '',
  channel: undefined,
  event: undefined,
  id: undefined,
  latencyMs: undefined,
  binary: false,
  content: undefined,
  cut: false,
  sensitive: false,
  control: false,
  code: undefined,
  share: undefined,
});

/**
 * What a kept frame's content counts against the total byte budget (the budget bounds text; the
 * slots themselves are bounded by count: connections × frames per connection).
 */
export const keptBytes = (frame: KeptFrame): number =>
  typeof frame.content === 'string' ? frame.content.length : (frame.content?.byteLength ?? 0);

/**
 * Overwrites a slot with a new frame, cutting its content to `max`. Allocates only for a cut.
 * Text that may hold credentials is redacted BEFORE it is cut: a token longer than the cut would
 * otherwise lose its closing quote, no longer match the redaction and be kept (its first 10 KiB).
 * Binary content with `max` 0 (no preview) is not kept at all.
 */
export function fillFrame(
  slot: KeptFrame,
  seq: number,
  direction: Direction,
  time: number,
  size: number,
  type: string,
  channel: string | undefined,
  event: string | undefined,
  id: number | undefined,
  content: string | Uint8Array | undefined,
  binary: boolean,
  sensitive: boolean,
  max: number,
): void {
  let cut = false;
  if (binary && max === 0) content = undefined;
  if (content !== undefined) {
    let length = typeof content === 'string' ? content.length : content.byteLength;
    if (length > max && sensitive && !binary) {
      content = redactCut(
        typeof content === 'string'
          ? content
          : Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString(),
      );
      length = content.length;
      // Longer than the bound as captured: flagged cut even if the redacted text now fits.
      cut = true;
    }
    if (length > max) {
      cut = true;
      content =
        typeof content === 'string'
          ? content.slice(0, max)
          : Uint8Array.prototype.slice.call(content, 0, max);
    }
  }
  slot.seq = seq;
  slot.direction = direction;
  slot.time = time;
  slot.size = size;
  slot.type = type;
  slot.channel = channel;
  slot.event = event;
  slot.id = id;
  slot.latencyMs = undefined;
  slot.binary = binary;
  slot.content = content;
  slot.cut = cut;
  slot.sensitive = sensitive;
  slot.control = false;
  slot.code = undefined;
  slot.share = undefined;
}
