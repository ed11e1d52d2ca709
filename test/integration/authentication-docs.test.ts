import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { ConfigError, loadConfig } from '../../src/cli/config.js';
import { serve } from '../../src/cli/serve.js';
import { ErrorCode } from '../../src/protocol/index.js';
import { client, onCleanup } from '../helpers.js';

/**
 * docs/authentication.md: both token snippets run as printed (Node with jose, Python with its
 * standard library), and a client connects with each token to a server configured from the
 * page's own configuration file.
 */
const doc = readFileSync(new URL('../../docs/authentication.md', import.meta.url), 'utf8');
const root = fileURLToPath(new URL('../..', import.meta.url));

function block(lang: string, containing: string): string {
  const found = [...doc.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)]
    .filter((match) => match[1] === lang && match[2]!.includes(containing))
    .map((match) => match[2]!);
  expect(found, `one ${lang} block with ${containing}`).toHaveLength(1);
  return found[0]!;
}

/** Runs a program; resolves with its stdout, rejects with its stderr. Bounded in time. */
function run(command: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: root, // where `jose` resolves from
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 15_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(stdout.trim())
        : reject(new Error(`${command} exited ${code}: ${stderr}`)),
    );
  });
}

function writeConfig(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'switchboard-auth-doc-')), 'switchboard.yaml');
  writeFileSync(file, text);
  return file;
}

describe('docs/authentication.md', () => {
  it('tokens minted by the Node and the Python snippets connect to the configured server', async () => {
    const secret = randomBytes(48).toString('base64');
    const env = { SWITCHBOARD_AUTH_JWT_SECRET: secret };
    const [fromNode, fromPython] = await Promise.all([
      run(process.execPath, ['--input-type=module', '-e', block('js', 'SignJWT')], env),
      run('python3', ['-c', block('python', 'hmac')], env),
    ]);

    // The claims the page lists, as each snippet wrote them.
    for (const [jwt, sub, roles] of [
      [fromNode, 'alice', ['admin']],
      [fromPython, 'bob', ['member']],
    ] as const) {
      const claims = decodeJwt(jwt);
      expect(claims).toMatchObject({
        sub,
        roles,
        aud: 'my-app',
        iss: 'https://auth.example.com',
      });
      const lifetime = claims.exp! - claims.iat!;
      expect(lifetime).toBe(15 * 60);
    }

    const config = loadConfig({
      file: writeConfig(block('yaml', 'rolesClaim')),
      env,
      // Bounded and local for the test; everything else as the page configures it.
      sets: ['port=0', 'host=127.0.0.1', 'log.level=silent', 'heartbeat.intervalMs=0'],
    });
    const running = await serve(config);
    onCleanup(() => running.stop());

    const alice = client(running.url, { token: fromNode });
    await alice.connect();
    await alice.subscribe('ops:alerts').ready(); // role admin
    const bob = client(running.url, { token: fromPython });
    await bob.connect();
    const lobby = bob.subscribe('chat:lobby');
    const heard: unknown[] = [];
    lobby.on('message', (data) => heard.push(data));
    await lobby.ready();
    await expect(bob.subscribe('ops:alerts').ready()).rejects.toMatchObject({
      code: ErrorCode.FORBIDDEN,
    });
    await alice.publish('chat:lobby', 'message', { text: 'hi bob' });
    await expect.poll(() => heard).toEqual([{ text: 'hi bob' }]);
    expect([...running.server.connections.values()].map((c) => c.userId).sort()).toEqual([
      'alice',
      'bob',
    ]);

    // A token signed with another secret is refused, and the refusal says why.
    const forged = await run(
      process.execPath,
      ['--input-type=module', '-e', block('js', 'SignJWT')],
      {
        SWITCHBOARD_AUTH_JWT_SECRET: 'not-the-servers-secret-not-the-servers-secret',
      },
    );
    const mallory = client(running.url, { token: forged, reconnect: false });
    await expect(mallory.connect()).rejects.toMatchObject({
      code: ErrorCode.UNAUTHORIZED,
      message: 'Token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('proxy.connect together with auth.jwt is refused, as the page says', () => {
    const jwt = parseYaml(block('yaml', 'rolesClaim')) as Record<string, unknown>;
    const proxy = parseYaml(block('yaml', 'connect:')) as Record<string, unknown>;
    const both = writeConfig(toYaml({ ...jwt, ...proxy }));
    let error: unknown;
    try {
      loadConfig({ file: both, env: { SWITCHBOARD_AUTH_JWT_SECRET: 'secret' } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'proxy.connect: set either proxy.connect or auth.jwt, not both',
    ]);
    expect(doc.replace(/\s+/g, ' ')).toContain(
      '`proxy.connect: set either proxy.connect or auth.jwt, not both`',
    );
    // Alone, the proxy block is a complete way to authenticate.
    const { auth: _auth, ...withoutJwt } = jwt;
    expect(() =>
      loadConfig({ file: writeConfig(toYaml({ ...withoutJwt, ...proxy })) }),
    ).not.toThrow();
  });
});
