import { createPublicKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { DEFAULTS } from './defaults.js';
import type {
  AuthenticateResult,
  AuthOptions,
  Identity,
  JwksOptions,
  JwtOptions,
  Logger,
} from './types.js';

export type { AuthenticateResult, AuthOptions, Identity, JwtOptions };

/** Checks a connection's token; `refreshKeys` fetches a JWKS endpoint's key set again now. */
export interface Authenticator {
  (token: string | undefined, request: IncomingMessage): Promise<Identity>;
  refreshKeys(): Promise<void>;
}

/**
 * A JWKS endpoint's keys as the provider rotates them: an unknown `kid` fetches the set again
 * at once (bounded by the cooldown), a set older than its max age is fetched again (a removed
 * key stops working then, or at once on `refreshKeys`), and a fetch that fails keeps the last
 * good set in use, logged once per outage with its cause.
 */
function jwksKeys(url: string, options: JwksOptions, logger: Logger) {
  const { cooldownMs, cacheMaxAgeMs, timeoutMs } = { ...DEFAULTS.auth.jwks, ...options };
  const remote = createRemoteJWKSet(new URL(url), {
    cooldownDuration: cooldownMs,
    cacheMaxAge: cacheMaxAgeMs,
    timeoutDuration: timeoutMs,
  });
  let failing = false;
  const resolve = async (...args: Parameters<typeof remote>) => {
    try {
      const key = await remote(...args);
      if (failing) logger.info({ url }, 'JWKS endpoint answers again');
      failing = false;
      return key;
    } catch (error) {
      // A key the set does not hold is the token's problem, not the endpoint's.
      const fetchFailed =
        !(error instanceof joseErrors.JWKSNoMatchingKey) &&
        !(error instanceof joseErrors.JWKSMultipleMatchingKeys) &&
        !(error instanceof joseErrors.JOSEAlgNotAllowed);
      const last = fetchFailed ? remote.jwks() : undefined;
      if (!last) throw error;
      if (!failing)
        logger.error({ err: error, url }, 'JWKS fetch failed; using the last good key set');
      failing = true;
      return createLocalJWKSet(last)(...args);
    }
  };
  return { resolve, reload: () => remote.reload() };
}

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

function fromPayload(payload: JWTPayload, toleranceSec: number): Identity {
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'Token has no subject');
  }
  const identity: Identity = { userId: payload.sub, claims: payload };
  // The same leeway verification granted: otherwise a token accepted inside the tolerance would
  // already be past its expiry, and the connection closed (4002) before its connect reply.
  if (typeof payload.exp === 'number') identity.expiresAt = (payload.exp + toleranceSec) * 1000;
  return identity;
}

/**
 * Given raw secret bytes, jose imports the key again on every verification: more than half of
 * an accept's cost. One imported key per HMAC algorithm (at most three) is kept instead. jose
 * checks the algorithm against the allowed list before it asks for the key.
 */
function hmacKeys(secret: Uint8Array) {
  // A copy the caller cannot change afterwards, on a plain ArrayBuffer as WebCrypto wants.
  const bytes = new Uint8Array(secret);
  const keys = new Map<string, Promise<CryptoKey>>();
  return (header: { alg?: string }): Promise<CryptoKey> => {
    const alg = header.alg ?? '';
    if (!HMAC_ALGS.includes(alg))
      return Promise.reject(new joseErrors.JOSEAlgNotAllowed(`"${alg}" needs a public key`));
    let key = keys.get(alg);
    if (!key) {
      const hash = `SHA-${alg.slice(2)}`;
      key = crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash }, false, ['verify']);
      keys.set(alg, key);
    }
    return key;
  };
}

function jwtAuthenticator(
  options: JwtOptions,
  logger: Logger,
): { verify: (token: string) => Promise<Identity>; refreshKeys: () => Promise<void> } {
  type Key = Parameters<typeof jwtVerify>[1];
  let key: Key;
  let algorithms: string[];
  let refreshKeys = async () => {};
  if (options.secret !== undefined) {
    key = hmacKeys(
      typeof options.secret === 'string'
        ? new TextEncoder().encode(options.secret)
        : options.secret,
    );
    algorithms = options.algorithms ?? HMAC_ALGS;
  } else if (options.publicKey !== undefined) {
    key =
      typeof options.publicKey === 'string'
        ? createPublicKey(options.publicKey)
        : options.publicKey;
    algorithms = options.algorithms ?? ASYMMETRIC_ALGS;
  } else if (options.jwksUrl !== undefined) {
    const keys = jwksKeys(options.jwksUrl, options.jwks ?? {}, logger);
    key = keys.resolve;
    refreshKeys = keys.reload;
    algorithms = options.algorithms ?? ASYMMETRIC_ALGS;
  } else {
    throw new TypeError('auth.jwt needs one of secret, publicKey or jwksUrl');
  }
  const verifyOptions = {
    algorithms,
    ...(options.audience !== undefined && { audience: options.audience }),
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    ...(options.clockToleranceSec !== undefined && { clockTolerance: options.clockToleranceSec }),
    ...((options.requireExp ?? DEFAULTS.auth.requireExp) && { requiredClaims: ['exp'] }),
    ...(options.maxTokenAgeMs !== undefined && {
      maxTokenAge: `${Math.floor(options.maxTokenAgeMs / 1000)}s`,
    }),
  };
  const verify = async (token: string) => {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: jose overloads key and key-resolver separately
      const { payload } = await jwtVerify(token, key as any, verifyOptions);
      return fromPayload(payload, options.clockToleranceSec ?? DEFAULTS.auth.clockToleranceSec);
    } catch (error) {
      if (error instanceof SwitchboardError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new SwitchboardError(ErrorCode.TOKEN_EXPIRED, 'Token has expired');
      }
      // The reason (bad signature, which claim failed…) helps the app's developer and tells an
      // attacker nothing they do not know: they chose the token.
      throw new SwitchboardError(ErrorCode.UNAUTHORIZED, `Token rejected: ${rejection(error)}`);
    }
  };
  return { verify, refreshKeys: () => refreshKeys() };
}

/** Why jose refused a token: the claim at fault by name, or jose's error code. */
function rejection(error: unknown): string {
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    // jose's reasons: 'check_failed' (wrong value, or a time check), 'missing', 'invalid'.
    const why = error.reason === 'check_failed' ? 'check failed' : error.reason.replace(/_/g, ' ');
    return `"${error.claim}" claim ${why}`;
  }
  return error instanceof joseErrors.JOSEError ? error.code : 'invalid token';
}

export function createAuthenticator(
  options: AuthOptions | undefined,
  logger: Logger = { error() {}, warn() {}, info() {}, debug() {} },
): Authenticator {
  const jwt = options?.jwt ? jwtAuthenticator(options.jwt, logger) : undefined;
  const verify = jwt?.verify;
  const custom = options?.authenticate;
  const anonymous = options?.anonymous === true;
  const authenticate = async (token: string | undefined, request: IncomingMessage) => {
    if (token === undefined || token === '') {
      if (anonymous) return { userId: '', claims: {}, anonymous: true };
      throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'A token is required');
    }
    if (verify) return verify(token);
    if (custom) {
      let result: AuthenticateResult;
      try {
        result = await custom(token, request);
      } catch (error) {
        if (error instanceof SwitchboardError) throw error;
        throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'Token rejected');
      }
      if (!result || typeof result.userId !== 'string') {
        throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'Token rejected');
      }
      const identity: Identity = { userId: result.userId, claims: result.claims ?? {} };
      if (result.expiresAt !== undefined) identity.expiresAt = result.expiresAt;
      return identity;
    }
    throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'This server accepts no tokens');
  };
  return Object.assign(authenticate, {
    refreshKeys: () => jwt?.refreshKeys() ?? Promise.resolve(),
  });
}
