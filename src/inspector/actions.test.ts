import { describe, expect, it, vi } from 'vitest';
import { act, freshKeys } from './actions.js';
import type { Target } from './capture.js';
import { InspectorStore } from './store.js';

function setup() {
  const store = new InspectorStore();
  store.openConnection({
    id: 'c',
    status: 'open',
    path: '/',
    query: {},
    headers: {},
    connectedAt: 0,
  });
  store.addFrame('c', { direction: 'in', time: 0, size: 2, type: 'publish' }, '{"a":1}');
  store.addFrame('c', { direction: 'out', time: 0, size: 2, type: 'message' }, '{"b":2}');
  const target = {
    replay: vi.fn(() => true),
    send: vi.fn(() => true),
    close: vi.fn(() => true),
    publish: vi.fn(async () => ({})),
  } satisfies Target;
  const [sent, received] = store.frames();
  return { store, target, sent: sent!, received: received! };
}

describe('act', () => {
  it('refuses everything while actions are disabled', async () => {
    const { store, target } = setup();
    const result = await act(store, target, false, { action: 'close', connection: 'c' });
    expect(result).toMatchObject({
      type: 'result',
      ok: false,
      error: expect.stringMatching(/disabled/),
    });
    expect(target.close).not.toHaveBeenCalled();
  });

  it('replays only frames a client sent', async () => {
    const { store, target, sent, received } = setup();
    expect(await act(store, target, true, { action: 'replay', seq: sent.seq })).toEqual({
      type: 'result',
      ok: true,
      action: 'replay',
    });
    expect(target.replay).toHaveBeenCalledWith('c', '{"a":1}');
    expect(await act(store, target, true, { action: 'replay', seq: received.seq })).toMatchObject({
      ok: false,
    });
    expect(await act(store, target, true, { action: 'replay', seq: 999 })).toMatchObject({
      ok: false,
    });
  });

  it('sends, closes (with defaults) and publishes through the target', async () => {
    const { store, target } = setup();
    await act(store, target, true, { action: 'send', connection: 'c', text: '{}' });
    expect(target.send).toHaveBeenCalledWith('c', '{}');
    await act(store, target, true, { action: 'close', connection: 'c' });
    expect(target.close).toHaveBeenCalledWith('c', 1000, 'closed from the inspector');
    const published = await act(store, target, true, {
      action: 'publish',
      channel: 'ch',
      event: 'ev',
      data: { x: 1 },
    });
    expect(target.publish).toHaveBeenCalledWith('ch', 'ev', { x: 1 });
    expect(published).toMatchObject({ ok: true, action: 'publish' });
    expect(await act(store, target, true, { action: 'dance' })).toMatchObject({ ok: false });
  });

  it('cannot publish where the target has no publish (a plain ws server)', async () => {
    const { store, target } = setup();
    const { publish: _, ...plain } = target;
    expect(await act(store, plain, true, { action: 'publish', channel: 'c' })).toMatchObject({
      ok: false,
    });
  });
});

describe('replaying a publish', () => {
  const publish =
    '{"type":"publish","id":4,"channel":"chat:a","event":"m","data":{"n":1},"key":"s1.4"}';

  function withPublish() {
    const store = new InspectorStore();
    store.openConnection({
      id: 'c',
      status: 'open',
      path: '/',
      query: {},
      headers: {},
      connectedAt: 0,
    });
    store.addFrame(
      'c',
      { direction: 'in', time: 0, size: publish.length, type: 'publish' },
      publish,
    );
    const target = {
      replay: vi.fn((_id: string, _data: string | Uint8Array) => true),
      replayNew: vi.fn(async (_id: string, _data: string | Uint8Array) => 'new1'),
      send: vi.fn(() => true),
      close: vi.fn(() => true),
    } satisfies Target;
    return { store, target, seq: store.frames()[0]!.seq };
  }

  it('gets a fresh idempotency key, so the server does not drop it as a duplicate', async () => {
    const { store, target, seq } = withPublish();
    await act(store, target, true, { action: 'replay', seq });
    const sent = JSON.parse(target.replay.mock.calls[0]![1] as string);
    expect(sent).toMatchObject({ type: 'publish', id: 4, channel: 'chat:a', data: { n: 1 } });
    expect(sent.key).toMatch(/^replay-[0-9a-f-]{36}$/);
  });

  it('repeats the original key when asked to', async () => {
    const { store, target, seq } = withPublish();
    await act(store, target, true, { action: 'replay', seq, repeatKey: true });
    expect(target.replay).toHaveBeenCalledWith('c', publish);
  });

  it('replays on a new connection through the target, answering with its id', async () => {
    const { store, target, seq } = withPublish();
    expect(await act(store, target, true, { action: 'replay', seq, where: 'new' })).toEqual({
      type: 'result',
      ok: true,
      action: 'replay',
      connection: 'new1',
    });
    const { replayNew: _, ...gateway } = target;
    expect(await act(store, gateway, true, { action: 'replay', seq, where: 'new' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/proxy/),
    });
  });

  it('freshens every publish of a batch and leaves other text alone', () => {
    const batch = freshKeys(`[${publish},{"type":"ping","id":5}]`);
    const [first, second] = JSON.parse(batch);
    expect(first.key).not.toBe('s1.4');
    expect(second).toEqual({ type: 'ping', id: 5 });
    for (const other of [
      '{"type":"publish","id":1,"channel":"c","event":"e"}',
      'key publish',
      '{"type":"other","key":"k"}',
    ])
      expect(freshKeys(other)).toBe(other);
  });
});
