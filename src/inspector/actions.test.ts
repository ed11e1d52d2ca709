import { describe, expect, it, vi } from 'vitest';
import { act } from './actions.js';
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
