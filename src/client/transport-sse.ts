/**
 * The HTTP transport, for networks that break WebSockets, as a stand-in for a WebSocket (so the
 * Transport and everything above it stay the same): the server's frames arrive as Server-Sent
 * Events on one streamed GET, read with fetch so it works the same in browsers, workers and
 * Node 20; the client's go by POST, one request after the other, so they reach the server in the
 * order they were sent whichever node takes each. See docs/protocol.md, "HTTP transport".
 */
import type { WebSocketLike } from './types.js';

export class SseSocket implements WebSocketLike {
  /** 0 connecting, 1 open (the stream named the session), 3 closed. */
  readyState = 0;
  // Set by the Transport; nothing to initialise (the bundle carries no code for them).
  declare binaryType: string;
  declare onopen: WebSocketLike['onopen'];
  declare onmessage: WebSocketLike['onmessage'];
  declare onclose: WebSocketLike['onclose'];
  declare onerror: WebSocketLike['onerror'];
  #abort = new AbortController();
  /** Where frames are POSTed: the stream's URL with the session it named. */
  #url: URL;
  /** The POSTs so far: the next one starts when the last has been taken. */
  #posted: Promise<unknown> = Promise.resolve();

  /** `url` is the WebSocket endpoint's (its http(s) twin serves SSE); throws if it is invalid. */
  constructor(url: string) {
    this.#url = new URL(url.replace('ws', 'http'));
    this.#read().catch(() => this.close());
  }

  /** A POST that fails lost frames: the link is treated as dropped, and the outbox resends. */
  send(body: string | Uint8Array): void {
    const { signal } = this.#abort;
    this.#posted = this.#posted.then(async () => {
      if (!(await fetch(this.#url, { method: 'POST', body: body as BodyInit, signal })).ok) throw 0;
    });
    this.#posted.catch(() => this.close());
  }

  /** Ends the stream; `onclose` hears of it once, with the server's code if it sent one. */
  close(code = 1006, reason = ''): void {
    if (this.readyState > 2) return;
    this.readyState = 3;
    this.#abort.abort();
    this.onclose?.({ code, reason });
  }

  /** Reads events until the stream ends: `session` opens the link, `close` ends it with a code. */
  async #read(): Promise<void> {
    const response = await fetch(this.#url, { signal: this.#abort.signal });
    if (!response.ok) throw 0;
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      // A stream that sends this much without ending an event is broken, not slow.
      if (done || buffer.length > 1 << 24) throw 0;
      // Each complete event is taken off the front; a partial one waits for the rest. Our
      // server writes `event: ` only before `data: `; a text codec's frame with line breaks
      // comes as several `data: ` lines; comments (`:`) keep proxies awake and are dropped.
      buffer = (buffer + value).replace(
        /(?:event: (.*)\n)?(?:data: ([\s\S]*?)|:.*)\n\n/g,
        (_, event?: string, data?: string) => {
          if (event === 'close') {
            const { code, reason } = JSON.parse(data!);
            this.close(code, reason);
          } else if (event) {
            this.#url.searchParams.set('session', data!);
            this.readyState = 1;
            this.onopen?.({});
          } else if (data !== undefined)
            this.onmessage?.({ data: data.replace(/\ndata: /g, '\n') });
          return '';
        },
      );
    }
  }
}
