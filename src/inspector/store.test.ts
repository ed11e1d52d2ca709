import { describe, expect, it, vi } from 'vitest';
import type { FrameKeeper } from './frames.js';
import { InspectorStore } from './store.js';
import type { StoreEvent } from './types.js';

const open = (store: InspectorStore, id: string, connectedAt = Date.now()) =>
  store.openConnection({ id, status: 'open', path: '/ws', query: {}, headers: {}, connectedAt });
const frame = (store: InspectorStore, id: string, text: string, direction: 'in' | 'out' = 'in') =>
  store.addFrame(id, { direction, time: Date.now(), size: text.length, type: 'publish' }, text);

describe('InspectorStore bounds', () => {
  it('keeps at most maxConnections, evicting closed ones first and counting refusals', () => {
    const store = new InspectorStore({ maxConnections: 3 });
    for (const id of ['a', 'b', 'c']) open(store, id);
    expect(open(store, 'd')).toBe(false);
    store.updateConnection('a', { status: 'closed', closedAt: Date.now() });
    expect(open(store, 'e')).toBe(true);
    expect(store.connections().map((c) => c.id)).toEqual(['b', 'c', 'e']);
    expect(store.stats()).toMatchObject({ connections: 3, droppedConnections: 1 });
  });

  it('keeps the newest frames per connection in a ring, truncates long text, previews binary', () => {
    const store = new InspectorStore({
      maxFramesPerConnection: 5,
      maxFrameBytes: 10,
      hexPreviewBytes: 4,
    });
    open(store, 'a');
    for (let i = 0; i < 12; i++) frame(store, 'a', `frame ${i}`);
    expect(store.frames({ connection: 'a' }).map((f) => f.text)).toEqual([
      'frame 7',
      'frame 8',
      'frame 9',
      'frame 10',
      'frame 11',
    ]);
    expect(store.connection('a')?.droppedFrames).toBe(7);
    frame(store, 'a', 'x'.repeat(50));
    expect(store.frames().at(-1)).toMatchObject({
      text: 'x'.repeat(10),
      truncated: true,
      size: 50,
    });
    store.addFrame(
      'a',
      { direction: 'in', time: Date.now(), size: 6, type: 'raw', binary: true },
      new Uint8Array([1, 2, 3, 4, 5, 6]),
    );
    expect(store.frames().at(-1)).toMatchObject({ hex: '01020304', truncated: true, binary: true });
  });

  it('stays within the total byte budget however much traffic comes', () => {
    const store = new InspectorStore({
      maxTotalBytes: 64 * 1024,
      maxFramesPerConnection: 1000,
      maxConnections: 10,
    });
    for (let c = 0; c < 10; c++) open(store, `c${c}`);
    const big = 'y'.repeat(2000);
    for (let i = 0; i < 5000; i++) frame(store, `c${i % 10}`, `${i}${big}`);
    const stats = store.stats();
    expect(stats.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(stats.droppedFrames).toBeGreaterThan(4900);
    expect(stats.frames).toBeGreaterThan(0);
  });

  it('evicts the oldest frames across all connections first, with bookkeeping that stays bounded', () => {
    const store = new InspectorStore({
      maxTotalBytes: 10 * 5,
      maxFramesPerConnection: 3,
      maxConnections: 4,
    });
    for (const id of ['a', 'b', 'c', 'd']) open(store, id);
    // Uneven traffic: 'a' overflows its own ring, the others feed the global bound.
    for (let i = 0; i < 40_000; i++)
      frame(store, ['a', 'a', 'b', 'c', 'd'][i % 5]!, `f${String(i % 10_000).padStart(4, '0')}`);
    const kept = store.frames().map((f) => f.text);
    expect(kept).toHaveLength(10);
    // The ten newest frames overall, oldest first; f9990 left earlier, pushed out of a's own ring.
    const newest = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((n) => `f999${n}`);
    expect(kept).toEqual(['f9989', ...newest]);
    const { keeper } = store as unknown as { keeper: FrameKeeper };
    expect(keeper.queued).toBeLessThan(2 * 10 + 1024 + 1);
    store.updateConnection('a', { status: 'closed', closedAt: Date.now() - 1e9 });
    store.sweep();
    for (let i = 0; i < 10; i++) frame(store, 'b', `g${i}`);
    expect(store.frames({ connection: 'b' }).map((f) => f.text)).toEqual(['g7', 'g8', 'g9']);
    expect(store.stats().frames).toBe(8);
  });

  it('forgets closed connections after their retention', () => {
    const store = new InspectorStore({ closedRetentionMs: 1000 });
    open(store, 'a');
    frame(store, 'a', 'hello');
    store.updateConnection('a', { status: 'closed', closedAt: Date.now() - 2000 });
    store.sweep();
    expect(store.stats()).toMatchObject({ connections: 0, frames: 0, bytes: 0 });
  });

  it('pairs replies with their requests and pongs with pings', () => {
    const store = new InspectorStore();
    open(store, 'a');
    store.addFrame('a', { direction: 'in', time: 1000, size: 10, type: 'rpc', id: 7 }, '{}');
    store.addFrame('a', { direction: 'out', time: 1042, size: 10, type: 'reply', id: 7 }, '{}');
    store.addFrame('a', { direction: 'out', time: 2000, size: 10, type: 'ping' }, '{}');
    store.addFrame('a', { direction: 'in', time: 2013, size: 10, type: 'pong' }, '{}');
    expect(store.frames().find((f) => f.type === 'reply')?.latencyMs).toBe(42);
    expect(store.connection('a')?.rttMs).toBe(13);
  });
});

describe('InspectorStore live events and lifecycle', () => {
  it('tells listeners about connections, frames and forgotten connections, until they stop', () => {
    const store = new InspectorStore({ closedRetentionMs: 1000 });
    const events: StoreEvent[] = [];
    const stop = store.listen((event) => events.push(event));
    open(store, 'a');
    store.record(
      'a',
      'in',
      35,
      'connect',
      undefined,
      undefined,
      1,
      '{"type":"connect","token":"t"}',
      false,
      true,
    );
    store.noteError('a', 'FORBIDDEN: no');
    store.updateConnection('a', { status: 'closed', closedAt: Date.now() - 2000 });
    store.sweep();
    expect(events.map((e) => e.type)).toEqual([
      'connection',
      'frame',
      'connection',
      'connection',
      'forget',
    ]);
    const framed = events[1] as Extract<StoreEvent, { type: 'frame' }>;
    expect(framed.frame).toMatchObject({
      connection: 'a',
      type: 'connect',
      id: 1,
      text: '{"type":"connect","token":"[redacted]"}',
    });
    expect(framed.connection.messagesIn).toBe(1);
    stop();
    open(store, 'b');
    expect(events).toHaveLength(5);
  });

  it('builds no frame view while nobody listens', async () => {
    const view = await import('./view.js');
    const spy = vi.spyOn(view, 'frameView');
    const store = new InspectorStore();
    open(store, 'a');
    frame(store, 'a', 'quiet');
    expect(spy).not.toHaveBeenCalled();
    const stop = store.listen(() => {});
    frame(store, 'a', 'heard');
    expect(spy).toHaveBeenCalledOnce();
    stop();
    frame(store, 'a', 'quiet again');
    expect(spy).toHaveBeenCalledOnce();
    spy.mockRestore();
  });

  it('ignores frames and changes for connections it does not track', () => {
    const store = new InspectorStore();
    frame(store, 'nobody', 'x');
    store.updateConnection('nobody', { user: 'u' });
    store.noteError('nobody', 'E');
    expect(store.stats()).toEqual({
      connections: 0,
      active: 0,
      untracked: 0,
      frames: 0,
      bytes: 0,
      droppedConnections: 0,
      droppedFrames: 0,
    });
    expect(store.has('nobody')).toBe(false);
    expect(store.connection('nobody')).toBeUndefined();
  });

  it('counts traffic each way and finds a frame by its sequence number', () => {
    const store = new InspectorStore();
    open(store, 'a');
    frame(store, 'a', 'in!', 'in');
    frame(store, 'a', 'out!!', 'out');
    expect(store.connection('a')).toMatchObject({
      messagesIn: 1,
      bytesIn: 3,
      messagesOut: 1,
      bytesOut: 5,
    });
    const [first, second] = store.frames();
    expect(store.frame(second!.seq)?.text).toBe('out!!');
    expect(store.frame(first!.seq)?.direction).toBe('in');
    expect(store.frame(9999)).toBeUndefined();
    expect(store.frames({}, 1)).toEqual([second]);
  });

  it('clear() forgets everything but keeps counting from where it was', () => {
    const store = new InspectorStore({ maxFramesPerConnection: 2 });
    open(store, 'a');
    for (let i = 0; i < 5; i++) frame(store, 'a', `f${i}`);
    const before = store.frames().at(-1)!.seq;
    store.clear();
    expect(store.stats()).toMatchObject({ connections: 0, frames: 0, bytes: 0, droppedFrames: 3 });
    open(store, 'a');
    frame(store, 'a', 'again');
    expect(store.frames()[0]!.seq).toBeGreaterThan(before);
    expect(store.stats()).toMatchObject({ connections: 1, frames: 1 });
  });
});

describe('InspectorStore: control frames, closing, redaction before a cut', () => {
  it('records ping, pong and close frames, hidden unless asked for, and the closing state', () => {
    const store = new InspectorStore();
    open(store, 'a');
    const events: StoreEvent[] = [];
    store.listen((event) => events.push(event));
    store.recordControl('a', 'out', 'ping', Buffer.from('hb'), undefined, '', 1000);
    store.recordControl('a', 'in', 'pong', Buffer.from('hb'), undefined, '', 1007);
    store.recordControl('a', 'in', 'ping', Buffer.from([0xff, 0x00]));
    frame(store, 'a', 'still talking');
    store.recordControl('a', 'in', 'close', undefined, 4001, 'going away');
    store.recordControl('a', 'out', 'close', undefined, 4001, 'going away');
    expect(store.frames().map((f) => f.text)).toEqual(['still talking']);
    const all = store.frames({ control: true });
    expect(all.map((f) => [f.direction, f.type, f.control])).toEqual([
      ['out', 'ping', true],
      ['in', 'pong', true],
      ['in', 'ping', true],
      ['in', 'publish', undefined],
      ['in', 'close', true],
      ['out', 'close', true],
    ]);
    expect(all[2]).toMatchObject({ binary: true, size: 2, hex: 'ff00' });
    expect(all[4]).toMatchObject({ code: 4001, text: '4001 going away', size: 12 });
    expect(store.connection('a')).toMatchObject({
      status: 'closing',
      closeCode: 4001,
      closeReason: 'going away',
      rttMs: 7,
      messagesIn: 1,
      messagesOut: 0,
    });
    const statuses = events.flatMap((e) => (e.type === 'connection' ? [e.connection.status] : []));
    expect(statuses).toEqual(['closing']);
    expect(store.stats()).toMatchObject({ connections: 1, active: 1 });
    store.updateConnection('a', { status: 'closed' });
    expect(store.stats()).toMatchObject({ connections: 1, active: 0 });
  });

  it('redacts a token longer than the frame cap before cutting, whether kept as text or bytes', () => {
    const store = new InspectorStore();
    open(store, 'a');
    const token = 'T'.repeat(12 * 1024);
    const text = `{"type":"connect","id":1,"token":"${token}","version":1}`;
    store.record('a', 'in', text.length, 'connect', undefined, undefined, 1, text, false, true);
    // As the proxy and undecodable input keep it: bytes, already cut just past the bound.
    const bytes = Buffer.from(text).subarray(0, 10 * 1024 + 1);
    store.record('a', 'in', text.length, 'connect', undefined, undefined, 1, bytes, false, true);
    const [whole, cut] = store.frames();
    expect(whole).toMatchObject({
      text: '{"type":"connect","id":1,"token":"[redacted]","version":1}',
      truncated: true,
    });
    expect(cut).toMatchObject({
      text: '{"type":"connect","id":1,"token":"[redacted]',
      truncated: true,
    });
    expect(JSON.stringify(store.frames())).not.toContain('TTTT');
    // Neither can be replayed: what is kept is not what was sent.
    expect(store.replayable(whole!.seq)).toBeUndefined();
  });

  it('keeps no bytes of binary frames without a preview, and replays only whole client frames', () => {
    const quiet = new InspectorStore({ hexPreviewBytes: 0 });
    open(quiet, 'a');
    quiet.record(
      'a',
      'in',
      4,
      'binary',
      undefined,
      undefined,
      undefined,
      Buffer.from([1, 2, 3, 4]),
      true,
    );
    expect(quiet.frames()[0]).toEqual(expect.objectContaining({ binary: true, size: 4 }));
    expect(quiet.frames()[0]).not.toHaveProperty('hex');
    expect(quiet.frames()[0]).not.toHaveProperty('truncated');
    expect(quiet.stats().bytes).toBe(0);

    const store = new InspectorStore({ hexPreviewBytes: 4 });
    open(store, 'b');
    store.record(
      'b',
      'in',
      4,
      'binary',
      undefined,
      undefined,
      undefined,
      Buffer.from([1, 2, 3, 4]),
      true,
    );
    store.record(
      'b',
      'in',
      5,
      'binary',
      undefined,
      undefined,
      undefined,
      Buffer.from([1, 2, 3, 4, 5]),
      true,
    );
    store.record(
      'b',
      'in',
      30,
      'connect',
      undefined,
      undefined,
      1,
      '{"type":"connect","token":"t"}',
      false,
      true,
    );
    store.record('b', 'out', 2, 'reply', undefined, undefined, 1, '{}');
    store.recordControl('b', 'in', 'ping', Buffer.from('p'));
    const [whole, partial, connect, reply, ping] = store.frames({ control: true });
    expect(store.replayable(whole!.seq)).toEqual({
      connection: 'b',
      data: Buffer.from([1, 2, 3, 4]),
    });
    expect(store.replayable(partial!.seq)).toBeUndefined();
    // The credential goes back to the server as captured; only the views are redacted.
    expect(connect!.text).toBe('{"type":"connect","token":"[redacted]"}');
    expect(store.replayable(connect!.seq)).toEqual({
      connection: 'b',
      data: '{"type":"connect","token":"t"}',
    });
    expect(store.replayable(reply!.seq)).toBeUndefined();
    expect(store.replayable(ping!.seq)).toBeUndefined();
  });

  it('counts connections capture left out', () => {
    const store = new InspectorStore();
    store.noteUntracked();
    store.noteUntracked();
    expect(store.stats().untracked).toBe(2);
  });
});
