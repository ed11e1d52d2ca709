import { describe, expect, it } from 'vitest';
import { jsonCodec } from './codec.js';
import { ErrorCode } from './errors.js';
import { parseClientFrame, parseServerFrame } from './validate.js';

describe('parseClientFrame', () => {
  it('accepts every well-formed client frame', () => {
    for (const frame of [
      { type: 'connect', id: 0, version: 1, token: 't', data: { app: 'x' } },
      { type: 'refresh', id: 1, token: 't' },
      { type: 'subscribe', id: 2, channel: 'a', since: { offset: 3, epoch: 'e' } },
      { type: 'unsubscribe', id: 3, channel: 'a' },
      { type: 'publish', id: 4, channel: 'a', event: 'e', data: null, key: 'k', exceptSelf: true },
      { type: 'rpc', id: 5, method: 'm' },
      { type: 'ping', id: 6 },
      { type: 'pong' },
    ]) {
      expect(parseClientFrame(frame)).toEqual({ ok: true, frame });
    }
  });

  it('keeps the id of a broken frame when it can, so the reply reaches the right request', () => {
    expect(parseClientFrame({ type: 'publish', id: 9, channel: 'a' })).toMatchObject({
      ok: false,
      code: ErrorCode.BAD_FRAME,
      id: 9,
    });
    expect(parseClientFrame({ type: 'nope', id: 9 })).toMatchObject({
      ok: false,
      code: ErrorCode.UNKNOWN_TYPE,
      id: 9,
    });
    expect(parseClientFrame({ type: 'publish', id: 'x' })).not.toHaveProperty('id');
  });

  it('does not trust inherited properties as frame types', () => {
    for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(parseClientFrame({ type, id: 1 })).toMatchObject({
        ok: false,
        code: ErrorCode.UNKNOWN_TYPE,
      });
    }
  });

  it('refuses wrong shapes', () => {
    for (const value of [
      null,
      1,
      'x',
      [],
      { type: 1 },
      { type: 'ping' },
      { type: 'ping', id: 2 ** 60 },
    ]) {
      expect(parseClientFrame(value).ok).toBe(false);
    }
  });
});

describe('parseServerFrame', () => {
  it('returns undefined for anything malformed instead of throwing', () => {
    for (const value of [
      null,
      'x',
      [],
      { type: 'reply' },
      { type: 'error', code: 1 },
      { type: 'message', event: 3 },
      { type: 'other' },
    ]) {
      expect(parseServerFrame(value)).toBeUndefined();
    }
    expect(parseServerFrame({ type: 'message', channel: 'c', event: 'e', data: 1 })).toBeDefined();
  });
});

describe('jsonCodec', () => {
  it('round-trips frames and batches, text or bytes', () => {
    const batch = [{ type: 'ping', id: 1 } as const, { type: 'pong' } as const];
    const text = jsonCodec.encode(batch) as string;
    expect(jsonCodec.decode(text)).toEqual(batch);
    expect(jsonCodec.decode(new TextEncoder().encode(text))).toEqual(batch);
  });

  it('throws on invalid UTF-8 rather than guessing', () => {
    expect(() => jsonCodec.decode(new Uint8Array([0x22, 0xff, 0x22]))).toThrow();
  });
});
