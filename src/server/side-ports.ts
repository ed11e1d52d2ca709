import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendJson } from './http.js';
import type { HttpHandler, Logger, SideAddress } from './types.js';

/**
 * Plug-ins that may serve on a port of their own (`metrics: { port }`, `health: { port }`), so
 * the load balancer can expose the gateway's port and keep `/metrics` and the probes on a
 * private one. Plug-ins given the same host and port share one server. Opened by `listen()`,
 * closed last by `close()` (so readiness answers "shutting down" while the gateway drains).
 */
export class SidePorts {
  readonly #servers = new Map<string, { http: HttpServer; handlers: HttpHandler[] }>();
  readonly #placed: { name: 'metrics' | 'health'; key: string; host: string; port: number }[] = [];

  constructor(private readonly logger: Logger) {}

  /**
   * Serves `handler` on a server of its own when `options.port` is set; false otherwise (the
   * caller routes it on the gateway's port).
   */
  place(
    name: 'metrics' | 'health',
    options: { port?: number; host?: string },
    defaultHost: string,
    handler: HttpHandler,
  ): boolean {
    if (options.port === undefined) return false;
    const host = options.host ?? defaultHost;
    // Port 0 asks for a free port: each plug-in asking gets one of its own.
    const key = options.port === 0 ? `${name}:0` : `${host}:${options.port}`;
    let entry = this.#servers.get(key);
    if (!entry) {
      const handlers: HttpHandler[] = [];
      const http = createHttpServer(async (request, response) => {
        try {
          for (const each of handlers) if (await each(request, response)) return;
        } catch (error) {
          this.logger.error({ err: error, url: request.url }, 'http handler failed');
          if (!response.headersSent) response.writeHead(500).end();
          return;
        }
        sendJson(response, 404, { error: { code: 'NOT_FOUND', message: 'Not found' } });
      });
      entry = { http, handlers };
      this.#servers.set(key, entry);
    }
    entry.handlers.push(handler);
    this.#placed.push({ name, key, host, port: options.port });
    return true;
  }

  /** Opens every side server (once) and reports where each plug-in is served. */
  async listen(): Promise<{ metrics?: SideAddress; health?: SideAddress }> {
    const out: { metrics?: SideAddress; health?: SideAddress } = {};
    for (const { name, key, host, port } of this.#placed) {
      const { http } = this.#servers.get(key)!;
      if (!http.listening) {
        await new Promise<void>((resolve, reject) => {
          const failed = (error: Error) =>
            reject(new Error(`${name} port ${host}:${port}: ${error.message}`));
          http.once('error', failed);
          http.listen(port, host, () => {
            http.off('error', failed);
            resolve();
          });
        });
      }
      const address = http.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      out[name] = {
        host: address.address,
        port: address.port,
        url: `http://${shown}:${address.port}`,
      };
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#servers.values()].map(({ http }) => {
        if (!http.listening) return undefined;
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        return closed;
      }),
    );
  }
}
