/**
 * `switchboard/inspector`: attaches capture and the live panel to a gateway or a plain `ws`
 * server, or puts them in front of any WebSocket backend as a proxy (`inspectProxy`). Only
 * wiring lives here; every part has its own module.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { Server } from '../server/types.js';
import { gatewayCapture } from './capture-gateway.js';
import { wsCapture } from './capture-ws.js';
import { claimPath } from './claim-path.js';
import { DEFAULT_LIMITS, type StoreLimits } from './limits.js';
import { createPanel, isPanelPath, type PanelOptions } from './panel.js';
import { InspectorStore } from './store.js';
import { type TrackingOptions, type TrackingPolicy, trackingPolicy } from './tracking.js';

export type { StoreLimits } from './limits.js';
export { type InspectorProxy, inspectProxy, type ProxyOptions } from './proxy.js';
export { type RecordToTestOptions, recordToTest } from './record-to-test.js';
export { InspectorStore } from './store.js';
export type { TrackingOptions } from './tracking.js';
export type { ConnectionRecord, Filter, FrameRecord, StoreStats } from './types.js';

export interface InspectorOptions extends TrackingOptions {
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
  /**
   * Host names the panel answers without a credential, besides loopback ones (`localhost`,
   * `127.0.0.1`, `[::1]`): a name for any port, or an exact `name:port`. With a credential any
   * Host goes. This is the DNS-rebinding guard.
   */
  allowedHosts?: string[];
  /** A hex preview of binary frames (`limits.hexPreviewBytes` of them). Default false: size only. */
  showBinaryPreview?: boolean;
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

  const store = new InspectorStore({
    ...options.limits,
    hexPreviewBytes: options.showBinaryPreview
      ? (options.limits?.hexPreviewBytes ?? DEFAULT_LIMITS.hexPreviewBytes)
      : 0,
  });
  const panelOptions = {
    path,
    credential: options.credential,
    actions: options.actions === true && options.credential !== undefined,
    allowedHosts: options.allowedHosts,
  };
  const policy = trackingPolicy(options);
  const removers = isGateway(target)
    ? attachToGateway(target, store, panelOptions, policy)
    : attachToWs(target, store, panelOptions, options.server, policy);
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
  policy: TrackingPolicy,
): (() => void)[] {
  const { tap, target } = gatewayCapture(store, server, policy);
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
  policy: TrackingPolicy,
): (() => void)[] {
  if (!http)
    throw new TypeError(
      'attachInspector(wss, { server }) needs the HTTP server to serve the panel on',
    );
  const { target, detach } = wsCapture(store, wss, policy);
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
