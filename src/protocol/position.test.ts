/** The position rule, with and without `covers` (a rolled-up stream's end). */
import { describe, expect, it } from 'vitest';
import { step } from './position.js';

const at = (offset: number) => ({ offset, epoch: 'e' });

describe('step', () => {
  it('orders plain publications: next, seen, jump, epoch', () => {
    expect(step(undefined, 7, 'e')).toBe('next');
    expect(step(at(6), 7, 'e')).toBe('next');
    expect(step(at(7), 7, 'e')).toBe('seen');
    expect(step(at(5), 7, 'e')).toBe('jump');
    expect(step(at(6), 7, 'other')).toBe('epoch');
  });

  it('takes a covering publication as next from anywhere in what it covers', () => {
    // Offsets 3…6 rolled up into the end at 7.
    for (const last of [2, 3, 4, 5, 6]) expect(step(at(last), 7, 'e', 3)).toBe('next');
    expect(step(at(7), 7, 'e', 3)).toBe('seen');
    expect(step(at(9), 7, 'e', 3)).toBe('seen');
    expect(step(at(1), 7, 'e', 3)).toBe('jump');
    expect(step(at(4), 7, 'other', 3)).toBe('epoch');
  });
});
