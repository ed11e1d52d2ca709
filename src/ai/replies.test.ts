import type { UIMessageChunk } from 'ai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StreamMarker } from '../protocol/frames.js';
import { Reply, ReplyReader } from './replies.js';

async function drain(stream: ReadableStream<UIMessageChunk>): Promise<UIMessageChunk[]> {
  const chunks: UIMessageChunk[] = [];
  const reader = stream.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read())
    chunks.push(next.value);
  return chunks;
}

const delta = (text: string): UIMessageChunk => ({ type: 'text-delta', id: 't', delta: text });
const marker = (seq: number, status?: StreamMarker['status']): StreamMarker =>
  status ? { id: 's', seq, status } : { id: 's', seq };

afterEach(() => {
  vi.useRealTimers();
});

describe('a reply reader', () => {
  it('hands over pieces in sequence order, each once, however they arrive', async () => {
    const reply = new Reply('s');
    const reader = new ReplyReader(0);
    reader.attach(reply);
    // The end first, then chunks out of order and twice (live and again from history).
    expect(reply.place(marker(4, 'end'), { outcome: 'finished' }, 14)).toBe(true);
    reply.place(marker(2), delta('b'), 12);
    reply.place(marker(0, 'open'), { requestId: 'r' }, 10);
    reply.place(marker(3), delta('c'), 13);
    expect(reply.place(marker(2), delta('b'), 12)).toBe(false);
    reply.place(marker(1), delta('a'), 11);
    expect(await drain(reader.stream)).toEqual([delta('a'), delta('b'), delta('c')]);
    expect(reply.requestId).toBe('r');
    expect(reply.offset).toBe(10);
    expect(reply.readers.size).toBe(0);
  });

  it('ends an aborted reply with an abort chunk and a failed one with an error chunk', async () => {
    const aborted = new Reply('s');
    const a = new ReplyReader(0);
    a.attach(aborted);
    aborted.place(marker(1), delta('x'), 2);
    aborted.place(marker(2, 'end'), { outcome: 'aborted' }, 3);
    expect(await drain(a.stream)).toEqual([delta('x'), { type: 'abort' }]);

    const failed = new Reply('f');
    const f = new ReplyReader(0);
    f.attach(failed);
    failed.place(marker(1, 'error'), { error: 'stream timed out' }, 2);
    expect(await drain(f.stream)).toEqual([{ type: 'error', errorText: 'stream timed out' }]);
  });

  it('a late reader gets the reply from its start; a cancelled one detaches alone', async () => {
    const reply = new Reply('s');
    reply.place(marker(0, 'open'), {}, 1);
    reply.place(marker(1), delta('a'), 2);
    const early = new ReplyReader(0);
    early.attach(reply);
    await early.stream.cancel();
    expect(early.done).toBe(true);
    const late = new ReplyReader(0);
    late.attach(reply);
    reply.place(marker(2), delta('b'), 3);
    reply.place(marker(3, 'end'), { outcome: 'finished' }, 4);
    expect(await drain(late.stream)).toEqual([delta('a'), delta('b')]);
  });

  it('fails a reader that hears nothing for its idle timeout, and clears the timer once done', async () => {
    vi.useFakeTimers();
    const quiet = new ReplyReader(1_000);
    quiet.attach(new Reply('q'));
    const read = quiet.stream.getReader().read();
    vi.advanceTimersByTime(1_000);
    await expect(read).rejects.toThrow(/No part of the reply arrived for 1000 ms/);

    const finished = new ReplyReader(1_000);
    const reply = new Reply('s');
    finished.attach(reply);
    reply.place(marker(1, 'end'), { outcome: 'finished' }, 1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
