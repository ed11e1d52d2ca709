/**
 * The inspector for any WebSocket backend: a reverse proxy that forwards every connection to the
 * upstream byte for byte (the handshake as the client wrote it, the upstream's answer as it wrote
 * it, then every frame both ways, unparsed and unchanged) while reading a copy of each direction
 * into the store and the panel. Plain HTTP requests are passed through too. This module only
 * resolves the options and wires the parts (proxy-*.ts) to the listening servers.
 *
 * Because the bytes are relayed, not re-framed, neither side can tell the proxy is there: the
 * subprotocol and extensions are the ones the two ends negotiate with each other, and text,
 * binary, fragmentation, compression, ping, pong and close frames (codes and reasons) arrive as
 * sent. The proxy only writes into a stream for the panel's actions (replay, send, close), and
 * then only between two messages.
 */
import { createServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Target } from './capture.js';
import { createPanel } from './panel.js';
import { httpPassThrough } from './proxy-http.js';
import {
  type InspectorProxy,
  isLoopback,
  normalizePrefix,
  type ProxyOptions,
  parseUpstream,
  pathMapper,
  proxyAddress,
} from './proxy-options.js';
import { storeRecording } from './proxy-recording.js';
import { replayer } from './proxy-replay.js';
import { upgradeRelay } from './proxy-upgrade.js';
import { capturedUrl } from './record-to-test.js';
import { InspectorStore } from './store.js';
import { trackingPolicy } from './tracking.js';

export type { InspectorProxy, ProxyOptions } from './proxy-options.js';
export { parseUpstream } from './proxy-options.js';

export async function inspectProxy(options: ProxyOptions): Promise<InspectorProxy> {
  const upstream = parseUpstream(options.upstream);
  const host = options.host ?? '127.0.0.1';
  const prefix = normalizePrefix(options.pathPrefix ?? '/');
  const panelPath = (options.panelPath ?? '/inspector').replace(/\/+$/, '') || '/inspector';
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const showBinaryPreview = options.showBinaryPreview ?? true;
  const store = new InspectorStore({
    ...options.limits,
    hexPreviewBytes: showBinaryPreview ? (options.limits?.hexPreviewBytes ?? 256) : 0,
  });
  const mapPath = pathMapper(upstream, prefix);
  let port = 0;
  const replays = replayer(store, () => `ws://${proxyAddress(host)}:${port}`, connectTimeoutMs);
  const upgrades = upgradeRelay({
    upstream,
    mapPath,
    changeHost: options.changeHost,
    recording: storeRecording(store),
    policy: trackingPolicy(options),
    replays,
    connectTimeoutMs,
    log: options.log ?? (() => {}),
  });
  const http = httpPassThrough(upstream, mapPath, options.changeHost);

  const target: Target = {
    replay: (id, data) => upgrades.tunnelOf(id)?.inject('in', data) ?? false,
    replayNew: (id, data) => replays.replayNew(id, data),
    send: (id, text) => upgrades.tunnelOf(id)?.inject('out', text) ?? false,
    close: (id, code, reason) => upgrades.tunnelOf(id)?.closeFromPanel(code, reason) ?? false,
  };

  const credential = options.credential;
  const actions = (options.actions ?? true) && (credential !== undefined || isLoopback(host));
  const panel = createPanel(store, target, {
    path: panelPath,
    credential,
    actions,
    allowedHosts: options.allowedHosts,
    testUrl: (id) => {
      const record = store.connection(id);
      if (!record) return undefined;
      const path = mapPath(record.path) ?? record.path;
      return capturedUrl({ ...record, path }, upstream.origin);
    },
  });

  const servePanelHere = options.panelPort === undefined;
  const server: HttpServer = createServer((request, response) => {
    if (servePanelHere && panel.handleHttp(request, response)) return;
    http.handle(request, response);
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (servePanelHere && panel.handleUpgrade(request, socket, head)) return;
    upgrades.handle(request, socket, head);
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  let panelServer: HttpServer | undefined;
  if (!servePanelHere) {
    panelServer = createServer((request, response) => {
      if (!panel.handleHttp(request, response)) response.writeHead(404).end();
    });
    panelServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!panel.handleUpgrade(request, socket, head)) socket.destroy();
    });
  }
  const listen = (listener: HttpServer, on: number) =>
    new Promise<number>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(on, host, () => {
        listener.off('error', reject);
        resolve((listener.address() as { port: number }).port);
      });
    });
  port = await listen(server, options.port ?? 0);
  let panelPort = port;
  try {
    if (panelServer) panelPort = await listen(panelServer, options.panelPort!);
  } catch (error) {
    server.close();
    throw error;
  }
  const sweep = setInterval(() => store.sweep(), 60_000);
  sweep.unref?.();
  const address = proxyAddress(host);

  return {
    url: `http://${address}:${port}`,
    port,
    panelUrl: `http://${address}:${panelPort}${panelPath}`,
    store,
    async close() {
      clearInterval(sweep);
      replays.close();
      upgrades.destroy();
      panel.close();
      http.destroy();
      const closing = [server, ...(panelServer ? [panelServer] : [])].map(
        (listening) =>
          new Promise<void>((resolve) => {
            listening.close(() => resolve());
            listening.closeAllConnections();
          }),
      );
      await Promise.all(closing);
    },
  };
}
