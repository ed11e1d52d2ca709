import { describe, expect, it } from 'vitest';
import { describeCut, describe as describeFrame, describeText } from './decode.js';

describe('describe', () => {
  it('reads a Switchboard frame’s columns', () => {
    expect(describeFrame({ type: 'publish', channel: 'c', event: 'e', id: 3 })).toEqual({
      type: 'publish',
      channel: 'c',
      event: 'e',
      id: 3,
    });
    expect(describeFrame({ type: 'rpc', method: 'sum', id: 1 })).toEqual({
      type: 'rpc',
      event: 'sum',
      id: 1,
    });
    expect(describeFrame('x')).toEqual({ type: 'invalid' });
  });
});

describe('describeText (any backend)', () => {
  it('lights up JSON with a type, a Phoenix-style topic and event, and batches', () => {
    expect(describeText('{"type":"message","channel":"chat:a","event":"m"}', 1000)).toEqual({
      type: 'message',
      channel: 'chat:a',
      event: 'm',
    });
    expect(
      describeText('{"topic":"room:lobby","event":"phx_join","ref":"1","payload":{}}', 1000),
    ).toEqual({
      type: 'json',
      channel: 'room:lobby',
      event: 'phx_join',
    });
    expect(describeText('[{"type":"ping","id":1},{"type":"publish","id":2}]', 1000)).toEqual({
      type: 'batch',
      id: 1,
    });
    expect(describeText('[{"type":"ping","id":1}]', 1000)).toEqual({ type: 'ping', id: 1 });
    expect(describeText('["1","1","room:lobby","phx_join",{}]', 1000)).toEqual({ type: 'json' });
    expect(describeText('42', 1000)).toBeUndefined();
    expect(describeText('{not json', 1000)).toBeUndefined();
    expect(describeText('{"type":"big"}', 5)).toBeUndefined();
  });

  it('finds the type at the start of a message too long to keep whole', () => {
    expect(describeCut('{"type":"login","token":"aaaa')).toEqual({ type: 'login' });
    expect(describeCut('{"token":"aaaa')).toEqual({ type: 'text' });
  });
});
