import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PublishResult } from '../broker/types.js';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { isReservedEvent } from '../protocol/frames.js';
import { checkPublication, isName, MAX_KEY_LENGTH, MAX_NAME_LENGTH } from '../protocol/validate.js';
import { type BodyReader, LineSplitter, TextPieces, TOO_LONG } from './api-body.js';
import { malformed, orThrow } from './api-checks.js';
import { ApiRefusal, withDetails } from './api-errors.js';
import { type ApiServer, channelRule, type OperationContext } from './api-server.js';
import type { StreamAnswer } from './api-stream-keys.js';
import { streamSettings } from './channels/policy.js';
import { queryOf } from './http.js';
import { TokenBucket } from './limits.js';
import type { ServerStream } from './types.js';

/**
 * Streams over HTTP: `POST /api/stream?channel=…&event=…` whose request body, sent as it is
 * produced (chunked), becomes a stream on the channel. The open marker goes out when the request
 * arrives; then each piece of a text body (or each line of an NDJSON body, one JSON value per
 * line) is published as the next chunk as soon as it arrives; the body's end publishes the end
 * marker and the answer says where the stream went. A request dropped before its end, a body
 * quiet for the channel's stream timeout, or a chunk refused ends the stream with an error
 * marker, so subscribers are never left waiting.
 */

/**
 * How fast one stream's chunks are published. A faster body is read more slowly (the sender
 * waits on TCP); nothing is refused for its pace.
 */
export const STREAM_PACE = { chunksPerSecond: 1_000, burst: 1_000 } as const;

/** Where a stream went: its publications' positions as the broker gave them. */
class Tally {
  first: { offset: number; epoch: string } | undefined;
  last: { offset: number; epoch: string } | undefined;
  count = 0;

  constructor(readonly id: string) {}

  add(result: PublishResult): void {
    const at = { offset: result.offset, epoch: result.epoch };
    this.first ??= at;
    this.last = at;
    this.count++;
  }

  answer(): StreamAnswer {
    return { id: this.id, first: this.first, last: this.last, count: this.count };
  }
}

interface StreamRequest {
  channel: string;
  event: string;
  key: string | undefined;
  /** The caller's stream id, when it names one. */
  id: string | undefined;
  /** The open marker's data (the `data` parameter's JSON value), when given. */
  data: unknown;
}

const QUERY = new Set(['channel', 'event', 'key', 'id', 'data']);

/**
 * The query's channel, event, key (or the Idempotency-Key header), stream id and open marker
 * data, checked as names, keys and JSON are.
 */
function streamRequest(request: IncomingMessage): StreamRequest {
  const query = queryOf(request);
  for (const name of query.keys()) {
    if (!QUERY.has(name)) throw malformed(`Unknown query parameter "${name.slice(0, 64)}"`);
    if (query.getAll(name).length > 1) throw malformed(`"${name}" is given more than once`);
  }
  const channel = query.get('channel');
  if (channel === null) throw malformed('"channel" is required (a query parameter)');
  const event = query.get('event') ?? 'stream';
  for (const [name, value] of [
    ['channel', channel],
    ['event', event],
  ] as const)
    if (!isName(value))
      throw malformed(`"${name}" must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  const header = request.headers['idempotency-key'];
  // The header is a structured-field string: quoted, or bare as most clients send it.
  const fromHeader =
    typeof header === 'string' ? header.replace(/^"(.*)"$/s, '$1').trim() : undefined;
  const fromQuery = query.get('key') ?? undefined;
  if (fromHeader !== undefined && fromQuery !== undefined && fromHeader !== fromQuery)
    throw malformed('The Idempotency-Key header and the "key" parameter differ');
  const key = fromHeader ?? fromQuery;
  if (key !== undefined && (key.length === 0 || key.length > MAX_KEY_LENGTH))
    throw malformed(`The idempotency key must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  const id = query.get('id') ?? undefined;
  if (id !== undefined && (id.length === 0 || id.length > MAX_KEY_LENGTH))
    throw malformed(`"id" must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  const text = query.get('data');
  let data: unknown;
  if (text !== null) {
    try {
      data = JSON.parse(text);
    } catch {
      throw malformed('"data" must be JSON (the open marker\'s data)');
    }
  }
  return { channel, event, key, id, data };
}

/** A stream's answer, sent by the caller: the status and JSON body. */
export interface StreamOutcome {
  status: number;
  body: StreamAnswer;
}

/**
 * Runs one stream request to its end. Answers the outcome (200, or 200 `duplicate` for a retry
 * of a stream that ended), undefined when the request was dropped (nobody to answer), or throws
 * the refusal; a refusal after the stream opened carries `details.stream`, where it stands.
 */
export async function streamBody(
  server: ApiServer,
  request: IncomingMessage,
  reader: BodyReader,
  context: OperationContext,
  lines: boolean,
): Promise<StreamOutcome | undefined> {
  const { channel, event, key, id, data } = streamRequest(request);
  const rule = channelRule(server, channel);
  const settings = streamSettings(rule.options);
  if (!settings)
    throw new SwitchboardError(
      ErrorCode.FORBIDDEN,
      `Streams are not enabled on the pattern of "${channel}"`,
    );
  if (isReservedEvent(event)) throw malformed(`"${event}" is a reserved event name`);
  const events = rule.options.events;
  if (events && !Object.hasOwn(events, event))
    throw new SwitchboardError(ErrorCode.UNKNOWN_EVENT, `Unknown event "${event}"`);
  if (rule.options.ephemeral?.includes(event))
    throw malformed(`"${event}" is ephemeral on this channel, and a stream chunk cannot be`);
  const validated = events?.[event] != null;
  if (data !== undefined || id !== undefined)
    orThrow(
      checkPublication(
        { channel, event, data, stream: { id: id ?? 'x', seq: 0, status: 'open' } },
        { maxBytes: server.limits.maxMessageBytes },
      ),
    );

  const keys = context.streamKeys;
  if (key !== undefined) {
    const held = keys.claim(channel, key);
    if (held?.answer) return { status: 200, body: { ...held.answer, duplicate: true } };
    if (held)
      throw new ApiRefusal(
        409,
        ErrorCode.UNAVAILABLE,
        'A stream with this idempotency key is still in progress; retry once it has ended',
        { stream: { id: held.id } },
        { 'retry-after': '1' },
      );
  }

  // Armed before the open marker is published, so this deadline comes before the tracker's.
  reader.idleAfter(settings.timeoutMs);
  let stream: ServerStream;
  try {
    stream = await server.stream(channel, {
      event,
      ...(id !== undefined && { id }),
      ...(data !== undefined && { data }),
    });
  } catch (error) {
    if (key !== undefined) keys.release(channel, key);
    throw error;
  }
  if (key !== undefined) keys.opened(channel, key, stream.id);

  const tally = new Tally(stream.id);
  const maxBytes = server.limits.maxMessageBytes;
  const text = lines ? undefined : new TextPieces();
  const split = lines ? new LineSplitter(server.limits.hardMaxMessageBytes) : undefined;
  const pace = new TokenBucket(STREAM_PACE.chunksPerSecond, STREAM_PACE.burst);
  const paceStepMs = Math.max(1, Math.ceil(1000 / STREAM_PACE.chunksPerSecond));
  let seq = 1;

  /** The body's next chunks: a piece of text, or the complete lines of an NDJSON body. */
  const pieces = (piece: Buffer | undefined): (string | typeof TOO_LONG)[] => {
    if (split) return piece ? split.push(piece) : split.end();
    const chunk = piece ? text!.push(piece) : text!.end();
    return chunk === '' ? [] : [chunk];
  };
  /** A chunk's data: the text itself, or the line's JSON value. */
  const dataOf = (chunk: string | typeof TOO_LONG): unknown => {
    if (chunk === TOO_LONG)
      throw new SwitchboardError(
        ErrorCode.TOO_LARGE,
        `Line longer than ${server.limits.hardMaxMessageBytes} bytes (limits.hardMaxMessageBytes)`,
      );
    if (!split) return chunk;
    try {
      return JSON.parse(chunk);
    } catch {
      throw malformed(`Chunk ${seq} (a line of the body) is not valid JSON`);
    }
  };

  const write = async (data: unknown) => {
    // The frame a client would send for this chunk, key and marker included.
    const marker = { id: stream.id, seq };
    orThrow(
      checkPublication(
        { channel, event, data, key: `${stream.id}:${seq}`, stream: marker },
        { maxBytes },
      ),
    );
    const checked = validated ? await server.validateEvent(rule, event, data) : data;
    while (!pace.take()) await sleep(paceStepMs);
    tally.add(await stream.write(checked));
    seq++;
  };

  try {
    // Ends with the body: its end, a drop, the idle deadline or a refusal.
    for (;;) {
      const arrival = await reader.next();
      if (arrival === 'aborted') break;
      if (arrival === 'idle')
        throw new ApiRefusal(
          408,
          ErrorCode.TIMEOUT,
          `The body sent nothing for ${settings.timeoutMs} ms (the channel's streams.timeoutMs)`,
          undefined,
          { connection: 'close' },
        );
      if (arrival !== 'end' && reader.bytes > context.maxBodyBytes)
        throw new SwitchboardError(
          ErrorCode.TOO_LARGE,
          `Stream body larger than ${context.maxBodyBytes} bytes (api.maxBodyBytes)`,
        );
      for (const chunk of pieces(arrival === 'end' ? undefined : arrival))
        await write(dataOf(chunk));
      if (arrival === 'end') {
        tally.add(await stream.end());
        const answer = tally.answer();
        if (key !== undefined) keys.done(channel, key, answer);
        return { status: 200, body: { ...answer, duplicate: false } };
      }
    }
  } catch (error) {
    // The same words subscribers would see had the tracker ended it.
    const timedOut = error instanceof ApiRefusal && error.status === 408;
    const reason = timedOut
      ? 'stream timed out'
      : error instanceof SwitchboardError
        ? error.message
        : 'Internal error';
    await failed(stream, tally, reason);
    if (key !== undefined) keys.release(channel, key);
    throw withDetails(error, { stream: tally.answer() });
  }
  // Dropped before its end: the error marker tells subscribers; nobody is left to answer.
  await failed(stream, tally, 'request aborted');
  if (key !== undefined) keys.release(channel, key);
  return undefined;
}

/** Ends the stream with an error marker, unless it ended already or the broker is failing. */
async function failed(stream: ServerStream, tally: Tally, reason: string): Promise<void> {
  try {
    tally.add(await stream.fail(reason));
  } catch {
    // The error that brought us here stands. Should the broker refuse the error marker too,
    // subscribers see no end: the stream left the tracker with this last attempt.
  }
}
