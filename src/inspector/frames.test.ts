import { describe, expect, it } from 'vitest';
import { ConnectionTable, type Tracked } from './connections.js';
import { FrameKeeper } from './frames.js';
import { DEFAULT_LIMITS, type StoreLimits } from './limits.js';

function setup(limits: Partial<StoreLimits>) {
  const all = { ...DEFAULT_LIMITS, ...limits };
  const keeper = new FrameKeeper(all);
  const table = new ConnectionTable(all, (_id, tracked) => keeper.release(tracked));
  const open = (id: string) =>
    table.open({ id, status: 'open', path: '/', query: {}, headers: {}, connectedAt: Date.now() })!;
  const keep = (tracked: Tracked, text: string | Uint8Array, binary = false) =>
    keeper.keep(
      tracked,
      'in',
      text.length,
      'x',
      undefined,
      undefined,
      undefined,
      text,
      binary,
      false,
      1,
    );
  const texts = (tracked: Tracked) => [...tracked.frames].map((f) => f.content);
  return { keeper, table, open, keep, texts };
}

describe('FrameKeeper', () => {
  it('reuses the oldest slot of a full ring and counts the drop', () => {
    const { keeper, open, keep, texts } = setup({ maxFramesPerConnection: 2 });
    const a = open('a');
    const first = keep(a, 'one');
    keep(a, 'two');
    const third = keep(a, 'three');
    expect(third).toBe(first);
    expect(texts(a)).toEqual(['two', 'three']);
    expect(a.record.droppedFrames).toBe(1);
    expect(keeper.droppedFrames).toBe(1);
    expect(keeper.bytes).toBe(3 + 5);
  });

  it('cuts content to the per-frame bound at capture (text, and binary to its preview)', () => {
    const { open, keep } = setup({ maxFrameBytes: 4, hexPreviewBytes: 2 });
    const a = open('a');
    expect(keep(a, 'abcdefgh')).toMatchObject({ content: 'abcd', cut: true, size: 8 });
    const bytes = new Uint8Array([1, 2, 3]);
    const kept = keep(a, bytes, true);
    expect(kept).toMatchObject({ cut: true, binary: true });
    expect([...(kept.content as Uint8Array)]).toEqual([1, 2]);
    expect(keep(a, 'abcd')).toMatchObject({ content: 'abcd', cut: false });
  });

  it('evicts the oldest frame of any connection to stay within the byte budget', () => {
    const { keeper, open, keep, texts } = setup({ maxTotalBytes: 3 * 2 });
    const a = open('a');
    const b = open('b');
    keep(a, 'a1');
    keep(b, 'b1');
    keep(a, 'a2');
    keep(b, 'b2');
    expect(texts(a)).toEqual(['a2']);
    expect(texts(b)).toEqual(['b1', 'b2']);
    expect(keeper.bytes).toBeLessThanOrEqual(3 * 2);
    expect(a.record.droppedFrames).toBe(1);
  });

  it('skips the entries of forgotten connections and compacts its queue', () => {
    const { keeper, table, open, keep, texts } = setup({
      maxTotalBytes: 2 * 2,
      maxFramesPerConnection: 1,
      closedRetentionMs: 0,
    });
    const a = open('a');
    for (let i = 0; i < 3000; i++) keep(a, `${i % 10}${i % 10}`);
    expect(keeper.queued).toBeLessThanOrEqual(2 * 1 + 1024 + 1);
    table.update('a', { status: 'closed', closedAt: 0 });
    table.sweep(1);
    expect(keeper.bytes).toBe(0);
    const b = open('b');
    keep(b, 'b1');
    keep(b, 'b2');
    expect(texts(b)).toEqual(['b2']);
    expect(keeper.bytes).toBe(2);
  });

  it('counts one content kept by several connections once, until its last slot leaves', () => {
    const { keeper, open, keep, texts } = setup({ maxFramesPerConnection: 1 });
    const a = open('a');
    const b = open('b');
    const c = open('c');
    const publication = 'p'.repeat(100);
    for (const tracked of [a, b, c]) keep(tracked, publication);
    expect(keeper.bytes).toBe(100);
    keep(a, 'x');
    keep(b, 'y');
    expect(keeper.bytes).toBe(102);
    keep(c, 'z');
    expect(keeper.bytes).toBe(3);
    expect([a, b, c].map(texts)).toEqual([['x'], ['y'], ['z']]);
  });

  it('clear() empties the budget', () => {
    const { keeper, table, open, keep } = setup({});
    keep(open('a'), 'x');
    table.clear();
    keeper.clear();
    expect(keeper.bytes).toBe(0);
    expect(keeper.queued).toBe(0);
  });
});
