import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, SwitchboardError } from '../../src/protocol/index.js';
import { client, onCleanup, RawSocket, SECRET, startServer, token, waitFor } from '../helpers.js';

const secretKey = new TextEncoder().encode(SECRET);

/** Sends `connect` with the token and returns the answer and how the socket ended. */
async function tryConnect(url: string, jwt: string | undefined) {
  const socket = await RawSocket.open(url);
  socket.send(
    jwt === undefined
      ? { type: 'connect', id: 1, version: 1 }
      : { type: 'connect', id: 1, version: 1, token: jwt },
  );
  const answer = await socket.reply(1);
  return { answer, socket };
}

function encodePart(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('JWT authentication', () => {
  it('accepts a valid token and puts the identity on the connection', async () => {
    const { url, server } = await startServer();
    const seen = new Promise<{ userId: string | undefined; role: unknown }>((resolve) =>
      server.on('connection', (c) =>
        resolve({ userId: c.userId, role: c.identity?.claims['role'] }),
      ),
    );
    const { answer } = await tryConnect(url, await token('alice', { role: 'admin' }));
    expect(answer).toMatchObject({ type: 'reply', id: 1, data: { version: 1, user: 'alice' } });
    expect(await seen).toEqual({ userId: 'alice', role: 'admin' });
  });

  it('refuses an expired token with TOKEN_EXPIRED and close 4002 (reconnect with a fresh token)', async () => {
    const { url } = await startServer();
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(secretKey);
    const { answer, socket } = await tryConnect(url, expired);
    expect(answer).toMatchObject({ type: 'error', code: ErrorCode.TOKEN_EXPIRED });
    expect((await socket.closedWith()).code).toBe(CloseCode.TOKEN_EXPIRED);
  });

  it('refuses a token that is not valid yet (nbf)', async () => {
    const { url } = await startServer();
    const early = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setNotBefore(Math.floor(Date.now() / 1000) + 3600)
      .sign(secretKey);
    const { answer, socket } = await tryConnect(url, early);
    expect(answer).toMatchObject({ type: 'error', code: ErrorCode.UNAUTHORIZED });
    expect((await socket.closedWith()).code).toBe(CloseCode.UNAUTHORIZED);
  });

  it('refuses a forged signature and a tampered payload', async () => {
    const { url } = await startServer();
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .sign(new TextEncoder().encode('another-secret-another-secret-another'));
    expect((await tryConnect(url, forged)).answer).toMatchObject({ code: ErrorCode.UNAUTHORIZED });

    const [header, , signature] = (await token('alice')).split('.');
    const tampered = `${header}.${encodePart({ sub: 'admin', exp: Math.floor(Date.now() / 1000) + 60 })}.${signature}`;
    expect((await tryConnect(url, tampered)).answer).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
    });
  });

  it('refuses alg "none"', async () => {
    const { url } = await startServer();
    const unsigned = `${encodePart({ alg: 'none', typ: 'JWT' })}.${encodePart({ sub: 'alice' })}.`;
    const { answer, socket } = await tryConnect(url, unsigned);
    expect(answer).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect((await socket.closedWith()).code).toBe(CloseCode.UNAUTHORIZED);
  });

  it('checks audience and issuer', async () => {
    const { url } = await startServer({
      auth: { jwt: { secret: SECRET, audience: 'switchboard', issuer: 'auth.example' } },
    });
    const sign = (aud: string, iss: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setAudience(aud)
        .setIssuer(iss)
        .setExpirationTime('1h')
        .sign(secretKey);
    expect((await tryConnect(url, await sign('other', 'auth.example'))).answer).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
    });
    expect((await tryConnect(url, await sign('switchboard', 'evil.example'))).answer).toMatchObject(
      { code: ErrorCode.UNAUTHORIZED },
    );
    expect((await tryConnect(url, await sign('switchboard', 'auth.example'))).answer).toMatchObject(
      { type: 'reply' },
    );
  });

  it('names the claim that failed in the refusal', async () => {
    const { url } = await startServer({
      auth: { jwt: { secret: SECRET, audience: 'switchboard', issuer: 'auth.example' } },
    });
    const base = () =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setExpirationTime('1h');
    const refusal = async (jwt: string) => (await tryConnect(url, jwt)).answer;
    expect(
      await refusal(await base().setAudience('other').setIssuer('auth.example').sign(secretKey)),
    ).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
      message: 'Token rejected: "aud" claim check failed',
    });
    expect(
      await refusal(await base().setAudience('switchboard').setIssuer('evil').sign(secretKey)),
    ).toMatchObject({ message: 'Token rejected: "iss" claim check failed' });
    expect(await refusal(await base().setIssuer('auth.example').sign(secretKey))).toMatchObject({
      message: 'Token rejected: "aud" claim missing',
    });
    const early = await base()
      .setAudience('switchboard')
      .setIssuer('auth.example')
      .setNotBefore(Math.floor(Date.now() / 1000) + 3600)
      .sign(secretKey);
    expect(await refusal(early)).toMatchObject({
      message: 'Token rejected: "nbf" claim check failed',
    });
    // Not a claim: the signature keeps jose's code.
    const forged = await base()
      .setAudience('switchboard')
      .setIssuer('auth.example')
      .sign(new TextEncoder().encode('another-secret-another-secret-another'));
    expect(await refusal(forged)).toMatchObject({
      message: 'Token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('refuses a token without a subject', async () => {
    const { url } = await startServer();
    const anonymous = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(secretKey);
    expect((await tryConnect(url, anonymous)).answer).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
    });
  });

  it('verifies RS256 with a public key and rejects an HS256 token signed with that public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = (await import('node:crypto')).KeyObject.from(publicKey)
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const { url } = await startServer({ auth: { jwt: { publicKey: pem } } });
    const good = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('alice')
      .setExpirationTime('1h')
      .sign(privateKey);
    expect((await tryConnect(url, good)).answer).toMatchObject({
      type: 'reply',
      data: { user: 'alice' },
    });
    // The classic confusion attack: HMAC keyed with the (public) PEM text.
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .sign(new TextEncoder().encode(pem));
    expect((await tryConnect(url, confused)).answer).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
    });
  });

  it('verifies against a JWKS endpoint', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const jwks = createHttpServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => jwks.close(resolve)));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const { url } = await startServer({ auth: { jwt: { jwksUrl } } });
    const good = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('carol')
      .setExpirationTime('1h')
      .sign(privateKey);
    expect((await tryConnect(url, good)).answer).toMatchObject({
      type: 'reply',
      data: { user: 'carol' },
    });
  });

  it('requires a token unless anonymous connections are enabled', async () => {
    const closed = await startServer();
    expect((await tryConnect(closed.url, undefined)).answer).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
    });
    const open = await startServer({ auth: { anonymous: true } });
    expect((await tryConnect(open.url, undefined)).answer).toMatchObject({
      type: 'reply',
      data: { user: '' },
    });
  });
});

describe('custom authenticate', () => {
  it('uses the returned identity and the upgrade request', async () => {
    const { url } = await startServer({
      auth: {
        authenticate: (t, request) => {
          if (t !== 'let-me-in') throw new Error('database says no');
          return {
            userId: `u-${request.headers.host?.startsWith('127.0.0.1') ? 'local' : 'remote'}`,
          };
        },
      },
    });
    expect((await tryConnect(url, 'let-me-in')).answer).toMatchObject({
      data: { user: 'u-local' },
    });
    // The app's internal error text is not sent to the client.
    const refused = await tryConnect(url, 'nope');
    expect(refused.answer).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
      message: 'Token rejected',
    });
  });
});

describe('first-message auth', () => {
  it('closes with 4000 when anything but connect comes first', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    socket.send({ type: 'subscribe', id: 1, channel: 'chat:a' });
    expect(await socket.reply(1)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect((await socket.closedWith()).code).toBe(CloseCode.BAD_PROTOCOL);
  });

  it('closes with 4005 when connect never comes', async () => {
    const { url } = await startServer({ limits: { authTimeoutMs: 100 } });
    const socket = await RawSocket.open(url);
    expect((await socket.closedWith()).code).toBe(CloseCode.AUTH_TIMEOUT);
  });

  it('accepts frames pipelined behind connect in one batch', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    socket.send([
      { type: 'connect', id: 1, version: 1, token: await token('alice') },
      { type: 'subscribe', id: 2, channel: 'chat:a' },
    ]);
    expect(await socket.reply(1)).toMatchObject({ type: 'reply' });
    expect(await socket.reply(2)).toMatchObject({ type: 'reply', data: { offset: 0 } });
  });

  it('negotiates the version and refuses unsupported ones with 4004', async () => {
    const { url } = await startServer();
    const newer = await RawSocket.open(url);
    newer.send({ type: 'connect', id: 1, version: 7, token: await token('alice') });
    expect(await newer.reply(1)).toMatchObject({ type: 'reply', data: { version: 1 } });
    const ancient = await RawSocket.open(url);
    ancient.send({ type: 'connect', id: 1, version: 0, token: await token('alice') });
    expect(await ancient.reply(1)).toMatchObject({ code: ErrorCode.UNSUPPORTED_VERSION });
    expect((await ancient.closedWith()).code).toBe(CloseCode.UNSUPPORTED_VERSION);
  });
});

describe('token lifetime on a live connection', () => {
  it('refreshes the token without reconnecting', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    socket.send({ type: 'connect', id: 1, version: 1, token: await token('alice', {}, '2s') });
    await socket.reply(1);
    socket.send({ type: 'refresh', id: 2, token: await token('alice', {}, '1h') });
    const reply = await socket.reply(2);
    expect(reply).toMatchObject({ type: 'reply' });
    expect((reply['data'] as { expiresAt: number }).expiresAt).toBeGreaterThan(
      Date.now() + 3_000_000,
    );
    socket.send({ type: 'refresh', id: 3, token: await token('mallory') });
    expect(await socket.reply(3)).toMatchObject({ code: ErrorCode.FORBIDDEN });
  });

  it('closes the connection with 4002 when its token expires unrefreshed', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    socket.send({ type: 'connect', id: 1, version: 1, token: await token('alice', {}, '1s') });
    await socket.reply(1);
    expect((await socket.closedWith(3_000)).code).toBe(CloseCode.TOKEN_EXPIRED);
  });

  it('the client refreshes from its token provider before expiry and stays connected', async () => {
    const { url, server } = await startServer();
    let issued = 0;
    const c = client(url, {
      token: () => {
        issued++;
        return token('alice', {}, '2s');
      },
    });
    await c.connect();
    let disconnects = 0;
    server.on('disconnect', () => disconnects++);
    await waitFor(() => issued >= 3, 5_000, 'two refreshes');
    expect(c.state).toBe('connected');
    expect(disconnects).toBe(0);
  });

  it('the client does not retry after an unauthorized close', async () => {
    const { url } = await startServer();
    const c = client(url, { token: 'garbage' });
    await expect(c.connect()).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(c.state).toBe('closed');
  });
});

describe('auth edge cases found in review', () => {
  it('a connect that times out is retried, not given up on', async () => {
    let calls = 0;
    const { url } = await startServer({
      auth: {
        authenticate: (t) => {
          calls++;
          // The first check hangs (a stuck auth backend); later ones answer.
          return calls === 1 ? new Promise(() => {}) : { userId: t };
        },
      },
    });
    const c = client(url, { token: 'alice', requestTimeoutMs: 200 });
    await c.connect();
    expect(c.state).toBe('connected');
    expect(calls).toBe(2);
  });

  it('an authenticate that throws FORBIDDEN closes with 4003 and the client stops', async () => {
    const { url } = await startServer({
      auth: {
        authenticate: () => {
          throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Account suspended');
        },
      },
    });
    const { answer, socket } = await tryConnect(url, 'anything');
    expect(answer).toMatchObject({ code: ErrorCode.FORBIDDEN, message: 'Account suspended' });
    expect((await socket.closedWith()).code).toBe(CloseCode.FORBIDDEN);
    const c = client(url, { token: 'anything' });
    // connect() rejects with the server's own answer, not a bare CLOSED.
    await expect(c.connect()).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
      message: 'Account suspended',
    });
    expect(c.state).toBe('closed');
  });

  it('a ping before connect is refused like any other frame', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    socket.send({ type: 'ping', id: 1 });
    expect(await socket.reply(1)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect((await socket.closedWith()).code).toBe(CloseCode.BAD_PROTOCOL);
  });
});
