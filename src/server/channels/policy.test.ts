import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCode } from '../../protocol/errors.js';
import type { Identity } from '../types.js';
import { ChannelPolicy } from './policy.js';

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const alice: Identity = { userId: 'alice', claims: { rooms: ['chat:a'] } };

const policy = new ChannelPolicy(
  {
    'chat:*': {
      authorize: (identity, channel) => (identity.claims.rooms as string[]).includes(channel),
      events: { message: z.object({ text: z.string() }), typing: null },
      ephemeral: ['typing'],
      history: { size: 10, ttlMs: 60_000 },
    },
    'feed:*': { clientPublish: false },
    'agent:*': { streams: { timeoutMs: 1_000 } },
    'boom:*': {
      authorize: () => {
        throw new Error('database down');
      },
    },
  },
  quiet,
);

describe('ChannelPolicy', () => {
  it('refuses unknown and reserved channels with NOT_FOUND, others by their hook', async () => {
    await expect(policy.authorize(alice, 'nope', 'subscribe')).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
    });
    await expect(policy.authorize(alice, '$user:alice', 'subscribe')).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
    });
    await expect(policy.authorize(alice, 'chat:b', 'subscribe')).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    await expect(policy.authorize(alice, 'boom:x', 'subscribe')).rejects.toMatchObject({
      code: ErrorCode.INTERNAL,
      message: 'Internal error',
    });
    expect((await policy.authorize(alice, 'chat:a', 'subscribe')).pattern).toBe('chat:*');
  });

  it('plans a publish once: validated data, ephemeral by the rule, the history to keep it in', async () => {
    const plan = await policy.planClientPublish(alice, 'chat:a', 'message', { text: 'hi' }, {});
    expect(plan).toMatchObject({ data: { text: 'hi' }, ephemeral: false });
    expect(plan.history).toEqual({ size: 10, ttlMs: 60_000 });
    const typing = await policy.planClientPublish(alice, 'chat:a', 'typing', {}, {});
    expect(typing.ephemeral).toBe(true);
  });

  it('refuses what the rule forbids, with the codes the protocol names', async () => {
    const plan = (channel: string, event: string, data: unknown, extra = {}) =>
      policy.planClientPublish(alice, channel, event, data, extra);
    await expect(plan('chat:a', 'shout', {})).rejects.toMatchObject({
      code: ErrorCode.UNKNOWN_EVENT,
    });
    await expect(plan('chat:a', 'message', { text: 1 })).rejects.toMatchObject({
      code: ErrorCode.VALIDATION_FAILED,
    });
    await expect(plan('chat:a', 'gap', {})).rejects.toMatchObject({ code: ErrorCode.BAD_FRAME });
    await expect(plan('feed:x', 'm', {})).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    await expect(
      plan('chat:a', 'message', { text: 'x' }, { stream: { id: 's', seq: 0 } }),
    ).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    await expect(
      plan('agent:1', 'reply', 'x', { stream: { id: 's', seq: 0 }, ephemeral: true }),
    ).rejects.toMatchObject({ code: ErrorCode.BAD_FRAME });
  });

  it('keeps stream chunks by the stream settings when the channel keeps no history', async () => {
    const chunk = await policy.planClientPublish(alice, 'agent:1', 'reply', 'tok', {
      stream: { id: 's', seq: 1 },
    });
    expect(chunk.history).toEqual({ size: 1_000, ttlMs: 600_000 });
    expect(policy.history(policy.rule('agent:1'), undefined)).toBeUndefined();
  });

  it('keeps a history given by its size only for the default 5 minutes, streams too', () => {
    const sized = new ChannelPolicy(
      {
        'chat:*': { history: { size: 10 } },
        'agent:*': { streams: { history: { size: 20 } } },
      },
      quiet,
    );
    const stream = { id: 's', seq: 0 };
    expect(sized.history(sized.rule('chat:a'), undefined)).toEqual({ size: 10, ttlMs: 300_000 });
    expect(sized.history(sized.rule('chat:a'), stream)).toBeUndefined();
    expect(sized.history(sized.rule('agent:1'), stream)).toEqual({ size: 20, ttlMs: 300_000 });
  });

  it('keeps latest values on `latest` channels with the defaults, never stream chunks or $ events', async () => {
    const kept = new ChannelPolicy(
      {
        'agent:*': { latest: true, streams: true },
        'room:*': { latest: { maxEvents: 5 } },
        'chat:*': {},
      },
      quiet,
    );
    const agent = kept.rule('agent:1');
    expect(kept.latest(agent, 'status', undefined)).toEqual({ maxEvents: 64, ttlMs: 86_400_000 });
    expect(kept.latest(kept.rule('room:1'), 'status', undefined)).toEqual({
      maxEvents: 5,
      ttlMs: 86_400_000,
    });
    expect(kept.latest(agent, 'reply', { id: 's', seq: 0 })).toBeUndefined();
    expect(kept.latest(agent, '$join', undefined)).toBeUndefined();
    expect(kept.latest(kept.rule('chat:1'), 'status', undefined)).toBeUndefined();
    const plan = await kept.planClientPublish(alice, 'room:1', 'status', 'idle', {
      ephemeral: true,
    });
    expect(plan).toMatchObject({ ephemeral: true, latest: { maxEvents: 5 } });
    expect(() => new ChannelPolicy({ 'a:*': { latest: { maxEvents: 2.5 } } }, quiet)).toThrow(
      'channels["a:*"].latest.maxEvents must be a positive integer',
    );
    expect(() => new ChannelPolicy({ 'a:*': { latest: { ttlMs: 0 } } }, quiet)).toThrow(
      'channels["a:*"].latest.ttlMs must be a positive integer',
    );
  });
});
