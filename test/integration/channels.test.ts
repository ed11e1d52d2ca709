import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { MessageMeta } from '../../src/client/index.js';
import { ErrorCode } from '../../src/protocol/index.js';
import { connected, RawSocket, sleep, startServer, waitFor } from '../helpers.js';

describe('subscribe and publish', () => {
  it('delivers a client publish to every subscriber with offset, epoch and publisher', async () => {
    const { url } = await startServer();
    const [alice, bob, carol] = await Promise.all([
      connected(url, 'alice'),
      connected(url, 'bob'),
      connected(url, 'carol'),
    ]);
    const got: [string, unknown, MessageMeta][] = [];
    for (const [name, c] of [
      ['bob', bob],
      ['carol', carol],
    ] as const) {
      const sub = c.subscribe('chat:lobby');
      sub.on('message', (data, meta) => got.push([name, data, meta]));
      await sub.ready();
    }
    const ack = await alice.publish('chat:lobby', 'message', { text: 'hi' });
    expect(ack.offset).toBe(1);
    await waitFor(() => got.length === 2);
    expect(got.map(([name]) => name).sort()).toEqual(['bob', 'carol']);
    expect(got[0]![1]).toEqual({ text: 'hi' });
    expect(got[0]![2]).toMatchObject({
      channel: 'chat:lobby',
      event: 'message',
      offset: 1,
      epoch: ack.epoch,
      user: 'alice',
    });
  });

  it("keeps one publisher's order and delivers nothing after unsubscribe", async () => {
    const { url } = await startServer();
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    const sub = bob.subscribe('chat:order');
    const seen: number[] = [];
    sub.on('n', (n: number) => seen.push(n));
    await sub.ready();
    await Promise.all(Array.from({ length: 50 }, (_, i) => alice.publish('chat:order', 'n', i)));
    await waitFor(() => seen.length === 50);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
    sub.unsubscribe();
    await sleep(50);
    await alice.publish('chat:order', 'n', 99);
    await sleep(50);
    expect(seen).toHaveLength(50);
  });

  it('delivers to the "*" handler and the server\'s own publishes', async () => {
    const { url, server } = await startServer();
    const bob = await connected(url, 'bob');
    const sub = bob.subscribe('chat:news');
    const events: string[] = [];
    sub.on('*', (_data, meta) => events.push(meta.event));
    await sub.ready();
    await server.publish('chat:news', 'headline', { title: 'x' });
    await server.publish('chat:news', 'update', 1);
    await waitFor(() => events.length === 2);
    expect(events).toEqual(['headline', 'update']);
  });

  it('exceptSelf leaves the sender out', async () => {
    const { url } = await startServer();
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    const aliceGot: unknown[] = [];
    const bobGot: unknown[] = [];
    const subA = alice.subscribe('chat:x');
    subA.on('m', (d) => aliceGot.push(d));
    const subB = bob.subscribe('chat:x');
    subB.on('m', (d) => bobGot.push(d));
    await Promise.all([subA.ready(), subB.ready()]);
    await subA.publish('m', 1, { exceptSelf: true });
    await subA.publish('m', 2);
    await waitFor(() => bobGot.length === 2 && aliceGot.length === 1);
    expect(aliceGot).toEqual([2]);
  });
});

describe('authorization', () => {
  it('refuses unknown and reserved channels with NOT_FOUND', async () => {
    const { url } = await startServer({ channels: { '*': {} } });
    const c = await connected(url);
    // Even a catch-all pattern never exposes the server's per-user channels.
    const reserved = c.subscribe('$user:bob');
    await expect(reserved.ready()).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    const strict = await startServer();
    const d = await connected(strict.url);
    await expect(d.subscribe('news').ready()).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    await expect(d.publish('news', 'x', 1)).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });

  it("applies the first matching pattern's authorize hook per action", async () => {
    const calls: string[] = [];
    const { url } = await startServer({
      channels: {
        'room:public': {},
        'room:*': {
          authorize: async (identity, channel, action) => {
            calls.push(`${identity.userId} ${action} ${channel}`);
            return (
              channel === `room:${identity.userId}` ||
              (action === 'subscribe' && identity.claims['role'] === 'admin')
            );
          },
        },
      },
    });
    const alice = await connected(url, 'alice');
    await alice.subscribe('room:alice').ready();
    await alice.subscribe('room:public').ready();
    const denied = alice.subscribe('room:bob');
    const error = denied.on('error', () => {});
    await expect(denied.ready()).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    error();
    expect(denied.state).toBe('unsubscribed');
    await expect(alice.publish('room:bob', 'm', 1)).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    expect(calls).toEqual([
      'alice subscribe room:alice',
      'alice subscribe room:bob',
      'alice publish room:bob',
    ]);
  });

  it('a throwing authorize hook answers INTERNAL without leaking the error', async () => {
    const { url } = await startServer({
      logger: { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} },
      channels: {
        'chat:*': {
          authorize: () => {
            throw new Error('db password is hunter2');
          },
        },
      },
    });
    const c = await connected(url);
    const failure = await c
      .subscribe('chat:a')
      .ready()
      .catch((e) => e);
    expect(failure).toMatchObject({ code: ErrorCode.INTERNAL, message: 'Internal error' });
  });

  it('clientPublish: false keeps a channel server-only', async () => {
    const { url } = await startServer({ channels: { 'feed:*': { clientPublish: false } } });
    const c = await connected(url);
    await c.subscribe('feed:a').ready();
    await expect(c.publish('feed:a', 'x', 1)).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
  });
});

describe('event schemas (Standard Schema)', () => {
  it('validates with zod, passes the parsed value on and refuses unknown events', async () => {
    const { url } = await startServer({
      channels: {
        'chat:*': {
          events: {
            message: z.object({ text: z.string().min(1).max(500).trim() }),
            typing: null,
          },
        },
      },
    });
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    const sub = bob.subscribe('chat:a');
    const got: unknown[] = [];
    sub.on('message', (d) => got.push(d));
    await sub.ready();
    const invalid = await alice.publish('chat:a', 'message', { text: 42 }).catch((e) => e);
    expect(invalid.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(invalid.details.issues[0].path).toEqual(['text']);
    await expect(alice.publish('chat:a', 'shout', {})).rejects.toMatchObject({
      code: ErrorCode.UNKNOWN_EVENT,
    });
    await alice.publish('chat:a', 'typing', { anything: true });
    await alice.publish('chat:a', 'message', { text: '  hello  ', extra: 'stripped' });
    await waitFor(() => got.length === 1);
    expect(got).toEqual([{ text: 'hello' }]);
  });

  it('refuses reserved event names', async () => {
    const { url, server } = await startServer();
    const c = await connected(url);
    await expect(c.publish('chat:a', 'subscribed', 1)).rejects.toMatchObject({
      code: ErrorCode.BAD_FRAME,
    });
    await expect(server.publish('chat:a', 'error', 1)).rejects.toThrow(/reserved/);
  });
});

describe('targeted sends', () => {
  it('sends to every connection of a user, to one connection, and disconnects a user', async () => {
    const { url, server } = await startServer();
    const [a1, a2, b] = await Promise.all([
      connected(url, 'alice'),
      connected(url, 'alice'),
      connected(url, 'bob'),
    ]);
    const got: string[] = [];
    a1.on('message', (event, data) => got.push(`a1 ${event} ${data}`));
    a2.on('message', (event, data) => got.push(`a2 ${event} ${data}`));
    b.on('message', (event, data) => got.push(`b ${event} ${data}`));
    await server.sendToUser('alice', 'notice', 'hello');
    await waitFor(() => got.length === 2);
    expect(got.sort()).toEqual(['a1 notice hello', 'a2 notice hello']);
    expect(server.sendToConnection(b.connectionId!, 'direct', 'psst')).toBe(true);
    expect(server.sendToConnection('nope', 'direct', 'psst')).toBe(false);
    await waitFor(() => got.length === 3);
    expect(got).toContain('b direct psst');

    expect(server.disconnectUser('alice')).toBe(2);
    await waitFor(() => a1.state === 'closed' && a2.state === 'closed');
    expect(b.state).toBe('connected');
  });

  it('a raw subscriber sees the documented message frame', async () => {
    const { url, server } = await startServer();
    const raw = await RawSocket.connect(url, 'bob');
    raw.send({ type: 'subscribe', id: 1, channel: 'chat:a' });
    expect(await raw.reply(1)).toMatchObject({ type: 'reply', data: { offset: 0 } });
    const { epoch } = await server.publish('chat:a', 'hello', { n: 1 });
    expect(await raw.next((f) => f['type'] === 'message')).toEqual({
      type: 'message',
      channel: 'chat:a',
      event: 'hello',
      data: { n: 1 },
      offset: 1,
      epoch,
    });
  });
});
