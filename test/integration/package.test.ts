import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The environment minus npm's own variables: under `npm test` they point at this repo
 * (npm_config_local_prefix and friends), and the consumer's npm must not inherit them.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'INIT_CWD'),
  );
}

let consumer = '';

async function runModule(name: string, source: string) {
  const file = join(consumer, name);
  await writeFile(file, source);
  return run(process.execPath, [file], { cwd: consumer, env: cleanEnv(), timeout: 15_000 });
}

describe('the package, installed into another project', () => {
  beforeAll(async () => {
    // dist/ is built by the suite's global setup. Packing (not linking) the repo checks what a
    // user really receives: the `files` list as well as the exports map.
    consumer = await mkdtemp(join(tmpdir(), 'switchboard-consumer-'));
    const { stdout } = await run(
      npm,
      ['pack', '--ignore-scripts', '--pack-destination', consumer, '--silent'],
      {
        cwd: root,
        env: cleanEnv(),
        timeout: 120_000,
      },
    );
    const tarball = join(consumer, stdout.trim().split('\n').pop()!);
    await writeFile(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
    );
    await run(npm, ['install', tarball, 'ws', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: consumer,
      env: cleanEnv(),
      timeout: 180_000,
    });
  }, 300_000);

  afterAll(async () => {
    if (consumer) await rm(consumer, { recursive: true, force: true });
  });

  it('installs the `switchboard` command: npx switchboard serve runs from a config file', async () => {
    const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
    const help = await run(npx, ['--no-install', 'switchboard', '--help'], {
      cwd: consumer,
      env: cleanEnv(),
      timeout: 30_000,
    });
    expect(help.stdout).toContain('switchboard <command>');
    await writeFile(
      join(consumer, 'switchboard.yaml'),
      'port: 0\nhost: 127.0.0.1\nauth: { anonymous: true }\nchannels: { "news": {} }\n',
    );
    const check = await run(
      npx,
      ['--no-install', 'switchboard', 'check', '-c', 'switchboard.yaml'],
      {
        cwd: consumer,
        env: cleanEnv(),
        timeout: 30_000,
      },
    );
    expect(JSON.parse(check.stdout)).toMatchObject({ port: 0, channels: { news: {} } });
  }, 60_000);

  it('imports switchboard/server and switchboard/client by name', async () => {
    const { stdout } = await runModule(
      'entry.mjs',
      [
        "import { createServer } from 'switchboard/server';",
        "import { createClient } from 'switchboard/client';",
        'console.log(typeof createServer, typeof createClient);',
      ].join('\n'),
    );
    expect(stdout.trim()).toBe('function function');
  }, 30_000);

  it('a server and a client from the installed package talk to each other', async () => {
    const { stdout } = await runModule(
      'roundtrip.mjs',
      [
        "import { createServer } from 'switchboard/server';",
        "import { createClient } from 'switchboard/client';",
        "import WebSocket from 'ws';",
        'const server = createServer({ auth: { anonymous: true } });',
        "server.rpc('echo', (data) => data);",
        'const { url } = await server.listen();',
        'const client = createClient({ url, WebSocket });',
        'await client.connect();',
        "console.log(await client.request('echo', 'pong'));",
        'client.close();',
        'await server.close();',
      ].join('\n'),
    );
    expect(stdout.trim()).toBe('pong');
  }, 30_000);

  it('enforces the exports map: a deep path into dist/ is not importable', async () => {
    const attempt = runModule(
      'deep.mjs',
      "import { createServer } from 'switchboard/dist/server/server.js';\nconsole.log(typeof createServer);",
    );
    await expect(attempt).rejects.toMatchObject({
      stderr: expect.stringContaining('ERR_PACKAGE_PATH_NOT_EXPORTED'),
    });
  }, 30_000);
});
