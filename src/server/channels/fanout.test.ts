import { describe, expect, it } from 'vitest';
import { memoryBroker } from '../../broker/memory.js';
import { jsonCodec } from '../../protocol/codec.js';
import type { MessageFrame, ServerFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection/host.js';
import { Wire } from '../wire.js';
import { LocalChannels } from './fanout.js';

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/** A connection reduced to what fan-out touches: what it was sent, and how it was closed. */
function fakeConnection(id: string) {
  const sent: { raw: Buffer; frame: MessageFrame | undefined }[] = [];
  const closed: [number, string][] = [];
  const connection = {
    id,
    deliver: (publication: { exceptConnection?: string }, raw: Buffer, frame?: MessageFrame) => {
      if (publication.exceptConnection !== id) sent.push({ raw, frame });
    },
    close: (code: number, reason: string) => closed.push([code, reason]),
  } as unknown as Connection;
  return { connection, sent, closed };
}

describe('LocalChannels', () => {
  it('subscribes the broker once per channel and encodes each publication once for all', async () => {
    const broker = memoryBroker();
    let subscribes = 0;
    const counting = {
      ...broker,
      subscribe: (...args: Parameters<typeof broker.subscribe>) => {
        subscribes++;
        return broker.subscribe(...args);
      },
    };
    const local = new LocalChannels(counting, new Wire(jsonCodec), [], quiet, () => {});
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    await local.join(a.connection, 'chat:x');
    await local.join(b.connection, 'chat:x');
    expect(subscribes).toBe(1);
    await broker.publish('chat:x', { event: 'm', data: 1 }, {});
    await broker.publish('chat:x', { event: 'm', data: 2, exceptConnection: 'b' }, {});
    expect(a.sent).toHaveLength(2);
    expect(b.sent).toHaveLength(1);
    expect(a.sent[0]!.raw).toBe(b.sent[0]!.raw); // one buffer for every recipient
    expect(JSON.parse(a.sent[0]!.raw.toString())).toMatchObject({
      type: 'message',
      channel: 'chat:x',
      offset: 1,
    } satisfies Partial<ServerFrame>);
    expect(local.counts()).toEqual([{ channel: 'chat:x', subscribers: 2 }]);
    local.leave(a.connection, 'chat:x');
    local.leave(b.connection, 'chat:x');
    expect(local.counts()).toEqual([]);
    await broker.close();
  });

  it('closes the channel subscribers with 4011 when the broker resets the channel', async () => {
    let reset: (() => void) | undefined;
    const broker = memoryBroker();
    const resetting = {
      ...broker,
      subscribe: (channel: string, handler: never, onReset?: () => void) => {
        reset = onReset;
        return broker.subscribe(channel, handler, onReset);
      },
    };
    const local = new LocalChannels(resetting, new Wire(jsonCodec), [], quiet, () => {});
    const a = fakeConnection('a');
    await local.join(a.connection, 'chat:x');
    reset!();
    expect(a.closed).toEqual([[4011, 'channel resync']]);
    await broker.close();
  });

  it("hands `$` events on users' channels to the control handler, never to sockets", async () => {
    const broker = memoryBroker();
    const controls: string[] = [];
    const local = new LocalChannels(broker, new Wire(jsonCodec), [], quiet, (publication) =>
      controls.push(`${publication.channel} ${publication.event}`),
    );
    const user = fakeConnection('u');
    const reader = fakeConnection('r');
    await local.join(user.connection, '$user:alice');
    await local.join(reader.connection, 'chat:x');
    const control = { event: '$disconnect', data: { code: 4010, reason: 'bye' } };
    await broker.publish('chat:x', control, { ephemeral: true });
    await broker.publish('$user:alice', control, { ephemeral: true });
    await broker.publish('$user:alice', { event: 'notice', data: 1 }, { ephemeral: true });
    expect(controls).toEqual(['$user:alice $disconnect']);
    expect(user.sent).toHaveLength(1); // the notice, a direct message
    expect(reader.sent).toHaveLength(1); // a `$` event on an ordinary channel is its data
    await broker.close();
  });
});
