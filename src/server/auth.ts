import { createPublicKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { DEFAULTS } from './defaults.js';
import type { AuthenticateResult, AuthOptions, Identity, JwtOptions } from './types.js';

export type { AuthenticateResult, AuthOptions, Identity, JwtOptions };

export type Authenticator = (
  token: string | undefined,
  request: IncomingMessage,
) => Promise<Identity>;

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

function jwtAuthenticator(options: JwtOptions): (token: string) => Promise<Identity> {
  type Key = Parameters<typeof jwtVerify>[1];
  let key: Key;
  let algorithms: string[];
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
    key = createRemoteJWKSet(new URL(options.jwksUrl));
    algorithms = options.algorithms ?? ASYMMETRIC_ALGS;
  } else {
    throw new TypeError('auth.jwt needs one of secret, publicKey or jwksUrl');
  }
  const verifyOptions = {
    algorithms,
    ...(options.audience !== undefined && { audience: options.audience }),
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    ...(options.clockToleranceSec !== undefined && { clockTolerance: options.clockToleranceSec }),
  };
  return async (token) => {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: jose overloads key and key-resolver separately
      const { payload } = await jwtVerify(token, key as any, verifyOptions);
      return fromPayload(payload, options.clockToleranceSec ?? DEFAULTS.auth.clockToleranceSec);
    } catch (error) {
      if (error instanceof SwitchboardError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new SwitchboardError(ErrorCode.TOKEN_EXPIRED, 'Token has expired');
      }
      // The reason (bad signature, wrong audience…) helps the app's developer and tells an
      // attacker nothing they do not know: they chose the token.
      const reason = error instanceof joseErrors.JOSEError ? error.code : 'invalid token';
      throw new SwitchboardError(ErrorCode.UNAUTHORIZED, `Token rejected: ${reason}`);
    }
  };
}

export function createAuthenticator(options: AuthOptions | undefined): Authenticator {
  const verify = options?.jwt ? jwtAuthenticator(options.jwt) : undefined;
  const custom = options?.authenticate;
  const anonymous = options?.anonymous === true;
  return async (token, request) => {
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
}
