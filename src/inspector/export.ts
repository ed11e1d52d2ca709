/**
 * What leaves the inspector as files: the session as JSON Lines (`kind: session | connection |
 * frame`, the panel's Import reads it back) and a Node script replaying what one connection sent.
 */
import type { InspectorStore } from './store.js';

export function exportJsonl(store: InspectorStore, now = new Date()): string {
  const lines = [
    JSON.stringify({
      kind: 'session',
      version: 1,
      exportedAt: now.toISOString(),
      stats: store.stats(),
    }),
    ...store.connections().map((c) => JSON.stringify({ kind: 'connection', ...c })),
    // Control frames too (ping, pong, close: flagged `control`), so an import shows them all.
    ...store
      .frames({ control: true }, Number.POSITIVE_INFINITY)
      .map((f) => JSON.stringify({ kind: 'frame', ...f })),
  ];
  return `${lines.join('\n')}\n`;
}

export function replayScript(store: InspectorStore, connection: string): string {
  const record = store.connection(connection);
  const frames = store.frames({ connection, direction: 'in' }, Number.POSITIVE_INFINITY);
  const lines = frames.map(
    (f) =>
      `  ${JSON.stringify(f.text ?? '')}, // +${f.time - (frames[0]?.time ?? f.time)} ms ${f.type}`,
  );
  return `// Replays the frames connection ${connection} sent (captured by the Switchboard inspector).
// Tokens were redacted at capture: put a real one in TOKEN. Usage: node replay.mjs ws://host:port${record?.path ?? '/ws'}
import WebSocket from 'ws';

const TOKEN = process.env.TOKEN ?? '';
const frames = [
${lines.join('\n')}
];
const ws = new WebSocket(process.argv[2] ?? 'ws://127.0.0.1:3000${record?.path ?? '/ws'}');
ws.on('message', (data) => console.log('←', data.toString()));
ws.on('open', async () => {
  for (const frame of frames) {
    ws.send(frame.replace('"token":"[redacted]"', JSON.stringify({ token: TOKEN }).slice(1, -1)));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  setTimeout(() => ws.close(), 500);
});
`;
}
