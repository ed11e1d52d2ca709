/**
 * `switchboard/inspector`: attaches capture and the live panel to a gateway or a plain `ws`
 * server. Only wiring lives here; every part has its own module.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { Server } from '../server/types.js';
import { gatewayCapture } from './capture-gateway.js';
import { wsCapture } from './capture-ws.js';
import { claimPath } from './claim-path.js';
import type { StoreLimits } from './limits.js';
import { createPanel, isPanelPath, type PanelOptions } from './panel.js';
import { InspectorStore } from './store.js';

export type { StoreLimits } from './limits.js';
export { InspectorStore } from './store.js';
export type { ConnectionRecord, Filter, FrameRecord, StoreStats } from './types.js';

export interface InspectorOptions {
  /** URL path of the panel. Default '/inspector'. */
  path?: string;
  /** Required by the panel when set; required to enable the inspector in production. */
  credential?: string;
  /** Default: on unless NODE_ENV is 'production' (where it also needs a credential). */
  enabled?: boolean;
  /** Replay, send, publish and close from the panel. Off unless set, and only with a credential. */
  actions?: boolean;
  limits?: Partial<StoreLimits>;
  /** For a plain ws server: the HTTP server to serve the panel on. */
  server?: HttpServer;
}

export interface Inspector {
  readonly enabled: boolean;
  readonly path: string;
  readonly store: InspectorStore | undefined;
  close(): void;
}

function isGateway(target: Server | WebSocketServer): target is Server {
  return (
    typeof (target as Server).tap === 'function' &&
    typeof (target as Server).routeUpgrade === 'function'
  );
}

/**
 * Captures a gateway's (or a plain `ws` server's) connections and frames and serves a live panel
 * at `path` on the same port. Off in production unless given a credential; when off, nothing is
 * attached and the gateway pays nothing.
 */
export function attachInspector(
  target: Server | WebSocketServer,
  options: InspectorOptions = {},
): Inspector {
  const path = (options.path ?? '/inspector').replace(/\/$/, '');
  const production = process.env['NODE_ENV'] === 'production';
  const allowed = !production || options.credential !== undefined;
  const enabled = (options.enabled ?? true) && allowed;
  if (!enabled) return { enabled: false, path, store: undefined, close() {} };

  const store = new InspectorStore(options.limits);
  const panelOptions = {
    path,
    credential: options.credential,
    actions: options.actions === true && options.credential !== undefined,
  };
  const removers = isGateway(target)
    ? attachToGateway(target, store, panelOptions)
    : attachToWs(target, store, panelOptions, options.server);
  const sweep = setInterval(() => store.sweep(), 60_000);
  sweep.unref?.();
  return {
    enabled: true,
    path,
    store,
    close() {
      clearInterval(sweep);
      for (const remove of removers) remove();
    },
  };
}

function attachToGateway(
  server: Server,
  store: InspectorStore,
  options: PanelOptions,
): (() => void)[] {
  const { tap, target } = gatewayCapture(store, server);
  const panel = createPanel(store, target, options);
  return [
    server.tap(tap),
    server.route(panel.handleHttp),
    server.routeUpgrade(panel.handleUpgrade),
    panel.close,
  ];
}

function attachToWs(
  wss: WebSocketServer,
  store: InspectorStore,
  options: PanelOptions,
  http: HttpServer | undefined,
): (() => void)[] {
  if (!http)
    throw new TypeError(
      'attachInspector(wss, { server }) needs the HTTP server to serve the panel on',
    );
  const { target, detach } = wsCapture(store, wss);
  const panel = createPanel(store, target, options);
  const isPanel = (request: IncomingMessage) => isPanelPath(options.path, request);
  const restoreRequest = claimPath(
    http,
    'request',
    isPanel,
    (request: IncomingMessage, response: ServerResponse) => {
      panel.handleHttp(request, response);
    },
  );
  const restoreUpgrade = claimPath(
    http,
    'upgrade',
    isPanel,
    (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!panel.handleUpgrade(request, socket, head)) socket.destroy();
    },
  );
  return [detach, restoreRequest, restoreUpgrade, panel.close];
}
