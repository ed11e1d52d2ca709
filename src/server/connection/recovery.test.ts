import { describe, expect, it } from 'vitest';
import type { Publication } from '../../broker/types.js';
import { mergeRecovery } from './recovery.js';

const pub = (offset: number, epoch = 'e', extra: Partial<Publication> = {}): Publication => ({
  channel: 'c',
  event: 'm',
  data: offset,
  offset,
  epoch,
  time: 0,
  ...extra,
});
const offsets = (list: Publication[]) => list.map((p) => p.offset);

describe('mergeRecovery', () => {
  it('sends replay then held as one run, dropping the overlap', () => {
    const { send, gap } = mergeRecovery(
      { offset: 2, epoch: 'e' },
      [pub(3), pub(4), pub(5)],
      [pub(4), pub(5), pub(6), pub(7)],
    );
    expect(offsets(send)).toEqual([3, 4, 5, 6, 7]);
    expect(gap).toBe(false);
  });

  it('skips what the client holds already and keeps ephemeral ones in arrival order', () => {
    const typing = pub(5, 'e', { ephemeral: true, event: 'typing' });
    const { send } = mergeRecovery({ offset: 5, epoch: 'e' }, [], [pub(4), pub(5), typing, pub(6)]);
    expect(send.map((p) => p.event)).toEqual(['typing', 'm']);
    expect(offsets(send)).toEqual([5, 6]);
  });

  it('reports a gap where held publications jump ahead, after sending what came before', () => {
    const { send, gap } = mergeRecovery({ offset: 2, epoch: 'e' }, [pub(3)], [pub(5), pub(6)]);
    expect(offsets(send)).toEqual([3]);
    expect(gap).toBe(true);
  });

  it('reports a gap when a held publication is in another epoch', () => {
    const { send, gap } = mergeRecovery({ offset: 2, epoch: 'e' }, [], [pub(3), pub(1, 'f')]);
    expect(offsets(send)).toEqual([3]);
    expect(gap).toBe(true);
  });
});
