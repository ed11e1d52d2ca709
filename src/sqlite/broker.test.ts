import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, PublishResult } from '../broker/types.js';
import { ErrorCode } from '../protocol/errors.js';
import { sqliteBroker } from './broker.js';
import { type Database, Driver } from './driver.js';
import { APPLICATION_ID, SCHEMA_VERSION, V0 } from './schema.js';

const history = { size: 100, ttlMs: 60_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'switchboard.db');
}

function open(file: string, options: Partial<Parameters<typeof sqliteBroker>[0]> = {}): Broker {
  const broker = sqliteBroker({ file, ...options });
  cleanups.push(() => broker.close());
  return broker;
}

/** Reads the file directly, with no broker holding it. */
function inspect<T>(file: string, read: (db: Database) => T): T {
  const db = new Driver(file);
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const count = (file: string, table: string) =>
  inspect(file, (db) => db.prepare<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).get()!.n);

/** The database and its WAL, as much disk as the broker's file takes. */
function bytesOnDisk(file: string): number {
  let total = statSync(file).size;
  try {
    total += statSync(`${file}-wal`).size;
  } catch {
    // No WAL at the moment.
  }
  return total;
}

describe('sqliteBroker', () => {
  it('comes back after a restart with the same epochs, offsets, history and idempotency keys', async () => {
    const file = tempFile();
    const before = sqliteBroker({ file });
    const results: PublishResult[] = [];
    for (let i = 1; i <= 5; i++)
      results.push(
        await before.publish('c', { event: 'e', data: i }, { history, idempotencyKey: `k${i}` }),
      );
    const quiet = await before.history('quiet', { limit: 0 });
    await before.close();

    const after = open(file);
    const kept = await after.history('c', {
      since: { offset: results[1]!.offset, epoch: results[1]!.epoch },
    });
    expect(kept).toMatchObject({ recovered: true, offset: 5, epoch: results[0]!.epoch });
    expect(kept.publications.map((p) => [p.offset, p.data])).toEqual([
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
    // A position read before anything was published is kept too.
    expect(
      (await after.history('quiet', { since: { offset: 0, epoch: quiet.epoch } })).recovered,
    ).toBe(true);
    const repeat = await after.publish(
      'c',
      { event: 'e', data: 3 },
      { history, idempotencyKey: 'k3' },
    );
    expect(repeat).toEqual({ ...results[2], duplicate: true });
    expect((await after.publish('c', { event: 'e', data: 6 }, { history })).offset).toBe(6);
  });

  it('commits a tick’s publishes together and fans each out, in offset order, before its publisher hears back', async () => {
    const broker = open(tempFile());
    const delivered: number[] = [];
    await broker.subscribe('c', (p) => delivered.push(p.offset));
    const seenAtAck: boolean[] = [];
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        broker.publish('c', { event: 'e', data: i }, { history }).then((result) => {
          seenAtAck.push(delivered.includes(result.offset));
          return result;
        }),
      ),
    );
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(delivered).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(seenAtAck.every(Boolean)).toBe(true);
  });

  it('refuses a second broker on the same file in this process until the first is closed', async () => {
    const file = tempFile();
    const first = sqliteBroker({ file });
    expect(() => sqliteBroker({ file })).toThrow(
      `sqliteBroker: ${file} is already open in this process`,
    );
    await first.publish('c', { event: 'e', data: 1 });
    await first.close();
    const second = open(file);
    expect((await second.publish('c', { event: 'e', data: 2 })).offset).toBe(2);
  });

  it('refuses a file that is not an SQLite database, naming it, and leaves it as it was', () => {
    const file = tempFile();
    const garbage = Buffer.alloc(16_384, 'not a database ');
    writeFileSync(file, garbage);
    expect(() => sqliteBroker({ file })).toThrow(
      `sqliteBroker: ${file} is corrupt or not an SQLite database`,
    );
    expect(readFileSync(file).equals(garbage)).toBe(true);
  });

  it('refuses a damaged database (its pages overwritten) at startup, naming it', async () => {
    const file = tempFile();
    const broker = sqliteBroker({ file });
    for (let i = 0; i < 300; i++)
      await broker.publish(`c${i % 3}`, { event: 'e', data: 'x'.repeat(500) }, { history });
    await broker.close();
    const bytes = readFileSync(file);
    expect(bytes.length).toBeGreaterThan(8 * 4096);
    // Pages 3 to 6 (b-tree pages of the tables and indexes) filled with noise.
    for (let i = 2 * 4096; i < 6 * 4096; i++) bytes[i] = (i * 7919) & 0xff;
    writeFileSync(file, bytes);
    expect(() => sqliteBroker({ file })).toThrow(
      new RegExp(`^sqliteBroker: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt`),
    );
  });

  it('refuses a file written by a newer schema and leaves it unchanged; names the file when it cannot open it', async () => {
    const file = tempFile();
    await sqliteBroker({ file }).close();
    inspect(file, (db) => db.pragma(`user_version = ${SCHEMA_VERSION + 1}`));
    expect(() => sqliteBroker({ file })).toThrow(
      `sqliteBroker: ${file} was written by a newer version of Switchboard (schema v${SCHEMA_VERSION + 1}`,
    );
    expect(inspect(file, (db) => db.pragma('user_version', { simple: true }))).toBe(
      SCHEMA_VERSION + 1,
    );
    const missing = join(file, 'no', 'such', 'dir.db');
    expect(() => sqliteBroker({ file: missing })).toThrow(`sqliteBroker: cannot open ${missing}`);
    expect(() => sqliteBroker({ file: ':memory:' })).toThrow('`file` must be the path');
  });

  it("refuses another application's SQLite database", () => {
    const file = tempFile();
    inspect(file, (db) => db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY)'));
    expect(() => sqliteBroker({ file })).toThrow(
      `sqliteBroker: ${file} is an SQLite database of another application`,
    );
  });

  it('migrates a v0 file: same epochs, offsets and history, then carries on', async () => {
    const file = tempFile();
    const now = Date.now();
    inspect(file, (db) => {
      db.exec(V0);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      const channel = db.prepare('INSERT INTO channels VALUES (?, ?, ?, ?, ?)');
      const row = db.prepare('INSERT INTO history VALUES (?, ?, ?)');
      channel.run('chat:a', 'e0a', 7, 5, 60_000);
      for (let offset = 3; offset <= 7; offset++)
        row.run(
          'chat:a',
          offset,
          JSON.stringify({ event: 'm', data: offset, time: now, user: 'u' }),
        );
      channel.run('chat:b', 'e0b', 2, 0, 0); // offsets, no history
    });
    const broker = open(file);
    const a = await broker.history('chat:a', { since: { offset: 4, epoch: 'e0a' } });
    expect(a).toMatchObject({ recovered: true, offset: 7, epoch: 'e0a' });
    expect(a.publications).toEqual(
      [5, 6, 7].map((offset) => ({
        channel: 'chat:a',
        event: 'm',
        data: offset,
        user: 'u',
        offset,
        epoch: 'e0a',
        time: now,
      })),
    );
    expect((await broker.history('chat:a', { since: { offset: 1, epoch: 'e0a' } })).recovered).toBe(
      false,
    );
    expect(await broker.publish('chat:b', { event: 'm', data: 3 })).toEqual({
      offset: 3,
      epoch: 'e0b',
      duplicate: false,
    });
    const next = await broker.publish(
      'chat:a',
      { event: 'm', data: 8 },
      { history: { size: 5, ttlMs: 60_000 } },
    );
    expect(next.offset).toBe(8);
    await broker.close();
    expect(
      inspect(file, (db) => [
        db.pragma('user_version', { simple: true }),
        db
          .prepare<{ name: string }>(
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
          )
          .all()
          .map((t) => t.name),
      ]),
    ).toEqual([
      SCHEMA_VERSION,
      ['channels', 'idempotency', 'latest', 'publications', 'sqlite_sequence'],
    ]);
    expect(count(file, 'publications')).toBe(5); // 4…8: a size of 5 pushed 3 out
  });

  it('keeps the file bounded by the history settings over many publishes, without VACUUM', async () => {
    const file = tempFile();
    const broker = open(file);
    const payload = 'x'.repeat(1_000);
    const sizes: { db: number; wal: number }[] = [];
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 4_000 }, (_, i) =>
          broker.publish(
            `c${i % 4}`,
            { event: 'e', data: payload },
            { history: { size: 200, ttlMs: 600_000 } },
          ),
        ),
      );
      sizes.push({ db: statSync(file).size, wal: bytesOnDisk(file) - statSync(file).size });
    }
    // 40,000 publications of 1 KB, 800 kept (0.8 MB). The database holds about that: a publish
    // deletes what it pushes out in its own transaction, freed pages are reused. The WAL fills
    // to SQLite's checkpoint threshold (1,000 pages) plus a commit, then is reused from its start.
    const settled = sizes.slice(4);
    expect(Math.max(...settled.map((s) => s.db))).toBeLessThan(2 * 1024 * 1024);
    expect(Math.max(...settled.map((s) => s.db))).toBe(Math.min(...settled.map((s) => s.db)));
    expect(Math.max(...settled.map((s) => s.wal))).toBeLessThan(8 * 1024 * 1024);
    expect(Math.max(...settled.map((s) => s.wal))).toBe(Math.min(...settled.map((s) => s.wal)));
    const kept = await broker.history('c1');
    expect(kept.publications).toHaveLength(200);
    expect(kept.offset).toBe(10_000);
    await broker.close();
    expect(count(file, 'publications')).toBe(800);
  });

  it('trims a history made smaller in bounded steps: at once as read, on disk over a few upkeep steps', async () => {
    const file = tempFile();
    const first = sqliteBroker({ file });
    await Promise.all(
      Array.from({ length: 5_000 }, (_, i) =>
        first.publish('c', { event: 'e', data: i }, { history: { size: 5_000, ttlMs: 600_000 } }),
      ),
    );
    await first.publish(
      'c',
      { event: 'e', data: 'last' },
      { history: { size: 10, ttlMs: 600_000 } },
    );
    expect((await first.history('c')).publications.map((p) => p.offset)).toEqual(
      Array.from({ length: 10 }, (_, i) => 4_992 + i),
    );
    await first.close();
    // That publish and its commit deleted a bounded number of rows (64 each), not 4,990.
    expect(count(file, 'publications')).toBe(5_001 - 2 * 64);
    const second = sqliteBroker({ file, sweepIntervalMs: 10 });
    await sleep(300);
    await second.close();
    expect(count(file, 'publications')).toBe(10);
  });

  it('ages history out of a channel nobody publishes to, then forgets the idle channel', async () => {
    const file = tempFile();
    const broker = open(file, { sweepIntervalMs: 10, idleChannelTtlMs: 100 });
    const first = await broker.publish(
      'old',
      { event: 'e', data: 1 },
      { history: { size: 10, ttlMs: 50 } },
    );
    await broker.publish('old', { event: 'e', data: 2 }, { history: { size: 10, ttlMs: 50 } });
    await sleep(400);
    const later = await broker.history('old', {
      since: { offset: first.offset, epoch: first.epoch },
    });
    expect(later.recovered).toBe(false);
    expect(later.epoch).not.toBe(first.epoch); // forgotten: a new epoch says "unknown" honestly
    await broker.close();
    expect(count(file, 'publications')).toBe(0);
  });

  it('does not forget a channel someone here is subscribed to', async () => {
    const broker = open(tempFile(), { sweepIntervalMs: 10, idleChannelTtlMs: 50 });
    await broker.subscribe('live', () => {});
    const { epoch } = await broker.history('live', { limit: 0 });
    await sleep(300);
    expect((await broker.history('live', { limit: 0 })).epoch).toBe(epoch);
  });

  it('keeps latest values through a restart, with the channel forgotten, and deletes them on disk once lapsed', async () => {
    const file = tempFile();
    const before = sqliteBroker({ file });
    const latest = { maxEvents: 2, ttlMs: 60_000 };
    const first = await before.publish('agent', { event: 'status', data: 'thinking' }, { latest });
    await before.publish('agent', { event: 'progress', data: 80 }, { ephemeral: true, latest });
    await before.close();
    const after = open(file, { sweepIntervalMs: 10, idleChannelTtlMs: 0 });
    expect((await after.latest('agent')).map((p) => [p.event, p.data, p.channel])).toEqual([
      ['status', 'thinking', 'agent'],
      ['progress', 80, 'agent'],
    ]);
    // The idle channel's row is forgotten (a new epoch next time); its latest values are not.
    await sleep(300);
    expect((await after.history('agent', { limit: 0 })).epoch).not.toBe(first.epoch);
    expect(await after.latest('agent')).toHaveLength(2);
    await after.publish(
      'agent',
      { event: 'task', data: 'x' },
      { latest: { ...latest, ttlMs: 50 } },
    );
    expect((await after.latest('agent')).map((p) => p.event)).toEqual(['progress', 'task']);
    await sleep(300);
    expect(await after.latest('agent')).toEqual([]);
    await after.close();
    expect(count(file, 'latest')).toBe(0);
  });

  it('expires idempotency keys after their window, on disk too', async () => {
    const file = tempFile();
    const broker = open(file, { idempotencyWindowMs: 100, sweepIntervalMs: 10 });
    const once = await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'k' });
    expect(
      (await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'k' })).duplicate,
    ).toBe(true);
    await sleep(300);
    const again = await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'other' });
    expect(again.offset).toBe(once.offset + 1);
    await sleep(300);
    const late = await broker.publish('c', { event: 'e', data: 1 }, { idempotencyKey: 'k' });
    expect(late).toMatchObject({ offset: once.offset + 2, duplicate: false });
    await broker.close();
    expect(
      inspect(file, (db) => db.prepare<{ key: string }>('SELECT key FROM idempotency').all()),
    ).toEqual([{ key: 'k' }]);
  });

  it('a full file fails publishes with UNAVAILABLE (nothing published, no offset skipped) until trimming frees room', async () => {
    const broker = open(tempFile(), { maxBytes: 512 * 1024, sweepIntervalMs: 20 });
    const ttl = { size: 10_000, ttlMs: 400 };
    const payload = 'x'.repeat(2_000);
    let last = 0;
    let refused: unknown;
    for (let i = 0; i < 1_000 && !refused; i++) {
      try {
        last = (await broker.publish('c', { event: 'e', data: payload }, { history: ttl })).offset;
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toMatchObject({ code: ErrorCode.UNAVAILABLE });
    expect((refused as Error).message).toContain('full');
    expect(broker.healthy?.()).toBe(false);
    expect(broker.unhealthyReason?.()).toMatch(/SQLite write to .* failed/);
    // With no traffic at all, a probe write in upkeep finds the file writable again once the
    // history has aged out and been deleted (its pages are reused): healthy, for /readyz.
    for (let waited = 0; !broker.healthy?.(); waited += 20) {
      expect(waited).toBeLessThan(3_000);
      await sleep(20);
    }
    // A publish may still find no room for itself just then (a probe is one page): refused
    // again, nothing published. Once there is room, the next offset follows the last one.
    let next: PublishResult | undefined;
    for (let waited = 0; !next; waited += 20) {
      expect(waited).toBeLessThan(3_000);
      next = await broker
        .publish('c', { event: 'e', data: payload }, { history: ttl })
        .catch((error) => {
          expect(error).toMatchObject({ code: ErrorCode.UNAVAILABLE });
          return sleep(20).then(() => undefined);
        });
    }
    expect(next.offset).toBe(last + 1);
    expect(broker.healthy?.()).toBe(true);
  });

  it('close() commits what was published before it; afterwards publishes are refused', async () => {
    const file = tempFile();
    const broker = sqliteBroker({ file });
    const pending = Array.from({ length: 10 }, (_, i) =>
      broker.publish('c', { event: 'e', data: i }, { history }),
    );
    await broker.close();
    expect((await Promise.all(pending)).map((r) => r.offset)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    await expect(broker.publish('c', { event: 'e', data: 'late' })).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
    });
    expect(broker.healthy?.()).toBe(false);
    const reopened = open(file);
    expect((await reopened.history('c')).publications).toHaveLength(10);
  });

  it('keeps publication fields through the file: user, sender to exclude, stream marker', async () => {
    const file = tempFile();
    const broker = sqliteBroker({ file });
    await broker.publish(
      'c',
      {
        event: 'reply',
        data: { t: 'tok' },
        user: 'u1',
        exceptConnection: 'c9',
        stream: { id: 's', seq: 2 },
      },
      { history },
    );
    await broker.close();
    const reopened = open(file);
    const [kept] = (await reopened.history('c')).publications;
    expect(kept).toMatchObject({
      event: 'reply',
      data: { t: 'tok' },
      user: 'u1',
      exceptConnection: 'c9',
      stream: { id: 's', seq: 2 },
      offset: 1,
    });
  });
});
