import { KeyObject } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { attachInspector } from '../../src/inspector/index.js';
import { CloseCode, ErrorCode, SwitchboardError } from '../../src/protocol/index.js';
import { connected, onCleanup, RawSocket, SECRET, sleep, startServer, token } from '../helpers.js';

/**
 * Attacks on identity and rights, beyond what auth.test.ts covers (plain alg none, forged
 * signature, PEM-as-HMAC-key confusion, aud/iss, nbf, expiry at connect and on a live connection).
 */

const secretKey = new TextEncoder().encode(SECRET);
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

async function refused(url: string, jwt: string) {
  const socket = await RawSocket.open(url);
  socket.send({ type: 'connect', id: 1, version: 1, token: jwt });
  const answer = await socket.reply(1);
  return { answer, close: (await socket.closedWith()).code };
}

describe('token forgery', () => {
  it('refuses unsigned tokens whatever the spelling of "none", and a none token with a signature', async () => {
    const { url } = await startServer();
    const payload = b64({ sub: 'admin', exp: now() + 600 });
    const forged = [
      ...['None', 'NONE', 'nOnE', ''].map((alg) => `${b64({ alg, typ: 'JWT' })}.${payload}.`),
      `${b64({ alg: 'none' })}.${payload}.${Buffer.from('sig').toString('base64url')}`,
      // An HS256 header over an empty signature: "verified" by a naive comparison of nothing.
      `${b64({ alg: 'HS256' })}.${payload}.`,
    ];
    for (const jwt of forged) {
      expect(await refused(url, jwt)).toEqual({
        answer: expect.objectContaining({ type: 'error', code: ErrorCode.UNAUTHORIZED }),
        close: CloseCode.UNAUTHORIZED,
      });
    }
  });

  it('an HMAC server refuses RS256 tokens, and an RSA server ignores a key embedded in the token', async () => {
    const attacker = await generateKeyPair('RS256', { extractable: true });
    const legit = await generateKeyPair('RS256', { extractable: true });
    const rs = (header: Record<string, unknown>) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', ...header })
        .setSubject('admin')
        .setExpirationTime('5m')
        .sign(attacker.privateKey);

    const hmac = await startServer();
    expect((await refused(hmac.url, await rs({}))).answer).toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
    });

    const pem = KeyObject.from(legit.publicKey).export({ type: 'spki', format: 'pem' }).toString();
    const rsa = await startServer({ auth: { jwt: { publicKey: pem } } });
    // The attacker's own public key in `jwk`, and a `jku` pointing at a key set they control.
    const jwk = await exportJWK(attacker.publicKey);
    for (const header of [{ jwk }, { jku: 'http://127.0.0.1:1/keys.json', kid: 'x' }]) {
      expect(await refused(rsa.url, await rs(header))).toMatchObject({
        answer: { code: ErrorCode.UNAUTHORIZED },
        close: CloseCode.UNAUTHORIZED,
      });
    }
  });

  it('refuses a payload re-encoded around the original signature (claims added, sub changed)', async () => {
    const { url } = await startServer();
    const [header, payload, signature] = (await token('alice', { role: 'user' })).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    for (const changed of [
      { ...claims, role: 'admin' },
      { ...claims, exp: claims.exp + 86_400 },
      { ...claims, sub: 'alice ' },
    ]) {
      const jwt = `${header}.${b64(changed)}.${signature}`;
      expect((await refused(url, jwt)).answer).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    }
  });
});

describe('token lifetime', () => {
  it('an expired token cannot extend a live connection, which still closes 4002 at its exp', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    const short = await token('alice', {}, '2s');
    socket.send({ type: 'connect', id: 1, version: 1, token: short });
    const expiresAt = ((await socket.reply(1))['data'] as { expiresAt: number }).expiresAt;
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(now() - 5)
      .sign(secretKey);
    socket.send({ type: 'refresh', id: 2, token: expired });
    expect(await socket.reply(2)).toMatchObject({ code: ErrorCode.TOKEN_EXPIRED });
    // Re-presenting the connection's own token gains nothing either: the expiry stays.
    socket.send({ type: 'refresh', id: 3, token: short });
    expect(await socket.reply(3)).toMatchObject({ type: 'reply', data: { expiresAt } });
    const closed = await socket.closedWith(4_000);
    expect(closed.code).toBe(CloseCode.TOKEN_EXPIRED);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 50);
    // And the token is refused at the door from then on.
    expect(await refused(url, short)).toMatchObject({
      answer: { code: ErrorCode.TOKEN_EXPIRED },
      close: CloseCode.TOKEN_EXPIRED,
    });
  });

  it('requests sent after expiry get no answer: the socket is already closed', async () => {
    const { url } = await startServer();
    const socket = await RawSocket.open(url);
    socket.send({ type: 'connect', id: 1, version: 1, token: await token('alice', {}, '1s') });
    await socket.reply(1);
    await socket.closedWith(3_000);
    expect(socket.ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('a token accepted within the clock tolerance is answered, and closed when the tolerance runs out', async () => {
    const { url } = await startServer({ auth: { jwt: { secret: SECRET, clockToleranceSec: 2 } } });
    const exp = now() - 1;
    const late = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(exp)
      .sign(secretKey);
    const socket = await RawSocket.open(url);
    socket.send({ type: 'connect', id: 1, version: 1, token: late });
    // Before the fix the expiry timer fired at once, ahead of the reply: accepted, then cut off.
    const reply = await socket.reply(1);
    expect(reply).toMatchObject({ type: 'reply', data: { expiresAt: (exp + 2) * 1000 } });
    expect((await socket.closedWith(4_000)).code).toBe(CloseCode.TOKEN_EXPIRED);
  });
});

describe('refusals with app-written messages', () => {
  /*
   * Found by this suite: close() cut reasons by UTF-16 units, but RFC 6455 (and ws) limit them
   * to 123 bytes, so a long non-ASCII refusal made ws.close() throw and left the socket open.
   */
  it('a refusal message over 123 UTF-8 bytes still closes the socket with 4003', async () => {
    const { url } = await startServer({
      auth: {
        authenticate: () => {
          throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Compte suspendu — '.repeat(10));
        },
      },
      limits: { authTimeoutMs: 500, closeTimeoutMs: 300 },
      logger: { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} },
    });
    const socket = await RawSocket.open(url);
    socket.send({ type: 'connect', id: 1, version: 1, token: 'anything' });
    expect(await socket.reply(1)).toMatchObject({ code: ErrorCode.FORBIDDEN });
    expect((await socket.closedWith(2_000)).code).toBe(CloseCode.FORBIDDEN);
  });
});

describe('rights on channels', () => {
  async function privateServer() {
    const started = await startServer({
      channels: {
        'private:*': {
          presence: true,
          history: { size: 100, ttlMs: 60_000 },
          authorize: (identity, channel) => channel === `private:${identity.userId}`,
        },
        'chat:*': {},
      },
    });
    const owner = await connected(started.url, 'alice');
    const sub = owner.subscribe('private:alice');
    await sub.ready();
    await owner.publish('private:alice', 'secret', { pin: 1234 });
    return { ...started, owner };
  }

  it('subscribe, publish, presence and history of a forbidden channel are FORBIDDEN and leak nothing', async () => {
    const { url, owner } = await privateServer();
    const mallory = await RawSocket.connect(url, 'mallory');
    mallory.received.length = 0;
    mallory.send([
      { type: 'subscribe', id: 1, channel: 'private:alice' },
      // A resubscribe "from before" must not replay the history either.
      { type: 'subscribe', id: 2, channel: 'private:alice', since: { offset: 0, epoch: 'x' } },
      { type: 'publish', id: 3, channel: 'private:alice', event: 'secret', data: 'pwned' },
      { type: 'presence', id: 4, channel: 'private:alice' },
      { type: 'history', id: 5, channel: 'private:alice' },
      { type: 'subscribe', id: 6, channel: 'chat:ok' },
    ]);
    for (const id of [1, 2, 3, 4, 5]) {
      expect(await mallory.reply(id)).toMatchObject({ type: 'error', code: ErrorCode.FORBIDDEN });
    }
    expect(await mallory.reply(6)).toMatchObject({ type: 'reply' });
    await owner.publish('private:alice', 'secret', { pin: 5678 });
    await sleep(50);
    expect(JSON.stringify(mallory.received)).not.toMatch(/pin|pwned/);
    // Nothing was published in Alice's channel on Mallory's behalf.
    const history = await owner.subscribe('private:alice').history();
    expect(history.publications.map((p) => p.data)).toEqual([{ pin: 1234 }, { pin: 5678 }]);
    // And Alice's per-user channel (direct messages) cannot be subscribed to by name.
    mallory.send({ type: 'subscribe', id: 7, channel: '$user:alice' });
    expect(await mallory.reply(7)).toMatchObject({ code: ErrorCode.NOT_FOUND });
  });
});

describe('origins', () => {
  it('an Origin allowlist matches exactly: look-alikes, null and variants are refused with 403', async () => {
    const { url } = await startServer({ limits: { allowedOrigins: ['https://app.example'] } });
    for (const origin of [
      'https://app.example.evil.example',
      'https://evil.example/https://app.example',
      'https://app.example:8443',
      'http://app.example',
      'null',
      'HTTPS://APP.EXAMPLE',
    ]) {
      await expect(RawSocket.open(url, { Origin: origin }), origin).rejects.toThrow(/403/);
    }
  });

  it('a cookie-authenticated gateway refuses a foreign page even when the cookie is valid', async () => {
    // Cookies are sent by the browser whatever page opens the socket: cross-site WebSocket
    // hijacking. First-message tokens are immune; cookie auth needs the allowlist.
    const { url } = await startServer({
      auth: {
        authenticate: (_token, request) => {
          if (request.headers.cookie !== 'session=alice') throw new Error('no session');
          return { userId: 'alice' };
        },
      },
      limits: { allowedOrigins: ['https://app.example'] },
    });
    const headers = { Cookie: 'session=alice' };
    await expect(
      RawSocket.open(url, { ...headers, Origin: 'https://evil.example' }),
    ).rejects.toThrow(/403/);
    const good = await RawSocket.open(url, { ...headers, Origin: 'https://app.example' });
    good.send({ type: 'connect', id: 1, version: 1, token: 'cookie' });
    expect(await good.reply(1)).toMatchObject({ type: 'reply', data: { user: 'alice' } });
  });
});

describe('inspector without its credential', () => {
  async function guarded() {
    const started = await startServer();
    const inspector = attachInspector(started.server, { credential: 'sesame', actions: true });
    onCleanup(() => inspector.close());
    const base = `http://127.0.0.1:${started.port}${inspector.path}`;
    const owner = await connected(started.url, 'alice');
    await owner.subscribe('chat:secret').ready();
    await owner.publish('chat:secret', 'm', 'classified');
    return { ...started, base };
  }

  function panel(base: string) {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
    ws.on('error', () => {});
    onCleanup(() => ws.terminate());
    const received: string[] = [];
    ws.on('message', (data) => received.push(data.toString()));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const open = new Promise((resolve) => ws.once('open', resolve));
    return { ws, received, closed, open };
  }

  it('JSON that is not an object neither crashes the gateway nor opens the panel', async () => {
    const { url, base } = await guarded();
    for (const message of ['null', '42', '"auth"', 'true', '[]', '{"type":"auth"}']) {
      const p = panel(base);
      await p.open;
      p.ws.send(message);
      // Before the fix, `null` threw inside ws's read loop and took the process down.
      expect(await p.closed).toBe(4001);
      expect(p.received).toEqual([]);
    }
    await connected(url, 'bob');
  });

  it('panel commands before the credential are refused and reveal nothing', async () => {
    const { base } = await guarded();
    for (const command of [
      { type: 'filter', filter: {} },
      { type: 'page', offset: 0 },
      { type: 'action', action: 'publish', channel: 'chat:secret', event: 'm', data: 'x' },
      { type: 'auth', credential: 'sesamf' },
      { type: 'auth', credential: 'sesame-but-longer' },
      { type: 'auth' },
    ]) {
      const p = panel(base);
      await p.open;
      p.ws.send(JSON.stringify(command));
      expect(await p.closed).toBe(4001);
      expect(p.received.join('')).not.toMatch(/classified|alice/);
    }
    for (const path of ['/export.jsonl', '/replay.mjs?connection=x']) {
      for (const authorization of [undefined, 'Bearer sesamf', 'Bearer ', 'Basic c2VzYW1l']) {
        const response = await fetch(`${base}${path}`, {
          headers: authorization ? { authorization } : {},
        });
        expect(response.status, `${path} ${authorization}`).toBe(401);
        expect(await response.text()).toBe('');
      }
    }
    const ok = await fetch(`${base}/export.jsonl`, { headers: { authorization: 'Bearer sesame' } });
    expect(await ok.text()).toMatch(/classified/);
  });

  it('a panel socket that never sends the credential is closed after 10 s', async () => {
    const { base } = await guarded();
    const p = panel(base);
    await p.open;
    const started = Date.now();
    expect(await p.closed).toBe(4001);
    expect(Date.now() - started).toBeGreaterThan(9_000);
  }, 15_000);
});
