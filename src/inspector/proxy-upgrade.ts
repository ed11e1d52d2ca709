/**
 * The proxy's upgrade handshake relay: takes a client's upgrade request, opens the connection's
 * record, connects to the upstream and hands both sockets to a tunnel with the handshake as the
 * client wrote it (path mapped, Host optionally changed, a replay's marker removed).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { refuseUpgrade } from '../server/http.js';
import { openRecord } from './capture.js';
import { forwardedHeaderValue, type PathMapper, type Upstream } from './proxy-options.js';
import type { Recording } from './proxy-recording.js';
import { REPLAY_HEADER, type Replayer } from './proxy-replay.js';
import { Tunnel } from './proxy-tunnel.js';
import { splitUrl } from './redact.js';
import type { TrackingPolicy } from './tracking.js';

export interface UpgradeRelayOptions {
  upstream: Upstream;
  mapPath: PathMapper;
  changeHost: boolean | undefined;
  recording: Recording;
  policy: TrackingPolicy;
  replays: Replayer;
  connectTimeoutMs: number;
  log: (line: string) => void;
}

export interface UpgradeRelay {
  handle(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The connection's tunnel while frames flow on it. */
  tunnelOf(id: string): Tunnel | undefined;
  /** Cuts every connection. */
  destroy(): void;
}

function connectUpstream(upstream: Upstream): Socket {
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
}

export function upgradeRelay(options: UpgradeRelayOptions): UpgradeRelay {
  const { upstream, mapPath, changeHost, recording, policy, replays, connectTimeoutMs, log } =
    options;
  const { store } = recording;
  const tunnels = new Map<string, Tunnel>();

  const handle = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const mapped = mapPath(request.url ?? '/');
    if (mapped === undefined) return refuseUpgrade(socket, 404, 'Not Found');
    // A replay connection the proxy opened itself says so with this proxy's nonce.
    const replay = replays.marker(request);
    const isReplay = replay !== undefined;
    const id = replay?.id ?? randomBytes(6).toString('hex');
    const rawHeaders: string[] = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i]!;
      const lower = name.toLowerCase();
      if (isReplay && lower === REPLAY_HEADER) continue;
      rawHeaders.push(
        name,
        forwardedHeaderValue(lower, request.rawHeaders[i + 1]!, upstream, changeHost),
      );
    }
    const tracked = openRecord(store, id, request, 'connecting', isReplay ? () => true : policy);
    if (tracked && isReplay) store.updateConnection(id, { replayOf: replay.of });
    else if (tracked) replays.remember(id, request);
    const { path, query } = splitUrl(request);
    const shown = `${path}${Object.keys(query).length ? `?${new URLSearchParams(query)}` : ''}`;
    log(`→ ${id} ${shown}${isReplay ? ` (replay of ${replay.of})` : ''}`);
    const tunnel = new Tunnel(
      id,
      socket as Socket,
      connectUpstream(upstream),
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

  return {
    handle,
    tunnelOf(id) {
      const tunnel = tunnels.get(id);
      return tunnel?.isOpen ? tunnel : undefined;
    },
    destroy() {
      for (const tunnel of tunnels.values()) tunnel.destroy();
    },
  };
}
