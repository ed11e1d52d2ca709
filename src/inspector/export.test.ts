import { describe, expect, it } from 'vitest';
import { exportJsonl, replayScript } from './export.js';
import { InspectorStore } from './store.js';

function storeWithTraffic() {
  const store = new InspectorStore();
  store.openConnection({
    id: 'c1',
    status: 'open',
    path: '/ws',
    query: {},
    headers: {},
    connectedAt: 1,
  });
  store.record(
    'c1',
    'in',
    30,
    'connect',
    undefined,
    undefined,
    1,
    '{"type":"connect","token":"t"}',
    false,
    true,
    1000,
  );
  store.record(
    'c1',
    'out',
    20,
    'reply',
    undefined,
    undefined,
    1,
    '{"type":"reply","id":1}',
    false,
    false,
    1010,
  );
  store.record(
    'c1',
    'in',
    25,
    'publish',
    'chat:a',
    'm',
    2,
    '{"type":"publish","id":2}',
    false,
    true,
    1250,
  );
  return store;
}

describe('exportJsonl', () => {
  it('writes the session, then every connection, then every frame, one JSON per line', () => {
    const lines = exportJsonl(storeWithTraffic(), new Date(0))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      kind: 'session',
      version: 1,
      exportedAt: '1970-01-01T00:00:00.000Z',
      stats: { connections: 1, frames: 3 },
    });
    expect(lines[1]).toMatchObject({ kind: 'connection', id: 'c1', messagesIn: 2 });
    expect(lines.slice(2).map((l) => [l.kind, l.type])).toEqual([
      ['frame', 'connect'],
      ['frame', 'reply'],
      ['frame', 'publish'],
    ]);
    expect(lines[2].text).toBe('{"type":"connect","token":"[redacted]"}');
    expect(lines[3].latencyMs).toBe(10);
  });
});

describe('replayScript', () => {
  it('replays what the connection sent, in order, with its timing and the token left to fill in', () => {
    const script = replayScript(storeWithTraffic(), 'c1');
    expect(script).toContain("import WebSocket from 'ws'");
    expect(script).toContain('ws://127.0.0.1:3000/ws');
    expect(script).toContain(
      '"{\\"type\\":\\"connect\\",\\"token\\":\\"[redacted]\\"}", // +0 ms connect',
    );
    expect(script).toContain('// +250 ms publish');
    expect(script).not.toContain('reply');
  });
});
