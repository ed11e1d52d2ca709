import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Consumer, cleanEnv, createConsumer, npm, root, run } from './consumer.js';

let consumer: Consumer;
let installLog = '';

/** The files a browser bundle (no `node` condition) of an entry point of the installed package reads. */
async function browserBundleInputs(entry: string): Promise<string[]> {
  const result = await build({
    absWorkingDir: consumer.dir,
    stdin: { contents: `export * from '${entry}';`, resolveDir: consumer.dir },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('the package, installed into another project', () => {
  beforeAll(async () => {
    // dist/ is built by the suite's global setup.
    consumer = await createConsumer('consumer');
    installLog = await consumer.install(consumer.tarball, 'ws');
  }, 300_000);

  afterAll(async () => {
    await consumer?.remove();
  });

  it('ships dist/ without source maps, the docs without images, the README: no src/, no tests', async () => {
    const { stdout } = await run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      env: cleanEnv(),
      timeout: 60_000,
    });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[]; size: number }[];
    const paths = pack!.files.map((file) => file.path);
    const unexpected = paths.filter(
      (path) =>
        !/^dist\/.+\.(js|d\.ts)$/.test(path) &&
        !/^docs\/[^/]+\.md$/.test(path) &&
        !['package.json', 'README.md', 'LICENSE'].includes(path),
    );
    expect(unexpected).toEqual([]);
    expect(paths.filter((path) => /\.test\.|\.map$|\.png$|^src\//.test(path))).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        'README.md',
        'docs/protocol.md',
        'dist/client/index.js',
        'dist/client/node.js',
        'dist/cli/main.js',
      ]),
    );
    // 0.1.0 shipped src/, source maps and PNGs: 638 kB packed. What a user needs is about 230 kB.
    expect(pack!.size).toBeLessThan(400_000);
  }, 60_000);

  it('installs without running a script of the package (no `prepare`, no allowScripts warning)', () => {
    expect(installLog).not.toMatch(/switchboard@[^\s]+ \(/);
    expect(installLog).not.toMatch(/prepare/);
  });

  it('installs the `switchboard` command: npx switchboard serve runs from a config file', async () => {
    const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
    const help = await run(npx, ['--no-install', 'switchboard', '--help'], {
      cwd: consumer.dir,
      env: cleanEnv(),
      timeout: 30_000,
    });
    expect(help.stdout).toContain('switchboard <command>');
    await writeFile(
      join(consumer.dir, 'switchboard.yaml'),
      'port: 0\nhost: 127.0.0.1\nauth: { anonymous: true }\nchannels: { "news": {} }\n',
    );
    const check = await run(
      npx,
      ['--no-install', 'switchboard', 'check', '-c', 'switchboard.yaml'],
      {
        cwd: consumer.dir,
        env: cleanEnv(),
        timeout: 30_000,
      },
    );
    expect(JSON.parse(check.stdout)).toMatchObject({ port: 0, channels: { news: {} } });
  }, 60_000);

  it('imports switchboard/server and switchboard/client by name', async () => {
    const { stdout } = await consumer.node(
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
    const { stdout } = await consumer.node(
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

  it('Node resolves switchboard/client to its build with the `ws` fallback, browsers to the other', async () => {
    const { stdout } = await consumer.node(
      'conditions.mjs',
      "console.log(import.meta.resolve('switchboard/client').replace(/.*node_modules\\//, ''));",
    );
    expect(stdout.trim()).toBe('switchboard/dist/client/node.js');
    // A bundle for browsers (no `node` condition), from the installed package: no ws, no Node.
    const inputs = await browserBundleInputs('switchboard/client');
    expect(inputs).toContain('node_modules/switchboard/dist/client/index.js');
    expect(inputs.filter((path) => /\/ws\/|client\/node\.js|^node:/.test(path))).toEqual([]);
  }, 30_000);

  it('switchboard/ai loads without its optional peer `ai` (it uses only its types) and bundles for browsers', async () => {
    const { stdout } = await consumer.node(
      'ai.mjs',
      [
        "import { SwitchboardChatTransport, serveChat } from 'switchboard/ai';",
        'console.log(typeof SwitchboardChatTransport, typeof serveChat);',
      ].join('\n'),
    );
    expect(stdout.trim()).toBe('function function');
    const inputs = await browserBundleInputs('switchboard/ai');
    expect(inputs).toContain('node_modules/switchboard/dist/ai/index.js');
    expect(inputs.filter((path) => /\/ws\/|\/ai\/dist|^node:/.test(path))).toEqual([]);
  }, 30_000);

  it('enforces the exports map: a deep path into dist/ is not importable', async () => {
    const attempt = consumer.node(
      'deep.mjs',
      "import { createServer } from 'switchboard/dist/server/server.js';\nconsole.log(typeof createServer);",
    );
    await expect(attempt).rejects.toMatchObject({
      stderr: expect.stringContaining('ERR_PACKAGE_PATH_NOT_EXPORTED'),
    });
  }, 30_000);
});
