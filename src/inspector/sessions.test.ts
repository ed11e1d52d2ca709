import { describe, expect, it } from 'vitest';
import { sanitizeFilter } from './sessions.js';

describe('sanitizeFilter', () => {
  it('keeps known string fields (cut to 256 characters) and a valid direction only', () => {
    expect(
      sanitizeFilter({
        connection: 'c',
        user: '',
        channel: 'x'.repeat(300),
        event: 5,
        text: 'hi',
        direction: 'sideways',
        other: 'ignored',
      }),
    ).toEqual({ connection: 'c', channel: 'x'.repeat(256), text: 'hi' });
    expect(sanitizeFilter({ direction: 'out' })).toEqual({ direction: 'out' });
  });

  it('turns anything but an object into no filter', () => {
    for (const value of [null, undefined, 'text', 3, true])
      expect(sanitizeFilter(value)).toEqual({});
  });
});
