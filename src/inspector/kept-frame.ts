/**
 * How one captured frame is kept: a reusable slot, its content cut to the per-frame bound at
 * capture, and what it costs against the total byte budget.
 */
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
  /** Inbound text may hold credentials: redacted when read. */
  sensitive: boolean;
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
});

/** What a kept frame counts against the total byte budget: its content plus a fixed overhead. */
export const keptBytes = (frame: KeptFrame): number =>
  (typeof frame.content === 'string' ? frame.content.length : (frame.content?.byteLength ?? 0)) +
  96;

/** Overwrites a slot with a new frame, cutting its content to `max`. Allocates only for a cut. */
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
  if (content !== undefined) {
    const length = typeof content === 'string' ? content.length : content.byteLength;
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
}
