import { describe, expect, it } from 'vitest';
import { compileChannels, matchChannel } from './rules.js';

describe('channel patterns', () => {
  const rules = compileChannels({
    'chat:vip': { clientPublish: false },
    'chat:*': {},
    'a.b+c?': {},
    '*:log': {},
  });
  const match = (channel: string) => matchChannel(rules, channel)?.pattern;

  it('takes the first matching pattern in declaration order', () => {
    expect(match('chat:vip')).toBe('chat:vip');
    expect(match('chat:lobby')).toBe('chat:*');
    expect(match('chat:x:log')).toBe('chat:*');
    expect(match('system:log')).toBe('*:log');
  });

  it('treats regex characters literally and never matches reserved channels', () => {
    expect(match('a.b+c?')).toBe('a.b+c?');
    expect(match('aXb+c?')).toBeUndefined();
    expect(matchChannel(compileChannels({ '*': {} }), '$user:bob')).toBeUndefined();
    expect(match('nowhere')).toBeUndefined();
  });
});
