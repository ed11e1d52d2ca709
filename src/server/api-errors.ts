import { ErrorCode, SwitchboardError } from '../protocol/errors.js';

/**
 * The HTTP API's errors: the status each protocol error code answers with, what each status
 * means (for the OpenAPI document), and the `{ error: { code, message, details? } }` body.
 */

/**
 * The HTTP status of every error code, so the same refusal reads the same on both paths: the
 * code is the WebSocket reply's, the status only groups it. 503 is a refusal (nothing was done;
 * retry later); 504 is UNCERTAIN (the broker stopped answering, the publication may exist: retry
 * with the same idempotencyKey, which publishes at most once). Client-side codes never come
 * from the server; should one, it is a bug (500).
 */
export const HTTP_STATUS = {
  BAD_FRAME: 400,
  UNKNOWN_TYPE: 400,
  UNKNOWN_EVENT: 400,
  VALIDATION_FAILED: 400,
  UNSUPPORTED_VERSION: 400,
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  LIMIT_EXCEEDED: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  UNCERTAIN: 504,
  TIMEOUT: 500,
  DISCONNECTED: 500,
  CLOSED: 500,
} as const satisfies Record<ErrorCode, number>;

/** What each status an operation can answer means, for the OpenAPI document. */
export const STATUS_MEANING: Record<number, string> = {
  400: 'Bad input, nothing done: BAD_FRAME (malformed body, missing, unknown or mistyped field, empty or over-long name or key, data nested too deep, reserved event), UNKNOWN_EVENT, VALIDATION_FAILED.',
  401: 'UNAUTHORIZED: no valid API key.',
  404: 'NOT_FOUND: no channel pattern matches the channel, or no such operation.',
  413: 'TOO_LARGE (body over `maxBodyBytes`, or a publication over the gateway message limit) or LIMIT_EXCEEDED (too many publications in a batch); nothing done.',
  500: 'INTERNAL: a bug, logged on the server.',
  503: 'UNAVAILABLE: the broker refused and nothing was done; safe to retry.',
  504: 'UNCERTAIN: the broker stopped answering and the publication may or may not exist; retry with the same idempotencyKey to publish at most once.',
};

/**
 * A refusal whose status is not its code's usual one, where HTTP has a more precise word for it:
 * 409 for an idempotency key whose stream is still running (UNAVAILABLE: nothing done, retry
 * later), 408 for a stream body that went quiet (TIMEOUT). `headers` go with the answer.
 */
export class ApiRefusal extends SwitchboardError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    details?: unknown,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(code, message, details);
  }
}

/** The same error with more details (e.g. where a failed stream stands), status kept. */
export function withDetails(error: unknown, more: Record<string, unknown>): unknown {
  if (!(error instanceof SwitchboardError)) return error;
  const own = typeof error.details === 'object' && error.details !== null ? error.details : {};
  const details = { ...own, ...more };
  return error instanceof ApiRefusal
    ? new ApiRefusal(error.status, error.code, error.message, details, error.headers)
    : new SwitchboardError(error.code, error.message, details);
}

export interface ErrorAnswer {
  status: number;
  body: unknown;
  headers?: Readonly<Record<string, string>> | undefined;
}

/** The status and body answering an error: its code's status, or 500 for anything untyped. */
export function errorResponse(error: unknown): ErrorAnswer {
  if (error instanceof SwitchboardError) {
    return {
      status: error instanceof ApiRefusal ? error.status : (HTTP_STATUS[error.code] ?? 500),
      ...(error instanceof ApiRefusal && error.headers && { headers: error.headers }),
      body: {
        error: {
          code: error.code,
          message: error.message,
          ...(error.details !== undefined && { details: error.details }),
        },
      },
    };
  }
  return { status: 500, body: { error: { code: ErrorCode.INTERNAL, message: 'Internal error' } } };
}
