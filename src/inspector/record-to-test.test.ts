import { transformSync } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { capturedUrl, recordToTest } from './record-to-test.js';
import { InspectorStore } from './store.js';

function session() {
  const store = new InspectorStore({ hexPreviewBytes: 4 });
  store.openConnection({
    id: 'c1',
    status: 'open',
    path: '/ws',
    query: { room: '1', token: '[redacted]' },
    headers: {},
    connectedAt: 0,
    protocol: 'chat.v1',
  });
  const text = (direction: 'in' | 'out', type: string, content: string, time: number) =>
    store.record(
      'c1',
      direction,
      content.length,
      type,
      undefined,
      undefined,
      undefined,
      content,
      false,
      true,
      time,
    );
  text('out', 'greeting', '{"type":"greeting","at":1.5}', 1000);
  text('in', 'connect', '{"type":"connect","id":1,"token":"eyJ.secret.sig"}', 1001);
  text('out', 'reply', '{"type":"reply","id":1}', 1002);
  // Heartbeats: the server's ping and the client's pong, as frames and as control frames.
  text('out', 'ping', '{"type":"ping"}', 1003);
  text('in', 'pong', '{"type":"pong"}', 1004);
  store.recordControl('c1', 'out', 'ping', Buffer.from('hb'), undefined, '', 1005);
  store.recordControl('c1', 'in', 'pong', Buffer.from('hb'), undefined, '', 1006);
  store.recordControl('c1', 'in', 'ping', Buffer.from('mine'), undefined, '', 1007);
  store.recordControl('c1', 'out', 'pong', Buffer.from('mine'), undefined, '', 1008);
  store.record(
    'c1',
    'in',
    3,
    'binary',
    undefined,
    undefined,
    undefined,
    Buffer.from([1, 2, 3]),
    true,
    false,
    1009,
  );
  store.record(
    'c1',
    'in',
    6,
    'binary',
    undefined,
    undefined,
    undefined,
    Buffer.from([1, 2, 3, 4, 5, 6]),
    true,
    false,
    1010,
  );
  store.record(
    'c1',
    'out',
    3,
    'binary',
    undefined,
    undefined,
    undefined,
    Buffer.from([1, 2, 3]),
    true,
    false,
    1011,
  );
  store.recordControl('c1', 'out', 'close', undefined, 4001, 'kicked', 1012);
  store.recordControl('c1', 'in', 'close', undefined, 4001, 'kicked', 1013);
  return store;
}

describe('recordToTest', () => {
  it('turns a connection into steps: sends, expected answers, pings, and the close', () => {
    const source = recordToTest(session(), 'c1');
    const start = source.indexOf('const steps = [');
    const steps = source.slice(start, source.indexOf('\n];', start) + 3);
    const parsed = steps
      .split('\n')
      .slice(1, -1)
      .map((line) => JSON.parse(line.replace(/,\s+\/\/.*$/, '')));
    expect(parsed).toEqual([
      { expect: '{"type":"greeting","at":1.5}' },
      { send: '{"type":"connect","id":1,"token":"[redacted]"}' },
      { expect: '{"type":"reply","id":1}' },
      { ping: 'mine' },
      { expectPong: true },
      { sendBinary: Buffer.from([1, 2, 3]).toString('base64'), size: 3 },
      { sendBinary: Buffer.from([1, 2, 3, 4]).toString('base64'), size: 6 },
      { expectBinary: 3 },
      { expectClose: 4001 },
    ]);
    expect(source).toContain(
      '// +10 ms → binary (only its first bytes were kept: the rest is zeros)',
    );
    expect(source).toContain('const PROTOCOLS = ["chat.v1"];');
    expect(source).toContain('?? "ws://127.0.0.1:3000/ws?room=1"');
    expect(source).toContain('Query parameters holding credentials were redacted');
    expect(source).not.toContain('eyJ.secret.sig');
    // It is a module esbuild (and so vitest) can load.
    expect(() => transformSync(source, { format: 'esm', loader: 'js' })).not.toThrow();
  });

  it('closes as the client did, and expects the server’s answer', () => {
    const store = new InspectorStore();
    store.openConnection({
      id: 'c',
      status: 'open',
      path: '/',
      query: {},
      headers: {},
      connectedAt: 0,
    });
    store.recordControl('c', 'in', 'close', undefined, 1000, 'done');
    store.recordControl('c', 'out', 'close', undefined, 1000, 'done');
    const source = recordToTest(store, 'c', { url: 'ws://elsewhere:1/x' });
    expect(source).toContain('{"close":1000,"reason":"done"}');
    expect(source).toContain('{"expectClose":1000}');
    expect(source).toContain('?? "ws://elsewhere:1/x"');
    expect(() => recordToTest(store, 'nope')).toThrow(RangeError);
  });

  it('builds the captured URL from the path and the query that was not redacted', () => {
    const record = { path: '/a/b', query: { x: '1', token: '[redacted]' } } as never;
    expect(capturedUrl(record, 'wss://up.example:8443/')).toBe('wss://up.example:8443/a/b?x=1');
  });
});
