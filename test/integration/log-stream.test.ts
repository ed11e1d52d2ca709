import { describe, expect, it } from 'vitest';
import { LOG_EVENT, logStream } from '../../src/server/index.js';
import { connected, onCleanup, sleep, startServer, waitFor } from '../helpers.js';

/** The log channel (src/server/log-stream.ts): server log records published live to admins. */

describe('log stream', () => {
  it('collapses repeated records into one with a count, and keeps the last N for late joiners', async () => {
    const { server, url } = await startServer({ channels: { 'admin:logs': {} } });
    const stream = logStream(server.broker, { channel: 'admin:logs', keep: 5, collapseMs: 100 });
    onCleanup(() => stream.close());
    const watcher = await connected(url, 'admin');
    const seen: any[] = [];
    const sub = watcher.subscribe('admin:logs');
    sub.on(LOG_EVENT, (record) => seen.push(record));
    await sub.ready();

    const refused = { level: 30, msg: 'connection refused', code: 4001 };
    for (let i = 0; i < 20; i++) stream.write(JSON.stringify({ ...refused, time: Date.now() + i }));
    await waitFor(() => seen.length === 2, 5_000, 'first record and its summary');
    expect(seen[0]).toMatchObject(refused);
    expect(seen[0].repeated).toBeUndefined();
    expect(seen[1]).toMatchObject({ ...refused, repeated: 19 });

    stream.write({ level: 40, msg: 'something else' });
    for (let i = 0; i < 8; i++) stream.write({ level: 30, msg: `distinct ${i}` });
    await waitFor(() => seen.length === 11, 5_000, 'distinct records');

    const late = await sub.history({ limit: 100 });
    expect(late.publications.map((p) => (p.data as any).msg)).toEqual([
      'distinct 3',
      'distinct 4',
      'distinct 5',
      'distinct 6',
      'distinct 7',
    ]);
    await sleep(150);
    expect(seen).toHaveLength(11);
  });

  it('collapses a record repeated among others within the window, as subscribers see it', async () => {
    const { server, url } = await startServer({ channels: { 'admin:logs': {} } });
    const stream = logStream(server.broker, { channel: 'admin:logs', collapseMs: 200 });
    onCleanup(() => stream.close());
    const watcher = await connected(url, 'admin');
    const seen: Record<string, unknown>[] = [];
    const sub = watcher.subscribe('admin:logs');
    sub.on(LOG_EVENT, (record: Record<string, unknown>) => seen.push(record));
    await sub.ready();

    const refused = { level: 30, msg: 'connection refused', code: 4001 };
    for (let i = 0; i < 10; i++) {
      stream.write(JSON.stringify({ ...refused, time: Date.now() }));
      stream.write({ level: 30, msg: `request ${i}` });
    }
    await waitFor(() => seen.length === 12, 5_000, 'ten distinct records and one summary');
    expect(seen.filter((r) => r.msg === 'connection refused')).toEqual([
      expect.objectContaining(refused),
      expect.objectContaining({ ...refused, repeated: 9 }),
    ]);
    expect(seen[0]?.['repeated']).toBeUndefined();
    // The summary comes at the window's end, after the records that came between.
    expect(seen.at(-1)).toMatchObject({ msg: 'connection refused', repeated: 9 });
  });
});
