/**
 * The panel's (and an export's) view of a kept frame: its text decoded and its credentials
 * redacted, or a hex preview of a binary frame.
 */
import type { KeptFrame } from './kept-frame.js';
import { redactText } from './redact.js';
import type { FrameRecord } from './types.js';

export function frameView(
  kept: KeptFrame,
  connection: string,
  hexPreviewBytes: number,
): FrameRecord {
  const frame: FrameRecord = {
    seq: kept.seq,
    connection,
    direction: kept.direction,
    time: kept.time,
    size: kept.size,
    type: kept.type,
  };
  if (kept.channel !== undefined) frame.channel = kept.channel;
  if (kept.event !== undefined) frame.event = kept.event;
  if (kept.id !== undefined) frame.id = kept.id;
  if (kept.latencyMs !== undefined) frame.latencyMs = kept.latencyMs;
  if (kept.cut) frame.truncated = true;
  if (kept.control) frame.control = true;
  if (kept.code !== undefined) frame.code = kept.code;
  const content = kept.content;
  if (kept.binary) {
    frame.binary = true;
    if (content instanceof Uint8Array && hexPreviewBytes > 0) {
      frame.hex = Buffer.from(
        content.buffer,
        content.byteOffset,
        Math.min(content.byteLength, hexPreviewBytes),
      ).toString('hex');
      if (content.byteLength > hexPreviewBytes) frame.truncated = true;
    }
  } else if (content !== undefined) {
    const text =
      typeof content === 'string'
        ? content
        : Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString();
    frame.text = kept.sensitive ? redactText(text) : text;
  }
  return frame;
}
