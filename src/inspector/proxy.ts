/**
 * The inspector for any WebSocket backend: a reverse proxy that forwards every connection to the
 * upstream byte for byte (the handshake as the client wrote it, the upstream's answer as it wrote
 * it, then every frame both ways, unparsed and unchanged) while reading a copy of each direction
 * into the store and the panel. Plain HTTP requests are passed through too.
 *
 * Because the bytes are relayed, not re-framed, neither side can tell the proxy is there: the
 * subprotocol and extensions are the ones the two ends negotiate with each other, and text,
 * binary, fragmentation, compression, ping, pong and close frames (codes and reasons) arrive as
 * sent. The proxy only writes into a stream for the panel's actions (replay, send, close), and
 * then only between two messages.
 */
import { randomBytes } from 'node:crypto';
import {
  createServer,
  Agent as HttpAgent,
  type Server as HttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { refuseUpgrade } from '../server/http.js';
import { openRecord, type Target } from './capture.js';
import { describeCut, describeText } from './decode.js';
import type { StoreLimits } from './limits.js';
import { createPanel } from './panel.js';
import { capturedUrl } from './record-to-test.js';
import { redactProtocol, splitUrl } from './redact.js';
import { InspectorStore } from './store.js';
import { type TrackingOptions, trackingPolicy } from './tracking.js';
import type { Direction } from './types.js';
import { closePayload, encodeFrame, FrameReader, parseClose } from './ws-wire.js';

export interface ProxyOptions extends TrackingOptions {
  /** The backend: ws://, wss://, http:// or https://host:port, with an optional base path. */
  upstream: string;
  /** Port the proxy listens on. Default 0: any free port (see `port` on the result). */
  port?: number;
  /** Address the proxy listens on. Default 127.0.0.1. */
  host?: string;
  /**
   * Which paths are forwarded: requests under it go to the upstream with the prefix replaced by
   * the upstream's base path; others get 404 (the panel's path excepted). Default '/': all.
   */
  pathPrefix?: string;
  /** Serve the panel on its own port (same host) instead of `panelPath` on the proxy's. */
  panelPort?: number;
  /** The panel's path. Default '/inspector'. */
  panelPath?: string;
  /** Guards the panel, its exports and its socket (needed for a proxy reachable from elsewhere). */
  credential?: string;
  /**
   * Replay, send and close from the panel. Default: on when a credential is set or the proxy
   * listens on a loopback address only; never on otherwise.
   */
  actions?: boolean;
  /** Host names the panel answers without a credential besides loopback ones (DNS rebinding). */
  allowedHosts?: string[];
  limits?: Partial<StoreLimits>;
  /** A hex preview of binary frames (and the bytes to replay them). Default true. */
  showBinaryPreview?: boolean;
  /** Send the upstream's host in the Host header instead of the client's. Default false. */
  changeHost?: boolean;
  /** Bound on connecting to the upstream and on its answer to a handshake. Default 10 s. */
  connectTimeoutMs?: number;
  /** One line per connection opened and closed (paths with credentials redacted). */
  log?: (line: string) => void;
}

export interface InspectorProxy {
  /** http://host:port of the proxy: point clients at its ws:// form. */
  readonly url: string;
  readonly port: number;
  /** Where the panel is. */
  readonly panelUrl: string;
  readonly store: InspectorStore;
  close(): Promise<void>;
}

interface Upstream {
  secure: boolean;
  hostname: string;
  port: number;
  /**
   * Its base path without a trailing slash ('' for '/'), or undefined when its URL has no path
   * at all: then paths are forwarded unchanged (as nginx's proxy_pass without a URI).
   */
  base: string | undefined;
  /** host[:port] as in its URL. */
  authority: string;
  /** ws[s]://host[:port] */
  origin: string;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
const REPLAY_HEADER = 'x-switchboard-inspector-replay';
/** How long a connection opened to replay a frame stays open. */
const REPLAY_LINGER_MS = 30_000;
const MAX_REPLAY_CONNECTIONS = 8;
/** After one side has gone, how long the other gets to finish before it is cut off. */
const TEARDOWN_MS = 2_000;
const MAX_RESPONSE_HEAD = 64 * 1024;

export function parseUpstream(upstream: string): Upstream {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    throw new TypeError(`upstream must be a URL such as ws://127.0.0.1:8000, not "${upstream}"`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol))
    throw new TypeError(`upstream must be ws://, wss://, http:// or https://, not ${url.protocol}`);
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  return {
    secure,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (secure ? 443 : 80)),
    base: /^[a-z]+:\/\/[^/?#]+[/]/i.test(upstream) ? url.pathname.replace(/\/+$/, '') : undefined,
    authority: url.host,
    origin: `${secure ? 'wss' : 'ws'}://${url.host}`,
  };
}

/** The path prefix as compared: leading slash, no trailing one ('' for '/'). */
function normalizePrefix(prefix: string): string {
  const withSlash = prefix.startsWith('/') ? prefix : `/${prefix}`;
  return withSlash.replace(/\/+$/, '');
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);

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
  const policy = trackingPolicy(options);
  const log = options.log ?? (() => {});
  const nonce = randomBytes(16).toString('hex');
  const tunnels = new Map<string, Tunnel>();
  /** How each connection was opened, for replaying on a new one (kept privately, bounded). */
  const contexts = new Map<string, ReplayContext>();
  const replays = new Set<WebSocket>();

  /**
   * The path on the upstream for a path (and query) on the proxy; undefined: not forwarded. As
   * nginx's proxy_pass: unchanged when the upstream URL has no path, else with the prefix
   * replaced by the upstream's path.
   */
  const mapPath = (url: string): string | undefined => {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q);
    if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`)) return undefined;
    const mappedPath =
      upstream.base === undefined ? path : `${upstream.base}${path.slice(prefix.length)}` || '/';
    return `${mappedPath}${query}`;
  };

  const recording: Recording = {
    store,
    message(id, direction, binary, data, size, cut) {
      if (!store.has(id)) return;
      if (data === undefined) {
        store.record(
          id,
          direction,
          size,
          'compressed',
          undefined,
          undefined,
          undefined,
          undefined,
          binary,
        );
        return;
      }
      if (binary) {
        store.record(id, direction, size, 'binary', undefined, undefined, undefined, data, true);
        return;
      }
      const first = data[0];
      const json = first === 0x7b || first === 0x5b;
      const text = !cut && json ? data.toString() : undefined;
      const described =
        text !== undefined
          ? describeText(text, store.limits.maxFrameBytes)
          : cut && json
            ? describeCut(data.subarray(0, 256).toString())
            : undefined;
      // Both ways: a backend's own replies may carry tokens (a login's answer).
      store.record(
        id,
        direction,
        size,
        described?.type ?? 'text',
        described?.channel,
        described?.event,
        described?.id,
        text ?? data,
        false,
        true,
      );
    },
    control(id, direction, kind, payload) {
      if (!store.has(id)) return;
      if (kind === 'close') {
        const { code, reason } = parseClose(payload);
        store.recordControl(id, direction, 'close', undefined, code, reason);
      } else store.recordControl(id, direction, kind, payload);
    },
  };

  const connectUpstream = (): Socket => {
    const socket = upstream.secure
      ? tlsConnect({
          host: upstream.hostname,
          port: upstream.port,
          servername: upstream.hostname,
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host: upstream.hostname, port: upstream.port, allowHalfOpen: true });
    socket.setNoDelay(true);
    return socket;
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const mapped = mapPath(request.url ?? '/');
    if (mapped === undefined) return refuseUpgrade(socket, 404, 'Not Found');
    // A replay connection the proxy opened itself says so with this proxy's nonce.
    const marker = request.headers[REPLAY_HEADER];
    const [markNonce, replayId, replayOf] =
      typeof marker === 'string' ? marker.split(' ') : [undefined, undefined, undefined];
    const isReplay = markNonce === nonce && replayId !== undefined && replayOf !== undefined;
    const id = isReplay ? replayId : randomBytes(6).toString('hex');
    const rawHeaders: string[] = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i]!;
      const lower = name.toLowerCase();
      if (isReplay && lower === REPLAY_HEADER) continue;
      rawHeaders.push(
        name,
        lower === 'host' && options.changeHost ? upstream.authority : request.rawHeaders[i + 1]!,
      );
    }
    const tracked = openRecord(store, id, request, 'connecting', isReplay ? () => true : policy);
    if (tracked && isReplay) store.updateConnection(id, { replayOf });
    else if (tracked) {
      contexts.set(id, replayContext(request));
      if (contexts.size > store.limits.maxConnections * 2)
        contexts.delete(contexts.keys().next().value!);
    }
    const { path, query } = splitUrl(request);
    const shown = `${path}${Object.keys(query).length ? `?${new URLSearchParams(query)}` : ''}`;
    log(`→ ${id} ${shown}${isReplay ? ` (replay of ${replayOf})` : ''}`);
    const tunnel = new Tunnel(
      id,
      socket as Socket,
      connectUpstream(),
      recording,
      connectTimeoutMs,
      () => {
        tunnels.delete(id);
        const record = store.connection(id);
        log(`✕ ${id} ${record?.closeCode ?? ''} ${record?.closeReason ?? ''}`.trimEnd());
      },
    );
    tunnels.set(id, tunnel);
    let headText = `${request.method} ${mapped} HTTP/${request.httpVersion}\r\n`;
    for (let i = 0; i < rawHeaders.length; i += 2)
      headText += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
    tunnel.start(Buffer.from(`${headText}\r\n`, 'latin1'), head);
  };

  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({ keepAlive: true });
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
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
        lower === 'host' && options.changeHost ? upstream.authority : request.rawHeaders[i + 1]!,
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
  const tunnelOf = (id: string) => {
    const tunnel = tunnels.get(id);
    return tunnel?.isOpen ? tunnel : undefined;
  };

  const proxyAddress = () => {
    const bound = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
    return bound.includes(':') ? `[${bound}]` : bound;
  };

  const target: Target = {
    replay: (id, data) => tunnelOf(id)?.inject('in', data) ?? false,
    replayNew: (id, data) => {
      const context = contexts.get(id);
      if (!context) return Promise.resolve(undefined);
      const newId = randomBytes(6).toString('hex');
      const url = `ws://${proxyAddress()}:${port}${context.url}`;
      const ws = new WebSocket(url, context.protocols, {
        headers: { ...context.headers, [REPLAY_HEADER]: `${nonce} ${newId} ${id}` },
        handshakeTimeout: connectTimeoutMs,
      });
      replays.add(ws);
      if (replays.size > MAX_REPLAY_CONNECTIONS) {
        const oldest = replays.values().next().value!;
        oldest.close(1000, 'inspector replay done');
        replays.delete(oldest);
      }
      const linger = setTimeout(() => ws.close(1000, 'inspector replay done'), REPLAY_LINGER_MS);
      linger.unref?.();
      ws.on('close', () => {
        clearTimeout(linger);
        replays.delete(ws);
      });
      ws.on('error', () => {});
      // Behind Switchboard's protocol, a frame needs an authenticated connection: the captured
      // `connect` (its token as captured, never shown) goes first, and the frame once it is answered.
      const connect = connectFrameOf(store, id);
      const needsConnect =
        connect !== undefined &&
        describeText(typeof data === 'string' ? data : '', Number.POSITIVE_INFINITY)?.type !==
          'connect';
      return new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), connectTimeoutMs);
        timer.unref?.();
        const done = (value: string | undefined) => {
          clearTimeout(timer);
          resolve(value);
        };
        ws.once('error', () => done(undefined));
        ws.once('close', () => done(undefined));
        ws.once('open', () => {
          if (!needsConnect) {
            ws.send(data);
            return done(newId);
          }
          ws.send(connect.text);
          const onMessage = (raw: WebSocket.RawData) => {
            let frame: { type?: unknown; id?: unknown } | undefined;
            try {
              frame = JSON.parse(raw.toString());
            } catch {}
            if ((frame?.type === 'reply' || frame?.type === 'error') && frame.id === connect.id) {
              ws.off('message', onMessage);
              ws.send(data);
              done(newId);
            }
          };
          ws.on('message', onMessage);
        });
      });
    },
    send: (id, text) => tunnelOf(id)?.inject('out', text) ?? false,
    close: (id, code, reason) => tunnelOf(id)?.closeFromPanel(code, reason) ?? false,
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
    onRequest(request, response);
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (servePanelHere && panel.handleUpgrade(request, socket, head)) return;
    onUpgrade(request, socket, head);
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
  const listen = (http: HttpServer, on: number) =>
    new Promise<number>((resolve, reject) => {
      http.once('error', reject);
      http.listen(on, host, () => {
        http.off('error', reject);
        resolve((http.address() as { port: number }).port);
      });
    });
  const port = await listen(server, options.port ?? 0);
  let panelPort = port;
  try {
    if (panelServer) panelPort = await listen(panelServer, options.panelPort!);
  } catch (error) {
    server.close();
    throw error;
  }
  const sweep = setInterval(() => store.sweep(), 60_000);
  sweep.unref?.();
  const address = proxyAddress();

  return {
    url: `http://${address}:${port}`,
    port,
    panelUrl: `http://${address}:${panelPort}${panelPath}`,
    store,
    async close() {
      clearInterval(sweep);
      for (const ws of replays) ws.terminate();
      for (const tunnel of tunnels.values()) tunnel.destroy();
      panel.close();
      httpAgent.destroy();
      httpsAgent.destroy();
      const closing = [server, ...(panelServer ? [panelServer] : [])].map(
        (http) =>
          new Promise<void>((resolve) => {
            http.close(() => resolve());
            http.closeAllConnections();
          }),
      );
      await Promise.all(closing);
    },
  };
}

interface ReplayContext {
  /** Path and query on the proxy, as the client asked for them (credentials included). */
  url: string;
  headers: Record<string, string>;
  protocols: string[];
}

const HANDSHAKE_HEADERS = new Set([
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'connection',
  'upgrade',
  'content-length',
  'transfer-encoding',
  REPLAY_HEADER,
]);

/** What a replay on a new connection needs to open it as the client did: kept in memory only. */
function replayContext(request: IncomingMessage): ReplayContext {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HANDSHAKE_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
  }
  const offered = request.headers['sec-websocket-protocol'];
  return {
    url: request.url ?? '/',
    headers,
    protocols: offered
      ? offered
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean)
      : [],
  };
}

/** The connection's Switchboard `connect` frame, as captured, if it sent one and it is kept. */
function connectFrameOf(
  store: InspectorStore,
  id: string,
): { text: string; id: number | undefined } | undefined {
  const frame = store
    .frames({ connection: id, direction: 'in' }, Number.POSITIVE_INFINITY)
    .find((f) => f.type === 'connect');
  if (!frame) return undefined;
  const kept = store.replayable(frame.seq);
  return kept && typeof kept.data === 'string' ? { text: kept.data, id: frame.id } : undefined;
}

interface Recording {
  store: InspectorStore;
  message(
    id: string,
    direction: Direction,
    binary: boolean,
    data: Buffer | undefined,
    size: number,
    cut: boolean,
  ): void;
  control(id: string, direction: Direction, kind: 'ping' | 'pong' | 'close', payload: Buffer): void;
}

/**
 * One direction of a tunnel: forwards every chunk as it comes (and before reading it), holds the
 * source back while the destination is full, and writes injected frames only between messages.
 */
class Relay {
  private pending: Buffer[] = [];
  closed = false;

  constructor(
    private readonly from: Duplex,
    private readonly to: Duplex,
    private readonly observe: (chunk: Buffer, onBoundary?: (offset: number) => void) => void,
    private readonly atBoundary: () => boolean,
  ) {
    from.on('data', (chunk: Buffer) => this.onData(chunk));
    to.on('drain', () => from.resume());
  }

  private write(bytes: Buffer): void {
    if (bytes.length > 0 && !this.to.write(bytes)) this.from.pause();
  }

  /** Relays a chunk that came from the source. */
  receive(chunk: Buffer): void {
    this.onData(chunk);
  }

  private onData(chunk: Buffer): void {
    if (this.pending.length === 0) {
      this.write(chunk);
      this.observe(chunk);
      return;
    }
    let start = 0;
    this.observe(chunk, (offset) => {
      if (this.pending.length === 0) return;
      this.write(chunk.subarray(start, offset));
      start = offset;
      this.flush();
    });
    this.write(chunk.subarray(start));
  }

  private flush(): void {
    for (const frame of this.pending.splice(0)) this.write(frame);
  }

  /** Writes `frame` now if the stream is between messages, else as soon as it is. */
  inject(frame: Buffer): void {
    if (this.pending.length === 0 && this.atBoundary()) this.write(frame);
    else this.pending.push(frame);
  }

  drop(): void {
    this.pending = [];
  }
}

/** One proxied connection: the client's socket, the upstream's, and a reader each way. */
class Tunnel {
  /** The upstream answered 101: frames flow. */
  isOpen = false;
  private responded = false;
  private responseHead: Buffer | undefined = Buffer.alloc(0);
  private readonly readers: Record<Direction, FrameReader>;
  private readonly relays: Record<Direction, Relay>;
  /** A close frame went that way: no data frame may follow it. */
  private readonly closed: Record<Direction, boolean> = { in: false, out: false };
  private finished = false;
  private observing = true;

  constructor(
    readonly id: string,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly recording: Recording,
    private readonly timeoutMs: number,
    private readonly onFinished: () => void,
  ) {
    const { store } = recording;
    const keep = (binary: boolean) =>
      binary ? store.limits.hexPreviewBytes + 1 : store.limits.maxFrameBytes + 1;
    const reader = (direction: Direction) =>
      new FrameReader(
        {
          message: (binary, data, size, cut) =>
            this.recording.message(id, direction, binary, data, size, cut),
          control: (kind, payload) => {
            if (kind === 'close') this.closed[direction] = true;
            this.recording.control(id, direction, kind, payload);
          },
          stop: (reason) => store.noteError(id, `not inspected any further: ${reason}`),
        },
        { keep },
      );
    this.readers = { in: reader('in'), out: reader('out') };
    client.setNoDelay?.(true);
    this.relays = {
      in: new Relay(
        client,
        upstream,
        (chunk, onBoundary) => this.observe('in', chunk, onBoundary),
        () => this.isOpen && this.readers.in.atBoundary,
      ),
      out: new Relay(
        upstream,
        client,
        (chunk, onBoundary) => this.observe('out', chunk, onBoundary),
        () => this.isOpen && this.readers.out.atBoundary,
      ),
    };
  }

  /** Sends the handshake (and any bytes the client sent after it) and starts relaying. */
  start(requestHead: Buffer, head: Buffer): void {
    const { client, upstream } = this;
    upstream.setTimeout(this.timeoutMs, () => {
      if (this.responded) return;
      this.refuse(504, 'Gateway Timeout', 'upstream did not answer the handshake in time');
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.responded)
        this.refuse(502, 'Bad Gateway', `upstream unreachable: ${error.code ?? error.message}`);
    });
    client.on('error', () => upstream.destroy());
    // Each side's end is passed on; once one side has gone, the other has a moment to follow.
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => this.teardown(upstream));
    upstream.on('close', () => this.teardown(client));
    upstream.write(requestHead);
    if (head.length > 0) this.relays.in.receive(head);
  }

  private refuse(status: number, text: string, error: string): void {
    this.responded = true;
    this.recording.store.noteError(this.id, error);
    this.client.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    this.upstream.destroy();
  }

  private teardown(other: Socket): void {
    other.end();
    setTimeout(() => other.destroy(), TEARDOWN_MS).unref?.();
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.relays.in.drop();
    this.relays.out.drop();
    const { store } = this.recording;
    const record = store.connection(this.id);
    if (record && record.status !== 'closed') {
      store.updateConnection(this.id, {
        status: 'closed',
        closedAt: Date.now(),
        closeCode: record.closeCode ?? 1006,
        closeReason: record.closeReason ?? '',
      });
    }
    this.onFinished();
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  /** Reads a copy of what was just forwarded. Never throws: capture must not break the relay. */
  private observe(
    direction: Direction,
    chunk: Buffer,
    onBoundary?: (offset: number) => void,
  ): void {
    if (!this.observing) return;
    try {
      if (direction === 'out' && this.responseHead !== undefined) {
        this.responded = true;
        const rest = this.readResponseHead(chunk);
        if (rest === undefined) return;
        chunk = rest;
        if (!this.isOpen || chunk.length === 0) return;
        // Frames in the same chunk as the handshake's answer: no injection point is needed there.
        onBoundary = undefined;
      }
      this.readers[direction].feed(chunk, onBoundary);
    } catch (error) {
      this.observing = false;
      this.recording.store.noteError(this.id, `inspection stopped: ${(error as Error).message}`);
    }
  }

  /** Gathers the upstream's answer to the handshake; returns the bytes after it once complete. */
  private readResponseHead(chunk: Buffer): Buffer | undefined {
    const gathered = Buffer.concat([this.responseHead!, chunk]);
    const end = gathered.indexOf('\r\n\r\n');
    if (end === -1) {
      if (gathered.length > MAX_RESPONSE_HEAD) {
        this.observing = false;
        this.responseHead = undefined;
      } else this.responseHead = gathered;
      return undefined;
    }
    this.responseHead = undefined;
    this.upstream.setTimeout(0);
    const lines = gathered.subarray(0, end).toString('latin1').split('\r\n');
    const [, status = '', ...words] = lines[0]!.split(' ');
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0)
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const { store } = this.recording;
    if (status !== '101') {
      this.observing = false;
      store.noteError(
        this.id,
        `upstream refused the upgrade: HTTP ${status} ${words.join(' ')}`.trim(),
      );
      store.updateConnection(this.id, {
        status: 'closed',
        closedAt: Date.now(),
        closeReason: `HTTP ${status} ${words.join(' ')}`.trim(),
      });
      return undefined;
    }
    this.isOpen = true;
    if (/permessage-deflate/i.test(headers.get('sec-websocket-extensions') ?? '')) {
      this.readers.in.enableDeflate();
      this.readers.out.enableDeflate();
    }
    const protocol = headers.get('sec-websocket-protocol');
    store.updateConnection(this.id, {
      status: 'open',
      ...(protocol !== undefined && { protocol: redactProtocol(protocol) }),
    });
    return gathered.subarray(end + 4);
  }

  /**
   * Writes a frame into the conversation: `in` as if the client had sent it (replay on the live
   * connection), `out` as if the server had (the panel's "send to client"). Only once open and
   * before a close frame went that way.
   */
  inject(direction: Direction, data: string | Uint8Array): boolean {
    if (!this.isOpen || this.closed[direction] || this.finished) return false;
    const binary = typeof data !== 'string';
    const payload = binary
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);
    this.relays[direction].inject(encodeFrame(binary ? 2 : 1, payload, direction === 'in'));
    const keep = binary
      ? this.recording.store.limits.hexPreviewBytes + 1
      : this.recording.store.limits.maxFrameBytes + 1;
    const cut = payload.length > keep;
    this.recording.message(
      this.id,
      direction,
      binary,
      cut ? payload.subarray(0, keep) : payload,
      payload.length,
      cut,
    );
    return true;
  }

  /**
   * Closes from the panel: a close frame to the client, as if from the server. The client
   * answers it, and its answer goes on to the upstream, which sees the client close.
   */
  closeFromPanel(code: number, reason: string): boolean {
    const valid =
      Number.isInteger(code) &&
      ((code >= 1000 && code <= 1003) ||
        (code >= 1007 && code <= 1014) ||
        (code >= 3000 && code <= 4999));
    if (!valid || Buffer.byteLength(reason) > 123) return false;
    if (!this.isOpen || this.closed.out || this.finished) return false;
    const payload = closePayload(code, reason);
    this.closed.out = true;
    this.relays.out.inject(encodeFrame(8, payload, false));
    this.recording.control(this.id, 'out', 'close', payload);
    setTimeout(() => this.destroy(), 5_000).unref?.();
    return true;
  }
}
