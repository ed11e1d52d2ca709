import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { trackingPolicy } from './tracking.js';

const request = (agent: string) => ({ headers: { 'user-agent': agent } }) as IncomingMessage;

describe('trackingPolicy', () => {
  it('tracks everything by default', () => {
    const track = trackingPolicy();
    expect([1, 2, 3].map(() => track(request('x')))).toEqual([true, true, true]);
  });

  it('leaves out what the predicate opts out, and samples one in N of the rest, from the first', () => {
    const track = trackingPolicy({
      track: (r) => r.headers['user-agent'] !== 'probe',
      sample: 3,
    });
    const agents = ['a', 'probe', 'b', 'c', 'd', 'probe', 'e', 'f', 'g'];
    expect(agents.map((a) => track(request(a)))).toEqual([
      true,
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      true,
    ]);
  });

  it('treats a throwing predicate as an opt-out, and nonsense sampling as none', () => {
    const track = trackingPolicy({
      track: () => {
        throw new Error('app bug');
      },
    });
    expect(track(request('x'))).toBe(false);
    const all = trackingPolicy({ sample: 0 });
    expect([all(request('a')), all(request('b'))]).toEqual([true, true]);
  });
});
