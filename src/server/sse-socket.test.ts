import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SseSocket } from './sse-socket.js';

/** Just what SseSocket uses of a response: write, end, destroy, the close event, writableLength. */
class FakeResponse extends EventEmitter {
  written = '';
  ended = false;
  writableLength = 0;
  write(chunk: string | Buffer): boolean {
    this.written += chunk.toString();
    return true;
  }
  end(done?: () => void): void {
    this.ended = true;
    done?.();
    this.emit('close');
  }
  destroy(): void {
    this.emit('close');
  }
}

function socket() {
  const response = new FakeResponse();
  const sse = new SseSocket(response as unknown as ServerResponse);
  const closes: [number, string][] = [];
  sse.on('close', (code: number, reason: Buffer) => closes.push([code, reason.toString()]));
  return { response, sse, closes };
}

describe('SseSocket', () => {
  it('writes one event per frame; a frame with line breaks takes one data line per line', () => {
    const { response, sse } = socket();
    sse.send(Buffer.from('{"type":"ping"}'), { binary: false });
    sse.send(Buffer.from('a\nb\r\nc'), { binary: false });
    expect(response.written).toBe('data: {"type":"ping"}\n\ndata: a\ndata: b\ndata: c\n\n');
  });

  it('closes once: a final close event, the end of the stream, then nothing more', () => {
    const { response, sse, closes } = socket();
    sse.close(4007, 'send queue full');
    sse.close(4010, 'again');
    sse.send(Buffer.from('late'), { binary: false });
    expect(response.written).toBe(
      'event: close\ndata: {"code":4007,"reason":"send queue full"}\n\n',
    );
    expect(response.ended).toBe(true);
    expect(closes).toEqual([[4007, 'send queue full']]);
    expect(sse.readyState).toBe(3);
  });

  it('a stream cut by the client is 1006, as a dropped WebSocket', () => {
    const { response, sse, closes } = socket();
    const received: string[] = [];
    sse.on('message', (data: Buffer) => received.push(data.toString()));
    sse.receive(Buffer.from('[1]'));
    response.emit('close');
    sse.receive(Buffer.from('[2]'));
    expect(received).toEqual(['[1]']);
    expect(closes).toEqual([[1006, '']]);
  });
});
