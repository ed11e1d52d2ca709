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
}

export interface StoreStats {
  connections: number;
  frames: number;
  bytes: number;
  droppedConnections: number;
  droppedFrames: number;
}

export type StoreEvent =
  | { type: 'connection'; connection: ConnectionRecord }
  | { type: 'frame'; frame: FrameRecord; connection: ConnectionRecord }
  | { type: 'forget'; id: string };
