import { describe, expect, it, vi } from 'vitest';
import { ConnectionTable } from './connections.js';
import { DEFAULT_LIMITS } from './limits.js';

const opening = (id: string, connectedAt = 1_000) =>
  ({ id, status: 'open', path: '/ws', query: {}, headers: {}, connectedAt }) as const;

describe('ConnectionTable', () => {
  it('starts each record with zeroed counters and an empty ring', () => {
    const table = new ConnectionTable(DEFAULT_LIMITS, () => {});
    const tracked = table.open({ ...opening('a'), user: 'ada' })!;
    expect(tracked.record).toEqual({
      ...opening('a'),
      user: 'ada',
      channels: [],
      errors: [],
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      droppedFrames: 0,
    });
    expect(tracked.frames.length).toBe(0);
    expect(table.get('a')).toBe(tracked);
    expect(table.size).toBe(1);
  });

  it('makes room by forgetting the oldest closed connection, else refuses and counts', () => {
    const forgot = vi.fn();
    const table = new ConnectionTable({ ...DEFAULT_LIMITS, maxConnections: 2 }, forgot);
    table.open(opening('a'));
    table.open(opening('b'));
    expect(table.open(opening('c'))).toBeUndefined();
    expect(table.droppedConnections).toBe(1);
    table.update('b', { status: 'closed', closedAt: 1_500 });
    const a = table.get('a')!;
    expect(table.open(opening('c'))).toBeDefined();
    expect([...table.values()].map((t) => t.record.id)).toEqual(['a', 'c']);
    expect(forgot).toHaveBeenCalledOnce();
    expect(forgot.mock.calls[0]![0]).toBe('b');
    expect(a.gone).toBe(false);
  });

  it('forgets closed connections past their retention, on sweep and before opening (once a second)', () => {
    const forgot = vi.fn();
    const table = new ConnectionTable({ ...DEFAULT_LIMITS, closedRetentionMs: 100 }, forgot);
    const a = table.open(opening('a'))!;
    table.update('a', { status: 'closed', closedAt: 1_000 });
    table.sweep(1_100);
    expect(table.has('a')).toBe(true);
    table.open(opening('b', 1_101));
    expect(table.has('a')).toBe(true);
    table.open(opening('c', 2_100));
    expect(table.has('a')).toBe(false);
    expect(a.gone).toBe(true);
    expect(forgot).toHaveBeenCalledWith('a', a);
  });

  it('keeps the last 20 errors, 200 characters each', () => {
    const table = new ConnectionTable(DEFAULT_LIMITS, () => {});
    table.open(opening('a'));
    for (let i = 0; i < 25; i++) table.noteError('a', `E${i}`);
    table.noteError('a', 'x'.repeat(500));
    const errors = table.get('a')!.record.errors;
    expect(errors).toHaveLength(20);
    expect(errors[0]).toBe('E6');
    expect(errors.at(-1)).toHaveLength(200);
    expect(table.noteError('nobody', 'E')).toBeUndefined();
    expect(table.update('nobody', { user: 'x' })).toBeUndefined();
  });

  it('clear() forgets everything silently', () => {
    const forgot = vi.fn();
    const table = new ConnectionTable(DEFAULT_LIMITS, forgot);
    const a = table.open(opening('a'))!;
    table.clear();
    expect(table.size).toBe(0);
    expect(a.gone).toBe(true);
    expect(forgot).not.toHaveBeenCalled();
  });
});
