import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pathOf, refuseUpgrade } from './http.js';
import type { HttpHandler, Logger, UpgradeHandler } from './types.js';

/**
 * The gateway's HTTP port: plug-ins' routes (API, health, metrics, inspector) and their upgrade
 * paths, the first to claim a request wins; the WebSocket endpoint's own path goes to `accept`.
 */
export class Routing {
  readonly #handlers: HttpHandler[] = [];
  readonly #upgrades: UpgradeHandler[] = [];

  constructor(
    private readonly http: HttpServer,
    /** Whether the gateway owns the HTTP server, or shares the app's. */
    private readonly owned: boolean,
    private readonly path: string,
    private readonly logger: Logger,
    private readonly accept: (request: IncomingMessage, socket: Duplex, head: Buffer) => void,
  ) {
    http.on('upgrade', this.#onUpgrade);
    http.on('request', this.#onRequest);
  }

  route(handler: HttpHandler): () => void {
    return added(this.#handlers, handler);
  }

  routeUpgrade(handler: UpgradeHandler): () => void {
    return added(this.#upgrades, handler);
  }

  detach(): void {
    this.http.off('upgrade', this.#onUpgrade);
    this.http.off('request', this.#onRequest);
  }

  readonly #onRequest = async (request: IncomingMessage, response: ServerResponse) => {
    try {
      for (const handler of this.#handlers) if (await handler(request, response)) return;
    } catch (error) {
      this.logger.error({ err: error, url: request.url }, 'http handler failed');
      if (!response.headersSent) response.writeHead(500).end();
      return;
    }
    // On a shared server, routes the app registered itself answer everything else.
    if (!this.owned || response.headersSent) return;
    const upgradePath = pathOf(request) === this.path;
    response.writeHead(upgradePath ? 426 : 404, { 'content-type': 'text/plain' });
    response.end(upgradePath ? 'WebSocket upgrade required' : 'Not found');
  };

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(request) === this.path) return this.accept(request, socket, head);
    for (const handler of this.#upgrades) if (handler(request, socket, head)) return;
    // Another upgrade listener (e.g. Vite's HMR) may own this path on a shared server.
    if (this.owned || this.http.listenerCount('upgrade') === 1)
      refuseUpgrade(socket, 404, 'Not Found');
  };
}

/** Adds to a list; returns the remover. */
function added<T>(list: T[], item: T): () => void {
  list.push(item);
  return () => {
    const index = list.indexOf(item);
    if (index >= 0) list.splice(index, 1);
  };
}
