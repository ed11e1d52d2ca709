import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCode, SwitchboardError } from '../../src/protocol/index.js';
import { connected, startServer } from '../helpers.js';

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

describe('RPC', () => {
  it("resolves to the handler's return value with the caller's identity", async () => {
    const { url, server } = await startServer();
    server.rpc('whoami', async (_data, { identity, connection }) => ({
      user: identity.userId,
      connection: connection.id,
    }));
    server.rpc('add', ({ a, b }: { a: number; b: number }) => a + b);
    const c = await connected(url, 'alice');
    expect(await c.request('add', { a: 2, b: 3 })).toBe(5);
    expect(await c.request('whoami')).toEqual({ user: 'alice', connection: c.connectionId });
  });

  it("rejects with the thrown SwitchboardError's code, message and details", async () => {
    const { url, server } = await startServer();
    server.rpc('withdraw', () => {
      throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Insufficient funds', { balance: 3 });
    });
    const c = await connected(url);
    await expect(c.request('withdraw', 10)).rejects.toMatchObject({
      name: 'SwitchboardError',
      code: ErrorCode.FORBIDDEN,
      message: 'Insufficient funds',
      details: { balance: 3 },
    });
  });

  it('does not leak internal errors', async () => {
    const { url, server } = await startServer({ logger: quiet });
    server.rpc('boom', async () => {
      throw new Error('ECONNREFUSED 10.0.0.5:5432 password=secret');
    });
    const c = await connected(url);
    const error = await c.request('boom').catch((e) => e);
    expect(error).toMatchObject({ code: ErrorCode.INTERNAL, message: 'Internal error' });
    expect(JSON.stringify(error)).not.toContain('secret');
  });

  it('answers INTERNAL when the result cannot be encoded, and the process and connection carry on', async () => {
    const { url, server } = await startServer({ logger: quiet });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    server.rpc('bigint', () => 10n);
    server.rpc('cycle', () => cycle);
    server.rpc('ok', () => 'fine');
    const c = await connected(url);
    await expect(c.request('bigint')).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
    await expect(c.request('cycle')).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
    expect(await c.request('ok')).toBe('fine');
  });

  it('answers NOT_FOUND for unknown methods and VALIDATION_FAILED for bad input', async () => {
    const { url, server } = await startServer();
    server.rpc('greet', ({ name }) => `hello ${name}`, { schema: z.object({ name: z.string() }) });
    const c = await connected(url);
    await expect(c.request('nope')).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    await expect(c.request('greet', { name: 1 })).rejects.toMatchObject({
      code: ErrorCode.VALIDATION_FAILED,
    });
    expect(await c.request('greet', { name: 'bob' })).toBe('hello bob');
  });

  it('times out on the client when the handler never answers, and the connection carries on', async () => {
    const { url, server } = await startServer();
    server.rpc('hang', () => new Promise(() => {}));
    server.rpc('ok', () => 'ok');
    const c = await connected(url);
    await expect(c.request('hang', null, { timeoutMs: 100 })).rejects.toMatchObject({
      code: ErrorCode.TIMEOUT,
    });
    expect(await c.request('ok')).toBe('ok');
    expect(c.metrics().queueDepth).toBe(0);
  });

  it("a slow RPC does not hold up the connection's other requests", async () => {
    const { url, server } = await startServer();
    let release!: () => void;
    server.rpc('slow', () => new Promise<string>((resolve) => (release = () => resolve('slow'))));
    server.rpc('fast', () => 'fast');
    const c = await connected(url);
    const slow = c.request('slow');
    expect(await c.request('fast')).toBe('fast');
    release();
    expect(await slow).toBe('slow');
  });
});
