/**
 * The proxy's plain-HTTP pass-through: forwards a request that is not an upgrade to the upstream
 * (hop-by-hop headers dropped both ways) and streams its answer back, or answers 404 / 502.
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { forwardedHeaderValue, type PathMapper, type Upstream } from './proxy-options.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

export interface HttpPassThrough {
  handle(request: IncomingMessage, response: ServerResponse): void;
  /** Closes the kept-alive connections to the upstream. */
  destroy(): void;
}

export function httpPassThrough(
  upstream: Upstream,
  mapPath: PathMapper,
  changeHost: boolean | undefined,
): HttpPassThrough {
  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({ keepAlive: true });
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const mapped = mapPath(request.url ?? '/');
    if (mapped === undefined) {
      response.writeHead(404).end();
      return;
    }
    const headers: string[] = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      const lower = request.rawHeaders[i]!.toLowerCase();
      if (HOP_BY_HOP.has(lower)) continue;
      headers.push(
        request.rawHeaders[i]!,
        forwardedHeaderValue(lower, request.rawHeaders[i + 1]!, upstream, changeHost),
      );
    }
    const forward = (upstream.secure ? httpsRequest : httpRequest)(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: mapped,
        headers,
        agent: upstream.secure ? httpsAgent : httpAgent,
        ...(upstream.secure && { servername: upstream.hostname }),
      },
      (answer) => {
        const out: string[] = [];
        for (let i = 0; i < answer.rawHeaders.length; i += 2) {
          if (HOP_BY_HOP.has(answer.rawHeaders[i]!.toLowerCase())) continue;
          out.push(answer.rawHeaders[i]!, answer.rawHeaders[i + 1]!);
        }
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
        answer.pipe(response);
        answer.on('error', () => response.destroy());
      },
    );
    // No timeout of its own: long-polling answers are slow on purpose; the client has its own.
    forward.on('error', (error) => {
      if (response.headersSent) response.destroy();
      else
        response
          .writeHead(502, { 'content-type': 'text/plain' })
          .end(
            `switchboard inspect: upstream ${upstream.origin} unreachable (${(error as NodeJS.ErrnoException).code ?? error.message})\n`,
          );
    });
    response.on('close', () => {
      if (!response.writableFinished) forward.destroy();
    });
    request.pipe(forward);
  };
  return {
    handle,
    destroy() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
