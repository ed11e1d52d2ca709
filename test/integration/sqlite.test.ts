import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { PublishReply } from '../../src/client/index.js';
import { NEEDS_DRIVER } from '../../src/sqlite/driver.js';
import { sqliteBroker } from '../../src/sqlite/index.js';
import { fast, loadBalancer, recorder, startNode } from '../cluster.js';
import { client, onCleanup, sleep, token, waitFor } from '../helpers.js';

/**
 * The SQLite broker in real gateway processes (test/fixtures/node.mjs with SQLITE_FILE, on the built
 * package): killed with SIGKILL mid-stream and started again on the same file, a second process
 * on the file, a damaged file, no driver installed.
 */

/** A gateway process on `file` (test/fixtures/node.mjs with SQLITE_FILE). */
const startSqliteNode = (file: string) => startNode('', '', 0, file);

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-it-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'switchboard.db');
}

describe('sqliteBroker in gateway processes', () => {
  it('a gateway killed mid-stream (SIGKILL) and restarted on its file: every acknowledged publication kept with its offset, every subscriber recovers it exactly once, in order', async () => {
    const file = tempFile();
    let node = await startSqliteNode(file);
    let ports = [node.port];
    const balancer = await loadBalancer(() => ports);
    const readers: ReturnType<typeof recorder>[] = [];
    for (let i = 0; i < 3; i++) {
      const c = client(balancer.url, { token: await token(`reader-${i}`), ...fast });
      await c.connect();
      const r = recorder(c, 'chat:durable');
      await r.sub.ready();
      readers.push(r);
    }
    const publisher = client(balancer.url, { token: await token('writer'), ...fast });
    await publisher.connect();

    const total = 900;
    let restarted: Promise<void> | undefined;
    const acks: (PublishReply & { n: number })[] = [];
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; n < total; n++) {
      const sent: Promise<void> = publisher.publish('chat:durable', 'n', n).then((ack) => {
        acks.push({ ...ack, n });
        inFlight.delete(sent);
        if (acks.length === 300 && !restarted) {
          restarted = (async () => {
            ports = [];
            await node.kill('SIGKILL');
            node = await startSqliteNode(file);
            ports = [node.port];
          })();
        }
      });
      inFlight.add(sent);
      if (inFlight.size >= 16) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await restarted;
    expect(restarted).toBeDefined();

    // Acknowledged once each, offsets 1…900 in one epoch: the in-flight ones the client resent
    // after the restart were recognised by their keys (kept in the file) or published then.
    const epoch = acks[0]!.epoch;
    expect(acks.every((a) => a.epoch === epoch)).toBe(true);
    expect(acks.map((a) => a.offset).sort((a, b) => a - b)).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
    await waitFor(
      () => readers.every((r) => r.got.length >= total),
      20_000,
      'every reader to get everything',
    );
    await sleep(200);
    for (const r of readers) {
      expect(r.got.map((g) => g.meta.offset)).toEqual(
        Array.from({ length: total }, (_, i) => i + 1),
      );
      expect(r.got.map((g) => g.n)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(r.gaps).toEqual([]);
      expect(r.recovered.length).toBeGreaterThanOrEqual(1);
      expect(r.recovered.every((e) => e.recovered === true && e.epoch === epoch)).toBe(true);
    }

    // Killed again, then read straight from the file: each acknowledged publication is there
    // with the epoch and offset its publisher was told.
    await node.kill('SIGKILL');
    const broker = sqliteBroker({ file });
    onCleanup(() => broker.close());
    const kept = await broker.history('chat:durable');
    expect(kept.epoch).toBe(epoch);
    expect(kept.offset).toBe(total);
    const byOffset = new Map(kept.publications.map((p) => [p.offset, p.data]));
    for (const ack of acks) expect(byOffset.get(ack.offset)).toBe(ack.n);
  });

  it('a process killed the instant its publishes are acknowledged: each is in the file with its offset, and its key still answers with it', async () => {
    const file = tempFile();
    const acks = `${file}.acks.json`;
    const entry = pathToFileURL(join(process.cwd(), 'dist', 'sqlite', 'index.js')).href;
    // Acknowledged, written down, then SIGKILL in the same tick: nothing gets to close the file.
    const script = `
      import { writeFileSync } from 'node:fs';
      const { sqliteBroker } = await import(${JSON.stringify(entry)});
      const broker = sqliteBroker({ file: ${JSON.stringify(file)} });
      const history = { size: 1000, ttlMs: 600000 };
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
        broker.publish('chat:k', { event: 'n', data: i }, { history, idempotencyKey: 'k' + i })));
      writeFileSync(${JSON.stringify(acks)}, JSON.stringify(results));
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(child.signal).toBe('SIGKILL');
    const { readFileSync } = await import('node:fs');
    const results = JSON.parse(readFileSync(acks, 'utf8')) as PublishReply[];
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

    const broker = sqliteBroker({ file });
    onCleanup(() => broker.close());
    const kept = await broker.history('chat:k');
    expect(kept).toMatchObject({ offset: 200, epoch: results[0]!.epoch });
    expect(kept.publications.map((p) => [p.offset, p.data])).toEqual(
      results.map((r, i) => [r.offset, i]),
    );
    const history = { size: 1000, ttlMs: 600_000 };
    const retried = await Promise.all(
      results.map((_, i) =>
        broker.publish('chat:k', { event: 'n', data: i }, { history, idempotencyKey: `k${i}` }),
      ),
    );
    expect(retried).toEqual(results.map((r) => ({ ...r, duplicate: true })));
    expect((await broker.history('chat:k')).offset).toBe(200);
  });

  it('a second process on the same file is refused with a clear error; the first keeps serving', async () => {
    const file = tempFile();
    const first = await startSqliteNode(file);
    await expect(startSqliteNode(file)).rejects.toThrow(
      `sqliteBroker: ${file} is in use by another process`,
    );
    const c = client(first.url, { token: await token('alice') });
    await c.connect();
    const sub = c.subscribe('chat:one');
    await sub.ready();
    expect((await c.publish('chat:one', 'n', 1)).offset).toBe(1);
    await first.kill('SIGTERM');
    // Let go on exit: the next process takes the file and carries on from where it was.
    const next = await startSqliteNode(file);
    const again = client(next.url, { token: await token('alice') });
    await again.connect();
    expect((await again.publish('chat:one', 'n', 2)).offset).toBe(2);
  });

  it('a gateway on a damaged file fails to start, naming the file, and leaves it as it was', async () => {
    const file = tempFile();
    const garbage = Buffer.from(
      'this is not an SQLite database, but it is somebody’s data\n'.repeat(200),
    );
    writeFileSync(file, garbage);
    await expect(startSqliteNode(file)).rejects.toThrow(
      `sqliteBroker: ${file} is corrupt or not an SQLite database`,
    );
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(file).equals(garbage)).toBe(true);
  });

  it('importing switchboard/sqlite without better-sqlite3 installed fails with a message that says what to install', () => {
    // The built package where no node_modules is above it: better-sqlite3 cannot be found.
    const dir = mkdtempSync(join(tmpdir(), 'sb-no-driver-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    cpSync('dist', join(dir, 'dist'), { recursive: true });
    const entry = join(dir, 'dist', 'sqlite', 'index.js');
    expect(() => createRequire(entry).resolve('better-sqlite3')).toThrow();
    const { NODE_PATH: _, ...env } = process.env;
    const result = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(entry).href)})`],
      { env, encoding: 'utf8' },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(NEEDS_DRIVER);
  });
});
