/**
 * One error table for the whole protocol. A code is a stable string: apps branch on it, logs
 * search for it, and the docs table in docs/protocol.md is checked against this list.
 */
/** Every code with what it means; each code's value is its own name. */
export interface ErrorCodes {
  /** The message is not a frame: not decodable, not an object, or a field has the wrong type. */
  readonly BAD_FRAME: 'BAD_FRAME';
  /** The frame's `type` is not one this protocol version knows. */
  readonly UNKNOWN_TYPE: 'UNKNOWN_TYPE';
  /** The channel has an event list and this event is not on it. */
  readonly UNKNOWN_EVENT: 'UNKNOWN_EVENT';
  /** The payload failed the channel's or RPC's schema. */
  readonly VALIDATION_FAILED: 'VALIDATION_FAILED';
  /** No valid identity: missing, forged or malformed token, or `connect` not sent first. */
  readonly UNAUTHORIZED: 'UNAUTHORIZED';
  /** The token was valid once but has expired; fetch a fresh one. */
  readonly TOKEN_EXPIRED: 'TOKEN_EXPIRED';
  /** The identity is known but may not do this. */
  readonly FORBIDDEN: 'FORBIDDEN';
  /** Too many messages; slow down. */
  readonly RATE_LIMITED: 'RATE_LIMITED';
  /** The message is larger than the server accepts. */
  readonly TOO_LARGE: 'TOO_LARGE';
  /** A per-connection or per-user limit (subscriptions, connections, queue) is reached. */
  readonly LIMIT_EXCEEDED: 'LIMIT_EXCEEDED';
  /** No such channel pattern, RPC method or subscription. */
  readonly NOT_FOUND: 'NOT_FOUND';
  /** The client speaks no protocol version the server supports. */
  readonly UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION';
  /**
   * A refusal: the server could not take the request now (e.g. Redis unreachable) and did
   * nothing. Retrying later is safe.
   */
  readonly UNAVAILABLE: 'UNAVAILABLE';
  /**
   * The outcome is unknown: the request reached the broker, which stopped answering (a stall past
   * the command timeout, a link cut with the reply in flight). The publication may or may not
   * exist. A retry with the same idempotency key inside the window is applied at most once: it
   * answers the original offset if the first attempt landed, and publishes if it did not. The
   * client retries such publishes by itself until its outbox TTL runs out.
   */
  readonly UNCERTAIN: 'UNCERTAIN';
  /** Something failed on the server; details are logged there, never sent. */
  readonly INTERNAL: 'INTERNAL';
  /** Client side: no reply within the request's timeout. */
  readonly TIMEOUT: 'TIMEOUT';
  /** Client side: the connection dropped and the request cannot be safely retried. */
  readonly DISCONNECTED: 'DISCONNECTED';
  /** Client side: the client was closed (by the app, or for good by a terminal close code). */
  readonly CLOSED: 'CLOSED';
}

/** Built from one string, so the browser bundle carries each name once (not twice). */
export const ErrorCode = Object.fromEntries(
  'BAD_FRAME UNKNOWN_TYPE UNKNOWN_EVENT VALIDATION_FAILED UNAUTHORIZED TOKEN_EXPIRED FORBIDDEN RATE_LIMITED TOO_LARGE LIMIT_EXCEEDED NOT_FOUND UNSUPPORTED_VERSION UNAVAILABLE UNCERTAIN INTERNAL TIMEOUT DISCONNECTED CLOSED'
    .split(' ')
    .map((code) => [code, code]),
) as unknown as ErrorCodes;

export type ErrorCode = keyof ErrorCodes;

const knownCodes = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && knownCodes.has(value);
}

/**
 * The single error class of Switchboard, on both sides. Server handlers throw it to send a typed
 * error reply; the client rejects every failed promise with it.
 */
export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError';
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string = code, details?: unknown) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/**
 * Anything thrown becomes a SwitchboardError. Only errors that are already SwitchboardErrors keep
 * their message: an arbitrary Error may carry internals (SQL, paths) that must not reach clients.
 */
export function toSwitchboardError(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  return new SwitchboardError(ErrorCode.INTERNAL, 'Internal error');
}
