import { describe, expect, it } from 'vitest';
import { blankFrame, type KeptFrame } from './kept-frame.js';
import { frameView } from './view.js';

const kept = (fields: Partial<KeptFrame>): KeptFrame => ({ ...blankFrame(), seq: 1, ...fields });

describe('frameView', () => {
  it('shows only the fields a frame has', () => {
    expect(frameView(kept({ type: 'ping', time: 5, size: 2, content: '{}' }), 'c', 256)).toEqual({
      seq: 1,
      connection: 'c',
      direction: 'in',
      time: 5,
      size: 2,
      type: 'ping',
      text: '{}',
    });
    expect(
      frameView(
        kept({ channel: 'ch', event: 'ev', id: 3, latencyMs: 7, cut: true, content: 'x' }),
        'c',
        256,
      ),
    ).toMatchObject({ channel: 'ch', event: 'ev', id: 3, latencyMs: 7, truncated: true });
  });

  it('decodes kept bytes as text and redacts sensitive text only', () => {
    const secret = '{"type":"connect","token":"abc"}';
    expect(frameView(kept({ content: Buffer.from(secret), sensitive: true }), 'c', 0).text).toBe(
      '{"type":"connect","token":"[redacted]"}',
    );
    expect(frameView(kept({ content: secret }), 'c', 0).text).toBe(secret);
  });

  it('previews binary frames as hex, flagging a longer frame as truncated', () => {
    const bytes = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
    expect(frameView(kept({ binary: true, content: bytes }), 'c', 2)).toMatchObject({
      binary: true,
      hex: 'dead',
      truncated: true,
    });
    const none = frameView(kept({ binary: true, content: bytes }), 'c', 0);
    expect(none.hex).toBeUndefined();
    expect(none.text).toBeUndefined();
  });
});
