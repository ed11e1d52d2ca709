import { constants, createDeflateRaw } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closePayload, encodeFrame, FrameReader, parseClose, unmask } from './ws-wire.js';

/** A frame with every bit chosen: fragments, RSV1, masking. */
function frame(
  opcode: number,
  payload: Buffer,
  {
    fin = true,
    rsv1 = false,
    mask = false,
  }: { fin?: boolean; rsv1?: boolean; mask?: boolean } = {},
): Buffer {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const out = Buffer.alloc(2 + extended + (mask ? 4 : 0) + length);
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) out.writeUInt16BE(length, 2);
  if (extended === 8) out.writeBigUInt64BE(BigInt(length), 2);
  let at = 2 + extended;
  if (mask) {
    const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    key.copy(out, at);
    at += 4;
    for (let i = 0; i < length; i++) out[at + i] = payload[i]! ^ key[i & 3]!;
  } else payload.copy(out, at);
  return out;
}

type Event =
  | { message: string; binary: boolean; size: number; cut: boolean }
  | { control: string; payload: string }
  | { stop: string };

function reader(keep = 1024) {
  const events: Event[] = [];
  const r = new FrameReader(
    {
      message: (binary, data, size, cut) =>
        events.push({
          message:
            data === undefined ? '<undecoded>' : binary ? data.toString('hex') : data.toString(),
          binary,
          size,
          cut,
        }),
      control: (kind, payload) => events.push({ control: kind, payload: payload.toString() }),
      stop: (reason) => events.push({ stop: reason }),
    },
    { keep: () => keep },
  );
  return { r, events };
}

/** Splits `bytes` at the given points. */
function split(bytes: Buffer, points: number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.subarray(last, cut));
    last = cut;
  }
  return out;
}

const conversation = (mask: boolean) =>
  Buffer.concat([
    frame(1, Buffer.from('hello'), { mask }),
    frame(2, Buffer.from([0, 1, 2, 255]), { mask }),
    // A fragmented message with a ping between its fragments.
    frame(1, Buffer.from('frag-'), { fin: false, mask }),
    frame(9, Buffer.from('are you there'), { mask }),
    frame(0, Buffer.from('ment'), { fin: false, mask }),
    frame(0, Buffer.from('ed'), { mask }),
    frame(1, Buffer.from('x'.repeat(70_000)), { mask }),
    frame(1, Buffer.alloc(0), { mask }),
    frame(10, Buffer.alloc(0), { mask }),
    frame(8, closePayload(4001, 'bye'), { mask }),
  ]);

const expected: Event[] = [
  { message: 'hello', binary: false, size: 5, cut: false },
  { message: '000102ff', binary: true, size: 4, cut: false },
  { control: 'ping', payload: 'are you there' },
  { message: 'frag-mented', binary: false, size: 11, cut: false },
  { message: 'x'.repeat(1024), binary: false, size: 70_000, cut: true },
  { message: '', binary: false, size: 0, cut: false },
  { control: 'pong', payload: '' },
  { control: 'close', payload: `${closePayload(4001, 'bye').toString()}` },
];

describe('FrameReader', () => {
  it('reads masked and unmasked frames however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (mask, points) => {
        const { r, events } = reader();
        for (const chunk of split(conversation(mask), points)) r.feed(chunk);
        expect(events).toEqual(expected);
        expect(r.atBoundary).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('says where messages end, never inside a fragmented one', () => {
    const { r } = reader();
    const bytes = Buffer.concat([
      frame(1, Buffer.from('a'), { mask: true }),
      frame(1, Buffer.from('b'), { fin: false, mask: true }),
      frame(9, Buffer.alloc(0), { mask: true }),
      frame(0, Buffer.from('c'), { mask: true }),
    ]);
    const offsets: number[] = [];
    r.feed(bytes, (offset) => offsets.push(offset));
    // After 'a' (7 bytes), and after the last fragment; not after the ping inside the message.
    expect(offsets).toEqual([7, bytes.length]);
    r.feed(frame(1, Buffer.from('half'), { mask: true }).subarray(0, 5));
    expect(r.atBoundary).toBe(false);
  });

  it('inflates permessage-deflate messages, keeping the context from one message to the next', async () => {
    const deflate = createDeflateRaw();
    const chunks: Buffer[] = [];
    deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
    const compress = async (text: string) => {
      deflate.write(text);
      await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
      const out = Buffer.concat(chunks.splice(0));
      return out.subarray(0, out.length - 4); // without the 00 00 ff ff the sender strips
    };
    const first = await compress('the same words, the same words');
    const second = await compress('the same words, the same words, again');
    const { r, events } = reader(16);
    r.enableDeflate();
    r.feed(frame(1, first, { rsv1: true, mask: true }));
    r.feed(frame(1, Buffer.from('plain'), { mask: true }));
    // A compressed message in two fragments: RSV1 on the first only.
    r.feed(frame(1, second.subarray(0, 3), { rsv1: true, fin: false, mask: true }));
    r.feed(frame(0, second.subarray(3), { mask: true }));
    expect(events).toEqual([
      { message: 'the same words, ', binary: false, size: 30, cut: true },
      { message: 'plain', binary: false, size: 5, cut: false },
      { message: 'the same words, ', binary: false, size: 37, cut: true },
    ]);
  });

  it('reports a compressed message it cannot inflate, and stops on what is not WebSocket', () => {
    const { r, events } = reader();
    r.enableDeflate();
    r.feed(frame(2, Buffer.from([0xff, 0xff, 0xff]), { rsv1: true }));
    expect(events).toEqual([{ message: '<undecoded>', binary: true, size: 3, cut: true }]);
    for (const bad of [
      frame(1, Buffer.from('x'), { rsv1: true }), // RSV1 without the extension
      frame(0, Buffer.from('x')), // a continuation out of nowhere
      frame(9, Buffer.alloc(126)), // a control frame too long
      frame(3, Buffer.alloc(1)), // a reserved opcode
      Buffer.from('GET / HTTP/1.1\r\n'),
    ]) {
      const fresh = reader();
      fresh.r.feed(bad);
      expect(fresh.events).toHaveLength(1);
      expect(fresh.events[0]).toHaveProperty('stop');
      expect(fresh.r.atBoundary).toBe(false);
      fresh.r.feed(frame(1, Buffer.from('ignored')));
      expect(fresh.events).toHaveLength(1);
    }
  });
});

describe('unmask', () => {
  it('equals the byte-by-byte XOR at any alignment, length and mask position', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.nat(7),
        fc.nat(3),
        (data, maskBytes, shift, offset) => {
          const mask = Buffer.from(maskBytes);
          const room = Buffer.alloc(data.length + shift);
          const bytes = room.subarray(shift);
          bytes.set(data);
          unmask(bytes, mask, offset);
          const expected = Buffer.from(data.map((b, i) => b ^ mask[(offset + i) & 3]!));
          expect(bytes.equals(expected)).toBe(true);
        },
      ),
    );
  });
});

describe('encodeFrame, closePayload, parseClose', () => {
  it('writes whole frames the reader reads back, masked or not, of every length class', () => {
    for (const mask of [false, true]) {
      const { r, events } = reader(100_000);
      for (const length of [0, 125, 126, 65_535, 65_536])
        r.feed(encodeFrame(1, Buffer.from('y'.repeat(length)), mask));
      r.feed(encodeFrame(8, closePayload(1000, 'done'), mask));
      expect(events.map((e) => ('size' in e ? e.size : e))).toEqual([
        0,
        125,
        126,
        65_535,
        65_536,
        { control: 'close', payload: closePayload(1000, 'done').toString() },
      ]);
    }
  });

  it('reads close codes and reasons, and a close without a code', () => {
    expect(parseClose(closePayload(4001, 'bye now'))).toEqual({ code: 4001, reason: 'bye now' });
    expect(parseClose(closePayload(undefined))).toEqual({ code: undefined, reason: '' });
  });
});
