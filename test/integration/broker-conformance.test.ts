import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryBroker } from '../../src/broker/index.js';
import type { Broker, Publication } from '../../src/broker/types.js';
import { step } from '../../src/protocol/position.js';
import { redisBroker } from '../../src/redis/index.js';
import { sqliteBroker } from '../../src/sqlite/index.js';
import { onCleanup, REDIS_URL, redisAvailable, sleep, uniquePrefix, waitFor } from '../helpers.js';

/**
 * One suite, every broker. `nodes(n)` returns n handles on one shared broker state, as n
 * gateway processes would have: the same instance for memory and SQLite (one process per file),
 * n clients of one Redis prefix.
 */
interface Subject {
  name: string;
  nodes(count: number): Broker[];
}

const subjects: Subject[] = [
  {
    name: 'memoryBroker',
    nodes: (count) => {
      const broker = memoryBroker();
      onCleanup(() => broker.close());
      return Array.from({ length: count }, () => broker);
    },
  },
  {
    name: 'sqliteBroker',
    nodes: (count) => {
      const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
      const broker = sqliteBroker({ file: join(dir, 'switchboard.db') });
      onCleanup(async () => {
        await broker.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return Array.from({ length: count }, () => broker);
    },
  },
];
if (await redisAvailable()) {
  for (const sharded of [false, true]) {
    subjects.push({
      name: sharded ? 'redisBroker (sharded pub/sub)' : 'redisBroker',
      nodes: (count) => {
        const prefix = uniquePrefix();
        return Array.from({ length: count }, () => {
          const broker = redisBroker({ url: REDIS_URL, prefix, sharded });
          onCleanup(() => broker.close());
          return broker;
        });
      },
    });
  }
}

const history = { size: 5, ttlMs: 60_000 };

function collect(broker: Broker, channel: string): Promise<Publication[]> {
  const got: Publication[] = [];
  return broker.subscribe(channel, (p) => got.push(p)).then(() => got);
}

/** A stream's opening and chunks (not its end); the opening's position. */
async function writeStream(
  broker: Broker,
  channel: string,
  id: string,
  chunks: string[],
  history: { size: number; ttlMs: number },
) {
  const open = await broker.publish(
    channel,
    { event: 'reply', data: null, stream: { id, seq: 0, status: 'open' } },
    { history },
  );
  for (const [i, data] of chunks.entries())
    await broker.publish(
      channel,
      { event: 'reply', data, stream: { id, seq: i + 1 } },
      { history },
    );
  return open;
}

describe.each(subjects)('$name conformance', ({ nodes }) => {
  it('assigns strictly increasing offsets in one epoch and fans out to every subscribed node', async () => {
    const [a, b, c] = nodes(3);
    const gotA = await collect(a!, 'ch');
    const gotB = await collect(b!, 'ch');
    const first = await c!.publish('ch', { event: 'e', data: { n: 1 }, user: 'u1' });
    const second = await c!.publish('ch', { event: 'e', data: { n: 2 } });
    expect([first.offset, second.offset]).toEqual([1, 2]);
    expect(first.epoch).toBe(second.epoch);
    expect(first.duplicate).toBe(false);
    await waitFor(() => gotA.length === 2 && gotB.length === 2);
    expect(gotA[0]).toMatchObject({
      channel: 'ch',
      event: 'e',
      data: { n: 1 },
      offset: 1,
      epoch: first.epoch,
      user: 'u1',
    });
    expect(gotB.map((p) => p.offset)).toEqual([1, 2]);
  });

  it('never hands out one offset twice when nodes publish concurrently', async () => {
    const [a, b] = nodes(2);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? a! : b!).publish(
          'race',
          { event: 'e', data: i },
          { history: { size: 500, ttlMs: 60_000 } },
        ),
      ),
    );
    expect(results.map((r) => r.offset).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    const kept = await a!.history('race');
    expect(kept.publications.map((p) => p.offset)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
  });

  it('delivers in offset order and stops after unsubscribe', async () => {
    const [a, b] = nodes(2);
    const got: number[] = [];
    const handler = (p: Publication) => got.push(p.offset);
    await a!.subscribe('order', handler);
    for (let i = 0; i < 100; i++) await b!.publish('order', { event: 'e', data: i });
    await waitFor(() => got.length === 100);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await a!.unsubscribe('order', handler);
    await b!.publish('order', { event: 'e', data: 'late' });
    await sleep(50);
    expect(got).toHaveLength(100);
  });

  it('recovers exactly what was missed, and says recovered: false outside the window', async () => {
    const [a, b] = nodes(2);
    const first = await a!.publish('h', { event: 'e', data: 1 }, { history });
    for (let i = 2; i <= 4; i++) await a!.publish('h', { event: 'e', data: i }, { history });
    const inside = await b!.history('h', { since: { offset: first.offset, epoch: first.epoch } });
    expect(inside).toMatchObject({ recovered: true, offset: 4, epoch: first.epoch });
    expect(inside.publications.map((p) => p.data)).toEqual([2, 3, 4]);
    for (let i = 5; i <= 9; i++) await a!.publish('h', { event: 'e', data: i }, { history });
    const outside = await b!.history('h', { since: { offset: first.offset, epoch: first.epoch } });
    expect(outside).toMatchObject({ recovered: false, publications: [] });
    expect((await b!.history('h', { since: { offset: 9, epoch: 'another' } })).recovered).toBe(
      false,
    );
    expect((await b!.history('h', { limit: 2 })).publications.map((p) => p.data)).toEqual([8, 9]);
    expect((await b!.history('h')).publications).toHaveLength(5);
  });

  it('pages a long recovery with `more` instead of calling it a gap; a position ahead is not recovered', async () => {
    const [a, b] = nodes(2);
    const first = await a!.publish('page', { event: 'e', data: 1 }, { history });
    for (let i = 2; i <= 4; i++) await a!.publish('page', { event: 'e', data: i }, { history });
    const since = { offset: first.offset, epoch: first.epoch };
    const page = await b!.history('page', { since, limit: 2 });
    expect(page).toMatchObject({ recovered: true, more: true });
    expect(page.publications.map((p) => p.data)).toEqual([2, 3]);
    const rest = await b!.history('page', { since: { offset: 3, epoch: first.epoch }, limit: 2 });
    expect(rest.publications.map((p) => p.data)).toEqual([4]);
    expect(rest.recovered).toBe(true);
    expect(rest.more).toBeUndefined();
    const ahead = await b!.history('page', { since: { offset: 9, epoch: first.epoch } });
    expect(ahead.recovered).toBe(false);
  });

  it('ages history out by ttl', async () => {
    const [a] = nodes(1);
    const first = await a!.publish(
      'ttl',
      { event: 'e', data: 1 },
      { history: { size: 10, ttlMs: 150 } },
    );
    await a!.publish('ttl', { event: 'e', data: 2 }, { history: { size: 10, ttlMs: 150 } });
    await sleep(250);
    const result = await a!.history('ttl', { since: { offset: first.offset, epoch: first.epoch } });
    expect(result.recovered).toBe(false);
  });

  it('keeps the epoch of a position read before anything was published', async () => {
    const [a, b] = nodes(2);
    const before = await a!.history('fresh', { limit: 0 });
    expect(before.offset).toBe(0);
    const published = await b!.publish('fresh', { event: 'e', data: 1 }, { history });
    expect(published.epoch).toBe(before.epoch);
    const recovered = await a!.history('fresh', { since: { offset: 0, epoch: before.epoch } });
    expect(recovered).toMatchObject({ recovered: true });
    expect(recovered.publications.map((p) => p.data)).toEqual([1]);
  });

  it('publishes a repeated idempotency key once, on any node', async () => {
    const [a, b] = nodes(2);
    const got = await collect(a!, 'idem');
    const once = await a!.publish(
      'idem',
      { event: 'e', data: 1 },
      { idempotencyKey: 'k1', history },
    );
    const again = await b!.publish(
      'idem',
      { event: 'e', data: 1 },
      { idempotencyKey: 'k1', history },
    );
    expect(again).toEqual({ offset: once.offset, epoch: once.epoch, duplicate: true });
    await sleep(50);
    expect(got).toHaveLength(1);
    expect((await a!.history('idem')).publications).toHaveLength(1);
  });

  it('fans out ephemeral publications without an offset or a place in history', async () => {
    const [a, b] = nodes(2);
    const got = await collect(a!, 'eph');
    await b!.publish('eph', { event: 'm', data: 1 }, { history });
    const typing = await b!.publish(
      'eph',
      { event: 'typing', data: {} },
      { history, ephemeral: true },
    );
    await b!.publish('eph', { event: 'm', data: 2 }, { history });
    expect(typing.offset).toBe(1);
    await waitFor(() => got.length === 3);
    expect(got.map((p) => [p.event, p.ephemeral ?? false])).toEqual([
      ['m', false],
      ['typing', true],
      ['m', false],
    ]);
    expect((await a!.history('eph')).publications.map((p) => p.offset)).toEqual([1, 2]);
  });

  it('carries stream markers and the sender to exclude', async () => {
    const [a, b] = nodes(2);
    const got = await collect(a!, 'meta');
    await b!.publish('meta', {
      event: 'reply',
      data: 'tok',
      stream: { id: 's1', seq: 3 },
      exceptConnection: 'c9',
    });
    await waitFor(() => got.length === 1);
    expect(got[0]).toMatchObject({ stream: { id: 's1', seq: 3 }, exceptConnection: 'c9' });
  });

  it('rolls a finished stream up into its end: one publication, recoverable from before, inside and after', async () => {
    const [a, b] = nodes(2);
    const kept = { size: 10, ttlMs: 60_000 };
    const live = await collect(b!, 'roll');
    const before = await a!.publish('roll', { event: 'note', data: 'x' }, { history: kept });
    const { offset: from } = await writeStream(a!, 'roll', 's1', ['hi', ' there'], kept);
    const end = await a!.publish(
      'roll',
      {
        event: 'reply',
        data: 'done',
        stream: { id: 's1', seq: 3, status: 'end', rollup: [null, 'hi', ' there'] },
      },
      { history: kept, compact: { from, to: from + 2, epoch: before.epoch } },
    );
    expect(end.offset).toBe(from + 3);
    const all = await b!.history('roll');
    expect(all.publications.map((p) => [p.offset, p.covers, p.data])).toEqual([
      [before.offset, undefined, 'x'],
      [end.offset, from, 'done'],
    ]);
    expect(all.publications[1]!.stream!.rollup).toEqual([null, 'hi', ' there']);
    // Live subscribers had every chunk, then the end, stamped.
    await waitFor(() => live.length === 5);
    expect(live.at(-1)).toMatchObject({ offset: end.offset, covers: from });
    const epoch = before.epoch;
    for (const since of [before.offset, from, from + 1, from + 2]) {
      const answer = await b!.history('roll', { since: { offset: since, epoch } });
      expect(answer).toMatchObject({ recovered: true, offset: end.offset });
      expect(answer.more).toBeUndefined();
      expect(answer.publications.map((p) => p.offset)).toEqual([end.offset]);
      // The one rule takes it as the next publication wherever in the stream the reader was.
      const p = answer.publications[0]!;
      expect(step({ offset: since, epoch }, p.offset, p.epoch, p.covers)).toBe('next');
    }
    const after = await b!.history('roll', { since: { offset: end.offset, epoch } });
    expect(after).toMatchObject({ recovered: true, publications: [] });
    const paged = await b!.history('roll', { since: { offset: 0, epoch }, limit: 1 });
    expect(paged).toMatchObject({ recovered: true, more: true });
    expect(paged.publications.map((p) => p.data)).toEqual(['x']);
  });

  it('keeps the chunks when anything else came between the stream and its end', async () => {
    const [a] = nodes(1);
    const kept = { size: 10, ttlMs: 60_000 };
    const { offset: from, epoch } = await writeStream(a!, 'mixed', 's2', ['a'], kept);
    await a!.publish('mixed', { event: 'note', data: 'between' }, { history: kept });
    const endMarker = { id: 's2', seq: 2, status: 'end' as const, rollup: [null, 'a'] };
    // Right after its run in offsets, but the run holds another's publication: refused.
    await a!.publish(
      'mixed',
      { event: 'reply', data: 'done', stream: endMarker },
      { history: kept, compact: { from, to: from + 2, epoch } },
    );
    const first = await a!.history('mixed');
    expect(first.publications).toHaveLength(4);
    expect(first.publications.every((p) => p.covers === undefined)).toBe(true);
    // Not right after its run: refused too.
    const { offset: again } = await writeStream(a!, 'mixed', 's3', ['b'], kept);
    await a!.publish('mixed', { event: 'note', data: 'between' }, { history: kept });
    await a!.publish(
      'mixed',
      { event: 'reply', data: 'done', stream: { ...endMarker, id: 's3' } },
      { history: kept, compact: { from: again, to: again + 1, epoch } },
    );
    const second = await a!.history('mixed');
    expect(second.publications).toHaveLength(8);
    expect(second.publications.every((p) => p.covers === undefined)).toBe(true);
  });

  it('counts history in publications kept: a rolled-up stream is one', async () => {
    const [a, b] = nodes(2);
    // Room for one stream in progress and then some; counted in offsets, only the last would stay.
    const kept = { size: 6, ttlMs: 60_000 };
    let epoch = '';
    for (const id of ['r1', 'r2', 'r3', 'r4']) {
      const start = await writeStream(a!, 'count', id, ['x', 'y', 'z'], kept);
      epoch = start.epoch;
      await a!.publish(
        'count',
        {
          event: 'reply',
          data: id,
          stream: { id, seq: 4, status: 'end', rollup: [null, 'x', 'y', 'z'] },
        },
        { history: kept, compact: { from: start.offset, to: start.offset + 3, epoch } },
      );
    }
    const all = await b!.history('count');
    expect(all.publications.map((p) => p.data)).toEqual(['r2', 'r3', 'r4']);
    expect(all.offset).toBe(20);
    const since = await b!.history('count', { since: { offset: 5, epoch } });
    expect(since.recovered).toBe(true);
    expect(since.publications.map((p) => p.data)).toEqual(['r2', 'r3', 'r4']);
    expect((await b!.history('count', { since: { offset: 4, epoch } })).recovered).toBe(false);
  });

  it('keeps the latest publication of each event name, ephemeral ones too, for every node', async () => {
    const [a, b] = nodes(2);
    const latest = { maxEvents: 10, ttlMs: 60_000 };
    await a!.publish('agent', { event: 'status', data: 'idle' }, { history, latest });
    await a!.publish('agent', { event: 'log', data: 'not kept as latest' }, { history });
    const progress = await b!.publish(
      'agent',
      { event: 'progress', data: 10, user: 'bot', exceptConnection: 'c1' },
      { ephemeral: true, latest },
    );
    const thinking = await b!.publish(
      'agent',
      { event: 'status', data: 'thinking' },
      { history, latest },
    );
    // A repeated key publishes nothing, so it changes no latest value either.
    await a!.publish(
      'agent',
      { event: 'status', data: 'repeat' },
      { history, latest, idempotencyKey: 'k1' },
    );
    await b!.publish(
      'agent',
      { event: 'status', data: 'repeat again' },
      { history, latest, idempotencyKey: 'k1' },
    );
    const kept = await a!.latest('agent');
    // Least recently updated first; each with the offset and epoch it was published with.
    expect(kept.map((p) => [p.event, p.data])).toEqual([
      ['progress', 10],
      ['status', 'repeat'],
    ]);
    expect(kept[0]).toMatchObject({
      channel: 'agent',
      offset: progress.offset,
      epoch: progress.epoch,
      ephemeral: true,
      user: 'bot',
    });
    // Kept for every subscriber: the connection its publisher left out is not carried along.
    expect(kept[0]!.exceptConnection).toBeUndefined();
    expect(kept[1]!.offset).toBe(thinking.offset + 1);
    expect(await b!.latest('agent')).toEqual(kept);
    expect(await a!.latest('nothing-here')).toEqual([]);
  });

  it('evicts the least recently updated event name when a channel keeps too many', async () => {
    const [a, b] = nodes(2);
    const latest = { maxEvents: 3, ttlMs: 60_000 };
    for (const event of ['a', 'b', 'c']) await a!.publish('cap', { event, data: 1 }, { latest });
    await b!.publish('cap', { event: 'a', data: 2 }, { latest }); // a is now the most recent
    await b!.publish('cap', { event: 'd', data: 1 }, { latest }); // evicts b
    expect((await a!.latest('cap')).map((p) => `${p.event}${p.data}`)).toEqual(['c1', 'a2', 'd1']);
    // A smaller cap on the next publication trims down to it.
    await a!.publish('cap', { event: 'e', data: 1 }, { latest: { maxEvents: 1, ttlMs: 60_000 } });
    expect((await b!.latest('cap')).map((p) => p.event)).toEqual(['e']);
  });

  it("forgets a channel's latest values their ttl after the last one", async () => {
    const [a] = nodes(1);
    const latest = { maxEvents: 10, ttlMs: 300 };
    await a!.publish('lapse', { event: 'status', data: 'old' }, { latest });
    await a!.publish('lapse', { event: 'other', data: 1 }, { latest });
    expect(await a!.latest('lapse')).toHaveLength(2);
    await waitFor(async () => (await a!.latest('lapse')).length === 0, 5_000, 'latest lapsed');
  });

  it('shares presence across nodes; entries lapse unless refreshed', async () => {
    const [a, b] = nodes(2);
    await a!.presenceAdd('room', { user: 'ann', connection: 'c1', info: { name: 'Ann' } }, 60_000);
    await b!.presenceAdd('room', { user: 'bob', connection: 'c2' }, 150);
    const both = await b!.presence('room');
    expect(both.map((m) => m.user).sort()).toEqual(['ann', 'bob']);
    expect(both.find((m) => m.user === 'ann')).toEqual({
      user: 'ann',
      connection: 'c1',
      info: { name: 'Ann' },
    });
    await sleep(250);
    expect((await a!.presence('room')).map((m) => m.user)).toEqual(['ann']);
    await b!.presenceRemove('room', 'c1');
    expect(await a!.presence('room')).toEqual([]);
  });

  it('reports itself healthy while it can take publications', async () => {
    const [a] = nodes(1);
    await a!.publish('health', { event: 'e', data: 1 });
    // Both of a Redis broker's connections (commands and pub/sub) count; the second may still be
    // finishing its handshake right after startup.
    expect(await waitFor(() => a!.healthy?.() ?? true, 2_000, 'healthy')).toBe(true);
  });
});
