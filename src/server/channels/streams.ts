import { randomBytes } from 'node:crypto';
import type { CompactRun, Publication, PublishResult } from '../../broker/types.js';
import { ErrorCode, SwitchboardError } from '../../protocol/errors.js';
import { MAX_KEY_LENGTH } from '../../protocol/fields.js';
import { isReservedEvent, type StreamMarker } from '../../protocol/frames.js';
import type { ServerStream, StreamOptions } from '../types.js';
import { type ChannelPolicy, streamSettings } from './policy.js';
import type { Publisher } from './publisher.js';

/**
 * Streams: ordered chunks with an end marker on an ordinary channel. The settings a channel
 * gives them, the node's watch over every stream in progress (quiet ones are ended with an
 * error), what a late subscriber needs to join one midway, and the app's `server.stream()`.
 */

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

  /** Whether a stream with this id is in progress on the channel (on this node). */
  isOpen(channel: string, id: string): boolean {
    return this.open.has(`${channel}\u0000${id}`);
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

/**
 * Pieces, and their bytes as JSON, a roll-up holds at most; a longer stream is left as it is in
 * history. The end goes to every subscriber in one frame: well under the default send queue
 * (`limits.maxQueueBytes`, 1 MiB), past which a connection is closed as a slow consumer.
 */
const MAX_ROLLUP = 10_000;
const MAX_ROLLUP_BYTES = 256 * 1024;

/**
 * A server stream's pieces as written and the offsets the broker gave them, for the roll-up its
 * end carries. The run the broker may drop for it is the stream's own publications right before
 * the end, nothing else between (`from`…`to`, one epoch): all of them, or, when another
 * publication came between (a reply stopped as the next one started), those after the last one
 * that did. The roll-up still holds every piece, so a reader lacking some takes them from it.
 */
class RollUp {
  readonly pieces: unknown[] = [];
  readonly #written: Promise<PublishResult | undefined>[] = [];
  #bytes = 0;
  #over = false;

  add(data: unknown, written: Promise<PublishResult>): Promise<PublishResult> {
    if (this.#over) return written;
    this.#bytes += jsonLength(data);
    this.#over = this.pieces.length >= MAX_ROLLUP || this.#bytes > MAX_ROLLUP_BYTES;
    if (this.#over) {
      // Nothing of it is needed any more: the end will not roll the stream up.
      this.pieces.length = 0;
      this.#written.length = 0;
      return written;
    }
    this.pieces.push(data);
    this.#written.push(written.catch(() => undefined));
    return written;
  }

  async run(): Promise<CompactRun | undefined> {
    if (this.#over) return undefined;
    const results = await Promise.all(this.#written);
    const last = results.at(-1);
    if (!last) return undefined;
    let from = results.length - 1;
    for (; from > 0; from--) {
      const before = results[from - 1];
      if (before?.epoch !== last.epoch || before.offset !== results[from]!.offset - 1) break;
    }
    return { from: results[from]!.offset, to: last.offset, epoch: last.epoch };
  }
}

/** Its length as JSON; data that cannot be JSON (its publish fails anyway) counts as too long. */
function jsonLength(data: unknown): number {
  try {
    return JSON.stringify(data)?.length ?? 4;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * `server.stream()`: opens a stream on a channel whose pattern enables streams. Each chunk
 * carries the key `<stream id>:<seq>`, so a retry is applied once; an UNCERTAIN publish is
 * retried here, because the app's next write would take the next seq.
 */
export async function openStream(
  policy: ChannelPolicy,
  publisher: Publisher,
  tracker: StreamTracker,
  channel: string,
  options: StreamOptions = {},
): Promise<ServerStream> {
  const rule = policy.rule(channel);
  const settings = rule && streamSettings(rule.options);
  if (!settings)
    throw new TypeError(`Channel "${channel}" matches no pattern with streams enabled`);
  const event = options.event ?? 'stream';
  if (isReservedEvent(event)) throw new TypeError(`"${event}" is a reserved event name`);
  const id = options.id ?? randomBytes(8).toString('hex');
  if (options.id !== undefined) {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_KEY_LENGTH)
      throw new TypeError(`A stream id must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
    // Checked and claimed (tracked below) in one turn: two writers cannot both take an id.
    if (tracker.isOpen(channel, id))
      throw new SwitchboardError(
        ErrorCode.FORBIDDEN,
        `Stream "${id}" is already in progress on "${channel}"`,
      );
  }
  let seq = 0;
  let ended = false;
  const rollup = settings.compact ? new RollUp() : undefined;
  const send = (data: unknown, status?: 'open' | 'end' | 'error') => {
    if (ended) return Promise.reject(new Error(`Stream ${id} has ended`));
    const last = status === 'end' || status === 'error';
    if (last) ended = true;
    const marker: StreamMarker = status === undefined ? { id, seq } : { id, seq, status };
    seq++;
    tracker.track(channel, event, marker, settings.timeoutMs);
    const request = {
      stream: marker,
      idempotencyKey: `${id}:${marker.seq}`,
      history: settings.history,
    };
    if (!rollup) return publisher.publishSurely(channel, event, data, request);
    if (!last) return rollup.add(data, publisher.publishSurely(channel, event, data, request));
    // The end waits for its chunks' offsets: whether they form one run decides the roll-up.
    return rollup.run().then((compact) => {
      if (!compact) return publisher.publishSurely(channel, event, data, request);
      marker.rollup = rollup.pieces;
      return publisher.publishSurely(channel, event, data, { ...request, compact });
    });
  };
  await send(options.data, 'open');
  return {
    id,
    channel,
    write: (chunk) => send(chunk),
    end: (data) => send(data, 'end'),
    fail: (message) => send({ error: message }, 'error'),
  };
}
