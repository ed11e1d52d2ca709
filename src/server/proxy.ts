import type { IncomingMessage } from 'node:http';
import { ErrorCode, isErrorCode, SwitchboardError } from '../protocol/errors.js';
import { DEFAULTS } from './defaults.js';
import type { AuthenticateResult, ChannelAction, Identity, Logger, RpcContext } from './types.js';

/**
 * The backend webhooks: a backend in any language authenticates connections, authorizes
 * channels and answers RPCs, each decision one POST of JSON the gateway sends it.
 */

/** A backend endpoint the gateway asks over HTTP: one POST of JSON per decision. */
export interface ProxyEndpoint {
  url: string;
  /** The backend has this long to answer; then the client gets UNAVAILABLE. Default 5 s. */
  timeoutMs?: number;
  /** Sent with every call, e.g. a shared secret the backend checks. */
  headers?: Record<string, string>;
  /** Larger answers are refused. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Where failures to reach the backend are logged. */
  logger?: Logger;
}

type Json = Record<string, unknown>;

async function call(endpoint: ProxyEndpoint, body: Json): Promise<{ status: number; body: Json }> {
  const timeoutMs = endpoint.timeoutMs ?? DEFAULTS.proxy.timeoutMs;
  const limit = endpoint.maxResponseBytes ?? DEFAULTS.proxy.maxResponseBytes;
  let response: Response;
  try {
    response = await fetch(endpoint.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...endpoint.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    endpoint.logger?.warn({ url: endpoint.url, err: error }, 'backend call failed');
    throw new SwitchboardError(
      ErrorCode.UNAVAILABLE,
      timedOut ? `Backend did not answer within ${timeoutMs} ms` : 'Backend unreachable',
    );
  }
  const raw = Buffer.from(await response.arrayBuffer());
  if (raw.length > limit) {
    endpoint.logger?.warn({ url: endpoint.url, bytes: raw.length }, 'backend answer too large');
    throw new SwitchboardError(ErrorCode.INTERNAL, 'Internal error');
  }
  if (response.status >= 500) {
    endpoint.logger?.warn({ url: endpoint.url, status: response.status }, 'backend failed');
    throw new SwitchboardError(ErrorCode.UNAVAILABLE, 'Backend failed; retry');
  }
  let parsed: unknown = {};
  if (raw.length > 0) {
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      endpoint.logger?.warn({ url: endpoint.url }, 'backend answered with invalid JSON');
      throw new SwitchboardError(ErrorCode.INTERNAL, 'Internal error');
    }
  }
  return {
    status: response.status,
    body: typeof parsed === 'object' && parsed !== null ? (parsed as Json) : {},
  };
}

/** A backend's `{ error: { code, message } }`, kept when the code is one of the protocol's. */
function backendError(body: Json, fallback: ErrorCode): SwitchboardError {
  const error = body.error as { code?: unknown; message?: unknown } | undefined;
  const code = isErrorCode(error?.code) ? error.code : fallback;
  const message = typeof error?.message === 'string' ? error.message : code;
  return new SwitchboardError(code, message);
}

function identityOf(identity: Identity): Json {
  return { user: identity.userId, claims: identity.claims };
}

/**
 * Connect proxy: the backend decides who the token belongs to.
 * Request `{ token, remoteAddress, origin }`; answer 200 `{ user, claims?, expiresAt? }`, or a
 * 4xx (optionally with `{ error }`) to refuse.
 */
export function proxyConnect(endpoint: ProxyEndpoint) {
  return async (token: string, request: IncomingMessage): Promise<AuthenticateResult> => {
    const { status, body } = await call(endpoint, {
      token,
      remoteAddress: request.socket.remoteAddress,
      origin: request.headers.origin,
    });
    if (status !== 200 || typeof body.user !== 'string' || body.user === '')
      throw backendError(body, ErrorCode.UNAUTHORIZED);
    return {
      userId: body.user,
      ...(typeof body.claims === 'object' &&
        body.claims !== null && { claims: body.claims as Json }),
      ...(typeof body.expiresAt === 'number' && { expiresAt: body.expiresAt }),
    };
  };
}

/**
 * Channel proxy: the backend allows or refuses each subscribe, publish, presence or history.
 * Request `{ action, channel, user, claims }`; answer 200 `{ allow: true }` to allow.
 */
export function proxyAuthorize(endpoint: ProxyEndpoint) {
  return async (identity: Identity, channel: string, action: ChannelAction): Promise<boolean> => {
    const { status, body } = await call(endpoint, { action, channel, ...identityOf(identity) });
    if (status === 200 && body.allow === true) return true;
    if (body.error !== undefined) throw backendError(body, ErrorCode.FORBIDDEN);
    return false;
  };
}

/**
 * RPC proxy, registered as `server.rpc('*', proxyRpc(…))` to serve every method the gateway has
 * no handler of its own for. Request `{ method, data, user, claims, connection }`; answer 200
 * `{ result }`, or `{ error: { code, message } }` which the client receives as a typed error.
 */
export function proxyRpc(endpoint: ProxyEndpoint) {
  return async (data: unknown, context: RpcContext): Promise<unknown> => {
    const { status, body } = await call(endpoint, {
      method: context.method,
      data,
      connection: context.connection.id,
      ...identityOf(context.identity),
    });
    if (status === 404 && body.error === undefined)
      throw new SwitchboardError(ErrorCode.NOT_FOUND, `Unknown method "${context.method}"`);
    if (status !== 200 || body.error !== undefined) throw backendError(body, ErrorCode.INTERNAL);
    return body.result;
  };
}
