/**
 * The HTTP transport's two routes on the WebSocket endpoint's own path, for networks that break
 * WebSockets: `GET <path>` (no Upgrade) opens a session, a Server-Sent Events stream that
 * carries the server's frames; `POST <path>?session=…` carries the client's frames. A POST may land on any node: it is published on the session's
 * internal channel (`$sse:<session>`, ephemeral) and the node holding the stream, subscribed to
 * that channel, hands it to the connection. Always through the broker, even when the stream is
 * here: POSTs sent one after another then reach the connection in the order they were sent,
 * whichever nodes took them. No sticky sessions.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker, Publication } from '../broker/types.js';
import { ErrorCode, type SwitchboardError } from '../protocol/errors.js';
import { DEFAULTS, INTERNAL_CHANNELS } from './defaults.js';
import { pathOf, queryOf, readBody, sendJson } from './http.js';
import type { Limits } from './limits.js';
import { SseSocket } from './sse-socket.js';
import type { Logger } from './types.js';

/** 24 base64url characters: 144 random bits, so a session cannot be guessed. */
const SESSION = /^[A-Za-z0-9_-]{24}$/;
/** The event frames POSTed for a session travel under on its channel. */
const FRAMES_EVENT = 'frames';

/** What the routes need of the gateway. */
export interface SseHost {
  readonly broker: Broker;
  readonly limits: Limits;
  readonly logger: Logger;
  /** Why a new session cannot be opened now ([status, code, message]), or undefined. */
  refuse(request: IncomingMessage): [number, ErrorCode, string] | undefined;
  /** A session's stream is open: it becomes a connection, as an accepted WebSocket does. */
  accept(socket: SseSocket, request: IncomingMessage): void;
}

export class SseSessions {
  readonly #path: string;
  readonly #host: SseHost;
  /** Every open stream: the keep-alive comments go to each. */
  readonly #sockets = new Set<SseSocket>();
  readonly #keepAlive: ReturnType<typeof setInterval>;

  constructor(path: string, host: SseHost, keepAliveMs: number = DEFAULTS.sse.keepAliveMs) {
    this.#path = path;
    this.#host = host;
    this.#keepAlive = setInterval(() => {
      for (const socket of this.#sockets) socket.comment();
    }, keepAliveMs);
    this.#keepAlive.unref?.();
  }

  /** The route: claims `<path>` (GET opens a session, POST carries frames), nothing else. */
  readonly handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (pathOf(request) !== this.#path) return false;
    const cors = this.#cors(request);
    if (cors === undefined) return fail(response, 403, ErrorCode.FORBIDDEN, 'Origin not allowed');
    if (request.method === 'GET') await this.#open(request, response, cors);
    else if (request.method === 'POST') await this.#post(request, response, cors);
    else if (request.method === 'OPTIONS') {
      response.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': 'content-type, authorization',
      });
      response.end();
    } else fail(response, 405, ErrorCode.NOT_FOUND, `${request.method} not allowed here`);
    return true;
  };

  /** Stops the keep-alive timer; the streams themselves close with their connections. */
  close(): void {
    clearInterval(this.#keepAlive);
  }

  /**
   * The CORS headers a browser on another origin needs to read the answers: the origin is echoed
   * when `allowedOrigins` lists it (or is unset, as WebSocket upgrades then take any origin);
   * undefined when it is not allowed. No credentials: cookies stay same-origin.
   */
  #cors(request: IncomingMessage): Record<string, string> | undefined {
    const origin = request.headers.origin;
    if (origin === undefined) return {};
    const allowed = this.#host.limits.allowedOrigins;
    if (allowed && !allowed.includes(origin)) return undefined;
    return { 'access-control-allow-origin': origin, vary: 'origin' };
  }

  async #open(request: IncomingMessage, response: ServerResponse, cors: Record<string, string>) {
    const host = this.#host;
    const refusal = host.refuse(request);
    if (refusal) return fail(response, ...refusal);
    const session = randomBytes(18).toString('base64url');
    const channel = INTERNAL_CHANNELS.ssePrefix + session;
    let socket: SseSocket | undefined;
    const handler = (publication: Publication) => {
      if (publication.event === FRAMES_EVENT && typeof publication.data === 'string')
        socket?.receive(Buffer.from(publication.data));
    };
    // Subscribed before the session id is told: no POST for it can arrive before we listen.
    try {
      await host.broker.subscribe(channel, handler);
    } catch (error) {
      host.logger.warn({ err: error }, 'SSE session not opened: broker subscribe failed');
      return fail(response, 503, ErrorCode.UNAVAILABLE, 'Broker unavailable; try again');
    }
    const unsubscribe = () =>
      host.broker
        .unsubscribe(channel, handler)
        .catch((error) => host.logger.debug({ err: error, channel }, 'broker unsubscribe failed'));
    if (request.socket.destroyed) return void unsubscribe();
    response.writeHead(200, {
      ...cors,
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      // nginx would otherwise hold the events back in its buffer.
      'x-accel-buffering': 'no',
    });
    socket = new SseSocket(response);
    const opened = socket;
    this.#sockets.add(opened);
    opened.on('close', () => {
      this.#sockets.delete(opened);
      void unsubscribe();
    });
    opened.event('session', session);
    host.accept(opened, request);
  }

  async #post(request: IncomingMessage, response: ServerResponse, cors: Record<string, string>) {
    const host = this.#host;
    const session = queryOf(request).get('session');
    if (session === null || !SESSION.test(session))
      return fail(response, 400, ErrorCode.BAD_FRAME, 'A valid `session` parameter is required');
    let body: Buffer;
    const trickle = setTimeout(() => request.destroy(), DEFAULTS.sse.postTimeoutMs);
    try {
      body = await readBody(request, host.limits.hardMaxMessageBytes);
    } catch (error) {
      const { code, message } = error as SwitchboardError;
      if (code !== ErrorCode.TOO_LARGE) return true; // cut off: nobody to answer
      // Unread body: the connection cannot serve another request.
      return fail(response, 413, ErrorCode.TOO_LARGE, message, true);
    } finally {
      clearTimeout(trickle);
    }
    if (body.length === 0) return fail(response, 400, ErrorCode.BAD_FRAME, 'Empty body');
    try {
      await host.broker.publish(
        INTERNAL_CHANNELS.ssePrefix + session,
        { event: FRAMES_EVENT, data: body.toString() },
        { ephemeral: true },
      );
    } catch (error) {
      host.logger.warn({ err: error }, 'SSE frames not forwarded: broker publish failed');
      return fail(response, 503, ErrorCode.UNAVAILABLE, 'Broker unavailable; frames not taken');
    }
    response.writeHead(204, { ...cors, 'cache-control': 'no-store' });
    response.end();
  }
}

function fail(
  response: ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  close = false,
): true {
  sendJson(response, status, { error: { code, message } }, close);
  return true;
}
