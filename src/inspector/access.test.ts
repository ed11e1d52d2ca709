import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { credentialCheck, sameOrigin } from './access.js';

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('credentialCheck', () => {
  it('lets anything through when no credential is set', () => {
    const check = credentialCheck(undefined);
    expect(check(undefined)).toBe(true);
    expect(check('anything')).toBe(true);
  });

  it('accepts only the exact credential, as a string', () => {
    const check = credentialCheck('sesame');
    expect(check('sesame')).toBe(true);
    for (const wrong of ['sesam', 'sesame ', 'SESAME', '', undefined, 42, null, ['sesame']])
      expect(check(wrong)).toBe(false);
  });
});

describe('sameOrigin', () => {
  it('accepts requests without an Origin and those from the same host', () => {
    expect(sameOrigin(request({ host: 'a.example:3000' }))).toBe(true);
    expect(sameOrigin(request({ host: 'a.example:3000', origin: 'http://a.example:3000' }))).toBe(
      true,
    );
  });

  it('refuses other origins and unparseable ones', () => {
    expect(sameOrigin(request({ host: 'a.example', origin: 'https://evil.example' }))).toBe(false);
    expect(sameOrigin(request({ host: 'a.example', origin: 'null' }))).toBe(false);
  });
});
