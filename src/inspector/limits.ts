/** The inspector's bounds and their defaults (from the debug-toolbar design). */

export interface StoreLimits {
  /** Connections tracked at once (open and closed). Default 50. */
  maxConnections: number;
  /** Frames kept per connection, newest win. Default 100. */
  maxFramesPerConnection: number;
  /** Text kept per frame before truncation. Default 10 KiB. */
  maxFrameBytes: number;
  /** Hex preview of binary frames, bytes (0: none). Default 256. */
  hexPreviewBytes: number;
  /** How long closed connections are kept. Default 1 hour. */
  closedRetentionMs: number;
  /** All kept frame text together. Default 8 MiB. */
  maxTotalBytes: number;
}

export const DEFAULT_LIMITS: StoreLimits = {
  maxConnections: 50,
  maxFramesPerConnection: 100,
  maxFrameBytes: 10 * 1024,
  hexPreviewBytes: 256,
  closedRetentionMs: 60 * 60_000,
  maxTotalBytes: 8 * 1024 * 1024,
};
