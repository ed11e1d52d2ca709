/**
 * The shapes the inspector shows, filters on and exports: connection and frame records, the
 * panel's filter, the store's counters and its live events. Types only.
 */

export type Direction = 'in' | 'out';
export type ConnectionStatus = 'connecting' | 'open' | 'closing' | 'closed';

export interface FrameRecord {
  seq: number;
  connection: string;
  direction: Direction;
  time: number;
  size: number;
  /** Decoded frame type (`publish`, `message`…); 'raw' for a plain ws server or undecodable data. */
  type: string;
  channel?: string;
  event?: string;
  id?: number;
  /** Milliseconds from the request to this reply (on replies and errors answering a request). */
  latencyMs?: number;
  /** Text content (JSON as sent, tokens redacted), cut at the per-frame limit. */
  text?: string;
  truncated?: boolean;
  binary?: boolean;
  /** Hex of the first bytes of a binary frame, when enabled. */
  hex?: string;
  /**
   * A WebSocket control frame (`ping`, `pong` or `close`, by `type`), not a message: hidden from
   * the timeline unless the filter asks for them (`control: true`).
   */
  control?: true;
  /** The close code of a `close` control frame. */
  code?: number;
}

export interface ConnectionRecord {
  id: string;
  status: ConnectionStatus;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  remoteAddress?: string;
  user?: string;
  channels: string[];
  connectedAt: number;
  closedAt?: number;
  closeCode?: number;
  closeReason?: string;
  errors: string[];
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  rttMs?: number;
  /** Frames this connection had to forget (ring full or byte budget). */
  droppedFrames: number;
  /** The subprotocol the server chose (Sec-WebSocket-Protocol of its answer), when known. */
  protocol?: string;
  /** The connection the inspector opened to replay a frame of (the proxy's replay on a new connection). */
  replayOf?: string;
}

/** What capture knows when a connection opens; the counters start at zero. */
export type OpeningRecord = Omit<
  ConnectionRecord,
  'channels' | 'errors' | 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut' | 'droppedFrames'
>;

export interface Filter {
  connection?: string;
  user?: string;
  channel?: string;
  event?: string;
  direction?: Direction;
  /** Case-insensitive substring of the frame's text. */
  text?: string;
  /** Also WebSocket control frames (ping, pong, close). Off by default. */
  control?: boolean;
}

export interface StoreStats {
  /** Tracked connections (open and closed): the header's "M total". */
  connections: number;
  /** Tracked connections not closed yet: the header's "N active". */
  active: number;
  /** Connections capture saw but did not track: opted out by `track`, or sampled out. */
  untracked: number;
  frames: number;
  bytes: number;
  droppedConnections: number;
  droppedFrames: number;
}

export type StoreEvent =
  | { type: 'connection'; connection: ConnectionRecord }
  | { type: 'frame'; frame: FrameRecord; connection: ConnectionRecord }
  | { type: 'forget'; id: string };
