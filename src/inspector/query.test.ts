import { describe, expect, it } from 'vitest';
import { matches } from './query.js';
import { InspectorStore } from './store.js';
import type { ConnectionRecord, FrameRecord } from './types.js';

const frame: FrameRecord = {
  seq: 1,
  connection: 'c1',
  direction: 'in',
  time: 0,
  size: 10,
  type: 'publish',
  channel: 'chat:a',
  event: 'message',
  text: '{"Text":"Hello"}',
};
const connection = { id: 'c1', user: 'ada' } as ConnectionRecord;

describe('matches', () => {
  it('passes everything with an empty filter and requires every field given', () => {
    expect(matches({}, frame, undefined)).toBe(true);
    expect(
      matches(
        { connection: 'c1', direction: 'in', channel: 'chat:a', event: 'message', user: 'ada' },
        frame,
        connection,
      ),
    ).toBe(true);
    expect(matches({ connection: 'c2' }, frame, connection)).toBe(false);
    expect(matches({ direction: 'out' }, frame, connection)).toBe(false);
    expect(matches({ channel: 'chat:b' }, frame, connection)).toBe(false);
    expect(matches({ event: 'typing' }, frame, connection)).toBe(false);
    expect(matches({ user: 'bob' }, frame, connection)).toBe(false);
    expect(matches({ user: 'ada' }, frame, undefined)).toBe(false);
  });

  it('matches text case-insensitively, and never a frame without text', () => {
    expect(matches({ text: 'hello' }, frame, connection)).toBe(true);
    expect(matches({ text: 'bye' }, frame, connection)).toBe(false);
    expect(matches({ text: 'x' }, (({ text: _, ...rest }) => rest)(frame), connection)).toBe(false);
  });
});

describe('frames across connections', () => {
  it('come back in capture order, the newest `limit` of those matching', () => {
    const store = new InspectorStore();
    for (const id of ['a', 'b'])
      store.openConnection({
        id,
        status: 'open',
        path: '/',
        query: {},
        headers: {},
        connectedAt: 0,
      });
    const add = (id: string, text: string) =>
      store.addFrame(id, { direction: 'in', time: 0, size: text.length, type: 't' }, text);
    add('a', 'a1');
    add('b', 'b1');
    add('a', 'a2');
    add('b', 'b2');
    expect(store.frames().map((f) => f.text)).toEqual(['a1', 'b1', 'a2', 'b2']);
    expect(store.frames({}, 3).map((f) => f.text)).toEqual(['b1', 'a2', 'b2']);
    expect(store.frames({ connection: 'b' }).map((f) => f.text)).toEqual(['b1', 'b2']);
    expect(store.frames({ text: 'A' }, Number.POSITIVE_INFINITY)).toHaveLength(2);
  });
});
