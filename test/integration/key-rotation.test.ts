import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import type { JwksOptions } from '../../src/server/index.js';
import { client, onCleanup, SECRET, sleep, startServer } from '../helpers.js';

/**
 * Auth that follows the identity provider: a JWKS endpoint the test controls adds and removes
 * signing keys, as an operator rotating keys (or reacting to a leak) would.
 */

type Key = Awaited<ReturnType<typeof generateKeyPair>>;

async function provider() {
  const keys = new Map<string, Key>();
  let fetches = 0;
  let down = false;
  const http = createHttpServer(async (_request, response) => {
    fetches++;
    if (down) return response.writeHead(503).end();
    const published = await Promise.all(
      [...keys].map(async ([kid, key]) => ({
        ...(await exportJWK(key.publicKey)),
        kid,
        alg: 'ES256',
        use: 'sig',
      })),
    );
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => http.close(resolve)));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/jwks.json`,
    fetches: () => fetches,
    setDown: (value: boolean) => {
      down = value;
    },
    async add(kid: string) {
      keys.set(kid, await generateKeyPair('ES256'));
    },
    remove: (kid: string) => keys.delete(kid),
    sign(kid: string, sub = 'ann', expires: string | null = '1h') {
      const key = keys.get(kid);
      if (!key) throw new Error(`no key ${kid}`);
      const jwt = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setSubject(sub);
      if (expires) jwt.setExpirationTime(expires);
      return jwt.setIssuedAt().sign(key.privateKey);
    },
  };
}

/** Connects with the token; resolves to 'ok' or the refusal's code. */
async function tryToken(url: string, token: string): Promise<string> {
  const c = client(url, { token, reconnect: false });
  return c.connect().then(
    () => 'ok',
    (error: { code: string }) => error.code,
  );
}

async function gateway(jwksUrl: string, jwks: JwksOptions = {}) {
  return startServer({
    auth: { jwt: { jwksUrl, jwks } },
    logger: { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} },
  });
}

describe('key rotation at once', () => {
  it('a token signed with a key the provider just added is accepted without waiting', async () => {
    const idp = await provider();
    await idp.add('k1');
    const { url } = await gateway(idp.url, { cooldownMs: 200 });
    expect(await tryToken(url, await idp.sign('k1'))).toBe('ok');
    await sleep(250); // past the cooldown since the last fetch
    await idp.add('k2');
    expect(await tryToken(url, await idp.sign('k2'))).toBe('ok');
  });

  it('a flood of unknown kids fetches the key set at most once per cooldown', async () => {
    const idp = await provider();
    await idp.add('k1');
    const { url } = await gateway(idp.url, { cooldownMs: 5_000 });
    expect(await tryToken(url, await idp.sign('k1'))).toBe('ok');
    await idp.add('ghost');
    const before = idp.fetches();
    const forged = await idp.sign('ghost');
    idp.remove('ghost');
    const results = await Promise.all(Array.from({ length: 20 }, () => tryToken(url, forged)));
    expect(new Set(results)).toEqual(new Set([ErrorCode.UNAUTHORIZED]));
    expect(idp.fetches() - before).toBeLessThanOrEqual(1);
  });

  it('a removed key is refused after the next fetch, and at once after server.refreshKeys()', async () => {
    const idp = await provider();
    await idp.add('old');
    await idp.add('new');
    const { url, server } = await gateway(idp.url, { cacheMaxAgeMs: 300, cooldownMs: 60_000 });
    const leaked = await idp.sign('old');
    expect(await tryToken(url, leaked)).toBe('ok');
    idp.remove('old');
    await sleep(350); // the cached set is now older than its max age
    expect(await tryToken(url, leaked)).toBe(ErrorCode.UNAUTHORIZED);

    // At once: the operator does not wait for the cache.
    const { url: url2, server: server2 } = await gateway(idp.url, { cacheMaxAgeMs: 600_000 });
    await idp.add('old2');
    const leaked2 = await idp.sign('old2');
    expect(await tryToken(url2, leaked2)).toBe('ok');
    idp.remove('old2');
    expect(await tryToken(url2, leaked2)).toBe('ok'); // still cached
    await server2.refreshKeys();
    expect(await tryToken(url2, leaked2)).toBe(ErrorCode.UNAUTHORIZED);
    expect(await tryToken(url2, await idp.sign('new'))).toBe('ok');
    void server;
  });

  it('a provider outage keeps the last good key set in use', async () => {
    const idp = await provider();
    await idp.add('k1');
    const { url } = await gateway(idp.url, { cacheMaxAgeMs: 200 });
    const token = await idp.sign('k1');
    expect(await tryToken(url, token)).toBe('ok');
    idp.setDown(true);
    await sleep(250); // stale: the next check tries to fetch, fails, keeps the set
    expect(await tryToken(url, token)).toBe('ok');
  });
});

describe('exp required by default', () => {
  it('a token without exp is refused unless requireExp is false', async () => {
    const secret = new TextEncoder().encode(SECRET);
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ann')
      .sign(secret);
    const strict = await startServer({ auth: { jwt: { secret: SECRET } } });
    const c = client(strict.url, { token: noExp, reconnect: false });
    await expect(c.connect()).rejects.toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
      message: expect.stringContaining('"exp" claim missing'),
    });
    const lax = await startServer({ auth: { jwt: { secret: SECRET, requireExp: false } } });
    expect(await tryToken(lax.url, noExp)).toBe('ok');
  });

  it('maxTokenAgeMs refuses tokens issued too long ago, as expired (fetch a fresh one)', async () => {
    const secret = new TextEncoder().encode(SECRET);
    const old = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ann')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime('1h')
      .sign(secret);
    const { url } = await startServer({ auth: { jwt: { secret: SECRET, maxTokenAgeMs: 60_000 } } });
    expect(await tryToken(url, old)).toBe(ErrorCode.TOKEN_EXPIRED);
  });
});
