/**
 * The panel's live sockets: the credential handshake, each panel's filter, pause and paging,
 * snapshots, and live updates sent in batches. The store decodes frames for the panel only while
 * an authenticated panel is connected.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { credentialCheck } from './access.js';
import { act } from './actions.js';
import type { Target } from './capture.js';
import { matches } from './query.js';
import type { InspectorStore } from './store.js';
import type { ConnectionRecord, Filter, FrameRecord, StoreEvent } from './types.js';

export interface SessionOptions {
  credential: string | undefined;
  actions: boolean;
}

/** Bytes waiting for one panel socket before live frames are dropped (and counted) for it. */
const MAX_PANEL_BUFFER = 4 * 1024 * 1024;
const FLUSH_MS = 100;
const SNAPSHOT_FRAMES = 500;
const PAGE = 200;
/** A panel socket that has not sent the credential by then is closed, like the gateway's 4005. */
const AUTH_TIMEOUT_MS = 10_000;

interface PanelSession {
  ws: WebSocket;
  authed: boolean;
  filter: Filter;
  paused: boolean;
  /** The connections list's search, so live counts match what the panel lists. */
  search: string;
  dropped: number;
  connections: Map<string, ConnectionRecord>;
  frames: FrameRecord[];
}

export function panelSessions(store: InspectorStore, target: Target, options: SessionOptions) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const sessions = new Set<PanelSession>();
  const isCredential = credentialCheck(options.credential);

  const send = (session: PanelSession, message: unknown) => {
    if (session.ws.readyState === session.ws.OPEN) session.ws.send(JSON.stringify(message));
  };

  // Listening makes the store decode every frame it records: only while a panel is open.
  let unlisten: (() => void) | undefined;
  const onStoreEvent = (event: StoreEvent) => {
    for (const session of sessions) {
      if (!session.authed) continue;
      if (event.type === 'connection')
        session.connections.set(event.connection.id, event.connection);
      else if (event.type === 'forget')
        send(session, { type: 'forget', id: event.id, total: matching(session.search).length });
      else if (!session.paused && matches(session.filter, event.frame, event.connection)) {
        session.connections.set(event.connection.id, event.connection);
        if (
          session.ws.bufferedAmount > MAX_PANEL_BUFFER ||
          session.frames.length >= SNAPSHOT_FRAMES
        )
          session.dropped++;
        else session.frames.push(event.frame);
      }
    }
  };
  const watch = () => {
    unlisten ??= store.listen(onStoreEvent);
  };
  const unwatchIfIdle = () => {
    if ([...sessions].some((s) => s.authed)) return;
    unlisten?.();
    unlisten = undefined;
  };

  // Updates go out in batches: a busy gateway must not turn into one panel message per frame.
  const flushTimer = setInterval(() => {
    for (const session of sessions) {
      if (session.connections.size === 0 && session.frames.length === 0) continue;
      send(session, {
        type: 'batch',
        connections: [...session.connections.values()],
        // The list's count now (new connections, and ones closed or forgotten), not the snapshot's.
        total: session.connections.size ? matching(session.search).length : undefined,
        frames: session.frames,
        dropped: session.dropped,
        stats: store.stats(),
      });
      session.connections.clear();
      session.frames = [];
    }
  }, FLUSH_MS);
  flushTimer.unref?.();

  /** The connections the panel's search matches. */
  const matching = (search: string) =>
    store
      .connections()
      .filter((c) => !search || c.id.includes(search) || (c.user ?? '').includes(search));

  function snapshot(session: PanelSession, offset = 0, search = '') {
    session.search = search;
    const all = matching(search).sort((a, b) => b.connectedAt - a.connectedAt);
    send(session, {
      type: 'snapshot',
      connections: all.slice(offset, offset + PAGE),
      total: all.length,
      offset,
      frames: store.frames(session.filter, SNAPSHOT_FRAMES),
      stats: store.stats(),
    });
  }

  wss.on('connection', (ws) => {
    const session: PanelSession = {
      ws,
      authed: false,
      filter: {},
      paused: false,
      search: '',
      dropped: 0,
      connections: new Map(),
      frames: [],
    };
    sessions.add(session);
    const authTimer = setTimeout(() => {
      if (!session.authed) ws.close(4001, 'inspector credential required');
    }, AUTH_TIMEOUT_MS);
    authTimer.unref?.();
    ws.on('close', () => {
      clearTimeout(authTimer);
      sessions.delete(session);
      unwatchIfIdle();
    });
    ws.on('error', () => {});
    ws.on('message', (data) => {
      let message: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(data.toString());
        // `null`, numbers, strings: this listener runs inside ws's read loop, where a throw would
        // take the whole gateway down, so anything but an object counts as an empty message.
        message =
          typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
      } catch {
        if (!session.authed) ws.close(4001, 'inspector credential required');
        return;
      }
      if (!session.authed) {
        if (message['type'] !== 'auth' || !isCredential(message['credential'])) {
          ws.close(4001, 'inspector credential required');
          return;
        }
        session.authed = true;
        clearTimeout(authTimer);
        watch();
        send(session, {
          type: 'hello',
          actions: options.actions,
          // Replay on a new connection (the proxy) besides replay on the live one.
          replayNew: options.actions && target.replayNew !== undefined,
          limits: store.limits,
          needsCredential: options.credential !== undefined,
        });
        return snapshot(session);
      }
      switch (message['type']) {
        case 'filter':
          session.filter = sanitizeFilter(message['filter']);
          session.frames = [];
          return snapshot(session, Number(message['offset'] ?? 0), String(message['search'] ?? ''));
        case 'page':
          return snapshot(session, Number(message['offset'] ?? 0), String(message['search'] ?? ''));
        case 'pause':
          session.paused = true;
          return;
        case 'resume':
          session.paused = false;
          return snapshot(session, 0, session.search);
        case 'action':
          return void act(store, target, options.actions, message).then(
            (result) => send(session, result),
            (error) => send(session, { type: 'result', ok: false, error: String(error) }),
          );
      }
    });
  });

  return {
    /** Takes over an upgrade request already checked for path and origin. */
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    },
    close(): void {
      clearInterval(flushTimer);
      unlisten?.();
      for (const session of sessions) session.ws.terminate();
      wss.close();
    },
  };
}

/** A filter from the panel, kept to known fields and bounded lengths. */
export function sanitizeFilter(value: unknown): Filter {
  if (typeof value !== 'object' || value === null) return {};
  const input = value as Record<string, unknown>;
  const filter: Filter = {};
  for (const key of ['connection', 'user', 'channel', 'event', 'text'] as const) {
    const v = input[key];
    if (typeof v === 'string' && v !== '') filter[key] = v.slice(0, 256);
  }
  if (input['direction'] === 'in' || input['direction'] === 'out')
    filter.direction = input['direction'];
  if (input['control'] === true) filter.control = true;
  return filter;
}
