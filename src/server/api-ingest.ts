import type { ServerResponse } from 'node:http';
import { ErrorCode } from '../protocol/errors.js';
import { type BodyReader, LineSplitter, NDJSON, TOO_LONG } from './api-body.js';
import { errorResponse } from './api-errors.js';
import { type ApiServer, publishOne } from './api-server.js';

/**
 * NDJSON ingest: `POST /api/publish` with `Content-Type: application/x-ndjson`, one publication
 * per line, read as the body streams in and applied in order, each answered by its own line of
 * the NDJSON answer as soon as its result is known. A bad line is answered with its error and
 * the rest go on, as in a batch. The request may stay open as long as the client keeps sending.
 */

/** An ingest that sends nothing, or reads none of its answer, for this long is closed. */
export const INGEST_IDLE_MS = 60_000;
/** Result lines gathered before they are written even within one turn of the event loop. */
const FLUSH_BYTES = 16 * 1024;

export async function ingest(
  server: ApiServer,
  reader: BodyReader,
  response: ServerResponse,
): Promise<void> {
  response.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
  // The client may wait for the status before it sends much: tell it now.
  response.flushHeaders();
  const maxLine = server.limits.hardMaxMessageBytes;
  const tooLong = JSON.stringify({
    error: {
      code: ErrorCode.TOO_LARGE,
      message: `Line longer than ${maxLine} bytes (limits.hardMaxMessageBytes)`,
    },
  });
  const lines = new LineSplitter(maxLine);
  const out = new ResultLines(response);
  reader.idleAfter(INGEST_IDLE_MS);
  // Ends with the body: its end, a drop, or the idle deadline.
  for (;;) {
    const arrival = await reader.next();
    // Nobody is left to read the answer.
    if (arrival === 'aborted') return;
    if (arrival === 'idle') return out.close();
    const batch = arrival === 'end' ? lines.end() : lines.push(arrival);
    for (const line of batch) out.add(line === TOO_LONG ? tooLong : await resultOf(server, line));
    if (arrival === 'end') return out.end();
    if (!(await out.room())) return out.close();
  }
}

const NOT_JSON = JSON.stringify({
  error: { code: ErrorCode.BAD_FRAME, message: 'Line is not valid JSON' },
});

async function resultOf(server: ApiServer, line: string): Promise<string> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return NOT_JSON;
  }
  try {
    const { offset, epoch, duplicate } = await publishOne(server, value);
    return `{"offset":${offset},"epoch":${JSON.stringify(epoch)},"duplicate":${duplicate}}`;
  } catch (error) {
    const { status, body } = errorResponse(error);
    if (status === 500) server.logger.error({ err: error }, 'api ingest line failed');
    return JSON.stringify(body);
  }
}

/**
 * The answer's lines, written as they come: those produced within one turn of the event loop go
 * out in one write (so a fast broker costs one write per piece of body, a slow one one per
 * result), and a client that does not read its answer stops the ingest from reading on.
 */
class ResultLines {
  #text = '';
  #scheduled = false;
  #full: Promise<boolean> | undefined;

  constructor(private readonly response: ServerResponse) {}

  add(line: string): void {
    this.#text += `${line}\n`;
    if (this.#text.length >= FLUSH_BYTES) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushSoon);
    }
  }

  flush(): void {
    if (this.#text === '' || this.response.destroyed) return;
    const room = this.response.write(this.#text);
    this.#text = '';
    if (!room && !this.#full) this.#full = this.#drained();
  }

  /** Resolves true once the answer can take more, false if it never will (closed, or stuck). */
  room(): Promise<boolean> | true {
    return this.#full ?? true;
  }

  end(): void {
    this.flush();
    this.response.end();
  }

  /** Ends the answer and then the connection: the request's body was not read to its end. */
  close(): void {
    const socket = this.response.socket;
    this.response.once('finish', () => socket?.destroySoon());
    this.end();
  }

  readonly #flushSoon = () => {
    this.#scheduled = false;
    this.flush();
  };

  #drained(): Promise<boolean> {
    const response = this.response;
    return new Promise<boolean>((resolve) => {
      const done = (room: boolean) => {
        clearTimeout(timer);
        response.off('drain', onDrain);
        response.off('close', onClose);
        this.#full = undefined;
        resolve(room);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(onClose, INGEST_IDLE_MS);
      timer.unref?.();
      response.on('drain', onDrain);
      response.on('close', onClose);
    });
  }
}
