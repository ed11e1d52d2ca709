/**
 * An SSE session as the socket a Connection talks to: frames go out as Server-Sent Events on the
 * session's open GET response, frames POSTed for the session come in as `message` events, and a
 * close becomes a final `close` event before the response ends. The Connection cannot tell it
 * from a `ws` WebSocket, so limits, taps and close codes are the same on both transports.
 *
 *   server                                        client
 *     | <-- GET <path> ---------------------------  |
 *     | -- 200 text/event-stream, `event: session` |
 *     | -- `data: <frame>` per frame, `:` alive -> |
 *     | <-- POST <path>?session=… (frames) ------  |   (any node: through the broker)
 *     | -- `event: close` {code, reason}, end ---> |
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { ConnectionSocket } from './connection/host.js';

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const DATA = Buffer.from('data: ');
const END = Buffer.from('\n\n');
const LINE = 10;
const RETURN = 13;

export class SseSocket extends EventEmitter implements ConnectionSocket {
  readonly OPEN = OPEN;
  readyState = OPEN;
  readonly #response: ServerResponse;

  constructor(response: ServerResponse) {
    super();
    this.#response = response;
    // The client went away (or terminate() cut it): what `ws` reports as 1006, no close frame.
    response.once('close', () => this.#closed(1006, ''));
    response.on('error', (error) => this.emit('error', error));
  }

  /** What the response holds that the client has not taken yet (its buffer and the socket's). */
  get bufferedAmount(): number {
    return this.#response.writableLength;
  }

  /** Frames POSTed for this session, as a WebSocket message carrying them. */
  receive(data: Buffer): void {
    if (this.readyState === OPEN) this.emit('message', data, false);
  }

  /** One frame, one event. A text codec's frame with line breaks takes one `data:` line per line. */
  send(data: Buffer, _options?: { binary: boolean }): void {
    if (this.readyState !== OPEN) return;
    if (data.includes(LINE) || data.includes(RETURN)) {
      const lines = data.toString().split(/\r\n|\r|\n/);
      this.#response.write(`${lines.map((line) => `data: ${line}`).join('\n')}\n\n`);
      return;
    }
    this.#response.write(Buffer.concat([DATA, data, END]));
  }

  /** An SSE comment: keeps proxies from timing the stream out, and tells the client it is alive. */
  comment(text = ''): void {
    if (this.readyState === OPEN) this.#response.write(`:${text}\n\n`);
  }

  /** The `event:` line names it; `data` is one line. */
  event(name: string, data: string): void {
    if (this.readyState === OPEN) this.#response.write(`event: ${name}\ndata: ${data}\n\n`);
  }

  /** The final event says why, then the stream ends: the client reads the code as a close code. */
  close(code = 1005, reason = ''): void {
    if (this.readyState !== OPEN) return;
    this.event('close', JSON.stringify({ code, reason }));
    this.readyState = CLOSING;
    this.#response.end(() => this.#closed(code, reason));
  }

  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.#response.destroy();
    this.#closed(1006, '');
  }

  #closed(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.emit('close', code, Buffer.from(reason));
  }
}
