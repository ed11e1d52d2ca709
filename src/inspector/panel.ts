/**
 * Serves the panel on the inspected server's port: the page and its script, the exports (behind
 * the credential as a bearer token: the session as JSON Lines, a replay script, a connection as a
 * test file), and the upgrade to the panel's live socket, all same-origin and, without a
 * credential, only for loopback (or allowed) Host names.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerToken, pathOf, queryOf, refuseUpgrade } from '../server/http.js';
import { credentialCheck, hostCheck, sameOrigin } from './access.js';
import type { Target } from './capture.js';
import { exportJsonl, replayScript } from './export.js';
import { recordToTest } from './record-to-test.js';
import { panelSessions } from './sessions.js';
import type { InspectorStore } from './store.js';
import { PANEL_HTML, PANEL_JS } from './ui.js';

export interface PanelOptions {
  path: string;
  credential: string | undefined;
  actions: boolean;
  /** Host names the panel answers besides loopback ones when there is no credential. */
  allowedHosts?: readonly string[] | undefined;
  /** Where a generated test connects by default (the proxy: the upstream). */
  testUrl?: ((connection: string) => string | undefined) | undefined;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

/** Whether a request's path is the panel's or under it. */
export function isPanelPath(path: string, request: IncomingMessage): boolean {
  const pathname = pathOf(request);
  return pathname === path || pathname.startsWith(`${path}/`);
}

export function createPanel(store: InspectorStore, target: Target, options: PanelOptions) {
  const { path } = options;
  const sessions = panelSessions(store, target, options);
  const isCredential = credentialCheck(options.credential);
  const isAllowedHost = hostCheck(options.credential, options.allowedHosts);
  const allowed = (request: IncomingMessage) => sameOrigin(request) && isAllowedHost(request);
  // Absolute, so the page works at both `/inspector` and `/inspector/`.
  const html = PANEL_HTML.replace('src="panel.js"', `src="${path}/panel.js"`);

  const handleHttp = (request: IncomingMessage, response: ServerResponse): boolean => {
    if (!isPanelPath(path, request)) return false;
    if (!allowed(request)) {
      response.writeHead(403).end();
      return true;
    }
    const sub = pathOf(request).slice(path.length);
    if (sub === '' || sub === '/') {
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS })
        .end(html);
    } else if (sub === '/panel.js') {
      response
        .writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS })
        .end(PANEL_JS);
    } else if (sub === '/export.jsonl' || sub === '/replay.mjs' || sub === '/test.mjs') {
      if (!isCredential(bearerToken(request))) {
        response.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      } else if (sub === '/export.jsonl') {
        response
          .writeHead(200, { 'content-type': 'application/x-ndjson', ...SECURITY_HEADERS })
          .end(exportJsonl(store));
      } else if (sub === '/test.mjs') {
        const connection = queryOf(request).get('connection') ?? '';
        if (!store.has(connection)) {
          response.writeHead(404).end();
          return true;
        }
        const url = queryOf(request).get('url') ?? options.testUrl?.(connection);
        response
          .writeHead(200, {
            'content-type': 'text/javascript; charset=utf-8',
            'content-disposition': `attachment; filename="${connection.replace(/[^\w-]/g, '')}.test.mjs"`,
            ...SECURITY_HEADERS,
          })
          .end(recordToTest(store, connection, url === undefined ? {} : { url }));
      } else {
        response
          .writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS })
          .end(replayScript(store, queryOf(request).get('connection') ?? ''));
      }
    } else {
      response.writeHead(404).end();
    }
    return true;
  };

  const handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    if (pathOf(request) !== `${path}/ws`) return false;
    if (!allowed(request)) refuseUpgrade(socket, 403, 'Forbidden');
    else sessions.upgrade(request, socket, head);
    return true;
  };

  return { handleHttp, handleUpgrade, close: sessions.close };
}
