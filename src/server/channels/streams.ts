import type { HistoryOptions, Publication, PublishResult } from '../broker/types.js';
import type { StreamMarker } from '../protocol/frames.js';
import type { ChannelOptions } from './channels.js';

export const DEFAULT_STREAM_TIMEOUT_MS = 60_000;
export const DEFAULT_STREAM_HISTORY: HistoryOptions = { size: 1000, ttlMs: 10 * 60_000 };

export function streamSettings(
  options: ChannelOptions,
): { timeoutMs: number; history: HistoryOptions } | undefined {
  const streams = options.streams;
  if (!streams) return undefined;
  const own = streams === true ? {} : streams;
  return {
    timeoutMs: own.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS,
    history: options.history ?? own.history ?? DEFAULT_STREAM_HISTORY,
  };
}

/** The app's handle on a stream it opened with `server.stream()`. */
export interface ServerStream {
  readonly id: string;
  readonly channel: string;
  /** Publishes the next chunk; chunks reach subscribers in the order written. */
  write(chunk: unknown): Promise<PublishResult>;
  /** The end marker, optionally with a final payload. */
  end(data?: unknown): Promise<PublishResult>;
  /** Ends the stream as failed; subscribers see status 'error' with the message. */
  fail(message: string): Promise<PublishResult>;
}

type Publish = (
  channel: string,
  event: string,
  data: unknown,
  stream: StreamMarker,
) => Promise<PublishResult>;

interface OpenStream {
  channel: string;
  event: string;
  id: string;
  seq: number;
  timeoutMs: number;
  timer: ReturnType<typeof setTimeout>;
  owner: string | undefined;
}

/**
 * Watches every stream in progress on this node, whoever writes it (the app or a client), and
 * ends with an error any that goes quiet for its timeout, so subscribers are never left waiting
 * on a stream whose writer died.
 */
export class StreamTracker {
  private readonly open = new Map<string, OpenStream>();

  constructor(private readonly publish: Publish) {}

  /**
   * Records a marker about to be published and (re)arms the stream's idle timer. Refuses only a
   * writer who does not own the open stream; a repeated chunk (a retry after a reconnect) passes
   * on to the broker, whose idempotency window drops it.
   */
  track(
    channel: string,
    event: string,
    marker: StreamMarker,
    timeoutMs: number,
    owner?: string,
  ): boolean {
    const key = `${channel}\u0000${marker.id}`;
    const current = this.open.get(key);
    if (current && current.owner !== owner) return false;
    if (current) clearTimeout(current.timer);
    if (marker.status === 'end' || marker.status === 'error') {
      this.open.delete(key);
    } else if (current) {
      current.seq = Math.max(current.seq, marker.seq);
      current.timer = this.arm(key, current.timeoutMs);
    } else if (marker.status === 'open') {
      this.open.set(key, {
        channel,
        event,
        id: marker.id,
        seq: marker.seq,
        timeoutMs,
        owner,
        timer: this.arm(key, timeoutMs),
      });
    }
    return true;
  }

  countOwnedBy(owner: string): number {
    let count = 0;
    for (const stream of this.open.values()) if (stream.owner === owner) count++;
    return count;
  }

  private arm(key: string, timeoutMs: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      const stream = this.open.get(key);
      if (!stream) return;
      this.open.delete(key);
      this.publish(
        stream.channel,
        stream.event,
        { error: 'stream timed out' },
        { id: stream.id, seq: stream.seq + 1, status: 'error' },
      ).catch(() => {});
    }, timeoutMs);
    timer.unref?.();
    return timer;
  }

  clear(): void {
    for (const stream of this.open.values()) clearTimeout(stream.timer);
    this.open.clear();
  }
}

/**
 * Publications of the streams still in progress at the end of `history`, oldest first: what a
 * late subscriber needs to catch up on a stream it joined midway.
 */
export function streamsInProgress(history: readonly Publication[]): Publication[] {
  const open = new Map<string, Publication[]>();
  for (const publication of history) {
    const marker = publication.stream;
    if (!marker) continue;
    if (marker.status === 'open') open.set(marker.id, [publication]);
    else if (marker.status === 'end' || marker.status === 'error') open.delete(marker.id);
    else open.get(marker.id)?.push(publication);
  }
  return [...open.values()].flat().sort((a, b) => a.offset - b.offset);
}
