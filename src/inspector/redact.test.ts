import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  isSecretParam,
  redactCut,
  redactHeaders,
  redactProtocol,
  redactText,
  splitUrl,
} from './redact.js';

describe('redaction', () => {
  it('hides credentials in headers, query strings and frames', () => {
    const request = {
      url: '/ws?token=abc&room=1&api_key=k',
      headers: { authorization: 'Bearer abc', cookie: 'sid=1', host: 'x', 'user-agent': 'test' },
    } as unknown as IncomingMessage;
    expect(redactHeaders(request)).toEqual({
      authorization: '[redacted]',
      cookie: '[redacted]',
      host: 'x',
      'user-agent': 'test',
    });
    expect(splitUrl(request)).toEqual({
      path: '/ws',
      query: { token: '[redacted]', room: '1', api_key: '[redacted]' },
    });
    expect(redactText('{"type":"connect","id":1,"token":"eyJ.a\\"b.c","version":1}')).toBe(
      '{"type":"connect","id":1,"token":"[redacted]","version":1}',
    );
  });

  it('keeps the raw path (no URL normalisation) and every other parameter', () => {
    const request = { url: '/a/b?x=1&x=2&password=p', headers: {} } as unknown as IncomingMessage;
    expect(splitUrl(request)).toEqual({ path: '/a/b', query: { x: '2', password: '[redacted]' } });
    expect(splitUrl({ headers: {} } as unknown as IncomingMessage)).toEqual({
      path: '/',
      query: {},
    });
  });

  it('leaves frames without credential fields as they are', () => {
    const text = '{"type":"publish","channel":"c","data":{"tokenish":"x"}}';
    expect(redactText(text)).toBe(text);
    expect(redactText('{"password" : "a\\"b","secret":"s"}')).toBe(
      '{"password":"[redacted]","secret":"[redacted]"}',
    );
  });
});

describe('redaction before a cut', () => {
  it('redacts a credential whose closing quote was cut off, to the end', () => {
    const token = 'a'.repeat(100);
    const cut = `{"type":"connect","token":"${token}"}`.slice(0, 60);
    expect(redactCut(cut)).toBe('{"type":"connect","token":"[redacted]');
    expect(redactCut('{"password":"p","data":{"secret":"s"}}')).toBe(
      '{"password":"[redacted]","data":{"secret":"[redacted]"}}',
    );
  });

  it('covers the usual credential fields, query parameters and subprotocols', () => {
    expect(
      redactText('{"access_token":"a","refresh_token":"b","authorization":"c","api_key":"d"}'),
    ).toBe(
      '{"access_token":"[redacted]","refresh_token":"[redacted]","authorization":"[redacted]","api_key":"[redacted]"}',
    );
    for (const name of [
      'token',
      'access_token',
      'X-Auth',
      'apiKey',
      'api-key',
      'session_id',
      'sid',
      'sig',
      'signature',
      'ticket',
      'jwt',
      'key',
    ])
      expect(isSecretParam(name), name).toBe(true);
    for (const name of ['room', 'page', 'EIO', 'transport', 'vsn', 'monkey'])
      expect(isSecretParam(name), name).toBe(false);
    expect(redactProtocol('chat.v1')).toBe('chat.v1');
    expect(redactProtocol('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig')).toBe('[redacted]');
    expect(redactProtocol('x'.repeat(65))).toBe('[redacted]');
  });
});
