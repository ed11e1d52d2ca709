import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { credentialCheck, hostCheck, hostName, sameOrigin } from './access.js';

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

describe('hostCheck (DNS rebinding)', () => {
  const withHost = (host?: string) =>
    ({ headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;

  it('without a credential, answers loopback names on any port and the allowed ones only', () => {
    const check = hostCheck(undefined, ['dev.example', 'box.lan:8080']);
    for (const host of [
      'localhost',
      'localhost:3000',
      '127.0.0.1:9000',
      '[::1]',
      '[::1]:9000',
      'app.localhost:1',
      'LOCALHOST',
      'dev.example:1234',
      'box.lan:8080',
    ])
      expect(check(withHost(host)), host).toBe(true);
    for (const host of [
      undefined,
      '',
      'evil.example',
      'evil.example:80',
      '127.0.0.1.nip.io',
      'localhost.evil.example',
      'box.lan:9090',
      '[::2]',
    ])
      expect(check(withHost(host)), String(host)).toBe(false);
  });

  it('with a credential, lets any Host through (the credential guards the panel)', () => {
    expect(hostCheck('sesame')(withHost('evil.example'))).toBe(true);
  });

  it('strips ports the way a Host header carries them', () => {
    expect(hostName('[::1]:9000')).toBe('[::1]');
    expect(hostName('Example.COM:80')).toBe('example.com');
    expect(hostName('example.com')).toBe('example.com');
  });
});
