import type { IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';

/**
 * Request bodies the HTTP API reads as they arrive (NDJSON ingest, streams): one piece at a time
 * with backpressure, the end told apart from a dropped request and from a body gone quiet, lines
 * split with a bounded length, and what is left of a body after an early answer read and dropped
 * within bounds.
 */

/** What the next read gives: a piece of the body, or why there is none. */
export type Arrival = Buffer | 'end' | 'aborted' | 'idle';

/**
 * A request body, piece by piece as Node's parser hands it over (for a chunked body, usually one
 * HTTP chunk each). The request is paused while the caller works on a piece, so pieces are never
 * merged and a sender faster than the caller is slowed down by TCP, not buffered here.
 *
 * `idleMs` is measured from the last piece handed over: a body that sends nothing for that long
 * reads as 'idle'. The timer is refreshed when a piece is handed over, before the caller acts on
 * it, so for a stream it fires ahead of the stream tracker's own timer of the same length (armed
 * when the chunk is published), and the caller ends the stream once instead of twice.
 */
export class BodyReader {
  /** Bytes received so far, dropped ones included. */
  bytes = 0;
  readonly #request: IncomingMessage;
  readonly #pieces: Buffer[] = [];
  #state: 'reading' | 'end' | 'aborted' = 'reading';
  #idle = false;
  #wake: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #idleMs = 0;
  /** Set once the caller stopped reading: the rest is dropped, up to this many more bytes. */
  #discardLeft: number | undefined;

  constructor(request: IncomingMessage) {
    this.#request = request;
    request.on('data', this.#onData);
    request.once('end', this.#onEnd);
    request.once('close', this.#onClose);
    // Errors (a reset connection) are seen as the 'close' of an incomplete request.
    request.on('error', noop);
  }

  /** Starts (or changes) the quiet-body deadline; 0 turns it off. */
  idleAfter(ms: number): void {
    this.#idleMs = ms;
    this.#stop();
    this.#arm();
  }

  /** The next piece of the body, or 'end', 'aborted' (closed before its end) or 'idle'. */
  async next(): Promise<Arrival> {
    if (this.#pieces.length === 0 && !this.#idle && this.#state === 'reading') {
      // Every wake-up brings a piece, the end, a close or the deadline.
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#request.resume();
      });
      this.#wake = undefined;
    }
    const piece = this.#pieces.shift();
    if (piece) {
      // The sender is not quiet, whatever kept the caller away meanwhile.
      this.#idle = false;
      if (this.#timer) this.#timer.refresh();
      else this.#arm();
      return piece;
    }
    if (this.#idle) return 'idle';
    return this.#state === 'end' ? 'end' : 'aborted';
  }

  /**
   * Stops reading for the caller: what is buffered and what still comes is dropped, so a client
   * that sends its whole body before it reads the answer still gets the answer. Past `limit` more
   * bytes, or `idleMs` without any, the connection is closed instead.
   */
  discard(limit: number, idleMs: number): void {
    this.#pieces.length = 0;
    this.#discardLeft = limit;
    if (this.#state !== 'reading') return this.#stop();
    this.idleAfter(idleMs);
    this.#idle = false;
    this.#request.resume();
  }

  /** Whether the body was read to its end. */
  get ended(): boolean {
    return this.#state === 'end';
  }

  readonly #onData = (chunk: Buffer) => {
    this.bytes += chunk.length;
    if (this.#discardLeft !== undefined) {
      this.#discardLeft -= chunk.length;
      this.#timer?.refresh();
      if (this.#discardLeft < 0) this.#request.socket.destroy();
      return;
    }
    this.#pieces.push(chunk);
    this.#request.pause();
    this.#wake?.();
  };

  readonly #onEnd = () => {
    this.#state = 'end';
    this.#stop();
    this.#wake?.();
  };

  readonly #onClose = () => {
    if (this.#state === 'reading') this.#state = 'aborted';
    this.#stop();
    this.#wake?.();
  };

  readonly #onIdle = () => {
    this.#timer = undefined;
    if (this.#discardLeft !== undefined) {
      this.#request.socket.destroy();
      return;
    }
    this.#idle = true;
    this.#wake?.();
  };

  #arm(): void {
    if (this.#idleMs <= 0 || this.#state !== 'reading') return;
    this.#timer = setTimeout(this.#onIdle, this.#idleMs);
    this.#timer.unref?.();
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function noop(): void {}

/** A line longer than the splitter's bound: dropped as it arrived, never held whole. */
export const TOO_LONG = Symbol('line too long');

/**
 * Splits a body into lines (LF or CRLF), decoding UTF-8 across pieces. A line longer than
 * `maxBytes` is not kept: its bytes are dropped as they come and it is reported as TOO_LONG, so
 * a client that forgot its newlines costs at most `maxBytes` of memory. Blank lines are skipped.
 */
export class LineSplitter {
  readonly #maxBytes: number;
  /** The start of the line in progress, from earlier pieces. */
  #held: Buffer[] = [];
  #heldBytes = 0;
  #tooLong = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** The lines this piece completes, in order. */
  push(piece: Buffer): (string | typeof TOO_LONG)[] {
    const lines: (string | typeof TOO_LONG)[] = [];
    let start = 0;
    for (;;) {
      const newline = piece.indexOf(10, start);
      if (newline === -1) break;
      this.#complete(lines, piece, start, newline);
      start = newline + 1;
    }
    if (start < piece.length) this.#hold(piece, start);
    return lines;
  }

  /** The last line, when the body did not end with a newline. */
  end(): (string | typeof TOO_LONG)[] {
    const lines: (string | typeof TOO_LONG)[] = [];
    if (this.#heldBytes > 0 || this.#tooLong) this.#complete(lines, Buffer.alloc(0), 0, 0);
    return lines;
  }

  #complete(lines: (string | typeof TOO_LONG)[], piece: Buffer, start: number, end: number): void {
    const length = end - start;
    if (this.#tooLong || this.#heldBytes + length > this.#maxBytes) {
      lines.push(TOO_LONG);
    } else {
      let text: string;
      if (this.#heldBytes === 0) {
        text = piece.toString('utf8', start, end);
      } else {
        this.#held.push(piece.subarray(start, end));
        text = Buffer.concat(this.#held).toString('utf8');
      }
      if (text.length > 0 && text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
      if (!isBlank(text)) lines.push(text);
    }
    this.#held = [];
    this.#heldBytes = 0;
    this.#tooLong = false;
  }

  #hold(piece: Buffer, start: number): void {
    if (this.#tooLong) return;
    const length = piece.length - start;
    if (this.#heldBytes + length > this.#maxBytes) {
      this.#tooLong = true;
      this.#held = [];
      this.#heldBytes = 0;
      return;
    }
    // Copied: the piece's memory belongs to the socket's pool.
    this.#held.push(Buffer.from(piece.subarray(start)));
    this.#heldBytes += length;
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** UTF-8 text across pieces: a character split between two pieces is kept whole. */
export class TextPieces {
  readonly #decoder = new StringDecoder('utf8');

  /** The text of this piece ('' when it only starts a character). */
  push(piece: Buffer): string {
    return this.#decoder.write(piece);
  }

  /** What an unfinished character at the very end leaves (U+FFFD), or ''. */
  end(): string {
    return this.#decoder.end();
  }
}

/** The request's media type, lower case, without parameters ('' when none). */
export function mediaTypeOf(request: IncomingMessage): string {
  const header = request.headers['content-type'];
  if (header === undefined) return '';
  const semicolon = header.indexOf(';');
  return (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

/** NDJSON (JSON Lines): one JSON value per line. */
export const NDJSON = 'application/x-ndjson';
const NDJSON_TYPES = new Set([NDJSON, 'application/ndjson', 'application/jsonl']);

export function isNdjson(request: IncomingMessage): boolean {
  return NDJSON_TYPES.has(mediaTypeOf(request));
}
