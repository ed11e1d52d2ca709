/**
 * WebSocket close codes the gateway uses. The 4xxx range is ours (RFC 6455 leaves 4000-4999 to
 * applications). `reconnect` tells the client whether trying again can help: a bad token will
 * stay bad, a restarting server will come back.
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  /** ws closes with this itself when a message exceeds the hard payload cap. */
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** Something the server depends on (the broker, a `proxy.connect` backend) is down for now:
   * reconnect with backoff. */
  TRY_AGAIN_LATER: 1013,
  BAD_PROTOCOL: 4000,
  UNAUTHORIZED: 4001,
  TOKEN_EXPIRED: 4002,
  FORBIDDEN: 4003,
  UNSUPPORTED_VERSION: 4004,
  AUTH_TIMEOUT: 4005,
  HEARTBEAT_TIMEOUT: 4006,
  SLOW_CONSUMER: 4007,
  RATE_LIMITED: 4008,
  TOO_MANY_CONNECTIONS: 4009,
  DISCONNECTED_BY_SERVER: 4010,
  /** The node lost track of a channel (its broker link broke and history was lost): reconnect
   * and resubscribe from your position, which reports the gap. */
  RESYNC: 4011,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Codes after which reconnecting cannot succeed without the app changing something. */
const terminalCodes = new Set<number>([
  CloseCode.NORMAL,
  CloseCode.BAD_PROTOCOL,
  CloseCode.UNAUTHORIZED,
  CloseCode.FORBIDDEN,
  CloseCode.UNSUPPORTED_VERSION,
  CloseCode.DISCONNECTED_BY_SERVER,
]);

/** Unknown codes (1006 from a dropped TCP connection, proxies' own codes) are worth a retry. */
export function shouldReconnect(code: number): boolean {
  return !terminalCodes.has(code);
}

/** RFC 6455 allows 123 bytes of reason; cut on a character boundary so the UTF-8 stays valid. */
export function closeReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= 123) return reason;
  let end = 123;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
