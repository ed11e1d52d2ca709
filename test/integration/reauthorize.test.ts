import { describe, expect, it } from 'vitest';
import { memoryBroker } from '../../src/broker/memory.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import type { Identity } from '../../src/server/index.js';
import { client, onCleanup, startServer, token, waitFor } from '../helpers.js';

/** Rights that follow the identity: subscriptions are checked again when the identity changes. */
const rooms = {
  'room:*': {
    authorize: (identity: Identity, channel: string) =>
      ((identity.claims['rooms'] as string[] | undefined) ?? []).includes(channel),
  },
};

describe('subscriptions re-authorized while they last', () => {
  it('a token refresh that drops a room ends that subscription only; the connection stays', async () => {
    const { url, server } = await startServer({ channels: rooms });
    let claims: Record<string, unknown> = { rooms: ['room:a', 'room:b'] };
    const c = client(url, { token: () => token('ann', claims, '2s') });
    await c.connect();
    const a = c.subscribe('room:a');
    const b = c.subscribe('room:b');
    const ended: unknown[] = [];
    b.on('unsubscribed', (reason) => ended.push(reason));
    await Promise.all([a.ready(), b.ready()]);
    const got: string[] = [];
    a.on('m', (data: string) => got.push(data));

    claims = { rooms: ['room:a'] }; // the refresh (at 80 % of the token's life) carries fewer rooms
    await waitFor(() => ended.length === 1, 5_000, 'room:b to be ended');
    expect(ended[0]).toMatchObject({ code: ErrorCode.FORBIDDEN });
    expect(b.state).toBe('unsubscribed');
    expect(c.state).toBe('connected');
    await server.publish('room:a', 'm', 'still here');
    await waitFor(() => got.length === 1);
    expect(server.connections.values().next().value?.subscriptions).toEqual(new Set(['room:a']));
  });

  it('server.reauthorize(user) checks again on every node, after the app changed the rights', async () => {
    const broker = memoryBroker();
    onCleanup(() => broker.close());
    const granted = new Set(['room:a']);
    const channels = {
      'room:*': { authorize: (_identity: Identity, channel: string) => granted.has(channel) },
    };
    const one = await startServer({ broker, channels });
    const two = await startServer({ broker, channels });
    const first = client(one.url, { token: await token('bo') });
    const second = client(two.url, { token: await token('bo') });
    await Promise.all([first.connect(), second.connect()]);
    const subs = [first.subscribe('room:a'), second.subscribe('room:a')];
    await Promise.all(subs.map((s) => s.ready()));
    const ended: unknown[] = [];
    for (const s of subs) s.on('unsubscribed', (reason) => ended.push(reason));

    granted.delete('room:a'); // e.g. a role removed in the app's database
    await one.server.reauthorize('bo');
    await waitFor(() => ended.length === 2, 5_000, 'both nodes to end the subscription');
    expect(ended).toEqual([
      expect.objectContaining({ code: ErrorCode.FORBIDDEN }),
      expect.objectContaining({ code: ErrorCode.FORBIDDEN }),
    ]);
    expect([first.state, second.state]).toEqual(['connected', 'connected']);
  });
});
